"""Reads for reports and the transparency page: aggregate totals computed by the database.

Totals come from blocks (every issued unit lies in exactly one block, whatever became of it), so
"issued" is the sum of every block and "retired" / "cancelled" the sums of blocks in those
statuses, per mechanism, province and vintage month.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.models import UniquenessReport
from audit.scope import ReportScope
from registry import access
from registry.errors import NotFound

logger = logging.getLogger(__name__)

MEASURES = ("issued", "retired", "cancelled", "expired", "active")
# /public/ answers anyone: its totals (aggregates over every block) are computed at most once a
# minute per cache, whatever the traffic.
PUBLIC_TOTALS_CACHE_KEY = "audit:public-unit-totals"
PUBLIC_TOTALS_CACHE_SECONDS = 60


def _rows(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def unit_totals(
    *, scope: ReportScope | None = None, group_by: tuple[str, ...] = ("mechanism", "month")
) -> list[dict[str, Any]]:
    """Issued, retired, cancelled, expired and active units grouped by any of ``unit`` (the
    mechanism's unit kind: E, C or T), ``mechanism``, ``province`` and ``month`` (the vintage
    month, YYYY-MM), in the order given."""
    scope = scope or ReportScope()
    expressions = {
        "unit": "mechanism.unit_kind",
        "mechanism": "mechanism.code",
        "province": "project.province",
        "month": "to_char(to_date(block.vintage::text, 'YYYYMM'), 'YYYY-MM')",
    }
    unknown = set(group_by) - set(expressions)
    if unknown:
        raise ValueError(f"cannot group unit totals by {sorted(unknown)}")
    condition, params = scope.claim_condition("block")
    select = ", ".join(f"{expressions[key]} AS {key}" for key in group_by)
    positions = ", ".join(str(index) for index in range(1, len(group_by) + 1))
    sql = f"""
        SELECT {select},
               sum(block.quantity) AS issued,
               sum(block.quantity) FILTER (WHERE block.status = 'retired') AS retired,
               sum(block.quantity) FILTER (WHERE block.status = 'cancelled') AS cancelled,
               sum(block.quantity) FILTER (WHERE block.status = 'expired') AS expired,
               sum(block.quantity) FILTER (WHERE block.status IN ('active', 'frozen')) AS active
        FROM tracking_block AS block
        JOIN registry_mechanism AS mechanism ON mechanism.id = block.mechanism_id
        JOIN registry_stream AS stream ON stream.id = block.stream_id
        JOIN registry_project AS project ON project.id = stream.project_id
        WHERE {condition}
        GROUP BY {positions}
        ORDER BY {positions}
    """
    totals = _rows(sql, params)
    for row in totals:
        for key in MEASURES:
            row[key] = int(row[key] or 0)
    return totals


def cached(key: str, seconds: int, compute: Callable[[], Any]) -> Any:
    """``compute()``, kept in the cache under ``key`` for ``seconds``. A cache that cannot be
    reached is passed by: the value is computed, so a page never fails for want of Redis."""
    try:
        value = cache.get(key)
    except Exception as error:  # any failure of the cache backend
        logger.warning("cache unavailable for %s: %s", key, error)
        return compute()
    if value is None:
        value = compute()
        try:
            cache.set(key, value, seconds)
        except Exception as error:
            logger.warning("cache unavailable for %s: %s", key, error)
    return value


def public_unit_totals() -> dict[str, Any]:
    """What /public/ shows: unit totals of the whole registry per unit kind (``by_unit``), and
    per unit kind and mechanism, province or vintage month, each row with issued, retired,
    cancelled, expired and active units. Units of different kinds (MWh, tCO2e, tce) are never
    added together. Computed at most once per ``PUBLIC_TOTALS_CACHE_SECONDS`` (``computed_at``
    says when).
    """
    return cached(PUBLIC_TOTALS_CACHE_KEY, PUBLIC_TOTALS_CACHE_SECONDS, _public_unit_totals)


def _public_unit_totals() -> dict[str, Any]:
    by_mechanism = unit_totals(group_by=("unit", "mechanism"))
    by_unit: dict[str, dict[str, int]] = {}
    for row in by_mechanism:
        unit = by_unit.setdefault(row["unit"], dict.fromkeys(MEASURES, 0))
        for key in MEASURES:
            unit[key] += row[key]
    return {
        "by_unit": [{"unit": unit, **sums} for unit, sums in by_unit.items()],
        "by_mechanism": by_mechanism,
        "by_province": unit_totals(group_by=("unit", "province")),
        "by_month": unit_totals(group_by=("unit", "month")),
        "computed_at": timezone.now(),
    }


def mechanism_names() -> dict[str, tuple[str, str]]:
    """Each mechanism's code with its English and Chinese names."""
    from registry.models import Mechanism

    return {
        code: (name, name_zh)
        for code, name, name_zh in Mechanism.objects.values_list("code", "name", "name_zh")
    }


