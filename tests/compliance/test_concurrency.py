"""Two surrenders racing for the last CCER headroom on real connections: the entity's compliance
account lock queues them, the second sees the first and R10 refuses it."""

from __future__ import annotations

import pytest

from compliance.models import Surrender
from compliance.selectors import compliance_position
from compliance.services import units_surrender
from registry.errors import Conflict, RuleViolation
from registry.models import LedgerEvent
from tests.tracking.test_concurrency import assert_no_overlap_anywhere, run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def attempt(actor, entity, allowances, ccer):
    return lambda: units_surrender(
        actor=actor,
        entity=entity,
        compliance_year=2024,
        allowance_quantity=allowances,
        ccer_quantity=ccer,
    )


def test_two_surrenders_racing_for_the_last_ccer_headroom_only_one_wins(steel_user, obliged):
    units_surrender(
        actor=steel_user,
        entity=obliged,
        compliance_year=2024,
        allowance_quantity=0,
        ccer_quantity=20,
    )

    results = run_at_once([attempt(steel_user, obliged, 10, 30) for _ in range(2)])

    winners = [result for result in results if isinstance(result, Surrender)]
    losers = [result for result in results if isinstance(result, Exception)]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], RuleViolation)
    assert losers[0].details["facts"]["ccer_already_surrendered"] == 50
    position = compliance_position(entity=obliged, compliance_year=2024)
    assert (position.surrendered_ccer, position.ccer_headroom) == (50, 0)
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).count() == 1
    assert_no_overlap_anywhere()


def test_two_surrenders_racing_for_the_last_tonnes_of_the_obligation_only_one_wins(
    steel_user, obliged
):
    units_surrender(actor=steel_user, entity=obliged, compliance_year=2024, allowance_quantity=900)

    results = run_at_once([attempt(steel_user, obliged, 80, 0) for _ in range(3)])

    assert sum(isinstance(result, Surrender) for result in results) == 1
    assert all(
        isinstance(result, Conflict) and result.code == "exceeds_obligation"
        for result in results
        if not isinstance(result, Surrender)
    )
    assert compliance_position(entity=obliged, compliance_year=2024).remaining == 20
