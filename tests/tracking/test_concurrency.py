"""Concurrency with real threads on real connections: the database decides, exactly one wins.

Each test starts N threads that wait on a barrier and then call the same service at once; every
thread has its own PostgreSQL connection (Django opens one per thread).
"""

import threading
from collections import Counter

import pytest
from django.db import connection, connections
from django.db.models import Sum

from issuance.services import unit_claim_issue
from registry.errors import Conflict, DoubleClaim
from registry.models import LedgerEvent, Mechanism, UnitClaim
from registry.serials import SerialRange
from registry.services import declaration_sign
from tests.conftest import RETIREMENT_DEFAULTS, month
from tests.factories import HoldingAccountFactory
from tracking.models import Block, Transfer
from tracking.services import block_retire, block_transfer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def run_at_once(callables):
    """Run the callables in threads released together; return their results or exceptions."""
    barrier = threading.Barrier(len(callables))
    results = [None] * len(callables)

    def worker(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test inspects
            results[index] = error
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=worker, args=(index, call)) for index, call in enumerate(callables)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


def assert_no_overlap_anywhere():
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM registry_unitclaim a JOIN registry_unitclaim b
               ON a.stream_id = b.stream_id AND a.id < b.id AND a.serials && b.serials
               WHERE a.status = 'live' AND b.status = 'live'"""
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            """SELECT count(*) FROM tracking_block a JOIN tracking_block b
               ON a.claim_id = b.claim_id AND a.id < b.id AND a.serials && b.serials"""
        )
        assert cursor.fetchone()[0] == 0


def test_twenty_simultaneous_claims_of_the_same_mwh_by_different_mechanisms_one_wins(
    administrator, project_owner, wind_farm, march_record, owner_account
):
    start, end = month(2025, 3)
    declaration_sign(
        actor=project_owner, project=wind_farm, unit_kind="E", period_start=start, period_end=end
    )
    # I-REC (R6: no Chinese generation after 2024) and local credits (R8: refused once the
    # project takes part in another scheme) would be refused by a rule before reaching the units.
    direct = ["GEC", "TIGR"]
    derived = ["CCER", "VCU", "VER"]
    mechanisms = [(direct + derived)[index % 5] for index in range(20)]
    same_mwh = SerialRange(101, 201)

    def attempt(code):
        extra = {"conversion_factor": "0.6565"} if code in derived else {}
        return lambda: unit_claim_issue(
            actor=administrator,
            mechanism=code,
            production_record=march_record,
            account=owner_account,
            serial_range=same_mwh,
            **extra,
        )

    results = run_at_once([attempt(code) for code in mechanisms])
    winners = [result for result in results if isinstance(result, UnitClaim)]
    refusals = [result for result in results if isinstance(result, DoubleClaim)]
    assert len(winners) == 1, results
    assert len(refusals) == 19, results
    winner = winners[0]
    assert {refusal.details["existing_claim"]["id"] for refusal in refusals} == {winner.pk}
    live_on_mwh = UnitClaim.objects.filter(stream_id=march_record.stream_id, status="live")
    assert live_on_mwh.count() == 1
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).count() == 19
    assert_no_overlap_anywhere()


def test_twenty_simultaneous_transfers_exceeding_the_holding_never_go_negative(
    issuer, project_owner, march_record, owner_account
):
    Mechanism.objects.filter(code="GEC").update(max_transfers=None)
    claim = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
    )
    targets = [HoldingAccountFactory() for _index in range(4)]

    def attempt(index):
        return lambda: block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=targets[index % 4],
            mechanism="GEC",
            quantity=70,
        )

    results = run_at_once([attempt(index) for index in range(20)])
    outcomes = Counter(type(result).__name__ for result in results)
    # 1000 units, 70 each: 14 transfers fit (980), the other 6 must be refused.
    assert outcomes == {"Transfer": 14, "Conflict": 6}, results
    assert all(
        result.code == "insufficient_units" for result in results if isinstance(result, Conflict)
    )
    blocks = Block.objects.filter(claim=claim)
    assert blocks.aggregate(total=Sum("quantity"))["total"] == 1000
    assert blocks.filter(account=owner_account).aggregate(total=Sum("quantity"))["total"] == 20
    assert not blocks.filter(quantity__lte=0).exists()
    assert_no_overlap_anywhere()


def test_retirement_racing_a_transfer_of_the_same_units_one_wins(
    issuer, project_owner, wind_farm, march_record, owner_account, buyer_account
):
    claim = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
    )
    for round_number in range(5):
        units = SerialRange(1 + round_number * 100, 101 + round_number * 100)
        serials = units.format("CN", wind_farm.code, "E", 202503)
        results = run_at_once(
            [
                lambda serials=serials: block_transfer(
                    actor=project_owner,
                    source_account=owner_account,
                    target_account=buyer_account,
                    mechanism="GEC",
                    serial_range=serials,
                ),
                lambda serials=serials: block_retire(
                    actor=project_owner,
                    account=owner_account,
                    mechanism="GEC",
                    serial_range=serials,
                    **RETIREMENT_DEFAULTS,
                ),
            ]
        )
        succeeded = [result for result in results if not isinstance(result, Exception)]
        failed = [result for result in results if isinstance(result, Exception)]
        assert len(succeeded) == 1 and len(failed) == 1, results
        assert isinstance(failed[0], Conflict)
        assert failed[0].code in {"units_not_held", "rule_violation"}
    blocks = Block.objects.filter(claim=claim)
    assert blocks.aggregate(total=Sum("quantity"))["total"] == 1000
    moved_or_retired = blocks.exclude(account=owner_account, status="active")
    assert moved_or_retired.aggregate(total=Sum("quantity"))["total"] == 500
    assert_no_overlap_anywhere()


def test_a_deadlocked_transfer_is_run_again_whole(
    issuer, project_owner, march_record, owner_account, buyer_account, monkeypatch
):
    import psycopg.errors
    from django.db import OperationalError

    import tracking.services as tracking_services

    unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
    )
    real_carve = tracking_services._carve
    calls = []

    def carve_that_deadlocks_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            real_carve(*args, **kwargs)  # a partial write that the rollback must undo
            raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected()
        return real_carve(*args, **kwargs)

    monkeypatch.setattr(tracking_services, "_carve", carve_that_deadlocks_once)
    transfer = block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=100,
    )
    assert len(calls) == 2
    assert Transfer.objects.count() == 1 and transfer.quantity == 100
    assert (
        Block.objects.filter(account=buyer_account).aggregate(total=Sum("quantity"))["total"] == 100
    )
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.UNITS_TRANSFERRED).count() == 1
