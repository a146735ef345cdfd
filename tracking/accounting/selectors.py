"""Reads of emission accounting: the MWh whose attributes this registry holds claims on, per grid
region and period, and the published factors."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import Q, Sum

from registry.models import (
    GridRegionProvince,
    Mechanism,
    ProductionRecord,
    Project,
    Stream,
    UnitKind,
)
from tracking.accounting.models import (
    ElectricityConsumption,
    FactorComputation,
    GreenPowerContract,
    GridFactor,
)
from tracking.models import Block, Retirement

ZERO = Decimal(0)


def period_bounds(year: int, month: int | None) -> tuple[dt.date, dt.date]:
    """[first day, first day after) of a year or a month."""
    if month is None:
        return dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    start = dt.date(year, month, 1)
    end = dt.date(year + (month == 12), month % 12 + 1, 1)
    return start, end


def claimed_mwh(*, year: int, month: int | None) -> dict[int, dict[str, Decimal]]:
    """Per grid region id: MWh of certificates (unit kind E) retired for consumers located in the
    region with a claim period in the period (a claim period reaching beyond it counts pro rata
    by days), MWh exported from the region's projects, and MWh issued to them and still valid
    (active or frozen), both of the period's vintages."""
    start, end = period_bounds(year, month)
    first_vintage = start.year * 100 + start.month
    last_vintage = year * 100 + (month or 12)
    claimed: dict[int, dict[str, Decimal]] = defaultdict(
        lambda: {"retired": ZERO, "exported": ZERO, "valid": ZERO}
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT province.grid_region_id,
                   sum(retirement.quantity::numeric
                       * greatest(0, least(retirement.claim_period_end + 1, %(end)s::date)
                                     - greatest(retirement.claim_period_start, %(start)s::date))
                       / (retirement.claim_period_end - retirement.claim_period_start + 1))
              FROM {Retirement._meta.db_table} AS retirement
              JOIN {Mechanism._meta.db_table} AS mechanism
                ON mechanism.id = retirement.mechanism_id AND mechanism.unit_kind = %(kind)s
              JOIN {GridRegionProvince._meta.db_table} AS province
                ON province.province = retirement.location
             WHERE retirement.claim_period_start < %(end)s::date
               AND retirement.claim_period_end >= %(start)s::date
             GROUP BY province.grid_region_id
            """,
            {"start": start, "end": end, "kind": UnitKind.ELECTRICITY},
        )
        for region_id, mwh in cursor.fetchall():
            claimed[region_id]["retired"] = Decimal(mwh or 0)
        cursor.execute(
            f"""
            SELECT province.grid_region_id,
                   CASE WHEN block.status = 'exported' THEN 'exported' ELSE 'valid' END,
                   sum(block.quantity)
              FROM {Block._meta.db_table} AS block
              JOIN {Mechanism._meta.db_table} AS mechanism
                ON mechanism.id = block.mechanism_id AND mechanism.unit_kind = %(kind)s
              JOIN {Stream._meta.db_table} AS stream ON stream.id = block.stream_id
              JOIN {Project._meta.db_table} AS project ON project.id = stream.project_id
              JOIN {GridRegionProvince._meta.db_table} AS province
                ON province.province = project.province
             WHERE block.vintage BETWEEN %(first)s AND %(last)s
               AND block.status IN ('exported', 'active', 'frozen')
             GROUP BY 1, 2
            """,
            {"kind": UnitKind.ELECTRICITY, "first": first_vintage, "last": last_vintage},
        )
        for region_id, kind, mwh in cursor.fetchall():
            claimed[region_id][kind] = Decimal(mwh or 0)
    return dict(claimed)


def latest_computations() -> list[FactorComputation]:
    """The newest computation of each period, newest period first."""
    newest_ids = (
        FactorComputation.objects.order_by("year", "month", "-id")
        .distinct("year", "month")
        .values("id")
    )
    return list(
        FactorComputation.objects.filter(id__in=newest_ids)
        .select_related("checkpoint")
        .order_by("-year", "-month")
    )


def published_factors():
    """The factors of the newest computation of every period (what the API and the public page
    publish)."""
    return (
        GridFactor.objects.filter(computation__in=[c.pk for c in latest_computations()])
        .select_related("region", "computation__checkpoint")
        .order_by("-computation__year", "-computation__month", "region__code")
    )


# =============================================================================================
# Green power settlement
# =============================================================================================


def local_period(year: int, month: int | None) -> DateTimeTZRange:
    """A year or a month as a half-open period in the registry's time zone (China Standard
    Time), the local period that settlement, scope 2 and vintages use."""
    zone = ZoneInfo(settings.TIME_ZONE)
    start, end = period_bounds(year, month)
    return DateTimeTZRange(
        dt.datetime.combine(start, dt.time(), zone), dt.datetime.combine(end, dt.time(), zone), "[)"
    )


def month_period(month: int) -> DateTimeTZRange:
    """The calendar month YYYYMM as a local period (``local_period``)."""
    year, number = divmod(month, 100)
    return local_period(year, number)


def previous_month(month: int) -> int:
    year, number = divmod(month, 100)
    return (year - 1) * 100 + 12 if number == 1 else month - 1


def contracts_active_in(month: int):
    """Green power contracts whose months include ``month``, in primary-key order."""
    return (
        GreenPowerContract.objects.filter(valid_from__lte=month)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=month))
        .select_related(
            "generator_project",
            "generator_account",
            "buyer",
            "buyer_account",
        )
        .order_by("pk")
    )


def metered_generation_mwh(project_ids: Iterable[int], month: int) -> dict[int, Decimal]:
    """Per project, the MWh of its metered electricity production records of vintage
    ``month`` (a record's vintage is the local month its period starts in; production periods
    of a stream never overlap, so nothing is counted twice). Projects without any: 0."""
    ids = list(project_ids)
    totals = dict.fromkeys(ids, Decimal(0))
    rows = (
        ProductionRecord.objects.filter(
            stream__project_id__in=ids,
            stream__unit_kind=UnitKind.ELECTRICITY,
            source=ProductionRecord.Source.METERED,
            vintage=month,
        )
        .values("stream__project_id")
        .annotate(total=Sum("quantity"))
        .order_by()
    )
    for row in rows:
        totals[row["stream__project_id"]] = row["total"]
    return totals


def consumption_mwh(organisation_ids: Iterable[int], period: DateTimeTZRange) -> dict[int, Decimal]:
    """Per organisation, the MWh of its consumption rows wholly inside ``period`` (rows that
    straddle its bounds belong to no single month and are left out). Organisations without
    any: 0."""
    ids = list(organisation_ids)
    totals = dict.fromkeys(ids, Decimal(0))
    rows = (
        ElectricityConsumption.objects.filter(organisation_id__in=ids, period__contained_by=period)
        .values("organisation_id")
        .annotate(total=Sum("mwh"))
        .order_by()
    )
    for row in rows:
        totals[row["organisation_id"]] = row["total"]
    return totals
