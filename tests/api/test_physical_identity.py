"""Registering the demo wind farm again through the API, by another owner: refused with 409
``duplicate_asset`` naming the demo project for the same national code, meter or GEC identifier;
a likely twin (similar name, 300 m away) waits for an administrator's reasoned approval."""

from __future__ import annotations

import pytest

from accounts.models import Organisation, User
from registry.models import LedgerEvent, Project
from tests.factories import OrganisationFactory, UserFactory

PROBLEM = "application/problem+json"
PROJECTS = "/api/v1/projects/"
# The demo wind farm as seed_demo registers it.
DEMO_WIND = {
    "owner": "windco",
    "name": "Bayannur wind farm",
    "province": "CN-NM",
    "technology": "wind",
    "capacity_mw": "200",
    "commissioning_date": "2021-12-01",
    "grid_region": "North China",
    "national_code": "150821W2021120001",
    "latitude": "40.752300",
    "longitude": "107.387600",
    "meters": [{"meter_id": "NM-BYN-M0001", "valid_from": "2021-12-01"}],
    "identifiers": {"GEC": "GEC-NM-0001"},
}
# The same plant as another owner would file it, without any identifier yet.
SECOND_FILING = {
    "name": "Bayannur Wind Farm",
    "province": "CN-NM",
    "technology": "wind",
    "capacity_mw": "200",
    "commissioning_date": "2021-12-01",
}


@pytest.fixture
def demo_wind(api, administrator, project_owner):
    response = api(administrator).post(PROJECTS, DEMO_WIND, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def other_owner(db):
    company = OrganisationFactory(
        code="otherwind", name="Other Wind Co", kind=Organisation.Kind.PROJECT_OWNER
    )
    return UserFactory(username="other-owner", organisation=company, role=User.Role.PROJECT_OWNER)


def assert_duplicate_asset(response, demo_wind, field: str, value: str) -> dict:
    assert response.status_code == 409, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == "duplicate_asset"
    assert body["field"] == field
    assert body["details"]["holder"] == {
        "project": demo_wind["code"],
        "name": "Bayannur wind farm",
        "status": "approved",
        "owner": {"code": "windco", "name": "Wind Co"},
    }
    assert body["details"]["identifier"]["field"] == field
    assert body["details"]["identifier"]["value"] == value
    assert demo_wind["code"] in body["detail"]
    return body


def test_the_demo_wind_farm_shows_its_identity(demo_wind):
    assert demo_wind["national_code"] == "150821W2021120001"
    assert demo_wind["meters"] == [
        {"meter_id": "NM-BYN-M0001", "valid_from": "2021-12-01", "valid_to": None}
    ]
    assert demo_wind["identifiers"] == {"GEC": "GEC-NM-0001"}
    assert (demo_wind["latitude"], demo_wind["longitude"]) == ("40.752300", "107.387600")
    assert demo_wind["possible_duplicates"] == []
    assert demo_wind["status"] == "approved"


@pytest.mark.parametrize(
    ("identity", "field", "value"),
    [
        ({"national_code": "150821w2021120001"}, "national_code", "150821W2021120001"),
        (
            {"meters": [{"meter_id": "NM-BYN-M0001", "valid_from": "2025-01-01"}]},
            "meters",
            "NM-BYN-M0001",
        ),
        ({"identifiers": {"GEC": "GEC-NM-0001"}}, "identifiers", "GEC:GEC-NM-0001"),
        # The former name of the field still works.
        ({"external_ids": {"GEC": "GEC-NM-0001"}}, "identifiers", "GEC:GEC-NM-0001"),
    ],
)
def test_registering_the_demo_wind_farm_again_is_refused_naming_it(
    api, demo_wind, other_owner, identity, field, value
):
    projects = Project.objects.count()

    response = api(other_owner).post(PROJECTS, {**SECOND_FILING, **identity}, format="json")

    assert_duplicate_asset(response, demo_wind, field, value)
    assert Project.objects.count() == projects
    refusal = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).get()
    assert refusal.actor == other_owner
    assert refusal.payload["code"] == "duplicate_asset"
    assert refusal.payload["details"]["holder"]["project"] == demo_wind["code"]


