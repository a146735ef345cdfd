"""The approval queues in the admin: counted on the index, decided by actions that call the
services, with a refusal naming the claim that already holds the units; requests and submissions
entered through add forms whose validation is the service."""

from __future__ import annotations

import re

from django.urls import reverse

from issuance.models import IssuanceRequest, ProductionSubmission, QueueStatus
from issuance.services import issuance_request_approve, issuance_request_create, production_submit
from registry.models import LedgerEvent, Mechanism, UnitClaim
from tests.admin.conftest import page_messages, run_action
from tests.conftest import month
from tracking.models import Block

REQUESTS = reverse("admin:issuance_issuancerequest_changelist")
SUBMISSIONS = reverse("admin:issuance_productionsubmission_changelist")


def _request(owner, record, account, quantity=1000) -> IssuanceRequest:
    return issuance_request_create(
        actor=owner, mechanism="GEC", production_record=record, account=account, quantity=quantity
    )


def _submission(owner, project, month_number=4) -> ProductionSubmission:
    start, end = month(2025, month_number)
    return production_submit(
        actor=owner,
        project=project,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity="512.5",
    )


def _queue_counts(admin_client) -> dict[str, int]:
    """Label -> count, as the index page shows them in its approval-queue box."""
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    rows = re.findall(
        r'<a href="[^"]+">([^<]+)</a></th><td class="pending-count">(\d+)</td>',
        response.content.decode(),
    )
    return {label.lower(): int(count) for label, count in rows}


def test_the_index_counts_every_queue(
    admin_client, project_owner, march_record, owner_account, wind_farm
):
    before = _queue_counts(admin_client)
    assert before["issuance requests"] == 0
    assert before["production awaiting verification"] == 0
    _request(project_owner, march_record, owner_account)
    _request(project_owner, march_record, owner_account, quantity=5)
    _submission(project_owner, wind_farm)

    counts = _queue_counts(admin_client)

    assert counts["issuance requests"] == 2
    assert counts["production awaiting verification"] == 1
    assert {"projects", "match suggestions"} <= set(counts)
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert f"{REQUESTS}?status__exact=pending" in page


def test_approving_a_request_in_the_admin_issues_and_records_the_administrator(
    admin_client, administrator, project_owner, march_record, owner_account
):
    issuance_request = _request(project_owner, march_record, owner_account)

    done = run_action(admin_client, REQUESTS, "approve", [issuance_request])

    assert page_messages(done) == ["1 requests approved and issued."]
    issuance_request.refresh_from_db()
    assert issuance_request.status == QueueStatus.APPROVED
    assert issuance_request.decided_by == administrator
    assert Block.objects.get(account=owner_account).quantity == 1000
    issued = LedgerEvent.objects.get(kind=LedgerEvent.Kind.UNITS_ISSUED)
    assert issued.actor == administrator


def test_approving_a_second_request_on_the_same_mwh_shows_the_claim_holding_them(
    admin_client, issuer, project_owner, march_record, owner_account
):
    first = _request(project_owner, march_record, owner_account)
    claim = issuance_request_approve(actor=issuer, issuance_request=first)
    second = _request(project_owner, march_record, owner_account)

    refused = run_action(admin_client, REQUESTS, "approve", [second])

    [message] = page_messages(refused)
    assert f"claim {claim.pk}" in message and owner_account.number in message
    second.refresh_from_db()
    assert second.status == QueueStatus.PENDING
    assert UnitClaim.objects.count() == 1


def test_rejecting_a_request_asks_for_a_reason(
    admin_client, project_owner, march_record, owner_account
):
    issuance_request = _request(project_owner, march_record, owner_account)
    form = run_action(admin_client, REQUESTS, "reject", [issuance_request])
    assert 'name="apply"' in form.content.decode()
    issuance_request.refresh_from_db()
    assert issuance_request.status == QueueStatus.PENDING

    run_action(admin_client, REQUESTS, "reject", [issuance_request], reason="meter data missing")

    issuance_request.refresh_from_db()
    assert issuance_request.status == QueueStatus.REJECTED
    assert issuance_request.decision_reason == "meter data missing"


