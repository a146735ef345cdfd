"""Records of other registries that overlap this registry's issuances (R15)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from audit.checks.base import Check
from audit.scope import ReportScope

# Claims named in one finding at most; the finding gives their number and total anyway.
CLAIMS_PER_FINDING = 100


def _candidates(scope: ReportScope) -> tuple[str, list[Any]]:
    """SQL of (external record, project) pairs an auditor must treat as the same output: the
    project a record is linked to (by a declared identifier or a confirmed match), or, for a
    record not linked yet, each project of an open match suggestion. A rejected suggestion
    says the record is not that project's."""
    projects, params = scope.project_condition("candidate.project_id")
    sql = f"""
        SELECT candidate.*, project.code AS project, project.time_zone
        FROM (
            SELECT external.id AS external_record_id, external.project_id,
                   external.link_method AS matched_by, suggestion.score,
                   suggestion.breakdown, suggestion.status AS suggestion_status
            FROM interop_externalrecord AS external
            LEFT JOIN interop_matchsuggestion AS suggestion
              ON suggestion.record_id = external.id
             AND suggestion.project_id = external.project_id
            WHERE external.project_id IS NOT NULL
            UNION ALL
            SELECT external.id, suggestion.project_id, 'open_suggestion', suggestion.score,
                   suggestion.breakdown, suggestion.status
            FROM interop_externalrecord AS external
            JOIN interop_matchsuggestion AS suggestion ON suggestion.record_id = external.id
            WHERE external.project_id IS NULL AND suggestion.status = 'open'
        ) AS candidate
        JOIN registry_project AS project ON project.id = candidate.project_id
        WHERE {projects}
    """
    return sql, params


def _external_findings(scope: ReportScope) -> tuple[str, list[Any]]:
    # Periods are compared as interop compares them: the record's whole days in the project's
    # time zone against the production record's instants, so a shared day is an overlap. A
    # claim covers the unit kinds of its stream and of its mechanism (a derivation's source
    # claim: the MWh and the tonnes made of them), as rule R15 reads it.
    candidates, candidate_params = _candidates(scope)
    claims, claim_params = scope.claim_side_condition("claim")
    sql = f"""
        WITH candidate AS ({candidates}),
        overlapping_claim AS (
            SELECT candidate.external_record_id, candidate.project_id, claim.id AS claim_id,
                   json_build_object(
                       'claim', claim.id, 'mechanism', mechanism.code, 'role', claim.role,
                       'stream', candidate.project || '-' || stream.unit_kind,
                       'serials', ARRAY[lower(claim.serials), upper(claim.serials)],
                       'quantity', claim.quantity, 'record', record.id,
                       'period_start', lower(record.period), 'period_end', upper(record.period)
                   ) AS described, claim.quantity
            FROM candidate
            JOIN interop_externalrecord AS external ON external.id = candidate.external_record_id
            JOIN registry_stream AS stream ON stream.project_id = candidate.project_id
            JOIN registry_unitclaim AS claim
              ON claim.stream_id = stream.id AND claim.status = 'live'
            JOIN registry_mechanism AS mechanism ON mechanism.id = claim.mechanism_id
            JOIN registry_productionrecord AS record ON record.id = claim.production_record_id
            WHERE external.unit_kind IN (stream.unit_kind, mechanism.unit_kind)
              AND record.period && tstzrange(
                  lower(external.period)::timestamp AT TIME ZONE candidate.time_zone,
                  upper(external.period)::timestamp AT TIME ZONE candidate.time_zone, '[)')
              AND {claims}
        ),
        overlap_per_candidate AS (
            SELECT external_record_id, project_id, count(*) AS overlapping_claims,
                   sum(quantity) AS overlapping_quantity,
                   to_jsonb((array_agg(described ORDER BY claim_id))[1:{CLAIMS_PER_FINDING}])
                       AS claims
            FROM overlapping_claim
            GROUP BY external_record_id, project_id
        )
        SELECT external.id AS external_record_id, external.source, external.external_id,
               external.kind, external.mechanism_code AS external_mechanism, external.unit_kind,
               lower(external.period) AS period_first_day,
               upper(external.period) - 1 AS period_last_day,
               external.quantity::text AS quantity,
               external.external_project_id, external.project_name,
               candidate.project, candidate.matched_by, candidate.score,
               candidate.breakdown AS score_breakdown, candidate.suggestion_status,
               overlap.overlapping_claims, overlap.overlapping_quantity, overlap.claims
        FROM overlap_per_candidate AS overlap
        JOIN candidate
          ON candidate.external_record_id = overlap.external_record_id
         AND candidate.project_id = overlap.project_id
        JOIN interop_externalrecord AS external ON external.id = overlap.external_record_id
    """
    return sql, [*candidate_params, *claim_params]


def _external_counts(scope: ReportScope) -> tuple[str, list[Any]]:
    candidates, params = _candidates(scope)
    whole_registry = scope.project_condition("project.id")[0] == "TRUE"
    sql = f"""
        WITH candidate AS ({candidates})
        SELECT {
        "(SELECT count(*) FROM interop_externalrecord)"
        if whole_registry
        else "(SELECT count(DISTINCT external_record_id) FROM candidate)"
    } AS examined,
               (SELECT count(DISTINCT external_record_id) FROM candidate
                WHERE matched_by <> 'open_suggestion') AS linked_records,
               (SELECT count(*) FROM candidate WHERE matched_by = 'open_suggestion')
                   AS open_suggestions
    """
    return sql, params


EXTERNAL_CHECKS = [
    Check(
        id="external_records_overlapping_issuances",
        title=_("Records of other registries overlapping this registry's issuances"),
        description=_(
            "Each record imported from another registry, for the project it is linked to (by a "
            "declared identifier or a confirmed match) or, while unlinked, for each project of "
            "an open match suggestion, against this registry's live claims on that project's "
            "output of the same unit kind for an overlapping period (whole days in the "
            "project's time zone). Rejected suggestions are not matches. Each finding is a "
            "possible double count, with the match evidence: how it was matched, the score "
            "and its breakdown."
        ),
        guarantee="R15",
        counts=_external_counts,
        findings=_external_findings,
        order_by="external_record_id, project",
    ),
]
