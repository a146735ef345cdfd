"""The database refuses a block whose serial range is not inside its claim's range (trigger
``block_inside_its_claim``), whatever code path writes it; transfers, splits, retirements and
cancellations, which carve blocks inside their claim, still work."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from tests.conftest import RETIREMENT_DEFAULTS
from tracking.models import Block
from tracking.services import block_cancel, block_retire, block_transfer


def _sql(statement: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_inserting_a_block_beyond_its_claim_is_refused(gec_claim, owner_account):
    # The claim holds 1..1000; serials 1001..1010 exist in no claim.
    with pytest.raises(IntegrityError, match="outside claim"), transaction.atomic():
        _sql(
            "INSERT INTO tracking_block (claim_id, mechanism_id, stream_id, account_id, serials,"
            " quantity, vintage, status, transfer_count) VALUES"
            " (%s, %s, %s, %s, int8range(1001, 1011), 10, 202503, 'active', 0)",
            [gec_claim.pk, gec_claim.mechanism_id, gec_claim.stream_id, owner_account.pk],
        )
    assert Block.objects.filter(claim=gec_claim).count() == 1


def test_widening_a_block_beyond_its_claim_is_refused(gec_claim):
    block = Block.objects.get(claim=gec_claim)
    with pytest.raises(IntegrityError, match="outside claim"), transaction.atomic():
        _sql(
            "UPDATE tracking_block SET serials = int8range(1, 1011), quantity = 1010 WHERE id = %s",
            [block.pk],
        )
    block.refresh_from_db()
    assert (block.serials.lower, block.serials.upper) == (1, 1001)


def test_moving_a_block_to_a_claim_that_does_not_hold_its_serials_is_refused(
    gec_claim, issuer, wind_farm, owner_account
):
    from issuance.services import unit_claim_issue
    from registry.services import production_record_create
    from tests.conftest import month

    start, end = month(2025, 4)
    april = production_record_create(
        actor=issuer,
        project=wind_farm,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity="100",
    )
    other = unit_claim_issue(
        actor=issuer, mechanism="GEC", production_record=april, account=owner_account, quantity=50
    )
    block = Block.objects.get(claim=gec_claim)
    with pytest.raises(IntegrityError, match="outside claim"), transaction.atomic():
        _sql("UPDATE tracking_block SET claim_id = %s WHERE id = %s", [other.pk, block.pk])
    assert Block.objects.get(pk=block.pk).claim_id == gec_claim.pk


def test_a_block_on_another_stream_than_its_claim_is_refused(gec_claim, wind_farm):
    carbon_stream = wind_farm.streams.get(unit_kind="C")
    block = Block.objects.get(claim=gec_claim)
    with pytest.raises(IntegrityError, match="outside claim"), transaction.atomic():
        _sql("UPDATE tracking_block SET stream_id = %s WHERE id = %s", [carbon_stream.pk, block.pk])


def test_transfers_retirements_and_cancellations_still_carve_blocks_inside_the_claim(
    gec_claim, project_owner, owner_account, buyer, buyer_account, wind_farm
):
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        serial_range=f"CN-{wind_farm.code}-E-202503-000000000101-000000000200",
    )
    block_retire(
        actor=buyer, account=buyer_account, mechanism="GEC", quantity=30, **RETIREMENT_DEFAULTS
    )
    block_cancel(
        actor=project_owner, account=owner_account, mechanism="GEC", quantity=5, reason="test"
    )
    blocks = list(Block.objects.filter(claim=gec_claim).order_by("serials"))
    assert sum(block.quantity for block in blocks) == 1000
    assert all(block.serials.lower >= 1 and block.serials.upper <= 1001 for block in blocks)
    assert len(blocks) >= 4
