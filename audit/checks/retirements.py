"""Every retired unit retired exactly once, for one beneficiary (I5, R12)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from audit.checks.base import Check, serial_pair, stream_label
from audit.scope import ReportScope, combine, either


def _retirement_in_scope(scope: ReportScope, alias: str) -> tuple[str, list[Any]]:
    """A retirement is in scope when its mechanism is and, for a scope by project, province,
    organisation or vintage, when one of its blocks is."""
    mechanism = scope.mechanism_condition(f"{alias}.mechanism_id")
    by_block, block_params = combine(
        scope.stream_condition("scoped_block.stream_id"),
        scope.vintage_condition("scoped_block.vintage"),
    )
    if by_block == "TRUE":
        return mechanism
    return combine(
        mechanism,
        (
            f"EXISTS (SELECT 1 FROM tracking_block AS scoped_block "
            f"WHERE scoped_block.retirement_id = {alias}.id AND {by_block})",
            block_params,
        ),
    )


def _retirements_findings(scope: ReportScope) -> tuple[str, list[Any]]:
    retirements, retirement_params = _retirement_in_scope(scope, "retirement")
    orphans, orphan_params = scope.claim_condition("block")
    streams, stream_params = scope.stream_condition("block.stream_id")
    pair_in_scope, pair_params = either(
        scope.claim_side_condition("later"), scope.claim_side_condition("earlier")
    )
    sql = f"""
        WITH retirement_in_scope AS (
            SELECT retirement.id, retirement.mechanism_id, retirement.account_id,
                   retirement.quantity, retirement.beneficiary_name
            FROM tracking_retirement AS retirement
            WHERE {retirements}
        ),
        blocks_per_retirement AS (
            SELECT block.retirement_id, sum(block.quantity) AS blocks_total
            FROM tracking_block AS block
            JOIN retirement_in_scope AS retirement ON retirement.id = block.retirement_id
            GROUP BY block.retirement_id
        ),
        allocations_per_retirement AS (
            SELECT allocation.retirement_id, sum(allocation.quantity) AS allocated
            FROM tracking_retirementallocation AS allocation
            JOIN retirement_in_scope AS retirement ON retirement.id = allocation.retirement_id
            GROUP BY allocation.retirement_id
        ),
        retirement_problem AS (
            SELECT problem, retirement.id AS retirement_id, NULL::bigint AS block_id,
                   NULL::bigint AS other_block_id
            FROM retirement_in_scope AS retirement
            LEFT JOIN blocks_per_retirement AS blocks ON blocks.retirement_id = retirement.id
            LEFT JOIN allocations_per_retirement AS allocations
              ON allocations.retirement_id = retirement.id
            CROSS JOIN LATERAL unnest(array_remove(ARRAY[
                CASE WHEN retirement.quantity <> coalesce(blocks.blocks_total, 0)
                     THEN 'quantity_not_sum_of_its_blocks' END,
                CASE WHEN btrim(coalesce(retirement.beneficiary_name, '')) = ''
                     THEN 'beneficiary_blank' END,
                CASE WHEN coalesce(allocations.allocated, 0) > retirement.quantity
                     THEN 'allocations_exceed_retirement' END
            ]::text[], NULL)) AS problem
        ),
        block_of_retirement_problem AS (
            SELECT problem, retirement.id AS retirement_id, block.id AS block_id,
                   NULL::bigint AS other_block_id
            FROM retirement_in_scope AS retirement
            JOIN tracking_block AS block ON block.retirement_id = retirement.id
            CROSS JOIN LATERAL unnest(array_remove(ARRAY[
                CASE WHEN block.status <> 'retired' THEN 'block_of_retirement_not_retired' END,
                CASE WHEN block.mechanism_id <> retirement.mechanism_id
                     THEN 'block_mechanism_not_retirement_mechanism' END,
                CASE WHEN block.account_id <> retirement.account_id
                     THEN 'block_account_not_retirement_account' END
            ]::text[], NULL)) AS problem
        ),
        retired_block_without_retirement AS (
            SELECT 'retired_block_without_retirement'::text AS problem,
                   NULL::bigint AS retirement_id, block.id AS block_id,
                   NULL::bigint AS other_block_id
            FROM tracking_block AS block
            WHERE block.status = 'retired' AND block.retirement_id IS NULL AND {orphans}
        ),
        retired_block_of_scoped_stream AS (
            SELECT block.id, block.stream_id, block.mechanism_id, block.vintage, block.serials,
                   block.retirement_id, lower(block.serials) AS serial_lower,
                   max(upper(block.serials)) OVER (
                       PARTITION BY block.stream_id ORDER BY lower(block.serials), block.id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                   ) AS reach_of_earlier
            FROM tracking_block AS block
            WHERE block.status = 'retired' AND {streams}
        ),
        retired_twice AS (
            -- Across claims and mechanisms: the same MWh retired as GEC and as I-REC shows here
            -- even if the claims themselves had been forced to overlap.
            SELECT 'units_retired_twice'::text AS problem, later.retirement_id,
                   later.id AS block_id, earlier.id AS other_block_id
            FROM retired_block_of_scoped_stream AS later
            JOIN tracking_block AS earlier
              ON earlier.stream_id = later.stream_id
             AND earlier.status = 'retired'
             AND earlier.serials && later.serials
             AND (lower(earlier.serials), earlier.id) < (later.serial_lower, later.id)
            WHERE later.serial_lower < later.reach_of_earlier AND ({pair_in_scope})
        ),
        finding AS (
            SELECT * FROM retirement_problem
            UNION ALL SELECT * FROM block_of_retirement_problem
            UNION ALL SELECT * FROM retired_block_without_retirement
            UNION ALL SELECT * FROM retired_twice
        )
        SELECT finding.problem, finding.retirement_id,
               retirement.public_id AS retirement_public_id,
               retirement_mechanism.code AS retirement_mechanism,
               retirement_account.number AS retirement_account,
               retirement.beneficiary_name, retirement.beneficiary_organisation,
               retirement.quantity AS retirement_quantity,
               (SELECT sum(counted.quantity) FROM tracking_block AS counted
                WHERE counted.retirement_id = finding.retirement_id) AS blocks_total,
               (SELECT sum(allocation.quantity) FROM tracking_retirementallocation AS allocation
                WHERE allocation.retirement_id = finding.retirement_id) AS allocated,
               finding.block_id, block.claim_id, block_mechanism.code AS block_mechanism,
               block_account.number AS block_account, block.status AS block_status,
               block.stream_id, {stream_label("stream", "project")} AS stream,
               {serial_pair("block.serials")} AS serials, block.quantity AS block_quantity,
               finding.other_block_id, other.claim_id AS other_claim_id,
               other_mechanism.code AS other_mechanism,
               other.retirement_id AS other_retirement_id,
               {serial_pair("other.serials")} AS other_serials
        FROM finding
        LEFT JOIN tracking_retirement AS retirement ON retirement.id = finding.retirement_id
        LEFT JOIN registry_mechanism AS retirement_mechanism
          ON retirement_mechanism.id = retirement.mechanism_id
        LEFT JOIN accounts_holdingaccount AS retirement_account
          ON retirement_account.id = retirement.account_id
        LEFT JOIN tracking_block AS block ON block.id = finding.block_id
        LEFT JOIN registry_mechanism AS block_mechanism ON block_mechanism.id = block.mechanism_id
        LEFT JOIN accounts_holdingaccount AS block_account ON block_account.id = block.account_id
        LEFT JOIN registry_stream AS stream ON stream.id = block.stream_id
        LEFT JOIN registry_project AS project ON project.id = stream.project_id
        LEFT JOIN tracking_block AS other ON other.id = finding.other_block_id
        LEFT JOIN registry_mechanism AS other_mechanism ON other_mechanism.id = other.mechanism_id
    """
    return sql, [
        *retirement_params,
        *orphan_params,
        *stream_params,
        *pair_params,
    ]


def _retirements_counts(scope: ReportScope) -> tuple[str, list[Any]]:
    retirements, retirement_params = _retirement_in_scope(scope, "retirement")
    sql = f"""
        SELECT count(*) AS examined,
               coalesce(sum(retirement.quantity), 0) AS units_retired,
               (SELECT count(*) FROM tracking_retirementallocation AS allocation
                WHERE allocation.retirement_id IN (
                    SELECT retirement.id FROM tracking_retirement AS retirement
                    WHERE {retirements})) AS allocations
        FROM tracking_retirement AS retirement
        WHERE {retirements}
    """
    return sql, [*retirement_params, *retirement_params]


RETIREMENT_CHECKS = [
    Check(
        id="units_retired_once",
        title=_("Every retired unit is retired exactly once, for one beneficiary"),
        description=_(
            "Every retired block belongs to a retirement; a retirement's quantity is the sum of "
            "its blocks, which are retired, of its mechanism and in its account; it names a "
            "beneficiary; retired serial ranges of a stream never overlap, whatever the claims "
            "and mechanisms; the allocations of a retirement never add up to more than it "
            "retired."
        ),
        guarantee="I5 R12",
        counts=_retirements_counts,
        findings=_retirements_findings,
        order_by="retirement_id, block_id NULLS FIRST, problem, other_block_id",
    ),
]
