"""The state is what the ledger says: defects planted in SQL around the services, found by
``state_matches_ledger`` and ``rows_have_events``.

Each test changes the clean registry with raw SQL (disabling the trigger that would refuse it),
runs a report and asserts the finding names the row and the event.
"""

from __future__ import annotations

import uuid

import pgtrigger

from audit.checks.fold import HANDLERS, IGNORED_KINDS
from audit.models import UniquenessReport
from registry.ledger import record_event
from registry.models import LedgerEvent
from tests.audit.conftest import execute
from tests.audit.test_checks import failing_checks, findings, run_report
from tracking.models import Block, Transfer
from tracking.services import block_transfer


def issuance_event(claim) -> LedgerEvent:
    return LedgerEvent.objects.get(kind="units.issued", subjects__contains=[f"claim:{claim.pk}"])


def with_problem(report, check_id: str, problem: str) -> list[dict]:
    return [item for item in findings(report, check_id) if item["problem"] == problem]


def test_every_event_kind_is_folded_or_explicitly_ignored():
    kinds = set(LedgerEvent.Kind.values)

    assert set(HANDLERS) | IGNORED_KINDS == kinds
    assert not set(HANDLERS) & IGNORED_KINDS


def test_the_clean_registry_matches_its_ledger(clean_registry):
    report = run_report(clean_registry.auditor)
    outcomes = {check.check_id: check for check in report.checks.all()}

    for check_id in ("state_matches_ledger", "rows_have_events"):
        assert outcomes[check_id].verdict == "pass", findings(report, check_id)
    state = outcomes["state_matches_ledger"].counts
    assert state["blocks"] == Block.objects.count()
    assert state["claims"] >= len(clean_registry.claims)


def test_a_block_moved_to_another_account_in_sql_is_found(clean_registry):
    claim = clean_registry.claims["wind_tigr"]
    block = Block.objects.get(claim=claim)
    execute(
        "UPDATE tracking_block SET account_id = %s WHERE id = %s",
        [clean_registry.buyer_account.pk, block.pk],
    )
    report = run_report(clean_registry.auditor)

    assert report.status == UniquenessReport.Status.FAILED
    assert failing_checks(report) == {"state_matches_ledger"}
    [finding] = findings(report, "state_matches_ledger")
    assert finding["problem"] == "block_differs_from_ledger"
    assert (finding["table"], finding["row_id"], finding["claim_id"]) == (
        "block",
        block.pk,
        claim.pk,
    )
    assert finding["event_id"] == issuance_event(claim).pk
    assert finding["stored"]["account"] == clean_registry.buyer_account.number
    assert finding["ledger"]["account"] == clean_registry.wind_account.number


def test_a_transfer_whose_quantity_changed_in_sql_is_found(clean_registry):
    transfer = Transfer.objects.order_by("pk").first()
    execute("UPDATE tracking_transfer SET quantity = quantity + 7 WHERE id = %s", [transfer.pk])
    report = run_report(clean_registry.auditor)

    assert failing_checks(report) == {"state_matches_ledger"}
    [finding] = findings(report, "state_matches_ledger")
    event = LedgerEvent.objects.get(
        kind="units.transferred", payload__transfer=str(transfer.public_id)
    )
    assert finding == {
        "problem": "quantity_differs_from_ledger",
        "table": "transfer",
        "row_id": transfer.pk,
        "claim_id": None,
        "event_id": event.pk,
        "event_kind": "units.transferred",
        "stored": str(transfer.quantity + 7),
        "ledger": str(transfer.quantity),
    }


def test_a_deleted_block_is_found(clean_registry):
    claim = clean_registry.claims["wind_tigr"]
    block = Block.objects.get(claim=claim)
    with pgtrigger.ignore("tracking.Block:blocks_never_deleted"):
        Block.objects.filter(pk=block.pk).delete()
    report = run_report(clean_registry.auditor)

    assert "state_matches_ledger" in failing_checks(report)
    [finding] = findings(report, "state_matches_ledger")
    assert finding["problem"] == "ledger_block_without_row"
    assert finding["claim_id"] == claim.pk
    assert finding["event_id"] == issuance_event(claim).pk
    assert finding["ledger"]["serials"] == [block.serials.lower, block.serials.upper]