def refused_attempts(*, scope: ReportScope | None = None) -> list[dict[str, Any]]:
    """Refused attempts in the ledger grouped by the actor's organisation, the error code and the
    rule (``R1`` for a double claim, the catalogue rule for a rule violation, empty otherwise).

    A scope narrows by organisation only: a refused attempt is not yet a claim on any unit.
    """
    scope = scope or ReportScope()
    conditions, params = ["event.kind = 'attempt.refused'"], []
    if scope.organisation:
        conditions.append("organisation.code = %s")
        params.append(scope.organisation)
    sql = f"""
        SELECT coalesce(organisation.code, '') AS organisation,
               coalesce(event.payload->>'code', '') AS code,
               coalesce(event.payload->'details'->>'rule', '') AS rule,
               count(*) AS attempts
        FROM registry_ledgerevent AS event
        LEFT JOIN accounts_user AS actor ON actor.id = event.actor_id
        LEFT JOIN accounts_organisation AS organisation ON organisation.id = actor.organisation_id
        WHERE {" AND ".join(conditions)}
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
    """
    return _rows(sql, params)


def report_statistics(scope: ReportScope) -> dict[str, Any]:
    """The figures a report's charts draw, stored with the report so they never drift."""
    return {
        "units_by_mechanism_month": unit_totals(scope=scope, group_by=("mechanism", "month")),
        "refused_attempts": refused_attempts(scope=scope),
    }


def retirements_in_scope(
    *, scope: ReportScope, as_of: dt.datetime | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The latest ``limit`` retirements made at or before ``as_of`` that retired units in
    ``scope``, newest first, with the quantity retired within the scope.

    Retirements are final and never deleted, so the list for a finished report's end time is
    the same whenever it is read.
    """
    condition, params = scope.claim_condition("block")
    sql = f"""
        SELECT retirement.id, retirement.public_id, retirement.created_at,
               retirement.beneficiary_name, retirement.beneficiary_organisation,
               retirement.purpose, retirement.location, retirement.reporting_year,
               mechanism.code AS mechanism, sum(block.quantity) AS quantity
        FROM tracking_retirement AS retirement
        JOIN tracking_block AS block ON block.retirement_id = retirement.id AND {condition}
        JOIN registry_mechanism AS mechanism ON mechanism.id = retirement.mechanism_id
        WHERE retirement.created_at <= %s
        GROUP BY retirement.id, mechanism.code
        ORDER BY retirement.created_at DESC, retirement.id DESC
        LIMIT %s
    """
    rows = _rows(sql, [*params, as_of or timezone.now(), limit])
    for row in rows:
        row["quantity"] = int(row["quantity"] or 0)
    return rows


def report_get(*, report_id: int) -> UniquenessReport:
    report = UniquenessReport.objects.filter(pk=report_id).first()
    if report is None:
        raise NotFound(_("No report %(id)s.") % {"id": report_id}, code="not_found")
    return report


def reports_visible_to(user) -> QuerySet[UniquenessReport]:
    """The reports ``user`` may see: every report for administrators and auditors, only the
    ones they requested for anybody else (registry.access, resource ``uniqueness_report``)."""
    return access.visible(
        user,
        "uniqueness_report",
        UniquenessReport.objects.select_related("requested_by").order_by("-id"),
    )
