"""The lists that grow to millions of rows (blocks, claims, ledger) cost the same number of
queries whatever their size: no per-row query, and the count comes from the planner's estimate
once a list is large (see registry.admin.EstimatedCountPaginator)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from issuance.services import unit_claim_issue
from registry.admin import EXACT_COUNT_LIMIT, EstimatedCountPaginator
from registry.models import LedgerEvent
from tracking.models import Block

LISTS = {
    "blocks": reverse("admin:tracking_block_changelist"),
    "claims": reverse("admin:registry_unitclaim_changelist"),
    "ledger": reverse("admin:registry_ledgerevent_changelist"),
}
MAX_QUERIES = 8


def _issue(issuer, record, account, times: int) -> None:
    for _ in range(times):
        unit_claim_issue(
            actor=issuer, mechanism="GEC", production_record=record, account=account, quantity=5
        )


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_block_claim_and_ledger_lists_cost_the_same_queries_for_5_and_200_rows(
    admin_client, issuer, march_record, owner_account
):
    _issue(issuer, march_record, owner_account, 5)
    small = {name: _queries(admin_client, url) for name, url in LISTS.items()}
    _issue(issuer, march_record, owner_account, 195)
    assert Block.objects.count() == 200 and LedgerEvent.objects.count() > 200

    large = {name: _queries(admin_client, url) for name, url in LISTS.items()}

    assert small == large
    assert max(large.values()) <= MAX_QUERIES


def test_a_list_the_planner_expects_to_be_huge_is_not_counted(db, monkeypatch):
    """Above the limit the planner's estimate is the count; no COUNT(*) runs."""
    LedgerEvent.objects.create(
        kind="organisation.created",
        payload={},
        event_hash="x" * 64,
        occurred_at="2025-01-01T00:00:00Z",
    )
    monkeypatch.setattr("registry.admin.EXACT_COUNT_LIMIT", -1)
    paginator = EstimatedCountPaginator(LedgerEvent.objects.order_by("-id"), 100)

    with CaptureQueriesContext(connection) as captured:
        estimate = paginator.count

    assert len(captured.captured_queries) == 1
    assert captured.captured_queries[0]["sql"].startswith("EXPLAIN")
    assert estimate >= 0


@pytest.mark.parametrize("rows", [0, 3])
def test_a_small_list_is_counted_exactly(db, rows):
    for number in range(rows):
        LedgerEvent.objects.create(
            kind="organisation.created",
            payload={"n": number},
            event_hash="x" * 64,
            occurred_at="2025-01-01T00:00:00Z",
        )
    assert rows < EXACT_COUNT_LIMIT
    assert EstimatedCountPaginator(LedgerEvent.objects.all(), 100).count == rows
