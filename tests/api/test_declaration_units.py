"""R13 through the API: the signed text verifies against its hash, and auditors list the units
issued under each declaration."""

from __future__ import annotations

import hashlib

import pytest

pytestmark = pytest.mark.django_db


def test_auditor_lists_the_units_issued_under_a_declaration_and_verifies_its_hash(
    api, issuer, project_owner, auditor, buyer, wind_farm, march_record, owner_account
):
    declared = api(project_owner).post(
        "/api/v1/declarations/",
        {
            "project": wind_farm.code,
            "unit_kind": "E",
            "period_start": "2025-03-01T00:00:00+08:00",
            "period_end": "2025-04-01T00:00:00+08:00",
            "other_registrations": [{"registry": "I-REC", "identifier": "DEVICE-CN-0042"}],
        },
        format="json",
    )
    assert declared.status_code == 201, declared.content
    declaration = declared.json()
    assert hashlib.sha256(declaration["text"].encode()).hexdigest() == declaration["text_sha256"]
    assert "DEVICE-CN-0042" in declaration["text"]

    issued = []
    for quantity in (100, 50):
        response = api(issuer).post(
            "/api/v1/issuances/",
            {
                "mechanism": "TIGR",
                "production_record": march_record.pk,
                "account": owner_account.number,
                "quantity": quantity,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        assert response.json()["declaration"] == declaration["id"]
        issued.append(response.json())
    # GEC needs no declaration: it is not listed under it.
    gec = api(issuer).post(
        "/api/v1/issuances/",
        {
            "mechanism": "GEC",
            "production_record": march_record.pk,
            "account": owner_account.number,
            "quantity": 10,
        },
        format="json",
    )
    assert gec.status_code == 201

    units = api(auditor).get(f"/api/v1/declarations/{declaration['id']}/units/")
    assert units.status_code == 200
    listed = {(row["id"], row["serial_range"], row["quantity"]) for row in units.json()["results"]}
    assert listed == {(row["id"], row["serial_range"], row["quantity"]) for row in issued}
    # Someone who may not see the declaration gets 404, not its units.
    assert api(buyer).get(f"/api/v1/declarations/{declaration['id']}/units/").status_code == 404
    # Issuances can be filtered by declaration too.
    filtered = api(auditor).get("/api/v1/issuances/", {"declaration": declaration["id"]})
    assert {row["id"] for row in filtered.json()["results"]} == {row["id"] for row in issued}
