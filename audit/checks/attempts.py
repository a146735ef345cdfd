"""Refused attempts recorded in the ledger, by organisation and rule (for information)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from audit.checks.base import Check
from audit.scope import ReportScope


def _refused_events(scope: ReportScope) -> tuple[str, list[Any]]:
    # A refused attempt claims no unit, so only the organisation of who tried narrows it.
    conditions, params = ["event.kind = 'attempt.refused'"], []
    if scope.organisation:
        conditions.append("organisation.code = %s")
        params.append(scope.organisation)
    sql = f"""
        SELECT event.id, event.occurred_at,
               coalesce(organisation.code, '') AS organisation,
               coalesce(event.payload->>'code', '') AS code,
               coalesce(event.payload->'details'->>'rule', '') AS rule
        FROM registry_ledgerevent AS event
        LEFT JOIN accounts_user AS actor ON actor.id = event.actor_id
        LEFT JOIN accounts_organisation AS organisation ON organisation.id = actor.organisation_id
        WHERE {" AND ".join(conditions)}
    """
    return sql, params


def _attempts_findings(scope: ReportScope) -> tuple[str, list[Any]]:
    events, params = _refused_events(scope)
    sql = f"""
        SELECT refused.organisation, refused.code, refused.rule, count(*) AS attempts,
               min(refused.occurred_at) AS first_at, max(refused.occurred_at) AS last_at,
               min(refused.id) AS first_event_id, max(refused.id) AS last_event_id
        FROM ({events}) AS refused
        GROUP BY refused.organisation, refused.code, refused.rule
    """
    return sql, params


def _attempts_counts(scope: ReportScope) -> tuple[str, list[Any]]:
    events, params = _refused_events(scope)
    sql = f"""
        SELECT count(*) AS examined, count(DISTINCT refused.organisation) AS organisations,
               count(DISTINCT refused.rule) FILTER (WHERE refused.rule <> '') AS rules
        FROM ({events}) AS refused
    """
    return sql, params


ATTEMPT_CHECKS = [
    Check(
        id="refused_attempts",
        title=_("Refused attempts, by organisation and rule"),
        description=_(
            "Every attempt the registry refused and recorded in the ledger (a second claim on "
            "units already claimed, a rule violation), counted per organisation of who tried, "
            "error code and rule, with the first and last time. For information: a refusal is "
            "the guarantee working. A scope narrows this list by organisation only."
        ),
        guarantee="I7",
        counts=_attempts_counts,
        findings=_attempts_findings,
        order_by="organisation, code, rule",
        verdict_from_findings=False,
    ),
]
