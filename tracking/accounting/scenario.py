"""Scenario calculator for policy analysis: adjusted emission factors of regions whose consumers
buy power across regions and hold certificates, and four schemes for allocating the emissions of
purchased electricity (docs/domain.md, emission accounting).

Pure: no Django, no database. ``parse`` checks an input document (the scenario JSON document)
and returns a ``Scenario``; ``compute`` works out a ``Result`` with ``Decimal`` at 50 significant
digits; ``as_json`` turns it into plain JSON numbers (floats, at least 15 significant digits) at
the edge. The command ``emission_scenario`` and ``POST /api/v1/accounting/scenarios/`` wrap it.

Definitions (consumer ``c`` in region ``i``; a purchase names a generator, whose region may be
another one: imports count at the exporting generator's own factor, without network losses):

* ``e_all(c)`` = the MWh of all purchases of ``c``; ``e_g(c)`` = the MWh of its certificates.
* ``actual_i`` = sum over the consumers of region ``i``, over their purchases, of
  ``mwh x emission_factor(generator)``: the actual emissions of the power they bought.
* ``EF_i*`` = ``actual_i / (sum e_all(c) - sum e_g(c))`` over the consumers of region ``i``.
* ``EF*`` (``combined``) = ``sum_i actual_i / sum_i (sum e_all - sum e_g)`` over all regions.
* Emissions of ``c`` by scheme, before ``beta`` ("raw"):

  1. ``e_all * EF_i* - e_g * EF_i*``
  2. ``e_all * EF* - e_g * EF*``
  3. ``e_all * EF_i* - e_g * EF*``, then scaled by ``beta3_i``
  4. ``e_all * EF* - e_g * EF_i*``, then scaled by ``beta4_i``

  with ``beta_k_i = actual_i / sum over the consumers c of region i of raw_k(c)``, so that the
  regional totals of schemes 3 and 4 equal ``actual_i``. Schemes 1 and 2 are not scaled: the
  totals of scheme 1 equal ``actual_i`` by construction, those of scheme 2 add up over all
  regions to ``sum_i actual_i``. Under scheme 3 a consumer whose certificates are worth more at
  ``EF*`` than its purchases at ``EF_i*`` gets negative emissions: that is the scheme, not an
  error.
* Green reduction of ``c`` under a scheme = ``e_g`` x the factor the scheme applies to ``e_g``
  (scheme 1: ``EF_i*``, 2: ``EF*``, 3: ``EF*``, 4: ``EF_i*``). It is NOT scaled by ``beta``:
  it states what the certificates are worth at the factor applied, not a share of a total.

Edge cases, decided here:

* A region that appears only as a generator's region (no consumers) has no ``EF_i*`` and no
  entry in ``factors`` or ``regions``; its generators' factors count wherever they are bought.
* Zero denominator: when every MWh the consumers of a region bought is covered by certificates
  (or they bought nothing), ``EF_i*`` is 0. ``actual_i`` is then necessarily 0, because
  certificates may only name renewable generators (``emission_factor == 0``) and never exceed
  the purchases from them, so the denominator is at least the MWh bought from emitting
  generators. The same holds for ``EF*`` over all regions.
* ``beta``: when ``sum raw_k`` over a region is zero (at the working precision: within 1e-40 of
  the magnitude of its terms), ``beta_k_i`` is 1, and the regional total of that scheme is then
  that sum (zero) instead of ``actual_i``.

Input rules (anything else is refused with ``ScenarioError`` naming the field as a JSON path,
``consumers[0].purchases[1].mwh``): the document is an object with exactly ``generators`` and
``consumers`` (lists); ids are non-empty strings, unique among generators and among consumers; a
region id is a non-empty string other than ``combined`` (the key of the combined factor);
``emission_factor`` is a JSON number from 0 to 5 tCO2/MWh (above is absurd); ``mwh`` a JSON
number from 0 to 10^12; a purchase or certificate names a known generator; a certificate names a
renewable generator (``emission_factor == 0``); and a consumer's certificates from one generator
never exceed its purchases from that generator. ``certificates`` may be left out (none).
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

#: Working precision of ``compute``: far beyond what inputs carry (a JSON double has at most
#: 17 significant digits), so rounding never shows in the at least 15 digits printed.
PRECISION = 50
#: A sum of raw scheme emissions this small relative to its terms is zero (rounding residue).
ZERO_TOLERANCE = Decimal("1e-40")
MAX_EMISSION_FACTOR = Decimal(5)
MAX_MWH = Decimal(10) ** 12
COMBINED = "combined"
SCHEMES = (1, 2, 3, 4)


def gettext_noop(message: str) -> str:
    """Marks a message for translation without translating it here (this module has no Django);
    the command and the API translate ``ScenarioError.template`` in the caller's language."""
    return message


