"""Organisations and holding accounts: creation, numbering and status flips."""

import pytest

from accounts.models import HoldingAccount
from accounts.services import holding_account_open, holding_account_set_status, organisation_create
from registry.errors import Conflict, DomainError, Forbidden
from registry.models import LedgerEvent


def test_administrator_creates_organisation_and_opens_numbered_account(administrator):
    organisation = organisation_create(
        actor=administrator, code="solarco", name="Solar Co", kind="project_owner"
    )
    account = holding_account_open(actor=administrator, organisation=organisation, name="Main")
    assert account.number == f"CN-{account.pk:08d}"
    assert account.status == HoldingAccount.Status.ACTIVE
    kinds = list(LedgerEvent.objects.values_list("kind", flat=True))
    assert kinds == ["organisation.created", "account.opened"]


def test_duplicate_or_bad_organisation_is_refused(administrator, buyer):
    organisation_create(actor=administrator, code="solarco", name="Solar Co", kind="trader")
    with pytest.raises(Conflict):
        organisation_create(actor=administrator, code="solarco", name="Again", kind="trader")
    with pytest.raises(DomainError) as refusal:
        organisation_create(actor=administrator, code="other", name="X", kind="wizard")
    assert refusal.value.field == "kind"
    with pytest.raises(Forbidden):
        organisation_create(actor=buyer, code="mine", name="Mine", kind="trader")


def test_holder_cannot_open_accounts_for_another_organisation(buyer, project_owner):
    with pytest.raises(Forbidden):
        holding_account_open(actor=buyer, organisation=project_owner.organisation, name="x")


def test_freeze_unfreeze_and_close_are_compare_and_set(administrator, buyer, buyer_account):
    holding_account_set_status(
        actor=administrator, account=buyer_account, status="frozen", reason="court order"
    )
    with pytest.raises(Conflict) as refusal:
        holding_account_set_status(
            actor=administrator, account=buyer_account, status="frozen", reason="again"
        )
    assert refusal.value.code == "invalid_status_change"
    holding_account_set_status(
        actor=administrator, account=buyer_account, status="active", reason="lifted"
    )
    holding_account_set_status(
        actor=buyer, account=buyer_account, status="closed", reason="no longer needed"
    )
    with pytest.raises(Conflict):
        holding_account_set_status(
            actor=administrator, account=buyer_account, status="active", reason="reopen"
        )
    buyer_account.refresh_from_db()
    assert buyer_account.status == "closed"
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ACCOUNT_STATUS).count() == 3


def test_holder_cannot_freeze_and_status_needs_reason(buyer, administrator, buyer_account):
    with pytest.raises(Forbidden):
        holding_account_set_status(actor=buyer, account=buyer_account, status="frozen", reason="x")
    with pytest.raises(DomainError) as refusal:
        holding_account_set_status(
            actor=administrator, account=buyer_account, status="frozen", reason=""
        )
    assert refusal.value.code == "reason_required"
    with pytest.raises(DomainError):
        holding_account_set_status(
            actor=administrator, account=buyer_account, status="vanished", reason="x"
        )


def test_account_holding_units_cannot_be_closed(issuer, project_owner, march_record, owner_account):
    from issuance.services import unit_claim_issue

    unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1,
    )
    with pytest.raises(Conflict) as refusal:
        holding_account_set_status(
            actor=project_owner, account=owner_account, status="closed", reason="done"
        )
    assert refusal.value.code == "account_not_empty"
