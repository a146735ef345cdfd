"""Retirement (final), cancellation, revocation, freezing and expiry."""

import datetime as dt

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from registry.errors import Conflict, DomainError, Forbidden
from registry.models import LedgerEvent, UnitClaim
from tests.conftest import RETIREMENT_DEFAULTS
from tracking.models import Block, Retirement
from tracking.services import (
    block_cancel,
    block_retire,
    block_set_status,
    claim_revoke,
    units_expire,
)

RETIREMENT = RETIREMENT_DEFAULTS


def test_retirement_records_one_beneficiary_and_splits_the_block(
    project_owner, gec_claim, owner_account
):
    retirement = block_retire(
        actor=project_owner, account=owner_account, mechanism="GEC", quantity=250, **RETIREMENT
    )
    retired = Block.objects.get(retirement=retirement)
    assert retired.status == Block.Status.RETIRED
    assert (retired.serials.lower, retired.serials.upper) == (1, 251)
    assert retirement.beneficiary_name == "Hebei Green Steel Co."
    assert retirement.location == "CN-HE"
    assert Block.objects.get(claim=gec_claim, status="active").quantity == 750
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.UNITS_RETIRED)
    assert event.payload["beneficiary"] == "Hebei Green Steel Co."


def test_database_refuses_to_change_a_retired_block(
    project_owner, gec_claim, owner_account, buyer_account
):
    retirement = block_retire(
        actor=project_owner, account=owner_account, mechanism="GEC", quantity=10, **RETIREMENT
    )
    retired = Block.objects.get(retirement=retirement)
    with pytest.raises(DatabaseError, match="Cannot update"), transaction.atomic():
        Block.objects.filter(pk=retired.pk).update(account=buyer_account)
    with pytest.raises(DatabaseError, match="Cannot update"), transaction.atomic():
        Retirement.objects.filter(pk=retirement.pk).update(beneficiary_name="Someone else")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"beneficiary_name": "  "}, "beneficiary_name"),
        ({"purpose": "greenwashing"}, "purpose"),
        ({"claim_period_end": dt.date(2025, 2, 1)}, "claim_period_end"),
        ({"claim_period_start": "2025-03-01"}, "claim_period_start"),
        ({"location": "CN-XX"}, "location"),
        ({"location": "Beijing"}, "location"),
        ({"reporting_year": 1999}, "reporting_year"),
        ({"reporting_year": "2025"}, "reporting_year"),
    ],
)
def test_bad_retirement_input_is_refused(project_owner, gec_claim, owner_account, override, field):
    with pytest.raises(DomainError) as refusal:
        block_retire(
            actor=project_owner,
            account=owner_account,
            mechanism="GEC",
            quantity=1,
            **{**RETIREMENT, **override},
        )
    assert refusal.value.field == field
    assert not Retirement.objects.exists()


def test_cancellation_takes_units_out_for_good(project_owner, gec_claim, owner_account):
    cancellation = block_cancel(
        actor=project_owner,
        account=owner_account,
        mechanism="GEC",
        quantity=100,
        reason="voluntary cancellation",
    )
    assert Block.objects.get(cancellation=cancellation).status == Block.Status.CANCELLED
    with pytest.raises(Conflict):
        block_cancel(
            actor=project_owner,
            account=owner_account,
            mechanism="GEC",
            quantity=901,
            reason="too many",
        )


def test_revocation_cancels_every_unit_of_the_claim(
    administrator, project_owner, gec_claim, owner_account, buyer_account
):
    from tracking.services import block_transfer

    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=100,
    )
    # The buyer's 100 are cancelled too only because the administrator says so explicitly.
    revoked = claim_revoke(
        actor=administrator, claim=gec_claim, reason="meter fault", cancel_held_units=True
    )
    assert revoked.status == UnitClaim.Status.REVOKED
    assert set(Block.objects.filter(claim=gec_claim).values_list("status", flat=True)) == {
        "cancelled"
    }
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.CLAIM_REVOKED)
    assert event.payload["cancelled_quantity"] == 1000


def test_revocation_is_refused_when_units_are_retired(
    administrator, project_owner, gec_claim, owner_account
):
    block_retire(
        actor=project_owner, account=owner_account, mechanism="GEC", quantity=1, **RETIREMENT
    )
    with pytest.raises(Conflict) as refusal:
        claim_revoke(actor=administrator, claim=gec_claim, reason="meter fault")
    assert refusal.value.code == "units_retired"
    gec_claim.refresh_from_db()
    assert gec_claim.status == UnitClaim.Status.LIVE


def test_only_administrators_revoke_or_freeze(issuer, gec_claim):
    with pytest.raises(Forbidden):
        claim_revoke(actor=issuer, claim=gec_claim, reason="x")
    with pytest.raises(Forbidden):
        block_set_status(
            actor=issuer, block=Block.objects.get(claim=gec_claim), status="frozen", reason="x"
        )


def test_revocation_needs_a_reason(administrator, gec_claim):
    with pytest.raises(DomainError) as refusal:
        claim_revoke(actor=administrator, claim=gec_claim, reason=" ")
    assert refusal.value.code == "reason_required"


def test_units_past_validity_expire_once(gec_claim, project_owner, owner_account):
    block = Block.objects.get(claim=gec_claim)
    # GEC is valid 24 months after the end of March 2025 (local time).
    assert block.expires_at.astimezone(timezone.get_default_timezone()).date() == dt.date(
        2027, 4, 1
    )
    assert units_expire(now=dt.datetime(2027, 3, 31, tzinfo=dt.UTC)) == 0
    assert units_expire(now=dt.datetime(2027, 4, 2, tzinfo=dt.UTC)) == 1000
    assert units_expire(now=dt.datetime(2027, 4, 2, tzinfo=dt.UTC)) == 0
    block.refresh_from_db()
    assert block.status == Block.Status.EXPIRED
    with pytest.raises(Conflict):
        block_retire(
            actor=project_owner, account=owner_account, mechanism="GEC", quantity=1, **RETIREMENT
        )


def test_block_status_change_refuses_unknown_or_final_statuses(administrator, gec_claim):
    block = Block.objects.get(claim=gec_claim)
    for status in ("vanished", "retired"):
        with pytest.raises(DomainError) as refusal:
            block_set_status(actor=administrator, block=block, status=status, reason="x")
        assert refusal.value.field == "status"
    with pytest.raises(Conflict) as refusal:
        block_set_status(actor=administrator, block=block, status="active", reason="x")
    assert refusal.value.code == "invalid_status_change"
    block.refresh_from_db()
    assert block.status == "active"


def test_validity_from_a_month_end_keeps_the_day_or_takes_the_months_last():
    import datetime as dt
    from zoneinfo import ZoneInfo

    from issuance.services import _add_months

    shanghai = ZoneInfo("Asia/Shanghai")
    end_of_march = dt.datetime(2025, 3, 31, 12, tzinfo=shanghai)
    assert _add_months(end_of_march, 24) == dt.datetime(2027, 3, 31, 12, tzinfo=shanghai)
    assert _add_months(end_of_march, 23) == dt.datetime(2027, 2, 28, 12, tzinfo=shanghai)
    assert _add_months(dt.datetime(2025, 11, 15, tzinfo=shanghai), 3) == dt.datetime(
        2026, 2, 15, tzinfo=shanghai
    )