class ScenarioError(ValueError):
    """Refused input. ``field`` is the JSON path of the offending value (None: the document);
    ``template`` the untranslated message with ``%(name)s`` placeholders filled from ``params``;
    ``message`` the English text."""

    def __init__(self, message: str, field: str | None, **params: Any) -> None:
        self.template = message
        self.params = params
        self.field = field
        self.message = message % params if params else message
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


# --- input ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generator:
    """A generator in a region with its emission factor (tCO2/MWh); renewable when it is 0."""

    id: str
    region: str
    emission_factor: Decimal

    @property
    def renewable(self) -> bool:
        return self.emission_factor == 0


@dataclass(frozen=True)
class Quantity:
    """MWh bought from (a purchase) or certified by (a certificate) one generator."""

    generator: str
    mwh: Decimal


@dataclass(frozen=True)
class Consumer:
    """A consumer in a region with its purchases and the certificates it holds."""

    id: str
    region: str
    purchases: tuple[Quantity, ...]
    certificates: tuple[Quantity, ...]


@dataclass(frozen=True)
class Scenario:
    """A checked input: generators by id and consumers, both in input order. Every purchase and
    certificate names a known generator; certificates name renewable generators only and never
    exceed the consumer's purchases from them."""

    generators: dict[str, Generator]
    consumers: tuple[Consumer, ...]


def _object(value: Any, path: str | None, keys: set[str], optional: set[str] = frozenset()):
    if not isinstance(value, Mapping):
        raise ScenarioError(gettext_noop("Must be a JSON object."), path)
    prefix = f"{path}." if path else ""
    for key in value:
        if key not in keys:
            raise ScenarioError(
                gettext_noop("Unknown field %(key)s."), f"{prefix}{key}", key=repr(key)
            )
    for key in sorted(keys - optional - set(value)):
        raise ScenarioError(gettext_noop("This field is required."), f"{prefix}{key}")
    return value


def _list(value: Any, path: str) -> list:
    if not isinstance(value, list):
        raise ScenarioError(gettext_noop("Must be a JSON list."), path)
    return value


