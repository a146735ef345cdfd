"""The acceptance scenario, entirely through the HTTP API with real tokens.

A project owner registers a wind farm, an administrator approves it, the owner signs the
declaration, an issuing body records March 2025 and issues GECs, the owner sells part to a buyer
who retires it; a second issuing body's CCER on the same MWh is refused naming the GEC claim; the
public can verify a serial and read the retirement; an auditor reads the ledger.
"""

from __future__ import annotations

import hashlib

import pytest

from registry.models import LedgerEvent, Project
from registry.serials import Serial

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
MARCH_START = "2025-03-01T00:00:00+08:00"
MARCH_END = "2025-04-01T00:00:00+08:00"


def balance(api, user, number: str, mechanism: str) -> dict:
    response = api(user).get(f"/api/v1/accounts/{number}/")
    assert response.status_code == 200, response.content
    rows = [row for row in response.json()["balances"] if row["mechanism"] == mechanism]
    return rows[0] if rows else {"active": 0, "retired": 0}


def test_wind_farm_to_retirement_with_a_refused_second_claim_and_public_verification(
    api,
    administrator,
    issuer,
    second_issuer,
    project_owner,
    buyer,
    auditor,
    owner_account,
    buyer_account,
):
    owner_api = api(project_owner)
    issuer_api = api(issuer)
    buyer_api = api(buyer)

    # 1. The owner registers a wind farm: pending, owned by the caller's organisation.
    registered = owner_api.post(
        "/api/v1/projects/",
        {
            "name": "Bayan wind farm",
            "province": "CN-NM",
            "technology": "wind",
            "capacity_mw": "100",
            "commissioning_date": "2020-06-01",
            "grid_region": "North",
        },
        format="json",
    )
    assert registered.status_code == 201, registered.content
    project = registered.json()
    code = project["code"]
    assert project["status"] == Project.Status.PENDING
    assert project["owner"] == "windco"
    assert "E" in project["streams"]

    # The owner may not approve its own project.
    refused = owner_api.post(f"/api/v1/projects/{code}/approve/", {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"

    # 2. The administrator approves it.
    approved = api(administrator).post(
        f"/api/v1/projects/{code}/approve/", {"reason": "documents checked"}, format="json"
    )
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == Project.Status.APPROVED

    # 3. The owner signs the declaration of no double counting; the exact text comes back.
    signed = owner_api.post(
        "/api/v1/declarations/",
        {
            "project": code,
            "unit_kind": "E",
            "period_start": MARCH_START,
            "period_end": MARCH_END,
            "other_registrations": [],
        },
        format="json",
    )
    assert signed.status_code == 201, signed.content
    declaration = signed.json()
    assert declaration["signer"] == "owner"
    assert code in declaration["text"]
    assert declaration["text_sha256"] == hashlib.sha256(declaration["text"].encode()).hexdigest()
    # The same row, read back, carries the same text and hash.
    read_back = owner_api.get(f"/api/v1/declarations/{declaration['id']}/").json()
    assert (read_back["text"], read_back["text_sha256"]) == (
        declaration["text"],
        declaration["text_sha256"],
    )

    # 4. The issuing body records March 2025 (1,000.4 MWh: 1,000 units, 0.4 carried).
    recorded = issuer_api.post(
        "/api/v1/production-records/",
        {
            "project": code,
            "unit_kind": "E",
            "period_start": MARCH_START,
            "period_end": MARCH_END,
            "quantity": "1000.4",
        },
        format="json",
    )
    assert recorded.status_code == 201, recorded.content
    record = recorded.json()
    assert record["units"] == 1000
    assert record["vintage"] == 202503
    assert record["serial_range"] == f"CN-{code}-E-202503-000000000001-000000001000"

    # 5. ... and issues 1,000 GECs into the owner's account.
    issued = issuer_api.post(
        "/api/v1/issuances/",
        {
            "mechanism": "GEC",
            "production_record": record["id"],
            "account": owner_account.number,
            "quantity": 1000,
        },
        format="json",
    )
    assert issued.status_code == 201, issued.content
    gec = issued.json()
    assert gec["mechanism"] == "GEC"
    assert gec["quantity"] == 1000
    assert gec["account"] == "CN-00000001"
    assert gec["serial_range"] == record["serial_range"]
    assert balance(api, project_owner, "CN-00000001", "GEC")["active"] == 1000

    # 6. The owner sells 300 to the buyer (serial order: units 1..300).
    transferred = owner_api.post(
        "/api/v1/transfers/",
        {
            "mechanism": "GEC",
            "source_account": "CN-00000001",
            "target_account": "CN-00000002",
            "quantity": 300,
        },
        format="json",
    )
    assert transferred.status_code == 201, transferred.content
    transfer = transferred.json()
    assert transfer["quantity"] == 300
    assert transfer["actor"] == "owner"
    assert balance(api, project_owner, "CN-00000001", "GEC")["active"] == 700
    assert balance(api, buyer, "CN-00000002", "GEC")["active"] == 300

    # 7. The buyer retires 200 of them for its scope 2 electricity.
    retired = buyer_api.post(
        "/api/v1/retirements/",
        {
            "mechanism": "GEC",
            "account": "CN-00000002",
            "quantity": 200,
            "beneficiary_name": "Hebei Green Steel Co.",
            "beneficiary_organisation": "Buyer Co",
            "purpose": "scope2_electricity",
            "claim_period_start": "2025-03-01",
            "claim_period_end": "2025-03-31",
            "location": "CN-HE",
            "reporting_year": 2025,
        },
        format="json",
    )
    assert retired.status_code == 201, retired.content
    retirement = retired.json()
    assert retirement["quantity"] == 200
    assert retirement["location"] == "CN-HE"
    assert retirement["serial_ranges"] == [f"CN-{code}-E-202503-000000000001-000000000200"]
    buyer_balance = balance(api, buyer, "CN-00000002", "GEC")
    assert (buyer_balance["active"], buyer_balance["retired"]) == (100, 200)
    assert balance(api, project_owner, "CN-00000001", "GEC")["active"] == 700
    # The seller does not see the buyer's account at all.
    assert owner_api.get("/api/v1/accounts/CN-00000002/").status_code == 404

    # 8. A second issuing body offers the same MWh as CCER: refused, naming the GEC claim.
    events_before = LedgerEvent.objects.count()
    ccer = api(second_issuer).post(
        "/api/v1/issuances/",
        {
            "mechanism": "CCER",
            "production_record": record["id"],
            "account": "CN-00000001",
            "serial_range": f"CN-{code}-E-202503-000000000101-000000000600",
            "conversion_factor": "0.6565",
            "conversion_source": "North China grid combined margin 2025",
        },
        format="json",
    )
    assert ccer.status_code == 409, ccer.content
    assert ccer["Content-Type"] == PROBLEM
    problem = ccer.json()
    assert problem["code"] == "double_claim"
    assert problem["status"] == 409
    existing = problem["details"]["existing_claim"]
    assert existing["mechanism"] == "GEC"
    assert existing["id"] == gec["id"]
    assert existing["holder_account"] == "CN-00000001"
    assert existing["holder_organisation"] == "windco"
    overlap = problem["details"]["overlap"]
    assert overlap["serials"] == f"CN-{code}-E-202503-000000000101-000000000600"
    assert (overlap["lower"], overlap["upper"]) == (101, 601)
    assert "GEC" in problem["detail"] and str(gec["id"]) in problem["detail"]
    # Nothing was issued; only the refused attempt was written to the ledger.
    assert LedgerEvent.objects.count() == events_before + 1
    assert LedgerEvent.objects.order_by("-id").first().kind == LedgerEvent.Kind.ATTEMPT_REFUSED
    assert api(administrator).get("/api/v1/issuances/?mechanism=CCER").json()["results"] == []

    # 9. Anyone can verify unit 1: issued -> transferred -> retired, with its beneficiary.
    serial = str(Serial("CN", code, "E", 202503, 1))
    public = api(None)
    verified = public.get(f"/api/v1/verify/{serial}/")
    assert verified.status_code == 200, verified.content
    unit = verified.json()
    assert unit["serial"] == serial
    assert unit["claimed"] is True
    assert unit["status"] == "retired"
    assert unit["claim"]["mechanism"] == "GEC"
    assert unit["claim"]["id"] == gec["id"]
    assert [entry["kind"] for entry in unit["custody"]] == [
        LedgerEvent.Kind.UNITS_ISSUED,
        LedgerEvent.Kind.UNITS_TRANSFERRED,
        LedgerEvent.Kind.UNITS_RETIRED,
    ]
    transfer_entry = unit["custody"][1]
    assert (transfer_entry["from"], transfer_entry["to"]) == ("CN-00000001", "CN-00000002")
    assert unit["retirement"]["id"] == retirement["id"]
    assert unit["retirement"]["beneficiary_name"] == "Hebei Green Steel Co."
    assert unit["retirement"]["purpose"] == "scope2_electricity"
    assert unit["retirement"]["location"] == "CN-HE"
    assert unit["retirement"]["reporting_year"] == 2025

    # A unit that stayed with the owner shows only its issuance.
    kept = public.get(f"/api/v1/verify/{Serial('CN', code, 'E', 202503, 900)}/").json()
    assert kept["status"] == "active"
    assert [entry["kind"] for entry in kept["custody"]] == [LedgerEvent.Kind.UNITS_ISSUED]
    assert kept["retirement"] is None

    # 10. The retirement's permanent public record, without a login.
    public_record = public.get(f"/api/v1/retirements/{retirement['id']}/")
    assert public_record.status_code == 200, public_record.content
    assert public_record.json() == retirement
    # The list of retirements is not public.
    assert public.get("/api/v1/retirements/").status_code == 401

    # 11. The auditor reads the ledger for that serial: the same three custody events.
    ledger = api(auditor).get("/api/v1/ledger/", {"serial": serial})
    assert ledger.status_code == 200, ledger.content
    kinds = [event["kind"] for event in ledger.json()["results"]]
    for kind in (
        LedgerEvent.Kind.UNITS_ISSUED,
        LedgerEvent.Kind.UNITS_TRANSFERRED,
        LedgerEvent.Kind.UNITS_RETIRED,
    ):
        assert kinds.count(kind) == 1, kinds
    # Newest first: the retirement before the transfer before the issuance.
    custody = [kind for kind in kinds if kind.startswith("units.")]
    assert custody == [
        LedgerEvent.Kind.UNITS_RETIRED,
        LedgerEvent.Kind.UNITS_TRANSFERRED,
        LedgerEvent.Kind.UNITS_ISSUED,
    ]
    retired_event = next(
        event
        for event in ledger.json()["results"]
        if event["kind"] == LedgerEvent.Kind.UNITS_RETIRED
    )
    assert retired_event["actor"] == "buyer"
    assert retired_event["payload"]["retirement"] == retirement["id"]
    # The auditor may read but not write.
    assert (
        api(auditor)
        .post(
            "/api/v1/transfers/",
            {
                "mechanism": "GEC",
                "source_account": "CN-00000001",
                "target_account": "CN-00000002",
                "quantity": 1,
            },
            format="json",
        )
        .status_code
        == 403
    )
