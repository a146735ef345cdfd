"""One live claim per unit, derived units included (I3)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from audit.checks.base import Check, serial_pair, stream_label
from audit.scope import ReportScope, either

# issuance.services refuses a conversion factor outside (0, 10]; the check allows what it
# allows, written here so that a change there is a visible decision here.
MAX_CONVERSION_FACTOR = 10


def _one_live_claim_findings(scope: ReportScope) -> tuple[str, list[Any]]:
    streams, stream_params = scope.stream_condition("claim.stream_id")
    pair_in_scope, pair_params = either(
        scope.claim_side_condition("later"), scope.claim_side_condition("earlier")
    )
    derivation_in_scope, derivation_params = either(
        scope.claim_condition("derived"), scope.claim_condition("source")
    )
    source_in_scope, source_params = scope.claim_condition("source")
    claim_in_scope, claim_params = scope.claim_condition("claim")
    sql = f"""
        WITH live_claim_of_scoped_stream AS (
            SELECT claim.id, claim.stream_id, claim.mechanism_id, claim.vintage, claim.serials,
                   lower(claim.serials) AS serial_lower, upper(claim.serials) AS serial_upper
            FROM registry_unitclaim AS claim
            WHERE claim.status = 'live' AND {streams}
        ),
        reach_of_earlier_claims AS (
            -- Sorted by first serial per stream, whatever the mechanism: a claim overlaps an
            -- earlier one exactly when it starts before the furthest end reached so far.
            SELECT live.*, max(live.serial_upper) OVER (
                       PARTITION BY live.stream_id ORDER BY live.serial_lower, live.id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                   ) AS reach_of_earlier
            FROM live_claim_of_scoped_stream AS live
        ),
        overlapping_live_claims AS (
            SELECT 'units_held_by_two_live_claims'::text AS problem, later.id AS claim_id,
                   earlier.id AS other_claim_id, NULL::numeric AS tonnes_allowed
            FROM reach_of_earlier_claims AS later
            JOIN registry_unitclaim AS earlier
              ON earlier.stream_id = later.stream_id
             AND earlier.status = 'live'
             AND earlier.serials && later.serials
             AND (lower(earlier.serials), earlier.id) < (later.serial_lower, later.id)
            WHERE later.serial_lower < later.reach_of_earlier AND ({pair_in_scope})
        ),
        derivation AS (
            -- A derived claim (tonnes on the carbon stream) and its source claim (the MWh or
            -- tce it consumed) are one claim: live together, revoked together; the tonnes are
            -- at most what issuance makes of the source units: the derived record's quantity is
            -- source units x factor rounded down to six decimals, its whole units (with the
            -- fraction carried in on the carbon stream) are the derived claim.
            SELECT derived.id AS claim_id, source.id AS other_claim_id,
                   floor(trunc(source.quantity * derived.conversion_factor, 6)
                         + derived_record.carried_in) AS tonnes_allowed,
                   array_remove(ARRAY[
                       CASE WHEN source.id IS NULL THEN 'source_claim_missing' END,
                       CASE WHEN source.role <> 'source' THEN 'source_claim_not_of_role_source'
                            END,
                       CASE WHEN derived.status = 'live' AND source.status <> 'live'
                            THEN 'live_while_source_claim_revoked' END,
                       CASE WHEN derived.status <> 'live' AND source.status = 'live'
                            THEN 'revoked_while_source_claim_live' END,
                       CASE WHEN derived_stream.unit_kind <> 'C'
                            THEN 'derived_units_not_tonnes' END,
                       CASE WHEN source_stream.unit_kind NOT IN ('E', 'T')
                            THEN 'source_units_not_mwh_or_tce' END,
                       CASE WHEN source_stream.project_id <> derived_stream.project_id
                            THEN 'source_of_another_project' END,
                       CASE WHEN source.mechanism_id <> derived.mechanism_id
                            THEN 'source_of_another_mechanism' END,
                       CASE WHEN derived.conversion_factor IS NULL
                                 OR derived.conversion_factor <= 0
                                 OR derived.conversion_factor > {MAX_CONVERSION_FACTOR}
                            THEN 'conversion_factor_out_of_bounds' END,
                       CASE WHEN derived_record.source <> 'derived'
                            THEN 'record_not_a_derived_record' END,
                       CASE WHEN derived_record.period <> source_record.period
                            THEN 'period_not_the_source_period' END,
                       CASE WHEN derived_record.quantity
                                 > trunc(source.quantity * derived.conversion_factor, 6)
                            THEN 'derived_quantity_exceeds_source_times_factor' END,
                       CASE WHEN derived.quantity
                                 > floor(trunc(source.quantity * derived.conversion_factor, 6)
                                         + derived_record.carried_in)
                            THEN 'tonnes_exceed_source_times_factor' END
                   ]::text[], NULL) AS problems
            FROM registry_unitclaim AS derived
            JOIN registry_stream AS derived_stream ON derived_stream.id = derived.stream_id
            JOIN registry_productionrecord AS derived_record
              ON derived_record.id = derived.production_record_id
            LEFT JOIN registry_unitclaim AS source ON source.id = derived.source_claim_id
            LEFT JOIN registry_stream AS source_stream ON source_stream.id = source.stream_id
            LEFT JOIN registry_productionrecord AS source_record
              ON source_record.id = source.production_record_id
            WHERE derived.role = 'derived' AND ({derivation_in_scope})
        ),
        derivation_problem AS (
            SELECT problem, claim_id, other_claim_id, tonnes_allowed
            FROM derivation, unnest(derivation.problems) AS problem
        ),
        source_without_derived_claim AS (
            SELECT 'source_claim_without_derived_claim'::text AS problem, source.id AS claim_id,
                   NULL::bigint AS other_claim_id, NULL::numeric AS tonnes_allowed
            FROM registry_unitclaim AS source
            WHERE source.role = 'source' AND {source_in_scope}
              AND NOT EXISTS (
                  SELECT 1 FROM registry_unitclaim AS derived
                  WHERE derived.source_claim_id = source.id AND derived.role = 'derived'
              )
        ),
        claim_of_wrong_kind AS (
            SELECT CASE WHEN claim.role NOT IN ('direct', 'source', 'derived')
                        THEN 'unknown_role' ELSE 'direct_claim_of_another_unit_kind' END
                       AS problem,
                   claim.id AS claim_id, NULL::bigint AS other_claim_id,
                   NULL::numeric AS tonnes_allowed
            FROM registry_unitclaim AS claim
            JOIN registry_stream AS stream ON stream.id = claim.stream_id
            JOIN registry_mechanism AS mechanism ON mechanism.id = claim.mechanism_id
            WHERE (claim.role NOT IN ('direct', 'source', 'derived')
                   OR (claim.role = 'direct' AND stream.unit_kind <> mechanism.unit_kind))
              AND {claim_in_scope}
        ),
        finding AS (
            SELECT * FROM overlapping_live_claims
            UNION ALL SELECT * FROM derivation_problem
            UNION ALL SELECT * FROM source_without_derived_claim
            UNION ALL SELECT * FROM claim_of_wrong_kind
        )
        SELECT finding.problem, finding.claim_id, mechanism.code AS mechanism, claim.role,
               claim.status, claim.stream_id, {stream_label("stream", "project")} AS stream,
               {serial_pair("claim.serials")} AS serials, claim.quantity, claim.vintage,
               claim.production_record_id AS record_id,
               finding.other_claim_id, other_mechanism.code AS other_mechanism,
               other.role AS other_role, other.status AS other_status,
               other.stream_id AS other_stream_id,
               {stream_label("other_stream", "other_project")} AS other_stream,
               {serial_pair("other.serials")} AS other_serials, other.quantity AS other_quantity,
               claim.conversion_factor::text AS conversion_factor, finding.tonnes_allowed
        FROM finding
        JOIN registry_unitclaim AS claim ON claim.id = finding.claim_id
        JOIN registry_mechanism AS mechanism ON mechanism.id = claim.mechanism_id
        JOIN registry_stream AS stream ON stream.id = claim.stream_id
        JOIN registry_project AS project ON project.id = stream.project_id
        LEFT JOIN registry_unitclaim AS other ON other.id = finding.other_claim_id
        LEFT JOIN registry_mechanism AS other_mechanism ON other_mechanism.id = other.mechanism_id
        LEFT JOIN registry_stream AS other_stream ON other_stream.id = other.stream_id
        LEFT JOIN registry_project AS other_project ON other_project.id = other_stream.project_id
    """
    return sql, [
        *stream_params,
        *pair_params,
        *derivation_params,
        *source_params,
        *claim_params,
    ]


def _one_live_claim_counts(scope: ReportScope) -> tuple[str, list[Any]]:
    condition, params = scope.claim_condition("claim")
    return (
        f"""
        SELECT count(*) FILTER (WHERE claim.status = 'live') AS examined,
               count(*) FILTER (WHERE claim.status = 'live' AND claim.role = 'derived')
                   AS live_derived_claims,
               count(*) FILTER (WHERE claim.status = 'live' AND claim.role = 'source')
                   AS live_source_claims,
               coalesce(sum(claim.quantity) FILTER (WHERE claim.status = 'live'), 0)
                   AS units_live_claimed
        FROM registry_unitclaim AS claim WHERE {condition}
        """,
        params,
    )


CLAIM_CHECKS = [
    Check(
        id="one_live_claim_per_unit",
        title=_("Every unit is held by at most one live claim, derived units included"),
        description=_(
            "Live claims of a stream never overlap, whatever their mechanisms. A derived claim "
            "(tonnes derived from MWh or from tce saved) has a source claim of the same project "
            "and mechanism holding the units it consumed, live exactly when it is live, and "
            "holds no more tonnes than the source units times its factor give: rounded down to "
            "six decimals, plus the fraction carried in on the carbon stream, in whole tonnes "
            "(factor above 0 and at most 10). Every source claim has its derived claim; a "
            "direct claim holds units of its mechanism's kind."
        ),
        guarantee="I3",
        counts=_one_live_claim_counts,
        findings=_one_live_claim_findings,
        order_by="stream_id, claim_id, problem, other_claim_id",
    ),
]
