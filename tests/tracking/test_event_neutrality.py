"""R11, event neutrality: a retirement for an event names it; credits for it are retired at most
one year after it ends; no carbon credits are issued for a project built for it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import IntegrityError, transaction

from issuance import rules
from issuance.services import unit_claim_issue
from registry.errors import DomainError, Forbidden, NotFound, RuleViolation
from registry.models import LedgerEvent, Mechanism, UnitClaim
from registry.serials import Serial
from registry.services import declaration_sign, production_record_create, project_register
from tests.conftest import RETIREMENT_DEFAULTS, month
from tracking.models import Block, NeutralityEvent, Retirement
from tracking.selectors import unit_verify
from tracking.services import block_retire, neutrality_event_create

EVENT_RETIREMENT = {**RETIREMENT_DEFAULTS, "purpose": "event", "location": "CN-BJ"}


@pytest.fixture
def games_solar(administrator, project_owner):
    return project_register(
        actor=administrator,
        owner=project_owner.organisation,
        name="Games solar park",
        province="CN-BJ",
        technology="solar",
        capacity_mw=Decimal("20"),
        commissioning_date=dt.date(2024, 5, 1),
    )


@pytest.fixture
def games(administrator, project_owner, games_solar):
    """Games held 1-15 August 2024 in Beijing; the solar park was built for them."""
    return neutrality_event_create(
        actor=administrator,
        name="Beijing Summer Games",
        organiser=project_owner.organisation,
        start_date=dt.date(2024, 8, 1),
        end_date=dt.date(2024, 8, 15),
        location="CN-BJ",
        projects=[games_solar],
    )


@pytest.fixture
def today(monkeypatch):
    """Sets the registry's "today" for the R11 deadline."""

    def set_today(day: dt.date) -> None:
        monkeypatch.setattr(rules, "timezone", SimpleNamespace(localdate=lambda: day))

    return set_today


def sign(owner, project, unit_kind="E"):
    start, end = month(2025, 3)
    declaration_sign(
        actor=owner, project=project, unit_kind=unit_kind, period_start=start, period_end=end
    )


@pytest.fixture
def ccer_claim(second_issuer, project_owner, wind_farm, march_record, owner_account):
    sign(project_owner, wind_farm)
    return unit_claim_issue(
        actor=second_issuer,
        mechanism="CCER",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
        conversion_factor=Decimal("0.6565"),
    )


def retire_for(actor, account, event, quantity=10, mechanism="CCER", **override):
    return block_retire(
        actor=actor,
        account=account,
        mechanism=mechanism,
        quantity=quantity,
        **{**EVENT_RETIREMENT, "event": event, **override},
    )


# --- the event itself -------------------------------------------------------------------------


def test_an_administrator_records_an_event_with_the_projects_built_for_it(
    games, games_solar, administrator
):
    assert list(games.projects.all()) == [games_solar]
    assert games.location == "CN-BJ"
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.NEUTRALITY_EVENT_CREATED)
    assert f"event:{games.pk}" in event.subjects
    assert f"project:{games_solar.pk}" in event.subjects
    assert event.payload["projects_built_for_it"] == [games_solar.code]


def test_only_an_administrator_records_an_event(project_owner):
    with pytest.raises(Forbidden):
        neutrality_event_create(
            actor=project_owner,
            name="Own party",
            organiser=project_owner.organisation,
            start_date=dt.date(2025, 1, 1),
            end_date=dt.date(2025, 1, 2),
            location="CN-BJ",
        )
    assert not NeutralityEvent.objects.exists()


@pytest.mark.parametrize(
    ("override", "field", "error"),
    [
        ({"end_date": dt.date(2024, 7, 1)}, "end_date", DomainError),
        ({"location": "Beijing"}, "location", DomainError),
        ({"name": " "}, "name", DomainError),
        ({"organiser": "nobody"}, "organiser", NotFound),
        ({"projects": ["PZZZZZ"]}, "projects", NotFound),
    ],
)
def test_an_event_with_bad_input_is_refused(administrator, project_owner, override, field, error):
    fields = {
        "name": "Games",
        "organiser": project_owner.organisation,
        "start_date": dt.date(2024, 8, 1),
        "end_date": dt.date(2024, 8, 15),
        "location": "CN-BJ",
        **override,
    }
    with pytest.raises(error) as refusal:
        neutrality_event_create(actor=administrator, **fields)
    assert refusal.value.field == field
    assert not NeutralityEvent.objects.exists()


