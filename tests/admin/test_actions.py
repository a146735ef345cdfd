"""Admin actions change the registry only through the services: the change happens, the ledger
names the administrator who acted, and a refusal shows the service's message and changes
nothing."""

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import HoldingAccount
from registry import ledger
from registry.models import Checkpoint, LedgerEvent, Project, UnitClaim
from registry.services import project_register
from tests.admin.conftest import RETIREMENT, page_messages, run_action
from tracking.models import Block
from tracking.services import block_retire

ACCOUNTS = reverse("admin:accounts_holdingaccount_changelist")
BLOCKS = reverse("admin:tracking_block_changelist")
CLAIMS = reverse("admin:registry_unitclaim_changelist")
PROJECTS = reverse("admin:registry_project_changelist")


def _last_event(kind) -> LedgerEvent:
    return LedgerEvent.objects.filter(kind=kind).latest("id")


def test_freezing_an_account_asks_for_a_reason_and_records_the_administrator(
    admin_client, administrator, owner_account
):
    form = run_action(admin_client, ACCOUNTS, "freeze", [owner_account])
    assert "reason" in form.content.decode() and 'name="apply"' in form.content.decode()
    owner_account.refresh_from_db()
    assert owner_account.status == HoldingAccount.Status.ACTIVE

    done = run_action(admin_client, ACCOUNTS, "freeze", [owner_account], reason="court order 7")

    owner_account.refresh_from_db()
    event = _last_event(LedgerEvent.Kind.ACCOUNT_STATUS)
    assert owner_account.status == HoldingAccount.Status.FROZEN
    assert event.actor == administrator and event.payload["reason"] == "court order 7"
    assert event.subjects == [f"account:{owner_account.pk}"]
    assert "1 accounts frozen." in page_messages(done)


def test_unfreezing_an_active_account_is_refused_with_the_service_message(
    admin_client, owner_account
):
    events = LedgerEvent.objects.count()

    response = run_action(admin_client, ACCOUNTS, "unfreeze", [owner_account], reason="oops")

    owner_account.refresh_from_db()
    assert owner_account.status == HoldingAccount.Status.ACTIVE
    assert LedgerEvent.objects.count() == events
    assert any("cannot become" in message for message in page_messages(response))


def test_freezing_and_unfreezing_a_block_go_through_the_service(
    admin_client, administrator, gec_claim
):
    block = Block.objects.get(claim=gec_claim)

    run_action(admin_client, BLOCKS, "freeze", [block], reason="investigation")
    block.refresh_from_db()
    frozen = _last_event(LedgerEvent.Kind.BLOCK_STATUS)
    run_action(admin_client, BLOCKS, "unfreeze", [block], reason="cleared")
    block.refresh_from_db()
    unfrozen = _last_event(LedgerEvent.Kind.BLOCK_STATUS)

    assert block.status == Block.Status.ACTIVE
    assert (frozen.payload["to"], frozen.actor) == ("frozen", administrator)
    assert (unfrozen.payload["to"], unfrozen.actor) == ("active", administrator)


def test_revoking_an_issuance_cancels_its_units_and_records_the_administrator(
    admin_client, administrator, gec_claim
):
    response = run_action(admin_client, CLAIMS, "revoke", [gec_claim], reason="meter error")

    gec_claim.refresh_from_db()
    event = _last_event(LedgerEvent.Kind.CLAIM_REVOKED)
    assert gec_claim.status == UnitClaim.Status.REVOKED
    assert gec_claim.revocation_reason == "meter error"
    assert set(Block.objects.filter(claim=gec_claim).values_list("status", flat=True)) == {
        Block.Status.CANCELLED
    }
    assert event.actor == administrator
    assert "1 issuances revoked." in page_messages(response)


def test_revoking_an_issuance_with_retired_units_shows_the_refusal_and_changes_nothing(
    admin_client, project_owner, owner_account, gec_claim
):
    block_retire(
        actor=project_owner, account=owner_account, mechanism="GEC", quantity=100, **RETIREMENT
    )
    statuses = sorted(Block.objects.filter(claim=gec_claim).values_list("pk", "status"))
    events = LedgerEvent.objects.count()

    response = run_action(admin_client, CLAIMS, "revoke", [gec_claim], reason="meter error")

    gec_claim.refresh_from_db()
    assert gec_claim.status == UnitClaim.Status.LIVE
    assert sorted(Block.objects.filter(claim=gec_claim).values_list("pk", "status")) == statuses
    assert LedgerEvent.objects.count() == events
    assert any(
        "cannot be revoked: 100 of its units are retired" in message
        for message in page_messages(response)
    )


