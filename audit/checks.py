"""The checks of a uniqueness report: each re-derives one guarantee from the stored rows.

A check never calls the services that wrote the data and never trusts a constraint to have held:
it reads the tables with its own SQL (window functions over ranges sorted per stream or claim),
so that a row written around the constraints — by a bug, a restore or a hand in psql — is found.

Each SQL check is two queries over the scope:

- ``findings``: one row per offending record (columns become the keys of the finding's JSON),
  inserted by ``INSERT … SELECT`` in the database, so memory stays bounded however many there are;
  ``order_by`` (columns of that row) gives the findings a stable order;
- ``counts``: one row of named counts; ``examined`` says how many records the check looked at.

A check whose ``verdict_from_findings`` is False only lists (refused attempts, for instance): its
verdict is "info". The ledger check streams events through Python because the event hashes are
SHA-256 over canonical JSON, which SQL cannot reproduce byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from audit.scope import ReportScope

SqlBuilder = Callable[[ReportScope], tuple[str, list[Any]]]


@dataclass(frozen=True)
class Check:
    """One independent check. ``guarantee`` names the invariant or rule it re-derives."""

    id: str
    title: Promise
    description: Promise
    guarantee: str
    counts: SqlBuilder | None = None
    findings: SqlBuilder | None = None
    order_by: str = ""
    verdict_from_findings: bool = True
    # For a check that cannot be SQL: called with the scope and the counts dict (which it fills,
    # "examined" included), yields finding records lazily; see the ledger check.
    stream: Callable[[ReportScope, dict[str, Any]], Iterator[dict[str, Any]]] | None = None


def _production_periods_never_overlap_findings(scope: ReportScope) -> tuple[str, list[Any]]:
    # Sorted by start per stream, a record overlaps an earlier one exactly when it starts before
    # the furthest end reached so far. Metered records may overlap nothing; derived records of
    # one period may coexist with each other but never with a record of another source.
    condition, params = scope.record_condition("record")
    sql = f"""
        WITH ordered AS (
            SELECT record.id, record.stream_id, record.period, record.source,
                   max(upper(record.period)) OVER (
                       PARTITION BY record.stream_id ORDER BY lower(record.period), record.id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                   ) AS reach_before
            FROM registry_productionrecord AS record
            WHERE {condition}
        )
        SELECT ordered.stream_id, ordered.id AS record_id, ordered.source,
               lower(ordered.period) AS period_start, upper(ordered.period) AS period_end,
               other.id AS overlaps_record_id, other.source AS overlaps_source,
               lower(other.period) AS overlaps_start, upper(other.period) AS overlaps_end
        FROM ordered
        JOIN registry_productionrecord AS other
          ON other.stream_id = ordered.stream_id
         AND other.id <> ordered.id
         AND other.period && ordered.period
         AND (lower(other.period), other.id) < (lower(ordered.period), ordered.id)
         AND NOT (other.source <> 'metered' AND other.source = ordered.source)
        WHERE lower(ordered.period) < ordered.reach_before
    """
    return sql, params


def _production_periods_counts(scope: ReportScope) -> tuple[str, list[Any]]:
    condition, params = scope.record_condition("record")
    return (
        f"SELECT count(*) AS examined, count(DISTINCT record.stream_id) AS streams "
        f"FROM registry_productionrecord AS record WHERE {condition}",
        params,
    )


CHECKS: list[Check] = [
    Check(
        id="production_periods_never_overlap",
        title=_("Production periods of a stream never overlap"),
        description=_(
            "Every production record of a stream, sorted by the start of its period, starts "
            "after every earlier record has ended (derived records of one period excepted)."
        ),
        guarantee="I1",
        counts=_production_periods_counts,
        findings=_production_periods_never_overlap_findings,
        order_by="stream_id, period_start, record_id, overlaps_record_id",
    ),
]

CHECKS_BY_ID = {check.id: check for check in CHECKS}