# --- retirements for an event ------------------------------------------------------------------


def test_credits_retired_for_an_event_within_a_year_after_it_are_allowed(
    today, project_owner, games, ccer_claim, owner_account
):
    today(dt.date(2025, 8, 15))  # the last day of the year after the games

    retirement = retire_for(project_owner, owner_account, games)

    assert retirement.event == games and retirement.purpose == "event"
    retired = LedgerEvent.objects.get(kind=LedgerEvent.Kind.UNITS_RETIRED)
    assert retired.payload["event"] == games.pk
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).exists()


def test_credits_retired_for_an_event_more_than_a_year_after_it_are_refused_by_r11(
    today, project_owner, games, ccer_claim, owner_account
):
    today(dt.date(2025, 8, 16))
    blocks_before = sorted(Block.objects.values_list("pk", "serials", "status"))
    events_before = LedgerEvent.objects.count()

    with pytest.raises(RuleViolation) as refusal:
        retire_for(project_owner, owner_account, games)

    assert refusal.value.details == {
        "rule": "R11",
        "facts": {
            "event": games.pk,
            "event_end": "2024-08-15",
            "deadline": "2025-08-15",
            "retired_on": "2025-08-16",
        },
    }
    assert refusal.value.field == "event"
    assert not Retirement.objects.exists()
    assert sorted(Block.objects.values_list("pk", "serials", "status")) == blocks_before
    assert LedgerEvent.objects.count() == events_before + 1
    refused = LedgerEvent.objects.order_by("-id").first()
    assert refused.kind == LedgerEvent.Kind.ATTEMPT_REFUSED
    assert refused.payload["details"]["rule"] == "R11"
    assert refused.payload["attempted"]["event"] == games.pk


def test_late_event_retirement_is_only_flagged_when_configured_so(
    settings, today, project_owner, games, ccer_claim, owner_account
):
    settings.REGISTRY_R11_LATE_CANCELLATION_EFFECT = "flag"
    today(dt.date(2026, 1, 1))

    retirement = retire_for(project_owner, owner_account, games)

    assert retirement.quantity == 10
    flagged = LedgerEvent.objects.filter(
        kind=LedgerEvent.Kind.RULE_FLAGGED,
        payload__rule="R11",
        payload__facts__deadline="2025-08-15",
    ).get()
    assert f"event:{games.pk}" in flagged.subjects


def test_late_event_retirement_passes_when_r11_is_disabled(
    settings, today, project_owner, games, ccer_claim, owner_account
):
    settings.REGISTRY_DISABLED_RULES = ["R11"]
    today(dt.date(2026, 1, 1))

    assert retire_for(project_owner, owner_account, games).quantity == 10


def test_green_certificates_for_an_old_event_are_not_credits_and_pass(
    today, issuer, project_owner, games, march_record, owner_account
):
    unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=100,
    )
    today(dt.date(2026, 1, 1))

    assert retire_for(project_owner, owner_account, games, mechanism="GEC").quantity == 10


def test_an_event_retirement_without_an_event_is_refused(project_owner, ccer_claim, owner_account):
    with pytest.raises(DomainError) as refusal:
        retire_for(project_owner, owner_account, None)

    assert refusal.value.http_status == 400
    assert (refusal.value.code, refusal.value.field) == ("event_required", "event")
    assert not Retirement.objects.exists()


def test_an_event_named_for_another_purpose_or_unknown_is_refused(
    project_owner, games, ccer_claim, owner_account
):
    with pytest.raises(DomainError) as wrong_purpose:
        retire_for(project_owner, owner_account, games, purpose="voluntary_neutrality")
    assert wrong_purpose.value.code == "event_not_expected"
    with pytest.raises(NotFound) as unknown:
        retire_for(project_owner, owner_account, games.pk + 1000)
    assert unknown.value.code == "unknown_event"
    assert not Retirement.objects.exists()


def test_the_database_refuses_an_event_retirement_without_an_event(
    project_owner, games, owner_account
):
    fields = {
        **RETIREMENT_DEFAULTS,
        "mechanism": Mechanism.objects.get(code="CCER"),
        "account": owner_account,
        "quantity": 1,
        "actor": project_owner,
    }
    check = "retirement_event_iff_purpose_event"
    with pytest.raises(IntegrityError, match=check), transaction.atomic():
        Retirement.objects.create(**{**fields, "purpose": "event"})
    with pytest.raises(IntegrityError, match=check), transaction.atomic():
        Retirement.objects.create(**fields, event=games)
    assert Retirement.objects.create(**{**fields, "purpose": "event"}, event=games).pk


