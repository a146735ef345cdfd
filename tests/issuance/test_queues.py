"""The way in through the queues: production a project owner submits waits for verification,
issuance it requests waits for approval; the decision goes through the same services as a direct
recording or issuance, with the ledger naming who asked and who decided."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from issuance.models import IssuanceRequest, ProductionSubmission, QueueStatus
from issuance.services import (
    issuance_request_approve,
    issuance_request_create,
    issuance_request_reject,
    production_submission_reject,
    production_submission_verify,
    production_submit,
)
from registry.errors import Conflict, DomainError, DoubleClaim, Forbidden
from registry.models import LedgerEvent, ProductionRecord, UnitClaim
from tests.conftest import month
from tests.factories import HoldingAccountFactory
from tracking.models import Block


def submit(actor, project, month_number=4, quantity="700.25", **extra):
    start, end = month(2025, month_number)
    return production_submit(
        actor=actor,
        project=project,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=quantity,
        **extra,
    )


@pytest.fixture
def submission(project_owner, wind_farm):
    return submit(project_owner, wind_farm, evidence="meter 7, April reading")


@pytest.fixture
def gec_request(project_owner, march_record, owner_account):
    return issuance_request_create(
        actor=project_owner,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
    )


# --- production awaiting verification --------------------------------------------------------


def test_a_submission_waits_without_serials_and_is_in_the_ledger(submission, project_owner):
    assert submission.status == QueueStatus.PENDING
    assert not ProductionRecord.objects.exists()
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.PRODUCTION_SUBMITTED)
    assert event.actor == project_owner
    assert Decimal(event.payload["quantity"]) == Decimal("700.25")
    assert f"submission:{submission.pk}" in event.subjects


def test_verifying_records_the_production_and_names_the_submission(submission, issuer):
    record = production_submission_verify(actor=issuer, submission=submission)

    submission.refresh_from_db()
    assert submission.status == QueueStatus.APPROVED
    assert submission.production_record == record
    assert submission.decided_by == issuer
    assert record.units == 700 and record.serials.upper - record.serials.lower == 700
    assert record.entered_by == issuer
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.PRODUCTION_RECORDED)
    assert event.actor == issuer
    assert event.payload["origin"]["submission"] == submission.pk
    assert event.payload["origin"]["submitted_by"] == submission.submitted_by.username


def test_a_project_owner_may_not_verify_its_own_submission(submission, project_owner):
    with pytest.raises(Forbidden) as refusal:
        production_submission_verify(actor=project_owner, submission=submission)
    assert refusal.value.code == "verification_required"
    submission.refresh_from_db()
    assert submission.status == QueueStatus.PENDING
    assert not ProductionRecord.objects.exists()


def test_a_submission_overlapping_a_pending_one_is_refused_naming_it(submission, project_owner):
    with pytest.raises(Conflict) as refusal:
        submit(project_owner, submission.project, quantity="1")
    assert refusal.value.code == "period_overlap"
    assert refusal.value.details["existing_submission"] == submission.pk
    assert ProductionSubmission.objects.count() == 1


def test_a_submission_overlapping_a_recorded_period_is_refused_naming_the_record(
    march_record, project_owner, wind_farm
):
    with pytest.raises(Conflict) as refusal:
        submit(project_owner, wind_farm, month_number=3)
    assert refusal.value.details["existing_record"] == march_record.pk
    assert not ProductionSubmission.objects.exists()


def test_the_database_refuses_two_pending_submissions_of_one_period(submission):
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductionSubmission.objects.create(
            project=submission.project,
            unit_kind="E",
            period=submission.period,
            quantity=1,
            submitted_by=submission.submitted_by,
        )


def test_bad_submissions_are_refused_naming_the_field(project_owner, wind_farm):
    with pytest.raises(DomainError) as negative:
        submit(project_owner, wind_farm, quantity="-3")
    assert negative.value.field == "quantity"
    with pytest.raises(DomainError) as implausible:
        submit(project_owner, wind_farm, quantity="99999999")  # 100 MW cannot make this
    assert implausible.value.code == "implausible_quantity"
    assert not ProductionSubmission.objects.exists()


def test_a_rejection_needs_a_reason_and_frees_the_period(submission, issuer, project_owner):
    with pytest.raises(DomainError) as no_reason:
        production_submission_reject(actor=issuer, submission=submission, reason="  ")
    assert no_reason.value.field == "reason"

    rejected = production_submission_reject(
        actor=issuer, submission=submission, reason="meter not calibrated"
    )
    assert rejected.status == QueueStatus.REJECTED
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.PRODUCTION_REJECTED)
    assert event.actor == issuer and event.payload["reason"] == "meter not calibrated"
    corrected = submit(project_owner, submission.project, quantity="690")
    assert corrected.status == QueueStatus.PENDING


def test_a_decided_submission_cannot_be_decided_again(submission, issuer, administrator):
    production_submission_verify(actor=issuer, submission=submission)
    with pytest.raises(Conflict) as again:
        production_submission_verify(actor=administrator, submission=submission)
    assert again.value.code == "already_decided"
    with pytest.raises(Conflict):
        production_submission_reject(actor=administrator, submission=submission, reason="late")
    assert ProductionRecord.objects.count() == 1


# --- issuance awaiting approval ----------------------------------------------------------------


def test_an_approved_request_issues_into_the_requested_account(
    gec_request, issuer, project_owner, owner_account
):
    assert not UnitClaim.objects.exists()
    claim = issuance_request_approve(actor=issuer, issuance_request=gec_request)

    gec_request.refresh_from_db()
    assert gec_request.status == QueueStatus.APPROVED
    assert gec_request.unit_claim == claim and gec_request.decided_by == issuer
    assert claim.account == owner_account and claim.quantity == 1000
    assert sum(Block.objects.filter(account=owner_account).values_list("quantity", flat=True)) == (
        1000
    )
    issued = LedgerEvent.objects.get(kind=LedgerEvent.Kind.UNITS_ISSUED)
    assert issued.actor == issuer
    assert issued.payload["origin"] == {
        "issuance_request": gec_request.pk,
        "requested_by": project_owner.username,
    }


def test_a_second_request_on_the_same_mwh_is_refused_naming_the_claim_and_stays_pending(
    gec_request, issuer, project_owner, march_record, owner_account
):
    first_claim = issuance_request_approve(actor=issuer, issuance_request=gec_request)
    second = issuance_request_create(
        actor=project_owner,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
    )

    with pytest.raises(DoubleClaim) as refusal:
        issuance_request_approve(actor=issuer, issuance_request=second)

    assert refusal.value.details["existing_claim"]["id"] == first_claim.pk
    assert f"claim {first_claim.pk}" in str(refusal.value.message)
    second.refresh_from_db()
    assert second.status == QueueStatus.PENDING and second.unit_claim is None
    assert UnitClaim.objects.count() == 1
    refused = LedgerEvent.objects.get(kind=LedgerEvent.Kind.ATTEMPT_REFUSED)
    assert refused.payload["attempted"]["origin"]["issuance_request"] == second.pk


def test_only_an_issuer_of_the_mechanism_approves_or_rejects(
    gec_request, second_issuer, project_owner
):
    for actor in (second_issuer, project_owner):
        with pytest.raises(Forbidden):
            issuance_request_approve(actor=actor, issuance_request=gec_request)
        with pytest.raises(Forbidden):
            issuance_request_reject(actor=actor, issuance_request=gec_request, reason="no")
    gec_request.refresh_from_db()
    assert gec_request.status == QueueStatus.PENDING
    assert not UnitClaim.objects.exists()


def test_a_rejected_request_issues_nothing_and_cannot_be_approved(gec_request, issuer):
    issuance_request_reject(actor=issuer, issuance_request=gec_request, reason="no evidence")
    with pytest.raises(Conflict) as again:
        issuance_request_approve(actor=issuer, issuance_request=gec_request)
    assert again.value.code == "already_decided"
    assert not UnitClaim.objects.exists()
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.ISSUANCE_REJECTED)
    assert event.payload["reason"] == "no evidence"


def test_an_owner_requests_only_into_its_own_accounts(project_owner, march_record, buyer_account):
    with pytest.raises(Forbidden) as refusal:
        issuance_request_create(
            actor=project_owner,
            mechanism="GEC",
            production_record=march_record,
            account=buyer_account,
            quantity=10,
        )
    assert refusal.value.field == "account"
    assert not IssuanceRequest.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -5}, "quantity"),
        ({"mechanism": "NOPE"}, "mechanism"),
        ({"account": "CN-99999999"}, "account"),
        ({"conversion_factor": "abc"}, "conversion_factor"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(
    project_owner, march_record, owner_account, fields, field
):
    arguments = {
        "actor": project_owner,
        "mechanism": "GEC",
        "production_record": march_record,
        "account": owner_account,
        "quantity": 10,
        **fields,
    }
    with pytest.raises(DomainError) as refusal:
        issuance_request_create(**arguments)
    assert refusal.value.field == field
    assert not IssuanceRequest.objects.exists()
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ISSUANCE_REQUESTED).exists()


def test_the_database_refuses_an_approved_request_without_its_claim(gec_request, issuer):
    with pytest.raises(IntegrityError), transaction.atomic():
        IssuanceRequest.objects.filter(pk=gec_request.pk).update(
            status="approved", decided_by=issuer, decided_at=timezone.now()
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        IssuanceRequest.objects.filter(pk=gec_request.pk).update(
            status="rejected", decided_by=issuer, decided_at=timezone.now()
        )  # no reason


@pytest.mark.django_db(transaction=True)
def test_two_approvals_of_one_request_at_once_issue_once(
    project_owner, issuer, administrator, march_record
):
    account = HoldingAccountFactory(organisation=project_owner.organisation)
    issuance_request = issuance_request_create(
        actor=project_owner,
        mechanism="GEC",
        production_record=march_record,
        account=account,
        quantity=100,
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(actor):
        try:
            barrier.wait()
            issuance_request_approve(actor=actor, issuance_request=issuance_request)
            outcomes.append("issued")
        except Conflict as refusal:
            outcomes.append(refusal.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(actor,)) for actor in (issuer, administrator)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["already_decided", "issued"]
    assert UnitClaim.objects.filter(account=account).count() == 1
    assert Block.objects.filter(account=account).count() == 1
    issuance_request.refresh_from_db()
    assert issuance_request.status == QueueStatus.APPROVED
    assert Decimal(issuance_request.unit_claim.quantity) == 100
