"""Blocks of each claim: never overlapping, inside the claim, adding up to it (I4)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from accounts.selectors import BLOCK_STATUSES
from audit.checks.base import Check, range_length, serial_pair, stream_label
from audit.scope import ReportScope

# What may remain of a revoked claim: revocation cancels what was held; what had expired
# stays expired. Nothing of a revoked claim is held, frozen, retired or exported.
STATUSES_OF_A_REVOKED_CLAIM = ("cancelled", "expired")


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _blocks_findings(scope: ReportScope) -> tuple[str, list[Any]]:
    # One sort of the blocks by claim and first serial gives, per block, the furthest end of the
    # earlier blocks of its claim (a block overlaps an earlier one exactly when it starts before
    # it) and, per claim, the sum and number of its blocks. Only the blocks that show a problem
    # there are looked at again, to say which and to name what they overlap.
    condition, params = scope.claim_condition("claim")
    final = _quoted(STATUSES_OF_A_REVOKED_CLAIM)
    sql = f"""
        WITH claim_in_scope AS (
            SELECT claim.id, claim.stream_id, claim.mechanism_id, claim.vintage, claim.serials,
                   claim.quantity, claim.status, claim.role
            FROM registry_unitclaim AS claim
            WHERE {condition}
        ),
        block_of_claim AS (
            SELECT block.id, block.claim_id, block.stream_id, block.mechanism_id, block.vintage,
                   block.serials, block.quantity, block.status,
                   claim.stream_id AS claim_stream_id, claim.mechanism_id AS claim_mechanism_id,
                   claim.vintage AS claim_vintage, claim.serials AS claim_serials,
                   claim.quantity AS claim_quantity, claim.status AS claim_status,
                   claim.role AS claim_role,
                   lower(block.serials) AS serial_lower,
                   max(upper(block.serials)) OVER earlier AS reach_of_earlier,
                   sum(block.quantity) OVER whole_claim AS blocks_total,
                   count(*) OVER whole_claim AS block_count,
                   row_number() OVER in_serial_order AS position_in_claim
            FROM tracking_block AS block
            JOIN claim_in_scope AS claim ON claim.id = block.claim_id
            WINDOW in_serial_order AS (
                       PARTITION BY block.claim_id ORDER BY lower(block.serials), block.id
                   ),
                   earlier AS (in_serial_order ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                   whole_claim AS (PARTITION BY block.claim_id)
        ),
        checked_block AS (
            SELECT block.*, array_remove(ARRAY[
                       CASE WHEN NOT coalesce(block.claim_serials @> block.serials, FALSE)
                            THEN 'block_outside_claim' END,
                       CASE WHEN block.stream_id <> block.claim_stream_id
                            THEN 'block_stream_not_claim_stream' END,
                       CASE WHEN block.mechanism_id <> block.claim_mechanism_id
                            THEN 'block_mechanism_not_claim_mechanism' END,
                       CASE WHEN block.vintage <> block.claim_vintage
                            THEN 'block_vintage_not_claim_vintage' END,
                       CASE WHEN block.quantity <> {range_length("block.serials")}
                            THEN 'block_quantity_not_serial_count' END,
                       CASE WHEN block.status NOT IN ({_quoted(BLOCK_STATUSES)})
                            THEN 'block_status_unknown' END,
                       CASE WHEN block.claim_status <> 'live' AND block.status NOT IN ({final})
                            THEN 'block_of_revoked_claim_not_final' END,
                       CASE WHEN block.claim_role = 'source' THEN 'block_on_source_claim' END
                   ]::text[], NULL) AS problems
            FROM block_of_claim AS block
        ),
        noteworthy_block AS (
            SELECT * FROM checked_block
            WHERE cardinality(problems) > 0
               OR serial_lower < reach_of_earlier
               OR (position_in_claim = 1 AND claim_role <> 'source'
                   AND blocks_total <> claim_quantity)
        ),
        block_problem AS (
            SELECT problem, block.claim_id, block.id AS block_id,
                   NULL::bigint AS other_block_id,
                   NULL::bigint AS blocks_total, NULL::bigint AS block_count
            FROM noteworthy_block AS block, unnest(block.problems) AS problem
        ),
        overlapping_blocks AS (
            SELECT 'blocks_overlap'::text AS problem, later.claim_id, later.id AS block_id,
                   earlier.id AS other_block_id,
                   NULL::bigint AS blocks_total, NULL::bigint AS block_count
            FROM noteworthy_block AS later
            JOIN tracking_block AS earlier
              ON earlier.claim_id = later.claim_id
             AND earlier.serials && later.serials
             AND (lower(earlier.serials), earlier.id) < (later.serial_lower, later.id)
            WHERE later.serial_lower < later.reach_of_earlier
        ),
        claim_not_added_up AS (
            -- Source claims hold the units a derivation consumed; their blocks are the derived
            -- claim's tonnes, so they have none of their own.
            SELECT 'blocks_do_not_add_up_to_claim'::text AS problem, block.claim_id,
                   NULL::bigint AS block_id, NULL::bigint AS other_block_id,
                   block.blocks_total::bigint, block.block_count
            FROM noteworthy_block AS block
            WHERE block.position_in_claim = 1 AND block.claim_role <> 'source'
              AND block.blocks_total <> block.claim_quantity
            UNION ALL
            SELECT 'blocks_do_not_add_up_to_claim', claim.id, NULL, NULL, 0, 0
            FROM claim_in_scope AS claim
            WHERE claim.role <> 'source'
              AND NOT EXISTS (SELECT 1 FROM tracking_block AS block WHERE block.claim_id = claim.id)
        ),
        finding AS (
            SELECT * FROM block_problem
            UNION ALL SELECT * FROM overlapping_blocks
            UNION ALL SELECT * FROM claim_not_added_up
        )
        SELECT finding.problem, finding.claim_id, mechanism.code AS mechanism,
               claim.stream_id, {stream_label("stream", "project")} AS stream, claim.vintage,
               claim.status AS claim_status, {serial_pair("claim.serials")} AS claim_serials,
               claim.quantity AS claim_quantity, finding.blocks_total, finding.block_count,
               finding.block_id, block_mechanism.code AS block_mechanism,
               block.stream_id AS block_stream_id, block.vintage AS block_vintage,
               block.status AS block_status, {serial_pair("block.serials")} AS block_serials,
               block.quantity AS block_quantity,
               finding.other_block_id, other.status AS other_block_status,
               {serial_pair("other.serials")} AS other_block_serials
        FROM finding
        JOIN registry_unitclaim AS claim ON claim.id = finding.claim_id
        JOIN registry_mechanism AS mechanism ON mechanism.id = claim.mechanism_id
        JOIN registry_stream AS stream ON stream.id = claim.stream_id
        JOIN registry_project AS project ON project.id = stream.project_id
        LEFT JOIN tracking_block AS block ON block.id = finding.block_id
        LEFT JOIN registry_mechanism AS block_mechanism ON block_mechanism.id = block.mechanism_id
        LEFT JOIN tracking_block AS other ON other.id = finding.other_block_id
    """
    return sql, params


def _blocks_counts(scope: ReportScope) -> tuple[str, list[Any]]:
    # Issued units come from the claims, what became of them from the blocks (grouped by the
    # blocks' own mechanism and vintage, so a block that strayed from its claim shows too).
    condition, params = scope.claim_condition("claim")
    status_sums = ",\n".join(
        f"coalesce(sum(block.quantity) FILTER (WHERE block.status = '{status}'), 0) AS {status}"
        for status in BLOCK_STATUSES
    )
    held_columns = ", ".join(f"coalesce(held.{status}, 0) AS {status}" for status in BLOCK_STATUSES)
    held_total = " + ".join(f"coalesce(held.{status}, 0)" for status in BLOCK_STATUSES)
    sql = f"""
        WITH claim_in_scope AS (
            SELECT claim.id, claim.mechanism_id, claim.vintage, claim.quantity, claim.role
            FROM registry_unitclaim AS claim
            WHERE {condition}
        ),
        issued AS (
            SELECT claim.mechanism_id, claim.vintage, sum(claim.quantity) AS issued,
                   count(*) AS claims
            FROM claim_in_scope AS claim
            WHERE claim.role <> 'source'
            GROUP BY claim.mechanism_id, claim.vintage
        ),
        held AS (
            SELECT block.mechanism_id, block.vintage, count(*) AS blocks,
                   coalesce(sum(block.quantity), 0) AS in_blocks,
                   {status_sums}
            FROM tracking_block AS block
            JOIN claim_in_scope AS claim ON claim.id = block.claim_id
            GROUP BY block.mechanism_id, block.vintage
        ),
        per_mechanism_and_vintage AS (
            SELECT mechanism.code AS mechanism,
                   coalesce(issued.vintage, held.vintage) AS vintage,
                   coalesce(issued.claims, 0) AS claims, coalesce(held.blocks, 0) AS blocks,
                   coalesce(issued.issued, 0) AS issued, {held_columns},
                   coalesce(issued.issued, 0) = {held_total}
                       AND coalesce(held.in_blocks, 0) = {held_total} AS balanced
            FROM issued
            FULL JOIN held
              ON held.mechanism_id = issued.mechanism_id AND held.vintage = issued.vintage
            JOIN registry_mechanism AS mechanism
              ON mechanism.id = coalesce(issued.mechanism_id, held.mechanism_id)
        )
        SELECT (SELECT coalesce(sum(claims), 0) FROM per_mechanism_and_vintage) AS examined,
               (SELECT coalesce(sum(blocks), 0) FROM per_mechanism_and_vintage) AS blocks,
               (SELECT count(*) FROM per_mechanism_and_vintage WHERE NOT balanced)
                   AS unbalanced_mechanism_vintages,
               (SELECT coalesce(json_agg(row_to_json(line) ORDER BY line.mechanism, line.vintage),
                                '[]'::json)
                FROM per_mechanism_and_vintage AS line) AS per_mechanism_and_vintage
    """
    return sql, params


BLOCK_CHECKS = [
    Check(
        id="blocks_add_up_to_claims",
        title=_("Blocks of each claim never overlap and add up exactly to the claim"),
        description=_(
            "Blocks of a claim never overlap, lie inside the claim, carry its stream, "
            "mechanism and vintage, and their quantities add up to the claim's; blocks of a "
            "revoked claim are all cancelled or expired. The counts give, per mechanism and "
            "vintage, issued = active + frozen + retired + cancelled + expired + exported."
        ),
        guarantee="I4",
        counts=_blocks_counts,
        findings=_blocks_findings,
        order_by="stream_id, claim_id, block_id NULLS FIRST, problem, other_block_id",
    ),
]