def test_units_sold_to_another_organisation_are_cancelled_only_by_the_explicit_action(
    admin_client, project_owner, owner_account, buyer_account, gec_claim
):
    from tracking.services import block_transfer

    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=100,
    )

    refused = run_action(admin_client, CLAIMS, "revoke", [gec_claim], reason="meter error")
    gec_claim.refresh_from_db()
    assert gec_claim.status == UnitClaim.Status.LIVE
    assert any("held by other organisations" in message for message in page_messages(refused))

    done = run_action(
        admin_client, CLAIMS, "revoke_cancelling_held_units", [gec_claim], reason="meter error"
    )
    gec_claim.refresh_from_db()
    assert gec_claim.status == UnitClaim.Status.REVOKED
    assert "1 issuances revoked." in page_messages(done)
    assert set(Block.objects.filter(account=buyer_account).values_list("status", flat=True)) == {
        Block.Status.CANCELLED
    }


def test_a_revocation_without_a_reason_changes_nothing(admin_client, gec_claim):
    response = run_action(admin_client, CLAIMS, "revoke", [gec_claim], reason="  ")

    gec_claim.refresh_from_db()
    assert response.status_code == 200 and 'name="apply"' in response.content.decode()
    assert gec_claim.status == UnitClaim.Status.LIVE


@pytest.fixture
def pending_project(project_owner):
    return project_register(
        actor=project_owner,
        owner=project_owner.organisation,
        name="Hilltop solar",
        province="CN-QH",
        technology="solar",
        capacity_mw=Decimal("10"),
        commissioning_date=dt.date(2024, 1, 1),
    )


def test_approving_a_pending_project_records_the_administrator(
    admin_client, administrator, pending_project
):
    assert pending_project.status == Project.Status.PENDING

    response = run_action(admin_client, PROJECTS, "approve", [pending_project])

    pending_project.refresh_from_db()
    event = _last_event(LedgerEvent.Kind.PROJECT_STATUS)
    assert pending_project.status == Project.Status.APPROVED
    assert event.actor == administrator and event.payload["to"] == "approved"
    assert "1 projects approved." in page_messages(response)


def test_rejecting_a_project_needs_a_reason_and_a_decided_project_is_refused(
    admin_client, administrator, pending_project, wind_farm
):
    response = run_action(
        admin_client, PROJECTS, "reject", [pending_project, wind_farm], reason="no grid permit"
    )

    pending_project.refresh_from_db()
    wind_farm.refresh_from_db()
    event = _last_event(LedgerEvent.Kind.PROJECT_STATUS)
    assert pending_project.status == Project.Status.REJECTED
    assert wind_farm.status == Project.Status.APPROVED
    assert event.payload["reason"] == "no grid permit" and event.actor == administrator
    texts = page_messages(response)
    assert "1 projects rejected." in texts
    assert any(f"Project {wind_farm.code} is not pending." in text for text in texts)


@pytest.mark.django_db(transaction=True)
def test_the_checkpoint_list_seals_the_ledger_and_records_who_sealed(
    admin_client, administrator, wind_farm
):
    # Committed transactions: a checkpoint seals only events of transactions that have ended,
    # and the boundary is server-wide, so another session's open transaction can hold it back
    # for a moment (as in tests/registry/test_ledger.py): try again until it is sealed.
    listing = admin_client.get(reverse("admin:registry_checkpoint_changelist"))
    assert reverse("admin:registry_checkpoint_seal") in listing.content.decode()

    deadline = time.monotonic() + 30
    while True:
        response = admin_client.post(reverse("admin:registry_checkpoint_seal"), follow=True)
        if Checkpoint.objects.exists() or time.monotonic() > deadline:
            break
        assert "Nothing to seal" in page_messages(response)[0]
        time.sleep(0.2)

    checkpoint = Checkpoint.objects.get()
    assert checkpoint.event_count >= 1
    assert (
        f"Checkpoint {checkpoint.sequence} sealed {checkpoint.event_count} events."
        == page_messages(response)[0]
    )
    # Who sealed is in the ledger, and the next seal covers that record too.
    sealed = LedgerEvent.objects.get(kind=LedgerEvent.Kind.LEDGER_SEALED)
    assert sealed.actor == administrator
    assert sealed.subjects == [f"checkpoint:{checkpoint.sequence}"]
    assert sealed.payload == {
        "sequence": checkpoint.sequence,
        "checkpoint_hash": checkpoint.checkpoint_hash,
        "event_count": checkpoint.event_count,
    }
    assert sealed.txid >= checkpoint.xid_to
    assert ledger.verify().ok


@pytest.mark.django_db(transaction=True)
def test_periodic_seal_records_no_event(wind_farm):
    deadline = time.monotonic() + 30
    while ledger.seal() is None and time.monotonic() < deadline:
        time.sleep(0.2)

    assert Checkpoint.objects.exists()
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.LEDGER_SEALED).exists()


