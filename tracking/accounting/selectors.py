"""Reads of emission accounting and green power settlement (issue 7)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models import Q, Sum

from registry.models import ProductionRecord, UnitKind

# =============================================================================================
# Green power settlement
# =============================================================================================


def month_period(month: int) -> DateTimeTZRange:
    """The calendar month YYYYMM as a half-open period in the registry's time zone (China
    Standard Time), the local month that settlement and vintages use."""
    zone = ZoneInfo(settings.TIME_ZONE)
    year, number = divmod(month, 100)
    start = dt.datetime(year, number, 1, tzinfo=zone)
    end = dt.datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return DateTimeTZRange(start, end, "[)")


def previous_month(month: int) -> int:
    year, number = divmod(month, 100)
    return (year - 1) * 100 + 12 if number == 1 else month - 1


def contracts_active_in(month: int):
    """Green power contracts whose months include ``month``, in primary-key order."""
    from tracking.accounting.models import GreenPowerContract

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
    from tracking.accounting.models import ElectricityConsumption

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
