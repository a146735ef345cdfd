"""Transfers: by quantity and by range, splits, conservation, and every refusal."""

import pytest
from django.db.models import Sum

from accounts.services import holding_account_set_status
from issuance.services import unit_claim_issue
from registry.errors import Conflict, DomainError, Forbidden, NotFound
from registry.models import LedgerEvent, Mechanism
from registry.serials import SerialRange
from tests.factories import HoldingAccountFactory
from tracking.models import Block, Transfer
from tracking.services import block_retire, block_set_status, block_transfer


def held(account, mechanism="GEC", status="active"):
    return (
        Block.objects.filter(account=account, mechanism__code=mechanism, status=status).aggregate(
            total=Sum("quantity")
        )["total"]
        or 0
    )


def assert_claim_conserved(claim):
    blocks = list(Block.objects.filter(claim=claim).order_by("serials"))
    assert sum(block.quantity for block in blocks) == claim.quantity
    for before, after in zip(blocks, blocks[1:], strict=False):
        assert before.serials.upper <= after.serials.lower


def test_transfer_by_quantity_splits_the_block_in_serial_order(
    project_owner, gec_claim, owner_account, buyer_account
):
    transfer = block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=300,
    )
    assert transfer.quantity == 300
    moved = Block.objects.get(account=buyer_account)
    assert (moved.serials.lower, moved.serials.upper) == (1, 301)
    assert moved.transfer_count == 1
    kept = Block.objects.get(account=owner_account)
    assert (kept.serials.lower, kept.serials.upper) == (301, 1001)
    assert held(owner_account) == 700 and held(buyer_account) == 300
    assert_claim_conserved(gec_claim)
    event = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.UNITS_TRANSFERRED).get()
    assert event.payload["ranges"][0]["serials"].endswith("-000000000001-000000000300")


def test_transfer_by_serial_range_from_the_middle_leaves_two_remainders(
    project_owner, wind_farm, gec_claim, owner_account, buyer_account
):
    serials = SerialRange(400, 500).format("CN", wind_farm.code, "E", 202503)
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        serial_range=serials,
    )
    owner_ranges = sorted(
        (block.serials.lower, block.serials.upper)
        for block in Block.objects.filter(account=owner_account)
    )
    assert owner_ranges == [(1, 400), (500, 1001)]
    assert held(buyer_account) == 100
    assert_claim_conserved(gec_claim)


def test_gec_may_be_traded_only_once(project_owner, buyer, gec_claim, owner_account, buyer_account):
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=100,
    )
    third_party = HoldingAccountFactory()
    with pytest.raises(Conflict) as refusal:
        block_transfer(
            actor=buyer,
            source_account=buyer_account,
            target_account=third_party,
            mechanism="GEC",
            quantity=10,
        )
    assert refusal.value.code == "rule_violation"
    assert refusal.value.details["rule"] == "R9"
    assert refusal.value.details["facts"]["reason"] == "transfer_limit_reached"
    assert held(buyer_account) == 100


def test_unlimited_mechanism_may_be_transferred_again(
    issuer, project_owner, buyer, wind_farm, march_record, owner_account, buyer_account
):
    Mechanism.objects.filter(code="GEC").update(max_transfers=None)
    unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=100,
    )
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=100,
    )
    block_transfer(
        actor=buyer,
        source_account=buyer_account,
        target_account=owner_account,
        mechanism="GEC",
        quantity=40,
    )
    assert held(owner_account) == 40


def test_insufficient_units_are_refused_and_nothing_moves(
    project_owner, gec_claim, owner_account, buyer_account
):
    events_before = LedgerEvent.objects.count()
    with pytest.raises(Conflict) as refusal:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=buyer_account,
            mechanism="GEC",
            quantity=1001,
        )
    assert refusal.value.code == "insufficient_units"
    assert refusal.value.details == {"available": 1000, "requested": 1001}
    assert held(owner_account) == 1000
    assert not Transfer.objects.exists()
    assert LedgerEvent.objects.count() == events_before


@pytest.mark.parametrize("status", ["frozen", "closed"])
def test_frozen_or_closed_target_account_is_refused(
    administrator, buyer, project_owner, gec_claim, owner_account, buyer_account, status
):
    actor = administrator if status == "frozen" else buyer
    holding_account_set_status(
        actor=actor, account=buyer_account, status=status, reason="compliance hold"
    )
    with pytest.raises(Conflict) as refusal:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=buyer_account,
            mechanism="GEC",
            quantity=1,
        )
    assert refusal.value.code == "account_not_active"
    assert refusal.value.field == "target_account"


def test_frozen_source_account_is_refused(
    administrator, project_owner, gec_claim, owner_account, buyer_account
):
    holding_account_set_status(
        actor=administrator, account=owner_account, status="frozen", reason="investigation"
    )
    with pytest.raises(Conflict) as refusal:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=buyer_account,
            mechanism="GEC",
            quantity=1,
        )
    assert refusal.value.field == "source_account"


