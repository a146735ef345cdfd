"""Allowances allocated, reduced and surrendered: the report's ledger-state checks fold these
events into exactly the claims, blocks, retirements and cancellations the services wrote."""

from __future__ import annotations

import pgtrigger

from audit.checks import CHECKS_BY_ID
from audit.scope import ReportScope
from tests.compliance.conftest import allocate
from tests.compliance.test_surrender import surrender
from tracking.models import Block, Cancellation, Retirement


def ledger_state_findings() -> dict[str, list[dict]]:
    found = {}
    for check_id in ("state_matches_ledger", "rows_have_events"):
        counts: dict = {}
        found[check_id] = list(CHECKS_BY_ID[check_id].stream(ReportScope(), counts))
        assert counts["examined"] > 0
    return found


def test_allocations_reductions_and_surrenders_match_the_ledger(administrator, steel_user, obliged):
    allocate(administrator, obliged, 2024, 250, kind="final_adjustment")
    allocate(administrator, obliged, 2024, -100, kind="final_adjustment")
    surrender(steel_user, obliged, 950, 50)
    assert Retirement.objects.count() == 2 and Cancellation.objects.count() == 1

    assert ledger_state_findings() == {"state_matches_ledger": [], "rows_have_events": []}


def test_a_surrendered_block_moved_back_to_active_in_sql_is_found(
    administrator, steel_user, obliged
):
    surrender(steel_user, obliged, 950, 50)
    block = Block.objects.filter(mechanism__code="CEA", status="retired").first()
    with pgtrigger.ignore("tracking.Block:final_blocks_never_change"):
        Block.objects.filter(pk=block.pk).update(status="active", retirement=None)

    [finding] = ledger_state_findings()["state_matches_ledger"]
    assert (finding["problem"], finding["row_id"]) == ("block_differs_from_ledger", block.pk)
    assert (finding["stored"]["status"], finding["ledger"]["status"]) == ("active", "retired")
