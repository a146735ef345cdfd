"""The factor arithmetic of tracking.accounting.factors, checked against hand computations
(no database)."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracking.accounting.factors import (
    Exchange,
    FactorError,
    RegionSupply,
    average_factors,
    double_counted_t,
    residual_factor,
)

D = Decimal


def test_the_worked_example_of_domain_md():
    """100 MWh renewable + 400 MWh fossil emitting 360 t: average 0.72; with the 100 MWh of
    certificates retired, residual 360 / 400 = 0.90, and 72 t would be counted twice."""
    factors = average_factors([RegionSupply("north", D(500), D(360))], [])
    north = factors["north"]
    assert north.factor == D("0.72")
    assert residual_factor(average=north, claimed_mwh=D(100)) == D("0.9")
    assert double_counted_t(average=north, claimed_mwh=D(100)) == D(72)


def test_two_regions_importing_from_each_other():
    """R1: 1000 MWh, 800 t, imports 100 from R2; R2: 500 MWh, 100 t, imports 50 from R1.
    1100·EF1 − 100·EF2 = 800 and 550·EF2 − 50·EF1 = 100 give EF2 = 0.25, EF1 = 0.75:
    R1 = (800 + 0.25·100) / 1100 = 0.75, R2 = (100 + 0.75·50) / 550 = 0.25."""
    factors = average_factors(
        [RegionSupply("R1", D(1000), D(800)), RegionSupply("R2", D(500), D(100))],
        [Exchange("R2", "R1", D(100)), Exchange("R1", "R2", D(50))],
    )
    assert factors["R1"].factor == D("0.75")
    assert factors["R2"].factor == D("0.25")
    assert factors["R1"].supply_emissions_t == D(825)
    assert factors["R1"].imports_mwh == D(100)
    # 200 MWh of R1's supply claimed: RF = 825 / (1100 − 200)
    assert residual_factor(average=factors["R1"], claimed_mwh=D(200)) == D("0.916666667")


def test_three_regions_in_a_ring_of_exchanges():
    """R1 1000 MWh/900 t, R2 400 MWh/0 t (hydro), R3 600 MWh/300 t; R2→R1 200, R1→R3 100,
    R3→R2 50.  1200·EF1 − 200·EF2 = 900; 450·EF2 − 50·EF3 = 0; 700·EF3 − 100·EF1 = 300
    give EF1 = 573/754, EF2 = 45/754, EF3 = 405/754 (each equation checked by hand)."""
    factors = average_factors(
        [
            RegionSupply("R1", D(1000), D(900)),
            RegionSupply("R2", D(400), D(0)),
            RegionSupply("R3", D(600), D(300)),
        ],
        [Exchange("R2", "R1", D(200)), Exchange("R1", "R3", D(100)), Exchange("R3", "R2", D(50))],
    )
    for region, exact in (
        ("R1", Fraction(573, 754)),
        ("R2", Fraction(45, 754)),
        ("R3", Fraction(405, 754)),
    ):
        assert abs(Fraction(factors[region].factor) - exact) < Fraction(1, 10**9)


def test_a_fully_claimed_supply_has_no_residual_factor():
    north = average_factors([RegionSupply("north", D(100), D(0))], [])["north"]
    assert residual_factor(average=north, claimed_mwh=D(100)) is None


@pytest.mark.parametrize(
    ("regions", "exchanges", "field"),
    [
        ([RegionSupply("R1", D(-1), D(0))], [], "region"),
        ([RegionSupply("R1", D(10), D(1))], [Exchange("R9", "R1", D(5))], "exporter"),
        ([RegionSupply("R1", D(10), D(1))], [Exchange("R1", "R1", D(5))], "importer"),
        ([RegionSupply("R1", D(0), D(0))], [], "generation_mwh"),
        (
            [RegionSupply("R1", D(10), D(1)), RegionSupply("R2", D(10), D(1))],
            [Exchange("R1", "R2", D(-5))],
            "mwh",
        ),
    ],
)
def test_bad_grid_data_is_refused_naming_the_field(regions, exchanges, field):
    with pytest.raises(FactorError) as refusal:
        average_factors(regions, exchanges)
    assert refusal.value.field == field


amounts = st.integers(min_value=1, max_value=10**6).map(Decimal)


@given(
    generation=st.lists(amounts, min_size=2, max_size=4),
    intensity=st.lists(st.integers(min_value=0, max_value=1200), min_size=4, max_size=4),
    flows=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 10**5)), max_size=6
    ),
)
def test_supply_emissions_add_up_to_generation_emissions_across_regions(
    generation, intensity, flows
):
    """Imports move emissions between regions but create or lose none: Σ_i EF_i·S_i equals
    Σ_i E_i plus what leaves each region at its own factor (exports are part of its supply)."""
    regions = [
        RegionSupply(f"R{i}", mwh, mwh * Decimal(intensity[i]) / 1000)
        for i, mwh in enumerate(generation)
    ]
    count = len(regions)
    exchanges = [
        Exchange(f"R{a}", f"R{b}", Decimal(mwh))
        for a, b, mwh in flows
        if a < count and b < count and a != b
    ]
    factors = average_factors(regions, exchanges)
    exported = {region.region: Decimal(0) for region in regions}
    for exchange in exchanges:
        exported[exchange.exporter] += exchange.mwh
    supply_total = sum(
        factors[r.region].supply_emissions_t - factors[r.region].factor * exported[r.region]
        for r in regions
    )
    generated_total = sum(r.emissions_t for r in regions)
    assert abs(supply_total - generated_total) <= Decimal("0.001") * max(1, len(exchanges) + 1)