def test_verify_names_the_event_a_unit_was_retired_for(
    today, project_owner, wind_farm, games, ccer_claim, owner_account
):
    today(dt.date(2025, 1, 1))
    retire_for(project_owner, owner_account, games)

    unit = unit_verify(str(Serial("CN", wind_farm.code, "C", 202503, 1)))

    assert unit["retirement"]["event"] == {"id": games.pk, "name": "Beijing Summer Games"}


# --- issuance for projects built for an event ---------------------------------------------------


@pytest.fixture
def solar_record(games_solar, issuer):
    start, end = month(2025, 3)
    return production_record_create(
        actor=issuer,
        project=games_solar,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=Decimal("400"),
    )


def test_ccer_for_a_project_built_for_an_event_is_refused_by_r11(
    second_issuer, project_owner, games, games_solar, solar_record, owner_account
):
    sign(project_owner, games_solar)

    with pytest.raises(RuleViolation) as refusal:
        unit_claim_issue(
            actor=second_issuer,
            mechanism="CCER",
            production_record=solar_record,
            account=owner_account,
            quantity=100,
            conversion_factor=Decimal("0.6"),
        )

    assert refusal.value.details == {
        "rule": "R11",
        "facts": {"project": games_solar.code, "events": [games.pk]},
    }
    assert not UnitClaim.objects.exists()
    refused = LedgerEvent.objects.get(kind=LedgerEvent.Kind.ATTEMPT_REFUSED)
    assert refused.payload["operation"] == "unit_claim_issue"
    assert refused.payload["details"]["rule"] == "R11"


def test_gec_for_the_same_event_project_is_allowed(issuer, games, solar_record, owner_account):
    claim = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=solar_record,
        account=owner_account,
        quantity=100,
    )
    assert claim.quantity == 100


def test_ccer_for_a_project_not_built_for_the_event_is_allowed(games, ccer_claim):
    assert ccer_claim.quantity == 656


def test_vcu_for_a_forestry_project_built_for_an_event_is_refused_too(
    administrator, second_issuer, project_owner, owner_account
):
    forest = project_register(
        actor=administrator,
        owner=project_owner.organisation,
        name="Games forest",
        province="CN-HE",
        technology="forestry",
    )
    neutrality_event_create(
        actor=administrator,
        name="Winter Games",
        organiser=project_owner.organisation,
        start_date=dt.date(2022, 2, 4),
        end_date=dt.date(2022, 2, 20),
        location="CN-BJ",
        projects=[forest.code],
    )

    with pytest.raises(RuleViolation) as refusal:
        rules.check_issuance(
            mechanism=Mechanism.objects.get(code="VCU"), project=forest, record=None
        )
    assert refusal.value.details["rule"] == "R11"


# --- API --------------------------------------------------------------------------------------

EVENTS = "/api/v1/neutrality-events/"


def event_body(project_owner, **override):
    return {
        "name": "Hangzhou Games",
        "organiser": project_owner.organisation.code,
        "start_date": "2023-09-23",
        "end_date": "2023-10-08",
        "location": "CN-ZJ",
        "projects": [],
        **override,
    }


def test_only_an_administrator_records_an_event_through_the_api(
    api, administrator, auditor, project_owner, issuer, buyer, outsider, games_solar
):
    body = event_body(project_owner, projects=[games_solar.code])

    assert api(None).post(EVENTS, body).status_code == 401
    for refused in (auditor, project_owner, issuer, buyer, outsider):
        response = api(refused).post(EVENTS, body)
        assert response.status_code == 403, response.content
    assert not NeutralityEvent.objects.exists()

    created = api(administrator).post(EVENTS, body)
    assert created.status_code == 201, created.content
    assert created.json()["projects"] == [games_solar.code]
    assert created.json()["organiser"] == project_owner.organisation.code

    bad = api(administrator).post(EVENTS, event_body(project_owner, location="Hangzhou"))
    assert bad.status_code == 400
    assert "location" in bad.json()["errors"]
    unknown = api(administrator).post(EVENTS, event_body(project_owner, projects=["PZZZZZ"]))
    assert unknown.status_code == 400
    assert NeutralityEvent.objects.count() == 1


