"""The compliance API: who may see and do what (401 anonymous, 403 refused persona, 404
invisible entity), and R10 refusals as problem+json."""

from __future__ import annotations

import pytest

from compliance.models import CoveredEntity, Surrender


def surrender_body(entity, allowances, ccer=0):
    return {
        "entity": entity.pk,
        "compliance_year": 2024,
        "allowance_quantity": allowances,
        "ccer_quantity": ccer,
    }


def test_the_entity_surrenders_through_the_api(api, steel_user, obliged):
    response = api(steel_user).post("/api/v1/surrenders/", surrender_body(obliged, 950, 50))

    assert response.status_code == 201, response.data
    assert response.data["allowance_quantity"] == 950 and response.data["ccer_quantity"] == 50
    assert response.data["obligation"] == 1000 and response.data["ccer_limit_percent"] == "5.00"
    assert response.data["allowance_retirement"] and response.data["ccer_retirement"]
    listed = api(steel_user).get("/api/v1/surrenders/").data["results"]
    assert [row["id"] for row in listed] == [response.data["id"]]


def test_ccer_above_the_limit_is_a_409_rule_violation_naming_r10(api, steel_user, obliged):
    response = api(steel_user).post("/api/v1/surrenders/", surrender_body(obliged, 949, 51))

    assert response.status_code == 409
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.data["code"] == "rule_violation"
    assert response.data["details"]["rule"] == "R10"
    assert response.data["details"]["facts"]["ccer_allowed"] == 50
    assert not Surrender.objects.exists()


def test_anonymous_callers_get_401(api, obliged):
    assert api(None).get("/api/v1/surrenders/").status_code == 401
    assert api(None).post("/api/v1/surrenders/", surrender_body(obliged, 10)).status_code == 401
    assert api(None).get("/api/v1/compliance-schemes/").status_code == 401


def test_an_auditor_sees_the_entity_but_may_not_surrender_for_it(api, auditor, obliged):
    response = api(auditor).post("/api/v1/surrenders/", surrender_body(obliged, 10))

    assert response.status_code == 403
    assert response.data["code"] == "permission_denied"
    assert api(auditor).get(f"/api/v1/covered-entities/{obliged.pk}/").status_code == 200


@pytest.mark.parametrize("persona", ["buyer", "outsider"])
def test_another_organisation_may_not_surrender_and_does_not_see_the_entity(
    request, api, steel_user, obliged, persona
):
    stranger = request.getfixturevalue(persona)
    done = api(steel_user).post("/api/v1/surrenders/", surrender_body(obliged, 10)).data
    client = api(stranger)

    refused = client.post("/api/v1/surrenders/", surrender_body(obliged, 10))
    assert refused.status_code == 403, refused.content  # as a transfer from another's account
    assert client.get(f"/api/v1/surrenders/{done['id']}/").status_code == 404
    assert client.get("/api/v1/surrenders/").data["results"] == []
    assert client.get(f"/api/v1/covered-entities/{obliged.pk}/").status_code == 404
    position = client.get(f"/api/v1/covered-entities/{obliged.pk}/position/?compliance_year=2024")
    assert position.status_code == 404
    assert Surrender.objects.count() == 1


def test_schemes_are_reference_data_for_every_authenticated_caller(api, outsider, national):
    response = api(outsider).get("/api/v1/compliance-schemes/cn-ets/")

    assert response.status_code == 200
    assert response.data["ccer_limit_percent"] == "5.00"
    assert response.data["old_ccer_issued_before"] == "2017-03-14"
    assert response.data["old_ccer_unusable_from"] == "2025-01-01"


def test_administrators_register_entities_record_emissions_and_allocate(
    api, administrator, national, steel_maker
):
    client = api(administrator)
    entity = client.post(
        "/api/v1/covered-entities/", {"scheme": "cn-ets", "organisation": "steel-co"}
    )
    assert entity.status_code == 201, entity.data
    assert entity.data["account"] == CoveredEntity.objects.get().account.number

    figure = client.post(
        "/api/v1/verified-emissions/",
        {"entity": entity.data["id"], "compliance_year": 2023, "quantity": 1000},
    )
    assert figure.status_code == 201, figure.data

    allocation = client.post(
        "/api/v1/allowance-allocations/",
        {"entity": entity.data["id"], "compliance_year": 2024, "kind": "pre_allocation"},
    )
    assert allocation.status_code == 201, allocation.data
    assert allocation.data["quantity"] == 700
    assert "-C-202401-" in allocation.data["serial_range"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/covered-entities/", {"scheme": "cn-ets", "organisation": "steel-co"}),
        ("/api/v1/verified-emissions/", {"compliance_year": 2024, "quantity": 5}),
        (
            "/api/v1/allowance-allocations/",
            {"compliance_year": 2024, "kind": "pre_allocation", "quantity": 5},
        ),
    ],
)
def test_only_administrators_write_the_obligation_side(
    api, steel_user, auditor, entity, path, body
):
    body = {"entity": entity.pk, **body}
    for persona in (steel_user, auditor):
        response = api(persona).post(path, body)
        assert response.status_code == 403, (persona, response.data)


def test_the_entity_reads_its_position(api, steel_user, obliged):
    api(steel_user).post("/api/v1/surrenders/", surrender_body(obliged, 300, 20))

    response = api(steel_user).get(
        f"/api/v1/covered-entities/{obliged.pk}/position/", {"compliance_year": 2024}
    )

    assert response.status_code == 200
    assert response.data["remaining"] == 680 and response.data["ccer_headroom"] == 30
    missing_year = api(steel_user).get(f"/api/v1/covered-entities/{obliged.pk}/position/")
    assert missing_year.status_code == 400


def test_bad_surrender_input_is_a_400_not_a_500(api, steel_user, obliged):
    client = api(steel_user)
    for body in (
        {"entity": 10**9, "compliance_year": 2024, "allowance_quantity": 1},
        {"entity": obliged.pk, "compliance_year": 1999, "allowance_quantity": 1},
        {"entity": obliged.pk, "compliance_year": 2024, "allowance_quantity": -1},
        {"entity": obliged.pk, "compliance_year": 2024},
        {"entity": "x", "compliance_year": 2024, "allowance_quantity": 1},
        {
            "entity": obliged.pk,
            "compliance_year": 2024,
            "ccer_quantity": 5,
            "ccer_serial_range": "CN-PABCDE-C-202406-000000000001-000000000005",
        },
    ):
        assert client.post("/api/v1/surrenders/", body).status_code == 400, body