def _transfer_after_the_last_seal(registry) -> Transfer:
    return block_transfer(
        actor=registry.wind_owner,
        source_account=registry.wind_account,
        target_account=registry.buyer_account,
        mechanism="TIGR",
        quantity=50,
    )


def test_an_unsealed_event_deleted_is_found_though_the_ledger_check_cannot(clean_registry):
    transfer = _transfer_after_the_last_seal(clean_registry)
    event = LedgerEvent.objects.get(
        kind="units.transferred", payload__transfer=str(transfer.public_id)
    )
    assert event.txid >= clean_registry.checkpoints[-1].xid_to  # not sealed
    with pgtrigger.ignore("registry.LedgerEvent:ledger_append_only"):
        LedgerEvent.objects.filter(pk=event.pk).delete()
    report = run_report(clean_registry.auditor)

    assert failing_checks(report) == {"state_matches_ledger", "rows_have_events"}
    moved = Block.objects.get(
        claim=clean_registry.claims["wind_tigr"], account=clean_registry.buyer_account
    )
    [differs] = with_problem(report, "state_matches_ledger", "block_differs_from_ledger")
    assert differs["row_id"] == moved.pk
    assert differs["stored"]["account"] == clean_registry.buyer_account.number
    assert differs["ledger"]["account"] == clean_registry.wind_account.number
    [missing] = findings(report, "rows_have_events")
    assert (missing["problem"], missing["table"], missing["row_id"]) == (
        "row_without_event",
        "transfer",
        transfer.pk,
    )


def test_a_sealed_event_deleted_is_found_by_all_three_ledger_checks(clean_registry):
    event = (
        LedgerEvent.objects.filter(
            kind="units.transferred", txid__lt=clean_registry.checkpoints[-1].xid_to
        )
        .order_by("pk")
        .first()
    )
    with pgtrigger.ignore("registry.LedgerEvent:ledger_append_only"):
        LedgerEvent.objects.filter(pk=event.pk).delete()
    report = run_report(clean_registry.auditor)

    assert failing_checks(report) == {
        "ledger_integrity",
        "state_matches_ledger",
        "rows_have_events",
    }
    transfer = Transfer.objects.get(public_id=event.payload["transfer"])
    assert [(item["table"], item["row_id"]) for item in findings(report, "rows_have_events")] == [
        ("transfer", transfer.pk)
    ]
    assert with_problem(report, "state_matches_ledger", "block_differs_from_ledger")


def test_a_transfer_row_without_its_event_and_an_event_without_its_row_are_found(clean_registry):
    transfer = Transfer.objects.order_by("pk").first()
    forged = uuid.uuid4()
    execute(
        "INSERT INTO tracking_transfer (public_id, quantity, serial_ranges, created_at, actor_id,"
        " mechanism_id, source_account_id, target_account_id) SELECT %s, quantity, serial_ranges,"
        " created_at, actor_id, mechanism_id, source_account_id, target_account_id"
        " FROM tracking_transfer WHERE id = %s",
        [str(forged), transfer.pk],
    )
    ghost = record_event(
        kind=LedgerEvent.Kind.UNITS_TRANSFERRED,
        actor=clean_registry.wind_owner,
        subjects=[],
        payload={"transfer": str(uuid.uuid4()), "quantity": 5, "ranges": []},
    )
    report = run_report(clean_registry.auditor)

    assert failing_checks(report) == {"rows_have_events"}
    found = {
        (item["problem"], item["row_id"], item["event_id"])
        for item in findings(report, "rows_have_events")
    }
    assert found == {
        ("row_without_event", Transfer.objects.get(public_id=forged).pk, None),
        ("event_without_row", None, ghost.pk),
    }