def test_frozen_units_do_not_move(
    administrator, project_owner, wind_farm, gec_claim, owner_account, buyer_account
):
    block = Block.objects.get(claim=gec_claim)
    block_set_status(actor=administrator, block=block, status="frozen", reason="dispute")
    with pytest.raises(Conflict) as by_quantity:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=buyer_account,
            mechanism="GEC",
            quantity=1,
        )
    assert by_quantity.value.code == "insufficient_units"
    serials = SerialRange(1, 10).format("CN", wind_farm.code, "E", 202503)
    with pytest.raises(Conflict) as by_range:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=buyer_account,
            mechanism="GEC",
            serial_range=serials,
        )
    assert by_range.value.code == "rule_violation"
    assert by_range.value.details["rule"] == "R9"
    assert by_range.value.details["facts"]["status"] == "frozen"
    block_set_status(actor=administrator, block=block, status="active", reason="resolved")
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        serial_range=serials,
    )


def test_retired_units_never_move_again(
    project_owner, wind_farm, gec_claim, owner_account, buyer_account
):
    import datetime as dt

    block_retire(
        actor=project_owner,
        account=owner_account,
        mechanism="GEC",
        quantity=10,
        beneficiary_name="Wind Co",
        purpose="voluntary_neutrality",
        claim_period_start=dt.date(2025, 3, 1),
        claim_period_end=dt.date(2025, 3, 31),
        location="CN-NM",
        reporting_year=2025,
    )
    serials = SerialRange(1, 5).format("CN", wind_farm.code, "E", 202503)
    with pytest.raises(Conflict) as refusal:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=buyer_account,
            mechanism="GEC",
            serial_range=serials,
        )
    assert refusal.value.code == "rule_violation"
    assert refusal.value.details["rule"] == "R12"


def test_another_organisations_account_cannot_be_operated(
    buyer, auditor, gec_claim, owner_account, buyer_account
):
    for actor in (buyer, auditor):
        with pytest.raises(Forbidden):
            block_transfer(
                actor=actor,
                source_account=owner_account,
                target_account=buyer_account,
                mechanism="GEC",
                quantity=1,
            )
    assert held(owner_account) == 1000


@pytest.mark.parametrize(
    ("arguments", "error_type", "code"),
    [
        ({"quantity": 0}, DomainError, "invalid_input"),
        ({"quantity": -3}, DomainError, "invalid_input"),
        ({"quantity": "12"}, DomainError, "invalid_input"),
        ({"quantity": 1, "serial_range": "x"}, DomainError, "invalid_input"),
        ({"serial_range": "CN-ABC-E-1"}, DomainError, "malformed_range"),
        (
            {"serial_range": "CN-ZZZZZZ-E-202503-000000000001-000000000002"},
            NotFound,
            "unknown_serial",
        ),
        ({"quantity": 1, "mechanism": "NOPE"}, NotFound, "unknown_mechanism"),
        ({"quantity": 1, "target_account": "CN-404"}, NotFound, "unknown_account"),
        ({"quantity": 1, "target_account": None}, NotFound, "unknown_account"),
    ],
)
def test_bad_transfer_input_is_refused(
    project_owner, gec_claim, owner_account, buyer_account, arguments, error_type, code
):
    call = {
        "actor": project_owner,
        "source_account": owner_account,
        "target_account": buyer_account,
        "mechanism": "GEC",
        **arguments,
    }
    with pytest.raises(error_type) as refusal:
        block_transfer(**call)
    assert refusal.value.code == code
    assert held(owner_account) == 1000


def test_transfer_to_same_account_is_refused(project_owner, gec_claim, owner_account):
    with pytest.raises(DomainError) as refusal:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=owner_account,
            mechanism="GEC",
            quantity=1,
        )
    assert refusal.value.code == "same_account"


def test_repeated_idempotency_key_returns_the_first_transfer(
    project_owner, gec_claim, owner_account, buyer_account
):
    first = block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=10,
        idempotency_key="order-42",
    )
    again = block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=10,
        idempotency_key="order-42",
    )
    assert again.pk == first.pk
    assert held(buyer_account) == 10


def test_transfer_takes_blocks_across_claims_in_serial_order(
    issuer, project_owner, march_record, owner_account, buyer_account
):
    first = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=100,
    )
    second = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=100,
    )
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=150,
    )
    moved = sorted(
        (block.claim_id, block.serials.lower, block.serials.upper)
        for block in Block.objects.filter(account=buyer_account)
    )
    assert moved == [(first.pk, 1, 101), (second.pk, 101, 151)]
    assert_claim_conserved(first)
    assert_claim_conserved(second)


def test_serial_range_with_the_wrong_vintage_is_refused(
    project_owner, wind_farm, gec_claim, owner_account, buyer_account
):
    serials = SerialRange(1, 10).format("CN", wind_farm.code, "E", 202504)
    with pytest.raises(DomainError) as refusal:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=buyer_account,
            mechanism="GEC",
            serial_range=serials,
        )
    assert refusal.value.code == "serial_vintage_mismatch"
    assert held(buyer_account) == 0


def test_transfer_by_quantity_pages_through_many_small_blocks(
    issuer, project_owner, march_record, owner_account, buyer_account
):
    claims = [
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march_record,
            account=owner_account,
            quantity=1,
        )
        for _index in range(100)
    ]
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=70,
    )
    moved = sorted(Block.objects.filter(account=buyer_account).values_list("claim_id", flat=True))
    assert moved == [claim.pk for claim in claims[:70]]  # the first 70 serials, across pages
    with pytest.raises(Conflict) as refusal:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=buyer_account,
            mechanism="GEC",
            quantity=31,
        )
    assert refusal.value.details == {"available": 30, "requested": 31}
