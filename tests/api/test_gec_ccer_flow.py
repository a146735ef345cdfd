"""R7 end to end through the API: a wind farm's GECs are frozen when it registers for CCER,
cancelled when the CCER is issued on their MWh, and the cancellation is public."""

from __future__ import annotations

import pytest

from registry.models import LedgerEvent
from registry.serials import Serial

pytestmark = pytest.mark.django_db

MARCH_START = "2025-03-01T00:00:00+08:00"
MARCH_END = "2025-04-01T00:00:00+08:00"


def test_gec_frozen_by_ccer_registration_then_cancelled_by_ccer_issuance_publicly(
    api,
    issuer,
    second_issuer,
    project_owner,
    buyer,
    auditor,
    wind_farm,
    march_record,
    owner_account,
    buyer_account,
):
    issuer_api, carbon_api, owner_api = api(issuer), api(second_issuer), api(project_owner)

    gec = issuer_api.post(
        "/api/v1/issuances/",
        {
            "mechanism": "GEC",
            "production_record": march_record.pk,
            "account": owner_account.number,
            "quantity": 1000,
        },
        format="json",
    )
    assert gec.status_code == 201, gec.content
    sold = owner_api.post(
        "/api/v1/transfers/",
        {
            "source_account": owner_account.number,
            "target_account": buyer_account.number,
            "mechanism": "GEC",
            "serial_range": f"CN-{wind_farm.code}-E-202503-000000000901-000000001000",
        },
        format="json",
    )
    assert sold.status_code == 201, sold.content

    # The CCER registry registers the wind farm: the 900 GECs never traded are frozen.
    registration = carbon_api.post(
        "/api/v1/registrations/",
        {
            "project": wind_farm.code,
            "mechanism": "CCER",
            "reference": "CCER-2025-0042",
            "crediting_start": "2025-01-01T00:00:00+08:00",
        },
        format="json",
    )
    assert registration.status_code == 201, registration.content
    blocks = owner_api.get("/api/v1/blocks/", {"mechanism": "GEC"}).json()["results"]
    assert {(block["status"], block["quantity"]) for block in blocks} == {("frozen", 900)}

    # Frozen GECs cannot be sold; no new GEC is issued while the registration stands.
    resale = owner_api.post(
        "/api/v1/transfers/",
        {
            "source_account": owner_account.number,
            "target_account": buyer_account.number,
            "mechanism": "GEC",
            "quantity": 1,
        },
        format="json",
    )
    assert resale.status_code == 409
    assert resale.json()["code"] == "insufficient_units"  # frozen units are not available
    april = issuer_api.post(
        "/api/v1/production-records/",
        {
            "project": wind_farm.code,
            "unit_kind": "E",
            "period_start": "2025-04-01T00:00:00+08:00",
            "period_end": "2025-05-01T00:00:00+08:00",
            "quantity": "800",
        },
        format="json",
    )
    assert april.status_code == 201, april.content
    more_gec = issuer_api.post(
        "/api/v1/issuances/",
        {
            "mechanism": "GEC",
            "production_record": april.json()["id"],
            "account": owner_account.number,
            "quantity": 10,
        },
        format="json",
    )
    assert more_gec.status_code == 409
    assert more_gec.json()["code"] == "rule_violation"
    assert more_gec.json()["details"]["rule"] == "R7"

    # CCER on the 100 traded MWh fails naming R7; on the 900 frozen ones it cancels them.
    declared = owner_api.post(
        "/api/v1/declarations/",
        {
            "project": wind_farm.code,
            "unit_kind": "E",
            "period_start": MARCH_START,
            "period_end": MARCH_END,
        },
        format="json",
    )
    assert declared.status_code == 201, declared.content
    on_traded = carbon_api.post(
        "/api/v1/issuances/",
        {
            "mechanism": "CCER",
            "serial_range": f"CN-{wind_farm.code}-E-202503-000000000851-000000000950",
            "account": owner_account.number,
            "conversion_factor": "0.6565",
        },
        format="json",
    )
    assert on_traded.status_code == 409
    assert on_traded.json()["details"]["rule"] == "R7"
    ccer = carbon_api.post(
        "/api/v1/issuances/",
        {
            "mechanism": "CCER",
            "production_record": march_record.pk,
            "account": owner_account.number,
            "quantity": 900,
            "conversion_factor": "0.6565",
        },
        format="json",
    )
    assert ccer.status_code == 201, ccer.content
    assert ccer.json()["quantity"] == 590  # 900 MWh x 0.6565 t/MWh, rounded down

    blocks = owner_api.get("/api/v1/blocks/", {"mechanism": "GEC"}).json()["results"]
    assert {(block["status"], block["quantity"]) for block in blocks} == {("cancelled", 900)}
    buyer_blocks = api(buyer).get("/api/v1/blocks/", {"mechanism": "GEC"}).json()["results"]
    assert {(block["status"], block["quantity"]) for block in buyer_blocks} == {("active", 100)}

    # The public sees, for one of those MWh, the CCER it became and the GEC cancelled for it.
    serial = str(Serial("CN", wind_farm.code, "E", 202503, 10))
    verified = api(None).get(f"/api/v1/verify/{serial}/")
    assert verified.status_code == 200
    body = verified.json()
    assert body["status"] == "derived"
    assert body["derived_into"]["mechanism"] == "CCER"
    assert body["derived_into"]["id"] == ccer.json()["id"]
    [cancelled] = body["cancellations"]
    assert cancelled["mechanism"] == "GEC"
    assert "CCER-2025-0042" in cancelled["reason"]
    # ... and a traded MWh still shows its GEC, active in the buyer's account.
    traded = api(None).get(f"/api/v1/verify/{Serial('CN', wind_farm.code, 'E', 202503, 950)}/")
    assert traded.json()["claim"]["mechanism"] == "GEC"
    assert traded.json()["status"] == "active"

    # The ledger has the registration (with the freeze), the refusals and the R7 cancellation.
    ledger = api(auditor).get("/api/v1/ledger/", {"page_size": 1000}).json()["results"]
    kinds = [event["kind"] for event in ledger]
    assert LedgerEvent.Kind.PROJECT_MECHANISM_REGISTERED in kinds
    cancellations = [
        event
        for event in ledger
        if event["kind"] == "units.cancelled" and event["payload"].get("rule") == "R7"
    ]
    assert len(cancellations) == 1
    assert cancellations[0]["payload"]["quantity"] == 900
    refused_rules = {
        event["payload"]["details"].get("rule")
        for event in ledger
        if event["kind"] == "attempt.refused"
    }
    assert refused_rules == {"R7"}
