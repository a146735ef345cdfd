"""A retirement's claim period lies within 2000-2100 and fits the units' production (rule R16:
it overlaps the vintage's calendar year widened by REGISTRY_CLAIM_WINDOW_MONTHS on each side);
its location is a real ISO 3166-2 subdivision."""

from __future__ import annotations

import datetime as dt

import pytest

from registry.errors import DomainError, RuleViolation
from registry.models import LedgerEvent
from tests.conftest import RETIREMENT_DEFAULTS
from tracking.models import Retirement
from tracking.services import block_retire


def retire(actor, account, **override):
    return block_retire(
        actor=actor,
        account=account,
        mechanism="GEC",
        quantity=10,
        **{**RETIREMENT_DEFAULTS, **override},
    )


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (dt.date(136, 1, 1), dt.date(136, 12, 31), "claim_period_start"),
        (dt.date(2099, 1, 1), dt.date(2101, 1, 1), "claim_period_end"),
        (dt.date(1925, 1, 1), dt.date(2025, 12, 31), "claim_period_start"),
    ],
)
def test_a_claim_period_outside_2000_to_2100_is_refused_naming_the_field(
    project_owner, gec_claim, owner_account, start, end, field
):
    with pytest.raises(DomainError) as refusal:
        retire(project_owner, owner_account, claim_period_start=start, claim_period_end=end)
    assert (refusal.value.code, refusal.value.field, refusal.value.http_status) == (
        "claim_period_out_of_range",
        field,
        400,
    )
    assert not Retirement.objects.exists()


def test_2025_gecs_retired_for_a_2019_claim_period_are_refused_by_r16(
    project_owner, gec_claim, owner_account, wind_farm
):
    with pytest.raises(RuleViolation) as refusal:
        retire(
            project_owner,
            owner_account,
            claim_period_start=dt.date(2019, 1, 1),
            claim_period_end=dt.date(2019, 12, 31),
            reporting_year=2019,
        )
    details = refusal.value.details
    assert (refusal.value.code, details["rule"]) == ("rule_violation", "R16")
    assert details["facts"]["window"] == ["2024-10-01", "2026-03-31"]
    assert details["facts"]["serials"] == f"CN-{wind_farm.code}-E-202503-000000000001-000000000010"
    assert not Retirement.objects.exists()
    (attempt,) = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED)
    assert attempt.payload["details"]["rule"] == "R16"


@pytest.mark.parametrize(
    ("start", "end", "accepted"),
    [
        (dt.date(2024, 10, 1), dt.date(2024, 10, 31), True),  # first month of the window
        (dt.date(2024, 9, 1), dt.date(2024, 9, 30), False),
        (dt.date(2026, 3, 1), dt.date(2026, 3, 31), True),  # last month of the window
        (dt.date(2026, 4, 1), dt.date(2026, 4, 30), False),
        (dt.date(2020, 1, 1), dt.date(2030, 12, 31), True),  # overlapping is enough
    ],
)
def test_the_claim_period_must_overlap_the_production_year_widened_by_three_months(
    project_owner, gec_claim, owner_account, start, end, accepted
):
    arguments = {"claim_period_start": start, "claim_period_end": end, "reporting_year": 2025}
    if accepted:
        assert retire(project_owner, owner_account, **arguments).quantity == 10
    else:
        with pytest.raises(RuleViolation):
            retire(project_owner, owner_account, **arguments)


def test_the_window_is_configurable_and_r16_can_be_switched_off(
    settings, project_owner, gec_claim, owner_account
):
    december_2024 = {
        "claim_period_start": dt.date(2024, 12, 1),
        "claim_period_end": dt.date(2024, 12, 31),
    }
    settings.REGISTRY_CLAIM_WINDOW_MONTHS = 0
    with pytest.raises(RuleViolation):
        retire(project_owner, owner_account, **december_2024)
    settings.REGISTRY_DISABLED_RULES = ["R16"]
    assert retire(project_owner, owner_account, **december_2024).quantity == 10


@pytest.mark.parametrize("location", ["XX-YY", "CN-XX", "CN-1", "DE-ZZZ", ""])
def test_a_location_that_is_no_iso_3166_2_subdivision_is_refused(
    project_owner, gec_claim, owner_account, location
):
    with pytest.raises(DomainError) as refusal:
        retire(project_owner, owner_account, location=location)
    assert refusal.value.field == "location"
    assert not Retirement.objects.exists()


@pytest.mark.parametrize("location", ["CN-BJ", "cn-sh", "DE-BE", "FR-75C", "GB-ENG"])
def test_real_subdivisions_of_any_country_are_accepted(
    project_owner, gec_claim, owner_account, location
):
    assert retire(project_owner, owner_account, location=location).location == location.upper()


@pytest.mark.parametrize(
    ("override", "status", "code", "field"),
    [
        (
            {"claim_period_start": "0136-01-01"},
            400,
            "claim_period_out_of_range",
            "claim_period_start",
        ),
        ({"location": "XX-YY"}, 400, "invalid_input", "location"),
    ],
)
def test_the_api_refuses_bad_claim_periods_and_locations_naming_the_field(
    api, project_owner, gec_claim, owner_account, override, status, code, field
):
    body = {
        "mechanism": "GEC",
        "account": owner_account.number,
        "quantity": 10,
        **{key: str(value) for key, value in RETIREMENT_DEFAULTS.items()},
        "reporting_year": 2025,
        **override,
    }
    response = api(project_owner).post("/api/v1/retirements/", body)
    assert response.status_code == status, response.content
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert problem["errors"][field][0]["code"] == code
    assert not Retirement.objects.exists()


def test_the_api_refuses_2025_gecs_for_a_2019_claim_period_with_r16(
    api, project_owner, gec_claim, owner_account
):
    body = {
        "mechanism": "GEC",
        "account": owner_account.number,
        "quantity": 10,
        **{key: str(value) for key, value in RETIREMENT_DEFAULTS.items()},
        "reporting_year": 2019,
        "claim_period_start": "2019-01-01",
        "claim_period_end": "2019-12-31",
    }
    response = api(project_owner).post("/api/v1/retirements/", body)
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "rule_violation"
    assert response.json()["details"]["rule"] == "R16"
    assert not Retirement.objects.exists()
