"""Issuances through the API: by range or quantity, derived units, revocation."""

from __future__ import annotations

from registry.models import LedgerEvent, UnitClaim
from registry.services import declaration_sign
from tests.conftest import month


def test_issuance_by_serial_range_alone_finds_its_production_record(
    api, issuer, march_record, owner_account
):
    first_hundred = march_record.serial_range().split_off(100)[0]
    project = march_record.stream.project
    text = first_hundred.format(project.country, project.code, "E", march_record.vintage)

    response = api(issuer).post(
        "/api/v1/issuances/",
        {"mechanism": "GEC", "serial_range": text, "account": owner_account.number},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.data["production_record"] == march_record.pk
    assert response.data["serial_range"] == text
    assert response.data["quantity"] == 100


def test_range_outside_every_production_record_is_a_validation_error(
    api, issuer, march_record, owner_account
):
    project = march_record.stream.project
    beyond = f"CN-{project.code}-E-{march_record.vintage}-000000005001-000000005002"
    events_before = LedgerEvent.objects.count()

    response = api(issuer).post(
        "/api/v1/issuances/",
        {"mechanism": "GEC", "serial_range": beyond, "account": owner_account.number},
        format="json",
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.data["code"] == "validation_error"
    assert "serial_range" in response.data["errors"]
    assert LedgerEvent.objects.count() == events_before


def test_ccer_derived_from_mwh_records_the_factor_and_blocks_a_later_gec(
    api, issuer, second_issuer, project_owner, march_record, owner_account
):
    start, end = month(2025, 3)
    declaration_sign(
        actor=project_owner,
        project=march_record.stream.project,
        unit_kind="E",
        period_start=start,
        period_end=end,
    )
    derived = api(second_issuer).post(
        "/api/v1/issuances/",
        {
            "mechanism": "CCER",
            "production_record": march_record.pk,
            "account": owner_account.number,
            "quantity": 500,
            "conversion_factor": "0.6565",
            "conversion_source": "CCER-14-001 grid factor",
        },
        format="json",
    )
    assert derived.status_code == 201, derived.content
    assert derived.data["unit_kind"] == "C"
    assert derived.data["conversion_factor"] == "0.656500"

    refused = api(issuer).post(
        "/api/v1/issuances/",
        {
            "mechanism": "GEC",
            "production_record": march_record.pk,
            "account": owner_account.number,
            "serial_range": f"CN-{march_record.stream.project.code}-E-"
            f"{march_record.vintage}-000000000001-000000000010",
        },
        format="json",
    )
    assert refused.status_code == 409
    assert refused.data["code"] == "double_claim"
    assert refused.data["details"]["existing_claim"]["mechanism"] == "CCER"


def test_administrator_revokes_an_issuance_with_a_reason_and_the_issuer_cannot(
    api, administrator, issuer, march_record, owner_account
):
    issued = api(issuer).post(
        "/api/v1/issuances/",
        {
            "mechanism": "GEC",
            "production_record": march_record.pk,
            "account": owner_account.number,
            "quantity": 10,
        },
        format="json",
    )
    claim_id = issued.data["id"]

    by_issuer = api(issuer).post(f"/api/v1/issuances/{claim_id}/revoke/", {"reason": "x"})
    without_reason = api(administrator).post(f"/api/v1/issuances/{claim_id}/revoke/", {})
    revoked = api(administrator).post(
        f"/api/v1/issuances/{claim_id}/revoke/", {"reason": "metering error"}, format="json"
    )

    assert by_issuer.status_code == 403
    assert by_issuer.data["code"] == "permission_denied"
    assert without_reason.status_code == 400
    assert revoked.status_code == 200
    assert revoked.data["status"] == UnitClaim.Status.REVOKED
    assert revoked.data["revocation_reason"] == "metering error"


def test_password_guessing_on_the_token_endpoint_is_rate_limited(api, issuer, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "login": "3/minute",
        },
    }
    anonymous = api(None)
    answers = [
        anonymous.post("/api/v1/auth/token/", {"username": "issuer", "password": f"guess-{n}"})
        for n in range(4)
    ]
    other_user = anonymous.post("/api/v1/auth/token/", {"username": "other", "password": "x"})

    assert [answer.status_code for answer in answers] == [400, 400, 400, 429]
    assert answers[3].data["code"] == "rate_limited"
    assert "Retry-After" in answers[3]
    assert other_user.status_code == 400