def _identifier(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(gettext_noop("Must be a non-empty string."), path)
    return value


def _region(value: Any, path: str) -> str:
    region = _identifier(value, path)
    if region == COMBINED:
        raise ScenarioError(
            gettext_noop(
                "%(name)s is reserved for the combined factor; name the region otherwise."
            ),
            path,
            name=repr(COMBINED),
        )
    return region


def _number(value: Any, path: str, maximum: Decimal, unit: str) -> Decimal:
    # bool is an int in Python, but true/false are not quantities.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ScenarioError(gettext_noop("Must be a JSON number."), path)
    try:
        number = Decimal(value) if isinstance(value, int | Decimal) else Decimal(repr(value))
    except (decimal.InvalidOperation, ValueError):
        raise ScenarioError(gettext_noop("Must be a JSON number."), path) from None
    if not number.is_finite():
        raise ScenarioError(gettext_noop("Must be a finite number."), path)
    if number < 0:
        raise ScenarioError(
            gettext_noop("May not be negative (%(value)s)."), path, value=_plain(number)
        )
    if number > maximum:
        raise ScenarioError(
            gettext_noop("%(value)s is above the most this can be, %(maximum)s %(unit)s."),
            path,
            value=_plain(number),
            maximum=_plain(maximum),
            unit=unit,
        )
    return number + 0  # -0 becomes 0


def _plain(number: Decimal) -> str:
    return f"{number:f}" if abs(number.adjusted()) < 20 else str(number)


def _quantities(
    value: Any, path: str, generators: dict[str, Generator], kind: str
) -> tuple[Quantity, ...]:
    quantities = []
    for index, entry in enumerate(_list(value, path)):
        entry_path = f"{path}[{index}]"
        entry = _object(entry, entry_path, {"generator", "mwh"})
        generator = _identifier(entry["generator"], f"{entry_path}.generator")
        if generator not in generators:
            raise ScenarioError(
                gettext_noop("Unknown generator %(generator)s."),
                f"{entry_path}.generator",
                generator=repr(generator),
            )
        if kind == "certificates" and not generators[generator].renewable:
            raise ScenarioError(
                gettext_noop(
                    "Generator %(generator)s is not renewable (emission factor %(factor)s): "
                    "certificates may only name generators whose factor is 0."
                ),
                f"{entry_path}.generator",
                generator=repr(generator),
                factor=_plain(generators[generator].emission_factor),
            )
        mwh = _number(entry["mwh"], f"{entry_path}.mwh", MAX_MWH, "MWh")
        quantities.append(Quantity(generator=generator, mwh=mwh))
    return tuple(quantities)


def _certificates_within_purchases(consumer: Consumer, path: str) -> None:
    bought: dict[str, Decimal] = {}
    for purchase in consumer.purchases:
        bought[purchase.generator] = bought.get(purchase.generator, Decimal(0)) + purchase.mwh
    certified: dict[str, Decimal] = {}
    for index, certificate in enumerate(consumer.certificates):
        total = certified.get(certificate.generator, Decimal(0)) + certificate.mwh
        certified[certificate.generator] = total
        purchased = bought.get(certificate.generator, Decimal(0))
        if total > purchased:
            raise ScenarioError(
                gettext_noop(
                    "Certificates for %(certified)s MWh from generator %(generator)s exceed the "
                    "%(purchased)s MWh this consumer bought from it."
                ),
                f"{path}.certificates[{index}].mwh",
                certified=_plain(total),
                generator=repr(certificate.generator),
                purchased=_plain(purchased),
            )


def parse(document: Any) -> Scenario:
    """The checked ``Scenario`` of an input document (parsed JSON), or ``ScenarioError`` naming
    the first offending field. Numbers may be ints, floats or ``Decimal`` (a float is read as
    the shortest decimal that prints it, so 0.1 is exactly 0.1)."""
    document = _object(document, None, {"generators", "consumers"})
    generators: dict[str, Generator] = {}
    for index, entry in enumerate(_list(document["generators"], "generators")):
        path = f"generators[{index}]"
        entry = _object(entry, path, {"id", "region", "emission_factor"})
        generator_id = _identifier(entry["id"], f"{path}.id")
        if generator_id in generators:
            raise ScenarioError(
                gettext_noop("Generator %(id)s appears twice."), f"{path}.id", id=repr(generator_id)
            )
        generators[generator_id] = Generator(
            id=generator_id,
            region=_region(entry["region"], f"{path}.region"),
            emission_factor=_number(
                entry["emission_factor"],
                f"{path}.emission_factor",
                MAX_EMISSION_FACTOR,
                "tCO2/MWh",
            ),
        )
    consumers: list[Consumer] = []
    seen: set[str] = set()
    for index, entry in enumerate(_list(document["consumers"], "consumers")):
        path = f"consumers[{index}]"
        entry = _object(
            entry, path, {"id", "region", "purchases", "certificates"}, optional={"certificates"}
        )
        consumer_id = _identifier(entry["id"], f"{path}.id")
        if consumer_id in seen:
            raise ScenarioError(
                gettext_noop("Consumer %(id)s appears twice."), f"{path}.id", id=repr(consumer_id)
            )
        seen.add(consumer_id)
        consumer = Consumer(
            id=consumer_id,
            region=_region(entry["region"], f"{path}.region"),
            purchases=_quantities(entry["purchases"], f"{path}.purchases", generators, "purchases"),
            certificates=_quantities(
                entry.get("certificates", []), f"{path}.certificates", generators, "certificates"
            ),
        )
        _certificates_within_purchases(consumer, path)
        consumers.append(consumer)
    return Scenario(generators=generators, consumers=tuple(consumers))


# --- calculation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemeFigures:
    """One consumer under one scheme: its emissions (after beta) and its green reduction."""

    emissions_t: Decimal
    green_reduction_t: Decimal


@dataclass(frozen=True)
class RegionFigures:
    """A region with consumers: its adjusted factor, the actual emissions of the power its
    consumers bought, each scheme's total over its consumers, and the betas of schemes 3, 4."""

    factor: Decimal
    actual_emissions_t: Decimal
    purchased_mwh: Decimal
    certified_mwh: Decimal
    totals_t: dict[int, Decimal]
    beta: dict[int, Decimal]


@dataclass(frozen=True)
class Result:
    """Figures of a scenario: regions (those with consumers) and consumers in input order."""

    combined_factor: Decimal
    regions: dict[str, RegionFigures]
    consumers: dict[str, dict[int, SchemeFigures]] = field(default_factory=dict)


def _factor(emissions: Decimal, mwh: Decimal) -> Decimal:
    # mwh == 0 only when every MWh bought is certified, so emissions are 0 too (module docstring).
    return emissions / mwh if mwh else Decimal(0)


def _beta(actual: Decimal, raws: list[tuple[Decimal, Decimal]]) -> Decimal:
    """``actual / sum raw``, or 1 when that sum is zero at the working precision; each raw is
    given as its two terms (``a - b``) so the size of the rounding residue is known."""
    total = sum((a - b for a, b in raws), Decimal(0))
    magnitude = sum((abs(a) + abs(b) for a, b in raws), Decimal(0))
    if total == 0 or abs(total) <= magnitude * ZERO_TOLERANCE:
        return Decimal(1)
    return actual / total


def compute(scenario: Scenario) -> Result:
    """The figures of ``scenario`` as the module docstring defines them."""
    with decimal.localcontext() as context:
        context.prec = PRECISION
        return _compute(scenario)


def _compute(scenario: Scenario) -> Result:
    zero = Decimal(0)
    purchased: dict[str, Decimal] = {}  # e_all per consumer
    certified: dict[str, Decimal] = {}  # e_g per consumer
    by_region: dict[str, list[Consumer]] = {}
    actual: dict[str, Decimal] = {}
    for consumer in scenario.consumers:
        purchased[consumer.id] = sum((p.mwh for p in consumer.purchases), zero)
        certified[consumer.id] = sum((c.mwh for c in consumer.certificates), zero)
        emissions = sum(
            (p.mwh * scenario.generators[p.generator].emission_factor for p in consumer.purchases),
            zero,
        )
        by_region.setdefault(consumer.region, []).append(consumer)
        actual[consumer.region] = actual.get(consumer.region, zero) + emissions

    region_mwh = {
        region: (
            sum((purchased[c.id] for c in members), zero),
            sum((certified[c.id] for c in members), zero),
        )
        for region, members in by_region.items()
    }
    factor = {
        region: _factor(actual[region], e_all - e_g) for region, (e_all, e_g) in region_mwh.items()
    }
    combined = _factor(
        sum(actual.values(), zero), sum((e_all - e_g for e_all, e_g in region_mwh.values()), zero)
    )

    # Each scheme as (factor applied to e_all, factor applied to e_g) of a region's consumers.
    def applied(region: str) -> dict[int, tuple[Decimal, Decimal]]:
        own = factor[region]
        return {1: (own, own), 2: (combined, combined), 3: (own, combined), 4: (combined, own)}

    regions: dict[str, RegionFigures] = {}
    consumers: dict[str, dict[int, SchemeFigures]] = {}
    for region, members in by_region.items():
        factors = applied(region)
        terms = {
            scheme: [
                (purchased[c.id] * factors[scheme][0], certified[c.id] * factors[scheme][1])
                for c in members
            ]
            for scheme in SCHEMES
        }
        beta = {1: Decimal(1), 2: Decimal(1)}
        beta[3] = _beta(actual[region], terms[3])
        beta[4] = _beta(actual[region], terms[4])
        totals = dict.fromkeys(SCHEMES, zero)
        for position, consumer in enumerate(members):
            figures = {}
            for scheme in SCHEMES:
                on_all, on_green = terms[scheme][position]
                emissions = beta[scheme] * (on_all - on_green)
                totals[scheme] += emissions
                figures[scheme] = SchemeFigures(emissions_t=emissions, green_reduction_t=on_green)
            consumers[consumer.id] = figures
        regions[region] = RegionFigures(
            factor=factor[region],
            actual_emissions_t=actual[region],
            purchased_mwh=region_mwh[region][0],
            certified_mwh=region_mwh[region][1],
            totals_t=totals,
            beta=beta,
        )
    # Consumers in input order (grouping by region above reorders them).
    ordered = {consumer.id: consumers[consumer.id] for consumer in scenario.consumers}
    return Result(combined_factor=combined, regions=regions, consumers=ordered)


# --- output -----------------------------------------------------------------------------------


def _number_out(value: Decimal) -> float:
    """A JSON number: the nearest double (at least 15 significant digits), never -0."""
    number = float(value)
    return number if number != 0 else 0.0


def as_json(result: Result) -> dict[str, Any]:
    """The output document: exactly ``factors``, ``consumers`` and ``regions``."""
    factors = {region: _number_out(figures.factor) for region, figures in result.regions.items()}
    factors[COMBINED] = _number_out(result.combined_factor)
    return {
        "factors": factors,
        "consumers": {
            consumer: {
                f"scheme_{scheme}": {
                    "emissions_t": _number_out(figures.emissions_t),
                    "green_reduction_t": _number_out(figures.green_reduction_t),
                }
                for scheme, figures in schemes.items()
            }
            for consumer, schemes in result.consumers.items()
        },
        "regions": {
            region: {
                "actual_emissions_t": _number_out(figures.actual_emissions_t),
                **{
                    f"scheme_{scheme}_total_t": _number_out(figures.totals_t[scheme])
                    for scheme in SCHEMES
                },
            }
            for region, figures in result.regions.items()
        },
    }