def test_a_similar_name_300_m_away_waits_for_an_administrators_reason(
    api, administrator, demo_wind, other_owner
):
    response = api(other_owner).post(
        PROJECTS,
        {**SECOND_FILING, "latitude": "40.755000", "longitude": "107.387600"},
        format="json",
    )
    assert response.status_code == 201, response.content
    twin = response.json()
    assert twin["status"] == "pending"
    [candidate] = twin["possible_duplicates"]
    assert candidate["project"] == demo_wind["code"]
    assert candidate["owner"]["code"] == "windco"
    assert 0.28 < float(candidate["distance_km"]) < 0.32
    listed = api(administrator).get(PROJECTS, {"status": "pending"}).json()["results"]
    assert [item["possible_duplicates"][0]["project"] for item in listed] == [demo_wind["code"]]

    approve = f"{PROJECTS}{twin['code']}/approve/"
    refused = api(administrator).post(approve, {}, format="json")
    assert refused.status_code == 400
    assert refused.json()["reason"] == "duplicate_reason_required"
    assert list(refused.json()["errors"]) == ["reason"]

    reason = "distinct asset: the western extension, separate grid connection"
    approved = api(administrator).post(approve, {"reason": reason}, format="json")

    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved"
    event = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.PROJECT_STATUS).last()
    assert event.payload["reason"] == reason
    assert event.payload["possible_duplicates"][0]["project"] == demo_wind["code"]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"latitude": "95", "longitude": "100"}, "latitude"),
        ({"latitude": "40"}, "longitude"),
        ({"national_code": "X" * 33}, "national_code"),
        ({"capacity_mw": None}, "capacity_mw"),
        ({"commissioning_date": None}, "commissioning_date"),
        (
            {"meters": [{"meter_id": "M", "valid_from": "2024-02-01", "valid_to": "2024-01-01"}]},
            "meters",
        ),
        ({"identifiers": {"GEC": "A"}, "external_ids": {"GEC": "B"}}, "identifiers"),
    ],
)
def test_bad_identity_fields_are_4xx_naming_the_field_and_nothing_is_written(
    api, other_owner, override, field
):
    events = LedgerEvent.objects.count()

    response = api(other_owner).post(PROJECTS, {**SECOND_FILING, **override}, format="json")

    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [field]
    assert not Project.objects.exists()
    assert LedgerEvent.objects.count() == events


def test_an_administrator_transfers_the_ownership_with_a_reason(
    api, administrator, demo_wind, other_owner
):
    path = f"{PROJECTS}{demo_wind['code']}/transfer-ownership/"
    without_reason = api(administrator).post(path, {"owner": "otherwind"}, format="json")
    assert without_reason.status_code == 400

    response = api(administrator).post(
        path, {"owner": "otherwind", "reason": "sold on 1 May 2025"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["owner"] == "otherwind"
    assert response.json()["code"] == demo_wind["code"]
    assert response.json()["streams"] == demo_wind["streams"]
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.PROJECT_OWNERSHIP_TRANSFERRED)
    assert (event.payload["from"]["code"], event.payload["to"]["code"]) == ("windco", "otherwind")


def test_the_seeded_demo_wind_farm_cannot_be_registered_again(api, db, other_owner):
    from django.core.management import call_command

    from issuance.management.commands.seed_demo import DEMO_WIND_NATIONAL_CODE

    call_command("seed_demo")
    demo = Project.objects.get(national_code=DEMO_WIND_NATIONAL_CODE)

    for identity in (
        {"national_code": DEMO_WIND_NATIONAL_CODE},
        {"meters": [{"meter_id": "NM-BYN-M0001"}]},
        {"identifiers": {"GEC": "GEC-NM-0001"}},
    ):
        response = api(other_owner).post(PROJECTS, {**SECOND_FILING, **identity}, format="json")
        assert response.status_code == 409, response.content
        assert response.json()["details"]["holder"]["project"] == demo.code
