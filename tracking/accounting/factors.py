"""Grid emission factors, pure arithmetic (docs/domain.md, emission accounting); no Django, no
database.

Average factor of region i, counting what it imports at the exporter's factor:

    EF_i = (E_i + Σ_j EF_j · Imp_ji) / (G_i + Σ_j Imp_ji)

With exchanges running both ways the factors depend on one another, so they are solved together:
multiplying out gives the linear system

    EF_i · (G_i + Σ_j Imp_ji) − Σ_j EF_j · Imp_ji = E_i        for every region i,

solved exactly here in rational arithmetic (``fractions.Fraction``), then given as ``Decimal``.

Residual factor: the same emissions over the supply less the MWh whose attributes are claimed
elsewhere in the registry (certificates retired for the region's consumers, exported, and, by
policy, issued and still valid):

    RF_i = EF_i · S_i / (S_i − C_i)        with S_i = G_i + Σ_j Imp_ji, C_i the claimed MWh

and the tonnes counted twice if consumers without certificates used EF_i instead of RF_i:

    D_i = (S_i − C_i) · (RF_i − EF_i) = C_i · EF_i
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

FACTOR_PLACES = Decimal("0.000000001")  # t/MWh, nine places
TONNE_PLACES = Decimal("0.000001")


class FactorError(ValueError):
    """Grid data from which no factor can be computed; ``field`` names the offending item."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class RegionSupply:
    """What a region generated in a period and what that generation emitted."""

    region: str
    generation_mwh: Decimal
    emissions_t: Decimal


@dataclass(frozen=True)
class Exchange:
    """MWh flowing from ``exporter`` into ``importer`` in the period."""

    exporter: str
    importer: str
    mwh: Decimal


@dataclass(frozen=True)
class AverageFactor:
    region: str
    factor: Decimal
    generation_mwh: Decimal
    imports_mwh: Decimal
    #: E_i plus the imported emissions (Σ_j EF_j · Imp_ji): what the region's supply carries
    supply_emissions_t: Decimal

    @property
    def supply_mwh(self) -> Decimal:
        return self.generation_mwh + self.imports_mwh


def _as_decimal(value: Fraction, places: Decimal) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(places)


def _solve(matrix: list[list[Fraction]], constants: list[Fraction]) -> list[Fraction]:
    """Gaussian elimination with exact fractions; ``matrix`` is square and non-singular."""
    size = len(constants)
    rows = [row[:] + [constant] for row, constant in zip(matrix, constants, strict=True)]
    for column in range(size):
        pivot = next((r for r in range(column, size) if rows[r][column] != 0), None)
        if pivot is None:
            raise ZeroDivisionError(column)
        rows[column], rows[pivot] = rows[pivot], rows[column]
        lead = rows[column][column]
        rows[column] = [value / lead for value in rows[column]]
        for other in range(size):
            if other != column and rows[other][column] != 0:
                ratio = rows[other][column]
                rows[other] = [
                    value - ratio * pivot_value
                    for value, pivot_value in zip(rows[other], rows[column], strict=True)
                ]
    return [row[size] for row in rows]


def average_factors(
    regions: Sequence[RegionSupply], exchanges: Iterable[Exchange]
) -> dict[str, AverageFactor]:
    """The average factor of every region, imports counted at their exporter's factor.

    Refuses negative figures, an exchange with a region that has no grid data, a region
    exchanging with itself, and a region with neither generation nor imports.
    """
    index = {supply.region: position for position, supply in enumerate(regions)}
    if len(index) != len(regions):
        raise FactorError("A region appears twice in the grid data.", field="region")
    for supply in regions:
        if supply.generation_mwh < 0 or supply.emissions_t < 0:
            raise FactorError(
                f"Negative generation or emissions for region {supply.region}.", field="region"
            )
    imports: dict[str, dict[str, Fraction]] = {supply.region: {} for supply in regions}
    for exchange in exchanges:
        for role, region in (("exporter", exchange.exporter), ("importer", exchange.importer)):
            if region not in index:
                raise FactorError(
                    f"Exchange {exchange.exporter} -> {exchange.importer}: region {region} has "
                    "no grid data for the period.",
                    field=role,
                )
        if exchange.exporter == exchange.importer:
            raise FactorError("A region cannot exchange with itself.", field="importer")
        if exchange.mwh < 0:
            raise FactorError("Exchanged MWh cannot be negative.", field="mwh")
        received = imports[exchange.importer]
        received[exchange.exporter] = received.get(exchange.exporter, Fraction(0)) + Fraction(
            exchange.mwh
        )
    size = len(regions)
    matrix = [[Fraction(0)] * size for _ in range(size)]
    constants = [Fraction(0)] * size
    for supply in regions:
        i = index[supply.region]
        total_imports = sum(imports[supply.region].values(), Fraction(0))
        matrix[i][i] = Fraction(supply.generation_mwh) + total_imports
        if matrix[i][i] == 0:
            raise FactorError(
                f"Region {supply.region} has neither generation nor imports in the period.",
                field="generation_mwh",
            )
        for exporter, mwh in imports[supply.region].items():
            matrix[i][index[exporter]] -= mwh
        constants[i] = Fraction(supply.emissions_t)
    solution = _solve(matrix, constants)
    result = {}
    for supply in regions:
        i = index[supply.region]
        imports_mwh = sum(imports[supply.region].values(), Fraction(0))
        supply_emissions = solution[i] * (Fraction(supply.generation_mwh) + imports_mwh)
        result[supply.region] = AverageFactor(
            region=supply.region,
            factor=_as_decimal(solution[i], FACTOR_PLACES),
            generation_mwh=supply.generation_mwh,
            imports_mwh=_as_decimal(imports_mwh, TONNE_PLACES),
            supply_emissions_t=_as_decimal(supply_emissions, TONNE_PLACES),
        )
    return result


def residual_factor(*, average: AverageFactor, claimed_mwh: Decimal) -> Decimal | None:
    """RF_i = EF_i · S_i / (S_i − C_i); None when every MWh of the supply is claimed (no
    unclaimed power is left to carry the emissions)."""
    unclaimed = average.supply_mwh - claimed_mwh
    if unclaimed <= 0:
        return None
    return (average.supply_emissions_t / unclaimed).quantize(FACTOR_PLACES)


def double_counted_t(*, average: AverageFactor, claimed_mwh: Decimal) -> Decimal:
    """D_i = C_i · EF_i: what the claimed MWh's emissions would be counted again as, if
    consumers without certificates kept using the average factor."""
    return (min(claimed_mwh, average.supply_mwh) * average.factor).quantize(TONNE_PLACES)
