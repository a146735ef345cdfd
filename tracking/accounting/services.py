"""Writes of emission accounting.

Grid data comes in as CSV (admin upload or ``import_grid_data``), all or nothing, one ledger
event per file. Factors are computed from the grid data and the registry's own claims
(``grid_factors_compute``), in one repeatable-read snapshot whose last ledger event and latest
checkpoint are stored with them; a recomputation adds a new computation, the newest is published.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Sum
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from registry.errors import Conflict, DomainError
from registry.ledger import record_event, sha256_hex
from registry.models import Checkpoint, GridRegion, LedgerEvent
from registry.permissions import require_administrator
from tracking.accounting import factors as factor_math
from tracking.accounting.models import (
    FactorComputation,
    GridExchange,
    GridFactor,
    GridGeneration,
)
from tracking.accounting.selectors import claimed_mwh

GENERATION_COLUMNS = ("region", "period", "source", "generation_mwh", "emissions_t")
EXCHANGE_COLUMNS = ("period", "from_region", "to_region", "mwh")
PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?P<month>\d{2}))?$")
SOURCE = re.compile(r"^[a-z0-9_-]{1,32}$")
MAX_ROWS = 100_000


@dataclass(frozen=True)
class GridImport:
    """What one file changed: its kind, rows, the periods it replaced and its SHA-256."""

    kind: str
    rows: int
    periods: list[str]
    content_sha256: str


def parse_period(text: str, *, field: str = "period") -> tuple[int, int | None]:
    """``2025`` (a year) or ``2025-03`` (a month)."""
    match = PERIOD.match((text or "").strip())
    month = int(match["month"]) if match and match["month"] else None
    if (
        match is None
        or not (1990 <= int(match["year"]) <= 2200)
        or (month is not None and not 1 <= month <= 12)
    ):
        raise DomainError(
            _("%(value)s is not a period: give a year (2025) or a month (2025-03).")
            % {"value": text},
            code="invalid_period",
            field=field,
        )
    return int(match["year"]), month


def _row_error(number: int, column: str, message: Any) -> DomainError:
    return DomainError(
        _("Row %(row)s, %(column)s: %(message)s")
        % {"row": number, "column": column, "message": message},
        code="invalid_grid_data",
        field=column,
        details={"row": number},
    )


def _quantity(row: dict[str, str], column: str, number: int) -> Decimal:
    text = (row.get(column) or "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _row_error(number, column, _("not a number")) from None
    if not value.is_finite() or value < 0 or value >= Decimal("1e16"):
        raise _row_error(number, column, _("must be zero or more, below 10^16"))
    return value


def _rows(content: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [column for column in columns if column not in header]
    if missing:
        raise DomainError(
            _("The file needs the columns %(columns)s; missing: %(missing)s.")
            % {"columns": ", ".join(columns), "missing": ", ".join(missing)},
            code="invalid_grid_data",
            field="file",
        )
    reader.fieldnames = header
    rows = [(number, row) for number, row in enumerate(reader, start=2)]
    if not rows:
        raise DomainError(_("The file has no rows."), code="invalid_grid_data", field="file")
    if len(rows) > MAX_ROWS:
        raise DomainError(
            _("At most %(count)s rows per file.") % {"count": MAX_ROWS},
            code="invalid_grid_data",
            field="file",
        )
    return rows


def _regions() -> dict[str, GridRegion]:
    return {region.code: region for region in GridRegion.objects.all()}


def _region(regions: dict[str, GridRegion], row, column: str, number: int) -> GridRegion:
    code = (row.get(column) or "").strip().lower()
    if code not in regions:
        raise _row_error(number, column, _("unknown grid region %(code)s") % {"code": code})
    return regions[code]


def _period(row, number: int) -> tuple[int, int | None]:
    try:
        return parse_period(row.get("period") or "")
    except DomainError as error:
        raise _row_error(number, "period", error.message) from None


def _label(year: int, month: int | None) -> str:
    return f"{year}" if month is None else f"{year}-{month:02d}"


def grid_data_import(*, actor: User, kind: str, content: str) -> GridImport:
    """Import grid statistics from CSV, all or nothing (administrators).

    ``generation``: region, period, source, generation_mwh, emissions_t — one row per source;
    the file replaces every generation row of each (region, period) it names.
    ``exchanges``: period, from_region, to_region, mwh — the file replaces every exchange of each
    period it names. A refused row names its row number and column; nothing is written then.
    """
    require_administrator(actor, _("import grid data"))
    regions = _regions()
    if kind == "generation":
        parsed = _parse_generation(content, regions)
    elif kind == "exchanges":
        parsed = _parse_exchanges(content, regions)
    else:
        raise DomainError(
            _("Unknown kind of grid data %(kind)s: generation or exchanges.") % {"kind": kind},
            code="invalid_grid_data",
            field="kind",
        )
    with transaction.atomic():
        if kind == "generation":
            for region, year, month in {(r.region_id, r.year, r.month) for r in parsed}:
                GridGeneration.objects.filter(region_id=region, year=year, month=month).delete()
            for row in parsed:
                row.imported_by = actor
            GridGeneration.objects.bulk_create(parsed)
        else:
            for year, month in {(r.year, r.month) for r in parsed}:
                GridExchange.objects.filter(year=year, month=month).delete()
            for row in parsed:
                row.imported_by = actor
            GridExchange.objects.bulk_create(parsed)
        periods = sorted({_label(row.year, row.month) for row in parsed})
        result = GridImport(
            kind=kind, rows=len(parsed), periods=periods, content_sha256=sha256_hex(content)
        )
        record_event(
            kind=LedgerEvent.Kind.GRID_DATA_IMPORTED,
            actor=actor,
            subjects=[f"grid_data:{kind}"],
            payload={
                "kind": kind,
                "rows": result.rows,
                "periods": periods,
                "content_sha256": result.content_sha256,
            },
        )
    return result


def _parse_generation(content: str, regions) -> list[GridGeneration]:
    seen: dict[tuple, int] = {}
    parsed = []
    for number, row in _rows(content, GENERATION_COLUMNS):
        region = _region(regions, row, "region", number)
        year, month = _period(row, number)
        source = (row.get("source") or "").strip().lower()
        if not SOURCE.match(source):
            raise _row_error(number, "source", _("a short name such as coal, gas, wind"))
        key = (region.pk, year, month, source)
        if key in seen:
            raise _row_error(number, "source", _("repeats row %(row)s") % {"row": seen[key]})
        seen[key] = number
        parsed.append(
            GridGeneration(
                region=region,
                year=year,
                month=month,
                source=source,
                generation_mwh=_quantity(row, "generation_mwh", number),
                emissions_t=_quantity(row, "emissions_t", number),
            )
        )
    return parsed


def _parse_exchanges(content: str, regions) -> list[GridExchange]:
    seen: dict[tuple, int] = {}
    parsed = []
    for number, row in _rows(content, EXCHANGE_COLUMNS):
        year, month = _period(row, number)
        exporter = _region(regions, row, "from_region", number)
        importer = _region(regions, row, "to_region", number)
        if exporter.pk == importer.pk:
            raise _row_error(number, "to_region", _("a region cannot exchange with itself"))
        key = (exporter.pk, importer.pk, year, month)
        if key in seen:
            raise _row_error(number, "to_region", _("repeats row %(row)s") % {"row": seen[key]})
        seen[key] = number
        parsed.append(
            GridExchange(
                year=year,
                month=month,
                exporter=exporter,
                importer=importer,
                mwh=_quantity(row, "mwh", number),
            )
        )
    return parsed


def grid_factors_compute(
    *,
    actor: User | None,
    year: int,
    month: int | None = None,
    policy: list[str] | None = None,
) -> FactorComputation:
    """Compute every region's average and residual factor for a period and store them as a new
    computation (administrators; ``actor`` None for the periodic task).

    Reads the grid data and the registry's claims in one repeatable-read snapshot and records
    the last ledger event and the latest checkpoint of that snapshot. Refuses a period without
    grid data, and grid data that gives no factor (naming the field).
    """
    if actor is not None:
        require_administrator(actor, _("compute grid factors"))
    policy = sorted(set(policy if policy is not None else settings.REGISTRY_RESIDUAL_POLICY))
    own_transaction = not connection.in_atomic_block
    with transaction.atomic():
        if own_transaction:
            # One snapshot for the grid data, the claims and the last event id. Inside a caller's
            # transaction its isolation level stands (it can only be set before any query).
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        supplies = (
            GridGeneration.objects.filter(year=year, month=month)
            .values("region_id", "region__code")
            .annotate(generation=Sum("generation_mwh"), emissions=Sum("emissions_t"))
            .order_by("region__code")
        )
        if not supplies:
            raise Conflict(
                _("There is no grid data for %(period)s.") % {"period": _label(year, month)},
                code="no_grid_data",
                field="period",
            )
        exchanges = [
            factor_math.Exchange(exchange.exporter.code, exchange.importer.code, exchange.mwh)
            for exchange in GridExchange.objects.filter(year=year, month=month).select_related(
                "exporter", "importer"
            )
        ]
        try:
            averages = factor_math.average_factors(
                [
                    factor_math.RegionSupply(
                        row["region__code"], row["generation"], row["emissions"]
                    )
                    for row in supplies
                ],
                exchanges,
            )
        except factor_math.FactorError as error:
            raise DomainError(
                _("The grid data of %(period)s gives no factor: %(reason)s")
                % {"period": _label(year, month), "reason": error.message},
                code="invalid_grid_data",
                field=error.field,
            ) from None
        claims = claimed_mwh(year=year, month=month)
        computation = FactorComputation.objects.create(
            year=year,
            month=month,
            policy=policy,
            checkpoint=Checkpoint.objects.order_by("-sequence").first(),
            last_event_id=LedgerEvent.objects.aggregate(last=Max("id"))["last"],
            requested_by=actor,
        )
        rows = []
        for row in supplies:
            average = averages[row["region__code"]]
            claimed = claims.get(row["region_id"], defaultdict(Decimal))
            counted = sum((claimed[kind] for kind in policy), Decimal(0))
            rows.append(
                GridFactor(
                    computation=computation,
                    region_id=row["region_id"],
                    generation_mwh=row["generation"],
                    generation_emissions_t=row["emissions"],
                    imports_mwh=average.imports_mwh,
                    supply_emissions_t=average.supply_emissions_t,
                    average_factor=average.factor,
                    retired_mwh=claimed["retired"],
                    exported_mwh=claimed["exported"],
                    valid_mwh=claimed["valid"],
                    claimed_mwh=counted,
                    residual_factor=factor_math.residual_factor(
                        average=average, claimed_mwh=counted
                    ),
                    double_counted_t=factor_math.double_counted_t(
                        average=average, claimed_mwh=counted
                    ),
                )
            )
        GridFactor.objects.bulk_create(rows)
    return computation


def grid_factors_recompute_all() -> list[FactorComputation]:
    """Recompute the factors of every period that has grid data (the periodic task)."""
    periods = (
        GridGeneration.objects.values_list("year", "month").distinct().order_by("year", "month")
    )
    return [grid_factors_compute(actor=None, year=year, month=month) for year, month in periods]
