"""The scenario calculator (docs/domain.md, emission accounting) as a pure module: no database.

Expected figures are worked out by hand in the comments, as fractions where they do not end.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracking.accounting.scenario import (
    ScenarioError,
    as_json,
    compute,
    parse,
)

TOLERANCE = Fraction(1, 10**12)


def close(value: Decimal, expected: Fraction | int | str) -> bool:
    return abs(Fraction(value) - Fraction(expected)) <= TOLERANCE


def generator(id_: str, region: str, factor) -> dict:
    return {"id": id_, "region": region, "emission_factor": factor}


def consumer(id_: str, region: str, purchases: dict, certificates: dict | None = None) -> dict:
    return {
        "id": id_,
        "region": region,
        "purchases": [{"generator": g, "mwh": mwh} for g, mwh in purchases.items()],
        "certificates": [{"generator": g, "mwh": mwh} for g, mwh in (certificates or {}).items()],
    }


def assert_scheme(result, consumer_id: str, scheme: int, emissions, green) -> None:
    figures = result.consumers[consumer_id][scheme]
    assert close(figures.emissions_t, emissions), (consumer_id, scheme, figures)
    assert close(figures.green_reduction_t, green), (consumer_id, scheme, figures)


def assert_totals(result, region: str, actual, *totals) -> None:
    figures = result.regions[region]
    assert close(figures.actual_emissions_t, actual), (region, figures)
    for scheme, total in zip((1, 2, 3, 4), totals, strict=True):
        assert close(figures.totals_t[scheme], total), (region, scheme, figures.totals_t)


# --- docs/domain.md, emission accounting: the worked example ---------------------------------
#
# One grid: 400 MWh fossil emitting 360 t (0.9 t/MWh) and 100 MWh renewable. "buyer" buys the
# 100 renewable MWh and retires their certificates; "others" buy the 400 fossil MWh.
#   actual = 400 * 0.9 = 360 t; EF* = 360 / (500 - 100) = 0.90 (the residual factor)
#   buyer: 100 * 0.9 - 100 * 0.9 = 0 t; others: 400 * 0.9 = 360 t; total 360 t.
#   The unadjusted average 360 / 500 = 0.72 would give the others 288 t: 72 t counted twice.

WORKED_EXAMPLE = {
    "generators": [generator("fossil", "grid", 0.9), generator("wind", "grid", 0)],
    "consumers": [
        consumer("buyer", "grid", {"wind": 100}, {"wind": 100}),
        consumer("others", "grid", {"fossil": 400}),
    ],
}


def test_the_worked_example_gives_the_residual_factor_0_90_and_360_tonnes_in_all():
    result = compute(parse(WORKED_EXAMPLE))

    assert result.regions["grid"].factor == Decimal("0.9")
    assert result.combined_factor == Decimal("0.9")
    for scheme in (1, 2, 3, 4):  # one region: every scheme is the residual-factor method
        assert_scheme(result, "buyer", scheme, 0, 90)
        assert_scheme(result, "others", scheme, 360, 0)
    assert_totals(result, "grid", 360, 360, 360, 360, 360)
    average = result.regions["grid"].actual_emissions_t / result.regions["grid"].purchased_mwh
    assert average == Decimal("0.72")
    assert 400 * average == 288  # what the others would report with the unadjusted average


def test_the_issue_example_counts_uncertified_renewable_mwh_in_the_denominator():
    # A 0.9 and B 0; C buys 100 from A and 50 from B, certificates for 20 of B.
    # actual = 90; EF* = 90 / (150 - 20) = 9/13; scheme 1 = 130 * 9/13 = 90, green 20 * 9/13.
    document = {
        "generators": [generator("A", "R1", 0.9), generator("B", "R1", 0)],
        "consumers": [consumer("C", "R1", {"A": 100, "B": 50}, {"B": 20})],
    }
    result = compute(parse(document))
    assert close(result.regions["R1"].factor, "9/13")
    for scheme in (1, 2, 3, 4):
        assert_scheme(result, "C", scheme, 90, "180/13")


# --- two regions, imports both ways -----------------------------------------------------------
#
# Generators: A (R1, 0.8), W1 (R1, 0), B (R2, 0.5), W2 (R2, 0).
# R1: C1 buys A 100 (80 t), B 40 (20 t, from R2), W2 60 (from R2) with certificates for W2 60:
#         e_all 200, e_g 60, actual 100
#     C2 buys A 100 (80 t): e_all 100, e_g 0, actual 80
#     actual_1 = 180; EF_1* = 180 / (300 - 60) = 0.75
# R2: D1 buys A 10 (8 t, from R1), B 24 (12 t), W1 80 (from R1) with certificates for W1 30:
#         e_all 114, e_g 30, actual 20
#     D2 buys W2 76: e_all 76, e_g 0, actual 0
#     actual_2 = 20; EF_2* = 20 / (190 - 30) = 0.125
# Combined: EF* = 200 / (240 + 160) = 0.5
#
# Scheme 1 (EF_i* on both): C1 140 * 0.75 = 105, green 60 * 0.75 = 45; C2 75; R1 total 180.
#     D1 84 * 0.125 = 10.5, green 3.75; D2 76 * 0.125 = 9.5; R2 total 20.
# Scheme 2 (EF* on both): C1 70, green 30; C2 50; R1 120. D1 42, green 15; D2 38; R2 80.
#     120 + 80 = 200 = all actual emissions.
# Scheme 3 (e_all * EF_i* - e_g * EF*): raw C1 150 - 30 = 120, C2 75: beta_1 = 180/195 = 12/13
#     C1 120 * 12/13 = 1440/13, C2 75 * 12/13 = 900/13, green C1 60 * 0.5 = 30; total 180.
#     raw D1 14.25 - 15 = -0.75, D2 9.5: beta_2 = 20 / 8.75 = 16/7
#     D1 -0.75 * 16/7 = -12/7 (negative: its certificates are worth more at EF* than its
#     purchases at EF_2*), D2 9.5 * 16/7 = 152/7, green D1 15; total 140/7 = 20.
# Scheme 4 (e_all * EF* - e_g * EF_i*): raw C1 100 - 45 = 55, C2 50: beta_1 = 180/105 = 12/7
#     C1 660/7, C2 600/7, green C1 45; total 180.
#     raw D1 57 - 3.75 = 53.25, D2 38: beta_2 = 20 / 91.25 = 16/73
#     D1 852/73, D2 608/73, green D1 3.75; total 1460/73 = 20.

TWO_REGIONS = {
    "generators": [
        generator("A", "R1", 0.8),
        generator("W1", "R1", 0),
        generator("B", "R2", 0.5),
        generator("W2", "R2", 0),
    ],
    "consumers": [
        consumer("C1", "R1", {"A": 100, "B": 40, "W2": 60}, {"W2": 60}),
        consumer("C2", "R1", {"A": 100}),
        consumer("D1", "R2", {"A": 10, "B": 24, "W1": 80}, {"W1": 30}),
        consumer("D2", "R2", {"W2": 76}),
    ],
}


def test_two_regions_importing_from_each_other_get_their_own_and_the_combined_factor():
    result = compute(parse(TWO_REGIONS))
    assert result.regions["R1"].factor == Decimal("0.75")
    assert result.regions["R2"].factor == Decimal("0.125")
    assert result.combined_factor == Decimal("0.5")
    assert result.regions["R1"].actual_emissions_t == 180
    assert result.regions["R2"].actual_emissions_t == 20


def test_two_regions_schemes_1_and_2():
    result = compute(parse(TWO_REGIONS))
    assert_scheme(result, "C1", 1, 105, 45)
    assert_scheme(result, "C2", 1, 75, 0)
    assert_scheme(result, "D1", 1, "10.5", "3.75")
    assert_scheme(result, "D2", 1, "9.5", 0)
    assert_scheme(result, "C1", 2, 70, 30)
    assert_scheme(result, "C2", 2, 50, 0)
    assert_scheme(result, "D1", 2, 42, 15)
    assert_scheme(result, "D2", 2, 38, 0)


def test_two_regions_schemes_3_and_4_are_scaled_by_beta_but_green_reductions_are_not():
    result = compute(parse(TWO_REGIONS))
    assert close(result.regions["R1"].beta[3], "12/13")
    assert close(result.regions["R2"].beta[3], "16/7")
    assert close(result.regions["R1"].beta[4], "12/7")
    assert close(result.regions["R2"].beta[4], "16/73")
    assert_scheme(result, "C1", 3, "1440/13", 30)
    assert_scheme(result, "C2", 3, "900/13", 0)
    assert_scheme(result, "D1", 3, "-12/7", 15)
    assert_scheme(result, "D2", 3, "152/7", 0)
    assert_scheme(result, "C1", 4, "660/7", 45)
    assert_scheme(result, "C2", 4, "600/7", 0)
    assert_scheme(result, "D1", 4, "852/73", "3.75")
    assert_scheme(result, "D2", 4, "608/73", 0)


def test_two_regions_totals_keep_actual_emissions_under_schemes_1_3_and_4():
    result = compute(parse(TWO_REGIONS))
    assert_totals(result, "R1", 180, 180, 120, 180, 180)
    assert_totals(result, "R2", 20, 20, 80, 20, 20)


# --- three regions, imports every way ---------------------------------------------------------
#
# Generators: G1 (R1, 1.0), S1 (R1, 0), G2 (R2, 0.6), G3 (R3, 0.2), S3 (R3, 0).
# R1: P buys G1 50 (50 t), G2 50 (30 t, from R2), S3 20 (from R3) with certificates S3 20:
#         e_all 120, e_g 20, actual 80; EF_1* = 80 / 100 = 0.8
# R2: Q buys G2 50 (30 t), G3 50 (10 t, from R3), S1 40 (from R1) with certificates S1 40:
#         e_all 140, e_g 40, actual 40; EF_2* = 40 / 100 = 0.4
# R3: R buys G3 150 (30 t), G2 50 (30 t, from R2), S3 50 with certificates S3 50:
#         e_all 250, e_g 50, actual 60
#     R' buys G1 20 (20 t, from R1), G3 50 (10 t), S3 60 with certificates S3 30:
#         e_all 130, e_g 30, actual 30
#     actual_3 = 90; EF_3* = 90 / (380 - 80) = 0.3
# Combined: EF* = 210 / (100 + 100 + 300) = 0.42
#
# P and Q are alone in their regions: under schemes 3 and 4 beta gives each its region's actual
# emissions (80 and 40).
# Scheme 1: P 100 * 0.8 = 80, green 16; Q 100 * 0.4 = 40, green 16;
#     R 200 * 0.3 = 60, green 15; R' 100 * 0.3 = 30, green 9; R3 total 90.
# Scheme 2: P 42, green 8.4; Q 42, green 16.8; R 84, green 21; R' 42, green 12.6.
#     Totals 42 + 42 + 126 = 210 = all actual emissions.
# Scheme 3: green P 8.4, Q 16.8, R 21, R' 12.6.
#     raw R 250 * 0.3 - 50 * 0.42 = 54, R' 130 * 0.3 - 30 * 0.42 = 26.4: beta_3 = 90 / 80.4
#     = 75/67; R 54 * 75/67 = 4050/67, R' 26.4 * 75/67 = 1980/67; total 90.
# Scheme 4: green P 16, Q 16, R 15, R' 9.
#     raw R 250 * 0.42 - 50 * 0.3 = 90, R' 130 * 0.42 - 30 * 0.3 = 45.6: beta_3 = 90 / 135.6
#     = 75/113; R 6750/113, R' 3420/113; total 90.

THREE_REGIONS = {
    "generators": [
        generator("G1", "R1", 1),
        generator("S1", "R1", 0),
        generator("G2", "R2", 0.6),
        generator("G3", "R3", 0.2),
        generator("S3", "R3", 0),
    ],
    "consumers": [
        consumer("P", "R1", {"G1": 50, "G2": 50, "S3": 20}, {"S3": 20}),
        consumer("Q", "R2", {"G2": 50, "G3": 50, "S1": 40}, {"S1": 40}),
        consumer("R", "R3", {"G3": 150, "G2": 50, "S3": 50}, {"S3": 50}),
        consumer("R'", "R3", {"G1": 20, "G3": 50, "S3": 60}, {"S3": 30}),
    ],
}


def test_three_regions_factors():
    result = compute(parse(THREE_REGIONS))
    assert [result.regions[r].factor for r in ("R1", "R2", "R3")] == [
        Decimal("0.8"),
        Decimal("0.4"),
        Decimal("0.3"),
    ]
    assert result.combined_factor == Decimal("0.42")


def test_three_regions_consumers_under_each_scheme():
    result = compute(parse(THREE_REGIONS))
    expected = {
        #      scheme 1            scheme 2             scheme 3                 scheme 4
        "P": [(80, 16), (42, "8.4"), (80, "8.4"), (80, 16)],
        "Q": [(40, 16), (42, "16.8"), (40, "16.8"), (40, 16)],
        "R": [(60, 15), (84, 21), ("4050/67", 21), ("6750/113", 15)],
        "R'": [(30, 9), (42, "12.6"), ("1980/67", "12.6"), ("3420/113", 9)],
    }
    for consumer_id, schemes in expected.items():
        for scheme, (emissions, green) in enumerate(schemes, start=1):
            assert_scheme(result, consumer_id, scheme, emissions, green)


def test_three_regions_totals():
    result = compute(parse(THREE_REGIONS))
    assert_totals(result, "R1", 80, 80, 42, 80, 80)
    assert_totals(result, "R2", 40, 40, 42, 40, 40)
    assert_totals(result, "R3", 90, 90, 126, 90, 90)


# --- edge cases -------------------------------------------------------------------------------


def test_a_region_with_generators_only_has_no_factor_but_its_generators_count_where_bought():
    # C in R1 buys 100 MWh from H in R9 (0.5): actual 50, EF_1* = 0.5; R9 has no consumers.
    document = {
        "generators": [generator("H", "R9", 0.5)],
        "consumers": [consumer("C", "R1", {"H": 100})],
    }
    output = as_json(compute(parse(document)))
    assert output["factors"] == {"R1": 0.5, "combined": 0.5}
    assert list(output["regions"]) == ["R1"]
    assert output["regions"]["R1"]["actual_emissions_t"] == 50


def test_a_region_whose_purchases_are_all_certified_has_factor_zero():
    # R2's only consumer buys 30 MWh of W and holds certificates for all of it: 0 / 0 -> 0.
    document = {
        "generators": [generator("A", "R1", 1), generator("W", "R2", 0)],
        "consumers": [
            consumer("C", "R1", {"A": 10}),
            consumer("D", "R2", {"W": 30}, {"W": 30}),
        ],
    }
    result = compute(parse(document))
    assert result.regions["R2"].factor == 0
    assert result.regions["R1"].factor == 1
    assert result.combined_factor == 1  # 10 / (10 + 0)
    assert_totals(result, "R2", 0, 0, 0, 0, 0)
    # scheme 3 for D: 30 * 0 - 30 * 1 = -30 raw; sum -30, actual 0: beta 0, emissions 0.
    assert_scheme(result, "D", 3, 0, 30)


def test_beta_is_1_when_the_raw_sum_of_a_region_is_zero():
    # R1: C buys A (1.0) 10 and W 30 with certificates for W 30: actual 10, EF_1* = 10 / 10 = 1.
    # R2: D buys B (0.7) 50: actual 35, EF_2* = 0.7. EF* = 45 / (10 + 50) = 0.75.
    # Scheme 4, R1: raw C = 40 * 0.75 - 30 * 1 = 0, the region's only consumer: beta 1, total
    # 0 instead of 10 (documented fallback). Scheme 3, R1: raw 40 - 22.5 = 17.5, beta 10/17.5,
    # total 10. Scheme 2, R1: 10 * 0.75 = 7.5.
    document = {
        "generators": [generator("A", "R1", 1), generator("W", "R1", 0), generator("B", "R2", 0.7)],
        "consumers": [
            consumer("C", "R1", {"A": 10, "W": 30}, {"W": 30}),
            consumer("D", "R2", {"B": 50}),
        ],
    }
    result = compute(parse(document))
    assert result.combined_factor == Decimal("0.75")
    assert result.regions["R1"].beta[4] == 1
    assert_scheme(result, "C", 4, 0, 30)
    assert_totals(result, "R1", 10, 10, "7.5", 10, 0)


def test_purchases_and_certificates_of_one_generator_may_come_in_several_entries():
    document = {
        "generators": [generator("W", "R1", 0), generator("A", "R1", 0.5)],
        "consumers": [
            {
                "id": "C",
                "region": "R1",
                "purchases": [
                    {"generator": "W", "mwh": 10},
                    {"generator": "A", "mwh": 20},
                    {"generator": "W", "mwh": 5},
                ],
                "certificates": [{"generator": "W", "mwh": 7}, {"generator": "W", "mwh": 8}],
            }
        ],
    }
    result = compute(parse(document))
    assert result.regions["R1"].factor == Decimal("0.5")  # 10 / (35 - 15)
    assert_scheme(result, "C", 1, 10, "7.5")


def test_certificates_may_be_left_out_and_the_output_has_exactly_the_three_keys():
    document = {
        "generators": [generator("A", "R1", 0.9)],
        "consumers": [{"id": "C", "region": "R1", "purchases": [{"generator": "A", "mwh": 10}]}],
    }
    output = as_json(compute(parse(document)))
    assert set(output) == {"factors", "consumers", "regions"}
    assert output["consumers"]["C"]["scheme_1"] == {"emissions_t": 9.0, "green_reduction_t": 0.0}
    assert set(output["regions"]["R1"]) == {
        "actual_emissions_t",
        "scheme_1_total_t",
        "scheme_2_total_t",
        "scheme_3_total_t",
        "scheme_4_total_t",
    }


def test_json_numbers_carry_at_least_6_significant_digits():
    output = as_json(compute(parse(TWO_REGIONS)))
    emissions = output["consumers"]["C1"]["scheme_3"]["emissions_t"]
    assert isinstance(emissions, float)
    assert f"{emissions:.6g}" == "110.769"  # 1440/13 = 110.7692307...
    assert abs(emissions - 1440 / 13) < 1e-9


def test_decimal_input_is_taken_exactly():
    document = {
        "generators": [generator("A", "R1", Decimal("0.1")), generator("W", "R1", 0)],
        "consumers": [consumer("C", "R1", {"A": Decimal("0.3"), "W": 1}, {"W": 1})],
    }
    result = compute(parse(document))
    assert result.regions["R1"].actual_emissions_t == Decimal("0.03")
    assert result.regions["R1"].factor == Decimal("0.1")


# --- refusals ---------------------------------------------------------------------------------


def _with(path: list, value) -> dict:
    """TWO_REGIONS with one value replaced (or a key removed when value is ...)."""
    import copy

    document = copy.deepcopy(TWO_REGIONS)
    target = document
    for step in path[:-1]:
        target = target[step]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("document", "field", "words"),
    [
        pytest.param([], None, "JSON object", id="not an object"),
        pytest.param({"generators": []}, "consumers", "required", id="missing consumers"),
        pytest.param(
            {**TWO_REGIONS, "notes": "x"}, "notes", "Unknown field", id="unknown top-level key"
        ),
        pytest.param(
            _with(["generators"], {"A": 1}), "generators", "JSON list", id="generators not a list"
        ),
        pytest.param(
            _with(["consumers", 0, "purchases", 1, "mwh"], -5),
            "consumers[0].purchases[1].mwh",
            "negative",
            id="negative mwh",
        ),
        pytest.param(
            _with(["consumers", 2, "certificates", 0, "mwh"], -1),
            "consumers[2].certificates[0].mwh",
            "negative",
            id="negative certificate mwh",
        ),
        pytest.param(
            _with(["consumers", 1, "purchases", 0, "generator"], "Z"),
            "consumers[1].purchases[0].generator",
            "Unknown generator 'Z'",
            id="unknown generator in a purchase",
        ),
        pytest.param(
            _with(["consumers", 0, "certificates", 0, "generator"], "Z"),
            "consumers[0].certificates[0].generator",
            "Unknown generator 'Z'",
            id="unknown generator in a certificate",
        ),
        pytest.param(
            _with(["consumers", 0, "certificates", 0, "mwh"], 60.5),
            "consumers[0].certificates[0].mwh",
            "exceed the 60 MWh",
            id="certificates above purchases",
        ),
        pytest.param(
            # D1 holds certificates of W1 but bought none from W2: above purchases (0).
            _with(["consumers", 2, "certificates", 0, "generator"], "W2"),
            "consumers[2].certificates[0].mwh",
            "exceed the 0 MWh",
            id="certificates from a generator not bought from",
        ),
        pytest.param(
            _with(["consumers", 0, "certificates", 0, "generator"], "B"),
            "consumers[0].certificates[0].generator",
            "not renewable",
            id="certificate of a fossil generator",
        ),
        pytest.param(
            _with(["generators", 0, "emission_factor"], 5.5),
            "generators[0].emission_factor",
            "above the most",
            id="absurd emission factor",
        ),
        pytest.param(
            _with(["generators", 0, "emission_factor"], "0.8"),
            "generators[0].emission_factor",
            "JSON number",
            id="factor as a string",
        ),
        pytest.param(
            _with(["consumers", 0, "purchases", 0, "mwh"], True),
            "consumers[0].purchases[0].mwh",
            "JSON number",
            id="boolean mwh",
        ),
        pytest.param(
            _with(["consumers", 0, "purchases", 0, "mwh"], float("nan")),
            "consumers[0].purchases[0].mwh",
            "finite",
            id="NaN mwh",
        ),
        pytest.param(
            _with(["consumers", 0, "purchases", 0, "mwh"], 1e13),
            "consumers[0].purchases[0].mwh",
            "above the most",
            id="absurd mwh",
        ),
        pytest.param(
            _with(["generators", 3, "id"], "A"),
            "generators[3].id",
            "twice",
            id="duplicate generator",
        ),
        pytest.param(
            _with(["consumers", 3, "id"], "C1"), "consumers[3].id", "twice", id="duplicate consumer"
        ),
        pytest.param(
            _with(["consumers", 1, "region"], ""),
            "consumers[1].region",
            "non-empty",
            id="no region",
        ),
        pytest.param(
            _with(["generators", 1, "region"], "combined"),
            "generators[1].region",
            "reserved",
            id="region named combined",
        ),
        pytest.param(
            _with(["consumers", 1, "purchases"], ...),
            "consumers[1].purchases",
            "required",
            id="missing purchases",
        ),
        pytest.param(
            _with(["consumers", 1, "purchases", 0], ["A", 100]),
            "consumers[1].purchases[0]",
            "JSON object",
            id="purchase not an object",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(document, field, words):
    with pytest.raises(ScenarioError) as refused:
        parse(document)
    assert refused.value.field == field
    assert words in refused.value.message
    assert (field or "") in str(refused.value)


# --- properties -------------------------------------------------------------------------------

REGIONS = ("R1", "R2", "R3")
amounts = st.decimals(min_value=0, max_value=10_000, places=3)
factors = st.one_of(st.just(Decimal(0)), st.decimals(min_value=0, max_value=5, places=4))


@st.composite
def scenarios(draw) -> dict:
    count = draw(st.integers(min_value=1, max_value=6))
    generators = [
        generator(f"G{n}", draw(st.sampled_from(REGIONS)), draw(factors)) for n in range(count)
    ]
    consumers = []
    for n in range(draw(st.integers(min_value=1, max_value=6))):
        bought = draw(
            st.dictionaries(st.sampled_from([g["id"] for g in generators]), amounts, max_size=4)
        )
        certified = {}
        for generator_id, mwh in bought.items():
            factor = next(g["emission_factor"] for g in generators if g["id"] == generator_id)
            if factor == 0 and draw(st.booleans()):
                certified[generator_id] = mwh * draw(st.sampled_from([Decimal(1), Decimal("0.5")]))
        consumers.append(consumer(f"C{n}", draw(st.sampled_from(REGIONS)), bought, certified))
    return {"generators": generators, "consumers": consumers}


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_regional_totals_keep_actual_emissions(document):
    """Schemes 1, 3 and 4 give each region its actual emissions (3 and 4 through beta, unless
    the raw sum is zero and beta falls back to 1); scheme 2 totals add up to all actual
    emissions; green reductions are never negative."""
    result = compute(parse(document))
    epsilon = Decimal("1e-9")
    for figures in result.regions.values():
        actual = figures.actual_emissions_t
        assert abs(figures.totals_t[1] - actual) <= epsilon
        for scheme in (3, 4):
            kept = abs(figures.totals_t[scheme] - actual) <= epsilon
            fell_back = figures.beta[scheme] == 1 and abs(figures.totals_t[scheme]) <= epsilon
            assert kept or fell_back, (scheme, figures)
    all_actual = sum(figures.actual_emissions_t for figures in result.regions.values())
    scheme_2 = sum(figures.totals_t[2] for figures in result.regions.values())
    assert abs(scheme_2 - all_actual) <= epsilon
    for schemes in result.consumers.values():
        assert all(figures.green_reduction_t >= 0 for figures in schemes.values())
    assert set(as_json(result)) == {"factors", "consumers", "regions"}