def test_verifying_a_submission_in_the_admin_records_the_production(
    admin_client, administrator, project_owner, wind_farm
):
    submission = _submission(project_owner, wind_farm)

    done = run_action(admin_client, SUBMISSIONS, "verify", [submission])

    assert page_messages(done) == ["1 submissions verified and recorded."]
    submission.refresh_from_db()
    assert submission.status == QueueStatus.APPROVED
    assert submission.production_record.units == 512
    assert submission.production_record.entered_by == administrator


def test_an_issuance_request_entered_in_the_admin_goes_through_the_service(
    admin_client, administrator, march_record, owner_account
):
    add = reverse("admin:issuance_issuancerequest_add")
    fields = {
        "mechanism": Mechanism.objects.get(code="GEC").pk,
        "production_record": march_record.pk,
        "account": owner_account.pk,
        "quantity": "250",
        "conversion_source": "",
    }
    refused = admin_client.post(add, {**fields, "mechanism": Mechanism.objects.get(code="CEA").pk})
    assert refused.status_code == 200  # the form again, with the service's message
    assert "Allowances are allocated, not issued from production." in refused.content.decode()
    assert not IssuanceRequest.objects.exists()

    created = admin_client.post(add, fields, follow=True)

    assert created.status_code == 200
    issuance_request = IssuanceRequest.objects.get()
    assert issuance_request.requested_by == administrator and issuance_request.quantity == 250
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.ISSUANCE_REQUESTED)
    assert event.actor == administrator


def test_a_submission_entered_in_the_admin_refuses_an_overlap_with_the_record(
    admin_client, march_record, wind_farm
):
    add = reverse("admin:issuance_productionsubmission_add")
    start, end = month(2025, 3)
    response = admin_client.post(
        add,
        {
            "project": wind_farm.pk,
            "unit_kind": "E",
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "quantity": "10",
            "evidence": "",
        },
    )
    assert response.status_code == 200
    assert f"production record {march_record.pk}" in response.content.decode()
    assert not ProductionSubmission.objects.exists()


def test_an_accounts_page_shows_its_balances(admin_client, gec_claim, owner_account):
    page = admin_client.get(
        reverse("admin:accounts_holdingaccount_change", args=[owner_account.pk])
    ).content.decode()
    assert 'data-mechanism="GEC"' in page
    assert '<td class="balance-active">1000</td>' in page


def test_a_project_registered_in_the_admin_goes_through_the_service(
    admin_client, administrator, project_owner
):
    from registry.models import Project

    add = reverse("admin:registry_project_add")
    fields = {
        "owner": project_owner.organisation.pk,
        "name": "Zhangbei wind",
        "province": "CN-HE",
        "technology": "wind",
        "capacity_mw": "50",
        "commissioning_date": "2024-01-01",
        "time_zone": "Asia/Shanghai",
    }
    refused = admin_client.post(add, {**fields, "province": "CN-ZZ"})
    assert refused.status_code == 200
    assert "CN-ZZ" in refused.content.decode()
    assert not Project.objects.filter(name="Zhangbei wind").exists()

    admin_client.post(add, fields, follow=True)

    project = Project.objects.get(name="Zhangbei wind")
    assert project.status == Project.Status.APPROVED  # registered by an administrator
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.PROJECT_REGISTERED)
    assert event.actor == administrator
    detail = admin_client.get(reverse("admin:registry_project_change", args=[project.pk]))
    assert project.code in detail.content.decode()


def test_a_mechanism_registration_entered_in_the_admin_goes_through_the_service(
    admin_client, wind_farm
):
    from registry.models import MechanismRegistration

    add = reverse("admin:registry_mechanismregistration_add")
    start, _end = month(2025, 1)
    response = admin_client.post(
        add,
        {
            "project": wind_farm.pk,
            "mechanism": Mechanism.objects.get(code="CCER").pk,
            "reference": "CCER-WIND-7",
            "crediting_start": start.isoformat(),
        },
        follow=True,
    )
    assert response.status_code == 200
    registration = MechanismRegistration.objects.get()
    assert registration.reference == "CCER-WIND-7"
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.PROJECT_MECHANISM_REGISTERED).exists()
