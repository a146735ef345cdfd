"""The ledger: append-only, hashed, sealed into chained Merkle checkpoints, verifiable."""

import threading
import time

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction

from issuance.services import unit_claim_issue
from registry.ledger import merkle_root, record_event, seal, sha256_hex, verify
from registry.models import Checkpoint, LedgerEvent


def tamper(sql, params=()):
    """Alter ledger rows the way an attacker with table access would: triggers disabled."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE registry_ledgerevent DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE registry_checkpoint DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE registry_ledgerevent ENABLE TRIGGER USER")
        cursor.execute("ALTER TABLE registry_checkpoint ENABLE TRIGGER USER")


def seal_soon(timeout: float = 15.0):
    """Seal, retrying while some other transaction on the server (any database) holds the
    snapshot boundary back; the boundary is server-wide by design."""
    deadline = time.monotonic() + timeout
    while True:
        checkpoint = seal()
        if checkpoint is not None or time.monotonic() > deadline:
            return checkpoint
        time.sleep(0.2)


@pytest.fixture
def busy_ledger(issuer, march_record, owner_account):
    for _round in range(3):
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march_record,
            account=owner_account,
            quantity=10,
        )
    return LedgerEvent.objects.count()


def test_every_event_has_a_hash_and_a_transaction_id(busy_ledger):
    for event in LedgerEvent.objects.all():
        assert len(event.event_hash) == 64
        assert event.txid is not None


def test_ledger_rows_cannot_be_updated_or_deleted(busy_ledger):
    with pytest.raises(DatabaseError, match="Cannot update"), transaction.atomic():
        LedgerEvent.objects.update(payload={})
    with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
        LedgerEvent.objects.all().delete()


def test_seal_never_covers_an_open_transaction(busy_ledger):
    # Inside one test transaction every event shares our own, still-open transaction id, so
    # nothing is sealable yet: a seal never covers uncommitted work.
    assert seal() is None
    result = verify()
    assert result.ok and result.events_checked == busy_ledger


def test_merkle_root_of_known_leaves():
    leaves = [sha256_hex(text) for text in ("a", "b", "c")]
    left = __import__("hashlib").sha256(bytes.fromhex(leaves[0]) + bytes.fromhex(leaves[1]))
    expected = __import__("hashlib").sha256(left.digest() + bytes.fromhex(leaves[2])).hexdigest()
    assert merkle_root(leaves) == expected
    assert merkle_root(leaves[:1]) == leaves[0]


def test_verify_names_the_altered_event(busy_ledger):
    victim = LedgerEvent.objects.order_by("id")[1]
    tamper(
        "UPDATE registry_ledgerevent SET payload = payload || '{\"quantity\": 9999}' WHERE id = %s",
        [victim.pk],
    )
    result = verify()
    assert not result.ok
    assert f"ledger event {victim.pk} was altered" in result.problem


def test_ledger_verify_command_exits_non_zero_after_tampering(busy_ledger, capsys):
    call_command("ledger_verify")
    assert "ledger intact" in capsys.readouterr().out
    tamper(
        "UPDATE registry_ledgerevent SET kind = 'units.retired' WHERE id = "
        "(SELECT min(id) FROM registry_ledgerevent)"
    )
    with pytest.raises(SystemExit) as exit_info:
        call_command("ledger_verify")
    assert exit_info.value.code == 1
    assert "LEDGER VERIFICATION FAILED" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_seal_covers_only_committed_transactions_and_detects_deleted_events(db):
    committed = record_event(kind="organisation.created", actor=None, payload={"n": 1})
    started = threading.Event()
    release = threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                record_event(kind="organisation.created", actor=None, payload={"n": 2})
                started.set()
                release.wait(10)
        finally:
            connections.close_all()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    started.wait(10)
    # A later transaction commits while the slow one is still open.
    later = record_event(kind="organisation.created", actor=None, payload={"n": 3})
    first = seal_soon()
    assert first is not None
    assert first.event_count == 1  # only the event whose transaction precedes every open one
    assert first.last_event_id == committed.pk
    release.set()
    writer.join()
    second = seal_soon()
    assert second.previous_hash == first.checkpoint_hash
    assert second.event_count == 2
    assert verify().ok
    assert Checkpoint.objects.count() == 2
    tamper("DELETE FROM registry_ledgerevent WHERE id = %s", [later.pk])
    result = verify()
    assert not result.ok and "checkpoint 2" in result.problem


@pytest.mark.django_db(transaction=True)
def test_verify_detects_an_altered_checkpoint(db):
    record_event(kind="organisation.created", actor=None, payload={"n": 1})
    checkpoint = seal_soon()
    tamper(
        "UPDATE registry_checkpoint SET merkle_root = %s WHERE id = %s", ["f" * 64, checkpoint.pk]
    )
    result = verify()
    assert not result.ok and "checkpoint 1" in result.problem
