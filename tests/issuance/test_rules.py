"""The rule catalogue: every rule of the catalogue (docs/domain.md) is listed, and R3 refuses CCER
inside an ETS boundary, as a rule_violation recorded in the ledger."""

from __future__ import annotations

import pytest

from issuance.rules import CATALOGUE, RULES, check_issuance
from issuance.services import unit_claim_issue
from registry.errors import RuleViolation
from registry.models import LedgerEvent, Mechanism, Project, UnitClaim
from registry.services import declaration_sign
from tests.conftest import month


def test_catalogue_lists_r1_to_r16_each_with_effect_source_and_where_enforced():
    assert [rule.id for rule in CATALOGUE] == [f"R{number}" for number in range(1, 17)]
    for rule in CATALOGUE:
        assert rule.effect in ("reject", "flag")
        assert str(rule.description) and rule.source and rule.enforced_by


def test_ccer_for_a_project_inside_an_ets_boundary_is_refused_by_r3(
    second_issuer, project_owner, march_record, owner_account
):
    project = march_record.stream.project
    Project.objects.filter(pk=project.pk).update(inside_ets_boundary=True)
    start, end = month(2025, 3)
    declaration_sign(
        actor=project_owner, project=project, unit_kind="E", period_start=start, period_end=end
    )

    with pytest.raises(RuleViolation) as refusal:
        unit_claim_issue(
            actor=second_issuer,
            mechanism="CCER",
            production_record=march_record,
            account=owner_account,
            quantity=10,
            conversion_factor="0.6",
        )

    assert refusal.value.code == "rule_violation"
    assert refusal.value.details == {
        "rule": "R3",
        "facts": {"project": project.code, "inside_ets_boundary": True},
    }
    assert not UnitClaim.objects.exists()
    refused = LedgerEvent.objects.get(kind=LedgerEvent.Kind.ATTEMPT_REFUSED)
    assert refused.payload["details"]["rule"] == "R3"


def test_r3_leaves_gec_for_the_same_project_alone(issuer, march_record, owner_account):
    Project.objects.filter(pk=march_record.stream.project_id).update(inside_ets_boundary=True)

    claim = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=10,
    )

    assert claim.quantity == 10


def test_a_configurable_rule_can_be_switched_off_and_a_fixed_one_cannot(settings):
    settings.REGISTRY_DISABLED_RULES = ["R13", "R3"]

    assert RULES["R13"].enabled is False
    assert RULES["R3"].enabled is True  # not configurable: the setting does not reach it


def test_check_issuance_runs_only_rules_for_the_mechanism(march_record):
    project = march_record.stream.project
    project.inside_ets_boundary = True
    gec = Mechanism.objects.get(code="GEC")

    check_issuance(mechanism=gec, project=project, record=march_record)  # no refusal
