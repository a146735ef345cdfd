"""The queues over REST: an owner submits and requests, an issuing body decides; bad input is a
400 naming the field, a second claim on the same MWh a 409 naming the claim holding them."""

from __future__ import annotations

import pytest

from issuance.models import IssuanceRequest, ProductionSubmission
from registry.models import LedgerEvent, ProductionRecord
from tests.conftest import month

SUBMISSIONS = "/api/v1/production-submissions/"
REQUESTS = "/api/v1/issuance-requests/"


def _period(month_number: int) -> dict:
    start, end = month(2025, month_number)
    return {"period_start": start.isoformat(), "period_end": end.isoformat()}


def test_an_owner_submits_and_an_issuer_verifies(api, project_owner, issuer, wind_farm):
    body = {"project": wind_farm.code, "unit_kind": "E", "quantity": "480.5", **_period(5)}
    submitted = api(project_owner).post(SUBMISSIONS, {**body, "evidence": "meter 7"})
    assert submitted.status_code == 201, submitted.content
    assert submitted.json()["status"] == "pending"
    assert submitted.json()["production_record"] is None

    verified = api(issuer).post(f"{SUBMISSIONS}{submitted.json()['id']}/verify/")

    assert verified.status_code == 200, verified.content
    assert verified.json()["status"] == "approved"
    record = ProductionRecord.objects.get(pk=verified.json()["production_record"])
    assert record.units == 480


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "lots"}, "quantity"),
        ({"project": "P-NOPE"}, "project"),
        ({"period_start": "yesterday"}, "period_start"),
    ],
)
def test_a_bad_submission_is_400_naming_the_field(api, project_owner, wind_farm, change, field):
    body = {"project": wind_farm.code, "unit_kind": "E", "quantity": "10", **_period(5), **change}
    response = api(project_owner).post(SUBMISSIONS, body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not ProductionSubmission.objects.exists()


def test_a_rejection_without_a_reason_is_400(api, project_owner, issuer, wind_farm):
    body = {"project": wind_farm.code, "unit_kind": "E", "quantity": "10", **_period(5)}
    submission_id = api(project_owner).post(SUBMISSIONS, body).json()["id"]
    response = api(issuer).post(f"{SUBMISSIONS}{submission_id}/reject/", {})
    assert response.status_code == 400
    assert ProductionSubmission.objects.get().status == "pending"


def test_a_second_approval_on_the_same_mwh_is_409_naming_the_claim(
    api, project_owner, issuer, march_record, owner_account
):
    body = {
        "mechanism": "GEC",
        "production_record": march_record.pk,
        "account": owner_account.number,
        "quantity": 1000,
    }
    first = api(project_owner).post(REQUESTS, body).json()
    second = api(project_owner).post(REQUESTS, body).json()
    approved = api(issuer).post(f"{REQUESTS}{first['id']}/approve/")
    assert approved.status_code == 200 and approved.json()["unit_claim"] is not None

    refused = api(issuer).post(f"{REQUESTS}{second['id']}/approve/")

    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "double_claim"
    assert problem["details"]["existing_claim"]["id"] == approved.json()["unit_claim"]
    assert IssuanceRequest.objects.get(pk=second["id"]).status == "pending"
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [({"quantity": 0}, "quantity"), ({"account": "CN-99999999"}, "account")],
)
def test_a_bad_request_is_4xx_naming_the_field(
    api, project_owner, march_record, owner_account, change, field
):
    body = {
        "mechanism": "GEC",
        "production_record": march_record.pk,
        "account": owner_account.number,
        "quantity": 10,
        **change,
    }
    response = api(project_owner).post(REQUESTS, body)
    assert 400 <= response.status_code < 500
    problem = response.json()
    assert field in problem.get("errors", {}) or problem.get("field") == field
    assert not IssuanceRequest.objects.exists()