def test_events_are_readable_by_every_authenticated_user(
    api, games, administrator, auditor, buyer, outsider
):
    for reader in (administrator, auditor, buyer, outsider):
        response = api(reader).get(EVENTS)
        assert response.status_code == 200
        assert [row["id"] for row in response.json()["results"]] == [games.pk]
    assert api(buyer).get(f"{EVENTS}{games.pk}/").json()["name"] == "Beijing Summer Games"
    assert api(buyer).get(f"{EVENTS}{games.pk + 1000}/").status_code == 404
    assert api(None).get(EVENTS).status_code == 401


def retirement_body(account, **override):
    return {
        **{key: str(value) for key, value in EVENT_RETIREMENT.items()},
        "reporting_year": 2025,
        "account": account.number,
        "mechanism": "CCER",
        "quantity": 5,
        **override,
    }


def test_an_event_retirement_through_the_api_names_the_event(
    api, today, project_owner, games, ccer_claim, owner_account
):
    today(dt.date(2025, 3, 1))

    response = api(project_owner).post(
        "/api/v1/retirements/", retirement_body(owner_account, event=games.pk)
    )

    assert response.status_code == 201, response.content
    assert response.json()["event"] == games.pk
    listed = api(project_owner).get("/api/v1/retirements/", {"event": games.pk}).json()
    assert [row["id"] for row in listed["results"]] == [response.json()["id"]]


def test_an_event_retirement_through_the_api_without_event_or_too_late_is_refused(
    api, today, project_owner, games, ccer_claim, owner_account
):
    missing = api(project_owner).post("/api/v1/retirements/", retirement_body(owner_account))
    assert missing.status_code == 400
    assert missing.json()["errors"]["event"][0]["code"] == "event_required"
    unknown = api(project_owner).post(
        "/api/v1/retirements/", retirement_body(owner_account, event=games.pk + 1000)
    )
    assert unknown.status_code == 400
    assert unknown.json()["reason"] == "unknown_event"

    today(dt.date(2025, 9, 1))
    late = api(project_owner).post(
        "/api/v1/retirements/", retirement_body(owner_account, event=games.pk)
    )
    assert late.status_code == 409
    assert late.json()["details"]["rule"] == "R11"
    assert not Retirement.objects.exists()


def test_admin_records_an_event_through_the_service(client, superuser, project_owner, games_solar):
    client.force_login(superuser)

    response = client.post(
        "/admin/tracking/neutralityevent/add/",
        {
            "name": "Chengdu Universiade",
            "organiser": project_owner.organisation.pk,
            "start_date": "2023-07-28",
            "end_date": "2023-08-08",
            "location": "CN-SC",
            "projects": [games_solar.pk],
        },
    )

    assert response.status_code == 302, response.content
    event = NeutralityEvent.objects.get()
    assert list(event.projects.all()) == [games_solar]
    assert LedgerEvent.objects.filter(
        kind=LedgerEvent.Kind.NEUTRALITY_EVENT_CREATED, payload__event=event.pk
    ).exists()
    bad = client.post(
        "/admin/tracking/neutralityevent/add/",
        {
            "name": "Nowhere",
            "organiser": project_owner.organisation.pk,
            "start_date": "2023-07-28",
            "end_date": "2023-08-08",
            "location": "Nowhere",
        },
    )
    assert bad.status_code == 200  # the form shows the error, nothing is written
    assert NeutralityEvent.objects.count() == 1
    assert client.get(f"/admin/tracking/neutralityevent/{event.pk}/change/").status_code == 200


def test_an_event_ending_on_29_february_has_its_deadline_on_28_february(
    today, administrator, project_owner, ccer_claim, owner_account
):
    leap = neutrality_event_create(
        actor=administrator,
        name="Leap-day summit",
        organiser=project_owner.organisation,
        start_date=dt.date(2024, 2, 27),
        end_date=dt.date(2024, 2, 29),
        location="CN-SH",
    )
    today(dt.date(2025, 2, 28))
    assert retire_for(project_owner, owner_account, leap).quantity == 10

    today(dt.date(2025, 3, 1))
    with pytest.raises(RuleViolation) as refusal:
        retire_for(project_owner, owner_account, leap)
    assert refusal.value.details["facts"]["deadline"] == "2025-02-28"
