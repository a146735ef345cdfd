"""Surrender and R10: allowances and CCER for a verified obligation, CCER within the scheme's
percent (cumulative, exactly at the limit accepted), not from projects under allowance
management, not issued before 2017-03-14 once 2025-01-01 has come; R10 can be switched off."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, transaction

from compliance.models import Surrender, VerifiedEmission
from compliance.selectors import compliance_position
from compliance.services import units_surrender, verified_emissions_record
from registry.errors import Conflict, Forbidden, RuleViolation
from registry.models import LedgerEvent, Project, UnitClaim
from tests.compliance.conftest import allocate, verify
from tests.conftest import RETIREMENT_DEFAULTS
from tracking.models import Block, Retirement
from tracking.services import block_retire

SHANGHAI = ZoneInfo("Asia/Shanghai")


def surrender(actor, entity, allowances, ccer=0, **extra):
    return units_surrender(
        actor=actor,
        entity=entity,
        compliance_year=2024,
        allowance_quantity=allowances,
        ccer_quantity=ccer,
        **extra,
    )


def held(entity, code):
    blocks = Block.objects.filter(account=entity.account, mechanism__code=code, status="active")
    return sum(blocks.values_list("quantity", flat=True))


def assert_only_the_refused_attempt_was_written(entity, events_before, rule="R10"):
    assert not Surrender.objects.exists()
    assert not Retirement.objects.exists()
    assert held(entity, "CEA") == 1000 and held(entity, "CCER") == 200
    new_events = list(LedgerEvent.objects.filter(pk__gt=events_before))
    assert [event.kind for event in new_events] == [LedgerEvent.Kind.ATTEMPT_REFUSED]
    assert new_events[0].payload["operation"] == "units_surrender"
    assert new_events[0].payload["details"]["rule"] == rule


def last_event_id():
    return LedgerEvent.objects.order_by("-pk").values_list("pk", flat=True).first()


def test_ets_surrender_at_exactly_5_percent_ccer_is_accepted(steel_user, obliged):
    result = surrender(steel_user, obliged, 950, 50)

    assert (result.allowance_quantity, result.ccer_quantity, result.obligation) == (950, 50, 1000)
    assert result.allowance_retirement.mechanism.code == "CEA"
    assert result.ccer_retirement.mechanism.code == "CCER"
    assert {result.allowance_retirement.purpose, result.ccer_retirement.purpose} == {
        "ets_compliance"
    }
    assert result.allowance_retirement.reporting_year == 2024
    assert held(obliged, "CEA") == 50 and held(obliged, "CCER") == 150
    assert Block.objects.filter(retirement=result.ccer_retirement, status="retired").exists()
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.UNITS_SURRENDERED)
    assert event.payload["allowance_quantity"] == 950 and event.payload["ccer_quantity"] == 50
    assert event.payload["obligation"] == 1000
    position = compliance_position(entity=obliged, compliance_year=2024)
    assert (position.remaining, position.surrendered_ccer, position.ccer_headroom) == (0, 50, 0)


def test_ets_surrender_just_above_5_percent_ccer_is_refused_by_r10(steel_user, obliged):
    events_before = last_event_id()

    with pytest.raises(RuleViolation) as refusal:
        surrender(steel_user, obliged, 949, 51)

    assert refusal.value.code == "rule_violation" and refusal.value.http_status == 409
    assert refusal.value.details["rule"] == "R10"
    assert refusal.value.details["facts"] == {
        "reason": "ccer_share_exceeded",
        "scheme": "cn-ets",
        "obligation": 1000,
        "limit_percent": "5.00",
        "ccer_requested": 51,
        "ccer_already_surrendered": 0,
        "ccer_allowed": 50,
    }
    assert_only_the_refused_attempt_was_written(obliged, events_before)


def test_the_ccer_limit_counts_every_surrender_of_the_year(steel_user, obliged):
    surrender(steel_user, obliged, 100, 40)

    with pytest.raises(RuleViolation) as refusal:
        surrender(steel_user, obliged, 0, 11)
    assert refusal.value.details["facts"]["ccer_already_surrendered"] == 40

    surrender(steel_user, obliged, 0, 10)  # exactly the rest of the 50
    assert compliance_position(entity=obliged, compliance_year=2024).surrendered_ccer == 50


def test_a_pilot_at_10_percent_accepts_what_the_national_ets_refuses(
    administrator, steel_user, obliged, pilot_entity, issue_ccer
):
    verify(administrator, pilot_entity, 2024, 1000)
    allocate(administrator, pilot_entity, 2024, 900)
    issue_ccer(pilot_entity.account, 100)

    accepted = surrender(steel_user, pilot_entity, 900, 100)
    assert accepted.ccer_quantity == 100 and accepted.ccer_limit_percent == 10

    with pytest.raises(RuleViolation) as refusal:
        surrender(steel_user, obliged, 900, 100)
    assert refusal.value.details["facts"]["ccer_allowed"] == 50


def test_ccer_from_a_project_under_allowance_management_is_refused(steel_user, obliged, forest):
    # The forest came inside an ETS-covered entity's boundary after its CCER were issued.
    Project.objects.filter(pk=forest.pk).update(inside_ets_boundary=True)
    events_before = last_event_id()

    with pytest.raises(RuleViolation) as refusal:
        surrender(steel_user, obliged, 960, 40)

    facts = refusal.value.details["facts"]
    assert facts["reason"] == "ccer_project_under_allowance_management"
    assert facts["project"] == forest.code
    assert facts["claim"] == UnitClaim.objects.get(mechanism__code="CCER").pk
    assert_only_the_refused_attempt_was_written(obliged, events_before)


def test_allowances_alone_are_surrendered_whatever_the_ccer_held(steel_user, obliged, forest):
    Project.objects.filter(pk=forest.pk).update(inside_ets_boundary=True)

    assert surrender(steel_user, obliged, 1000).allowance_quantity == 1000


@pytest.fixture
def old_ccer(obliged):
    """The CCER in the account were issued on 2017-03-13 (Shanghai), one day before the cut-off."""
    UnitClaim.objects.filter(mechanism__code="CCER").update(
        issued_at=dt.datetime(2017, 3, 13, 12, tzinfo=SHANGHAI)
    )
    return obliged


def test_ccer_issued_before_2017_03_14_is_refused_from_2025_01_01(steel_user, old_ccer):
    events_before = last_event_id()
    new_year = dt.datetime(2025, 1, 1, 0, 0, tzinfo=SHANGHAI)

    with pytest.raises(RuleViolation) as refusal:
        surrender(steel_user, old_ccer, 960, 40, now=new_year)

    facts = refusal.value.details["facts"]
    assert facts["reason"] == "ccer_issued_before_cutoff"
    assert (facts["issued_on"], facts["surrendered_on"]) == (
        dt.date(2017, 3, 13),
        dt.date(2025, 1, 1),
    )
    assert_only_the_refused_attempt_was_written(old_ccer, events_before)


def test_ccer_issued_before_2017_03_14_is_accepted_until_the_end_of_2024(steel_user, old_ccer):
    new_years_eve = dt.datetime(2024, 12, 31, 23, 59, tzinfo=SHANGHAI)

    assert surrender(steel_user, old_ccer, 960, 40, now=new_years_eve).ccer_quantity == 40


def test_ccer_issued_on_the_cut_off_day_is_not_old(steel_user, obliged):
    UnitClaim.objects.filter(mechanism__code="CCER").update(
        issued_at=dt.datetime(2017, 3, 14, 0, 0, tzinfo=SHANGHAI)
    )

    assert surrender(steel_user, obliged, 960, 40).ccer_quantity == 40


def test_with_r10_disabled_ccer_beyond_the_limit_goes_through(settings, steel_user, obliged):
    settings.REGISTRY_DISABLED_RULES = ["R10"]

    accepted = surrender(steel_user, obliged, 849, 151)

    assert accepted.ccer_quantity == 151
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).exists()


def test_surrendering_more_than_the_remaining_obligation_is_refused_even_without_r10(
    settings, steel_user, obliged, administrator, issue_ccer
):
    settings.REGISTRY_DISABLED_RULES = ["R10"]
    surrender(steel_user, obliged, 900)

    with pytest.raises(Conflict) as refusal:
        surrender(steel_user, obliged, 100, 1)

    assert refusal.value.code == "exceeds_obligation"
    assert refusal.value.details == {"obligation": 1000, "remaining": 100}
    assert Surrender.objects.count() == 1


def test_only_allowances_of_the_compliance_year_are_surrendered(administrator, steel_user, obliged):
    allocate(administrator, obliged, 2023, 500)
    surrender(steel_user, obliged, 1000)

    # 2023 allowances are still there, but they do not cover 2024.
    verify(administrator, obliged, 2024, 1200)
    with pytest.raises(Conflict) as refusal:
        surrender(steel_user, obliged, 100)
    assert refusal.value.code == "insufficient_allowances"
    assert refusal.value.details == {"available": 0, "requested": 100}


def test_a_year_without_verified_emissions_cannot_be_surrendered_for(steel_user, entity):
    with pytest.raises(Conflict) as refusal:
        surrender(steel_user, entity, 10)
    assert refusal.value.code == "no_verified_emissions"


def test_only_the_entitys_users_surrender(buyer, auditor, obliged):
    for stranger in (buyer, auditor):
        with pytest.raises(Forbidden):
            surrender(stranger, obliged, 10)
    assert not Surrender.objects.exists()


def test_ordinary_retirement_for_ets_compliance_is_refused_by_r10(steel_user, obliged):
    compliance_retirement = {**RETIREMENT_DEFAULTS, "purpose": "ets_compliance"}

    with pytest.raises(RuleViolation) as refusal:
        block_retire(
            actor=steel_user,
            account=obliged.account,
            mechanism="CCER",
            quantity=100,
            **compliance_retirement,
        )
    assert refusal.value.details["rule"] == "R10"
    assert not Retirement.objects.exists()

    # Voluntary use of the same CCER is not compliance and stays allowed.
    block_retire(
        actor=steel_user,
        account=obliged.account,
        mechanism="CCER",
        quantity=100,
        **{**RETIREMENT_DEFAULTS, "purpose": "voluntary_neutrality"},
    )


def test_a_corrected_figure_supersedes_and_cannot_fall_below_what_was_surrendered(
    administrator, steel_user, obliged
):
    surrender(steel_user, obliged, 800, 50)

    with pytest.raises(Conflict) as refusal:
        verified_emissions_record(
            actor=administrator, entity=obliged, compliance_year=2024, quantity=849
        )
    assert refusal.value.code == "below_surrendered"

    # 950 t would make the 50 CCER already surrendered more than 5 % (47): R10.
    with pytest.raises(RuleViolation):
        verified_emissions_record(
            actor=administrator, entity=obliged, compliance_year=2024, quantity=950
        )

    corrected = verified_emissions_record(
        actor=administrator, entity=obliged, compliance_year=2024, quantity=1100
    )
    assert corrected.supersedes.quantity == 1000
    assert VerifiedEmission.objects.filter(superseded_at__isnull=True).get() == corrected
    assert compliance_position(entity=obliged, compliance_year=2024).remaining == 250


def test_the_database_refuses_a_surrender_beyond_the_obligation_or_unlike_its_retirement(
    steel_user, obliged
):
    first = surrender(steel_user, obliged, 999)
    one_more = Retirement.objects.create(
        **{
            field.name: getattr(first.allowance_retirement, field.name)
            for field in Retirement._meta.concrete_fields
            if field.name not in ("id", "public_id", "quantity", "created_at")
        },
        quantity=2,
    )
    row = {
        "entity": obliged,
        "compliance_year": 2024,
        "verified_emission": first.verified_emission,
        "obligation": 1000,
        "ccer_limit_percent": 5,
        "ccer_quantity": 0,
        "allowance_retirement": one_more,
        "actor": steel_user,
    }

    with pytest.raises(IntegrityError, match="is not 1 CEA"), transaction.atomic():
        Surrender.objects.create(**row, allowance_quantity=1)
    with pytest.raises(IntegrityError, match="exceed the obligation"), transaction.atomic():
        Surrender.objects.create(**row, allowance_quantity=2)


def test_the_position_shows_obligation_allocation_holdings_and_headroom(steel_user, obliged):
    surrender(steel_user, obliged, 300, 20)

    position = compliance_position(entity=obliged, compliance_year=2024)

    assert position.obligation == 1000
    assert position.allocated == 1000
    assert position.held_allowances == 700
    assert (position.surrendered_allowances, position.surrendered_ccer) == (300, 20)
    assert position.remaining == 680
    assert (position.ccer_allowed, position.ccer_headroom) == (50, 30)


def test_ccer_can_be_chosen_by_serial_range(steel_user, obliged, forest):
    claim = UnitClaim.objects.get(mechanism__code="CCER")
    first = claim.serials.lower + 100
    chosen = f"CN-{forest.code}-C-{claim.vintage}-{first:012d}-{first + 29:012d}"

    result = surrender(steel_user, obliged, 970, 0, ccer_serial_range=chosen)

    assert result.ccer_quantity == 30
    retired = Block.objects.get(retirement=result.ccer_retirement)
    assert (retired.serials.lower, retired.serials.upper) == (first, first + 30)