def test_staff_who_are_not_registry_administrators_get_no_actions(client, auditor, gec_claim):
    auditor.is_staff = True
    auditor.save()
    auditor.user_permissions.add(Permission.objects.get(codename="view_unitclaim"))
    client.force_login(auditor)

    listing = client.get(CLAIMS)
    response = run_action(client, CLAIMS, "revoke", [gec_claim], reason="x")

    gec_claim.refresh_from_db()
    assert 'name="action"' not in listing.content.decode()
    assert gec_claim.status == UnitClaim.Status.LIVE
    assert response.status_code == 200


def test_cancelling_a_block_takes_its_units_out_and_records_the_administrator(
    admin_client, administrator, gec_claim
):
    block = Block.objects.get(claim=gec_claim)

    response = run_action(admin_client, BLOCKS, "cancel", [block], reason="double counted")

    block.refresh_from_db()
    event = _last_event(LedgerEvent.Kind.UNITS_CANCELLED)
    assert block.status == Block.Status.CANCELLED
    assert (event.actor, event.payload["quantity"]) == (administrator, block.quantity)
    assert event.payload["reason"] == "double counted"
    assert "The units of 1 blocks cancelled." in page_messages(response)


def test_cancelling_a_frozen_block_is_refused_and_changes_nothing(admin_client, gec_claim):
    block = Block.objects.get(claim=gec_claim)
    run_action(admin_client, BLOCKS, "freeze", [block], reason="investigation")
    events = LedgerEvent.objects.count()

    response = run_action(admin_client, BLOCKS, "cancel", [block], reason="double counted")

    block.refresh_from_db()
    assert block.status == Block.Status.FROZEN
    assert LedgerEvent.objects.count() == events
    assert any(message.startswith(f"{block}: ") for message in page_messages(response))


@pytest.fixture
def possible_duplicate(project_owner, wind_farm):
    """A second filing of the wind farm by its owner: same name, same capacity."""
    return project_register(
        actor=project_owner,
        owner=project_owner.organisation,
        name="Bayan Wind Farm",
        province="CN-NM",
        technology="wind",
        capacity_mw=Decimal("100"),
        commissioning_date=dt.date(2020, 6, 1),
    )


def test_the_approval_queue_shows_possible_duplicates_and_asks_for_a_reason(
    admin_client, administrator, possible_duplicate, wind_farm
):
    queue = admin_client.get(PROJECTS, {"status__exact": "pending"}).content.decode()
    assert f"possible duplicate of {wind_farm.code} Bayan wind farm" in queue

    asked = run_action(admin_client, PROJECTS, "approve", [possible_duplicate])
    assert "Reason (written to the ledger)" in asked.content.decode()
    possible_duplicate.refresh_from_db()
    assert possible_duplicate.status == Project.Status.PENDING

    reason = "distinct asset: the owner's second site, 40 km east"
    response = run_action(admin_client, PROJECTS, "approve", [possible_duplicate], reason=reason)

    possible_duplicate.refresh_from_db()
    assert possible_duplicate.status == Project.Status.APPROVED
    event = _last_event(LedgerEvent.Kind.PROJECT_STATUS)
    assert event.payload["reason"] == reason and event.actor == administrator
    assert event.payload["possible_duplicates"][0]["project"] == wind_farm.code
    assert "1 projects approved." in page_messages(response)


def test_the_ownership_transfer_action_asks_for_the_new_owner_and_a_reason(
    admin_client, administrator, wind_farm, buyer
):
    response = run_action(
        admin_client,
        PROJECTS,
        "transfer_ownership",
        [wind_farm],
        owner="buyer-co",
        reason="bought on 1 May 2025",
    )

    wind_farm.refresh_from_db()
    assert wind_farm.owner.code == "buyer-co"
    event = _last_event(LedgerEvent.Kind.PROJECT_OWNERSHIP_TRANSFERRED)
    assert event.actor == administrator
    assert (event.payload["from"]["code"], event.payload["to"]["code"]) == ("windco", "buyer-co")
    assert "1 projects given to their new owner." in page_messages(response)


def test_the_add_form_refuses_a_duplicate_asset_on_its_field(admin_client, wind_farm):
    Project.objects.filter(pk=wind_farm.pk).update(national_code="150821W2020060001")
    response = admin_client.post(
        reverse("admin:registry_project_add"),
        {
            "owner": wind_farm.owner_id,
            "name": "Another wind farm",
            "province": "CN-GS",
            "technology": "wind",
            "capacity_mw": "50",
            "commissioning_date": "2022-01-01",
            "national_code": "150821w2020060001",
            "time_zone": "Asia/Shanghai",
        },
    )

    assert response.status_code == 200
    assert wind_farm.code in str(response.context["adminform"].form.errors["national_code"])
    assert Project.objects.count() == 1
