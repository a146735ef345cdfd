"""Reads for reports and the transparency page: aggregate totals computed by the database.

Totals come from blocks (every issued unit lies in exactly one block, whatever became of it), so
"issued" is the sum of every block and "retired" / "cancelled" the sums of blocks in those
statuses, per mechanism, province and vintage month.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from audit.models import UniquenessReport
from audit.scope import ReportScope
from registry import access
from registry.errors import NotFound


def _rows(sql: str, params: list[Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def unit_totals(
    *, scope: ReportScope | None = None, group_by: tuple[str, ...] = ("mechanism", "month")
) -> list[dict[str, Any]]:
    """Issued, retired, cancelled, expired and active units grouped by any of ``mechanism``,
    ``province`` and ``month`` (the vintage month, YYYY-MM), in that order of keys."""
    scope = scope or ReportScope()
    expressions = {
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
        for key in ("issued", "retired", "cancelled", "expired", "active"):
            row[key] = int(row[key] or 0)
    return totals


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
