"""Scored matches of unlinked records: suggested, confirmed by an administrator (then the record
refuses issuance like a declared identifier) or rejected."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from interop import selectors
from interop.models import ExternalRecord, MatchSuggestion
from interop.services import external_record_confirm_match, external_record_reject_match
from issuance.services import unit_claim_issue
from registry.errors import Conflict, Forbidden, NotFound, RuleViolation
from registry.models import LedgerEvent
from registry.services import project_register
from tests.interop.conftest import fixture_text, record_for


@pytest.fixture
def unlinked_vcu(run_import, wind_farm):
    """The Verra row of canonical.csv: no identifier the wind farm declared."""
    run_import(fixture_text("canonical.csv"))
    return ExternalRecord.objects.get(external_id="VCS-9999-2025")


def test_score_weighs_name_province_capacity_and_technology(unlinked_vcu, wind_farm):
    total, breakdown = selectors.score(unlinked_vcu, wind_farm)

    assert total == Decimal("1.000")
    assert breakdown == {"name": "1.0", "province": "1", "capacity": "1", "technology": "1"}


def test_a_dissimilar_project_is_not_suggested(administrator, project_owner, unlinked_vcu):
    other = project_register(
        actor=administrator,
        owner=project_owner.organisation,
        name="Hangzhou rooftop solar",
        province="CN-ZJ",
        technology="solar",
        capacity_mw=Decimal("2"),
        commissioning_date=dt.date(2022, 1, 1),
    )

    assert other not in [
        project for project, _score, _parts in selectors.match_candidates(unlinked_vcu)
    ]


def test_confirmed_match_links_the_record_and_then_refuses_issuance(
    administrator, issuer, second_issuer, wind_farm, unlinked_vcu, owner_account
):
    july = record_for(wind_farm, issuer, 2025, 7)
    assert unlinked_vcu.suggestions.get().project == wind_farm

    record = external_record_confirm_match(
        actor=administrator, record=unlinked_vcu, project=wind_farm
    )

    assert record.project == wind_farm
    assert record.link_method == ExternalRecord.LinkMethod.CONFIRMED_MATCH
    assert record.linked_by == administrator
    assert unlinked_vcu.suggestions.get().status == MatchSuggestion.Status.CONFIRMED
    event = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.EXTERNAL_MATCHED).latest("id")
    assert event.payload["decision"] == "confirmed" and event.payload["project"] == wind_farm.code
    with pytest.raises(RuleViolation) as refusal:
        unit_claim_issue(
            actor=second_issuer,
            mechanism="CCER",
            production_record=july,
            account=owner_account,
            quantity=100,
            conversion_factor="0.6",
        )
    assert refusal.value.details["facts"]["external_id"] == "VCS-9999-2025"
    assert unlinked_vcu not in selectors.unlinked_records()


def test_confirming_a_match_that_duplicates_an_issuance_here_flags_it(
    administrator, issuer, second_issuer, project_owner, wind_farm, unlinked_vcu, owner_account
):
    from registry.services import declaration_sign
    from tests.conftest import month

    july = record_for(wind_farm, issuer, 2025, 7)
    start, end = month(2025, 7)
    declaration_sign(
        actor=project_owner, project=wind_farm, unit_kind="E", period_start=start, period_end=end
    )
    ccer = unit_claim_issue(
        actor=second_issuer,
        mechanism="CCER",
        production_record=july,
        account=owner_account,
        quantity=100,
        conversion_factor="0.6",
    )

    external_record_confirm_match(actor=administrator, record=unlinked_vcu, project=wind_farm)

    flag = LedgerEvent.objects.get(kind=LedgerEvent.Kind.RULE_FLAGGED)
    assert flag.payload["facts"]["internal_claims"][0]["claim"] == ccer.pk


def test_a_rejected_suggestion_cannot_be_confirmed_afterwards(
    administrator, wind_farm, unlinked_vcu
):
    suggestion = external_record_reject_match(
        actor=administrator, record=unlinked_vcu, project=wind_farm
    )

    assert suggestion.status == MatchSuggestion.Status.REJECTED
    event = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.EXTERNAL_MATCHED).latest("id")
    assert event.payload["decision"] == "rejected"
    with pytest.raises(Conflict) as refusal:
        external_record_confirm_match(actor=administrator, record=unlinked_vcu, project=wind_farm)
    assert refusal.value.code == "match_rejected"
    unlinked_vcu.refresh_from_db()
    assert unlinked_vcu.project is None


def test_a_linked_record_cannot_be_linked_again(
    administrator, project_owner, wind_farm, unlinked_vcu
):
    external_record_confirm_match(actor=administrator, record=unlinked_vcu, project=wind_farm)
    other = project_register(
        actor=administrator,
        owner=project_owner.organisation,
        name="Bayan wind farm II",
        province="CN-NM",
        technology="wind",
        capacity_mw=Decimal("60"),
        commissioning_date=dt.date(2022, 1, 1),
    )

    with pytest.raises(Conflict) as refusal:
        external_record_confirm_match(actor=administrator, record=unlinked_vcu, project=other)

    assert refusal.value.code == "already_linked"


def test_rejecting_a_project_that_was_never_suggested_is_not_found(
    administrator, project_owner, unlinked_vcu
):
    other = project_register(
        actor=administrator,
        owner=project_owner.organisation,
        name="Boiler retrofit",
        province="CN-ZJ",
        technology="energy_saving",
    )

    with pytest.raises(NotFound):
        external_record_reject_match(actor=administrator, record=unlinked_vcu, project=other)


def test_only_an_administrator_decides_matches(auditor, wind_farm, unlinked_vcu):
    with pytest.raises(Forbidden):
        external_record_confirm_match(actor=auditor, record=unlinked_vcu, project=wind_farm)
    with pytest.raises(Forbidden):
        external_record_reject_match(actor=auditor, record=unlinked_vcu, project=wind_farm)
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.EXTERNAL_MATCHED).exists()
