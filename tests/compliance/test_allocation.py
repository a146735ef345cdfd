"""Allowance allocation: CEA are serialised units on the scheme's budget stream, distinct by
compliance year; pre-allocation and final adjustments up and down."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from compliance.models import Allocation, ComplianceScheme
from compliance.selectors import compliance_position
from compliance.services import allowances_allocate, compliance_scheme_create
from registry.errors import Conflict, DomainError, Forbidden
from registry.models import LedgerEvent, UnitClaim
from registry.serials import Serial
from tests.compliance.conftest import allocate, verify
from tracking.models import Block, Cancellation
from tracking.selectors import unit_verify
from tracking.services import block_transfer


def active_cea(entity, vintage=None):
    blocks = Block.objects.filter(account=entity.account, mechanism__code="CEA", status="active")
    if vintage is not None:
        blocks = blocks.filter(vintage=vintage)
    return sum(blocks.values_list("quantity", flat=True))


def test_a_pre_allocation_puts_serialised_cea_of_the_year_into_the_compliance_account(
    administrator, national, entity
):
    allocation = allocate(administrator, entity, 2024, 700)

    claim = allocation.claim
    assert claim.mechanism.code == "CEA" and claim.quantity == 700
    assert claim.stream.project == national.budget_project and claim.stream.unit_kind == "C"
    assert claim.vintage == 202401  # the compliance year is part of the product
    block = Block.objects.get(claim=claim)
    assert (block.account, block.quantity, block.status) == (entity.account, 700, "active")
    event = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ALLOWANCES_ALLOCATED).get()
    assert event.payload["quantity"] == 700 and event.payload["compliance_year"] == 2024
    assert f"claim:{claim.pk}" in event.subjects


def test_allowances_of_two_years_are_distinct_products_with_their_own_serials(
    administrator, entity
):
    first = allocate(administrator, entity, 2023, 100).claim
    second = allocate(administrator, entity, 2024, 100).claim

    assert (first.vintage, second.vintage) == (202301, 202401)
    assert first.serials.upper <= second.serials.lower  # one stream, serials allocated once
    assert active_cea(entity, 202301) == active_cea(entity, 202401) == 100


def test_allowances_verify_and_transfer_like_any_unit(
    administrator, national, entity, buyer_account
):
    claim = allocate(administrator, entity, 2024, 50).claim
    project = national.budget_project
    serial = Serial(project.country, project.code, "C", 202401, claim.serials.lower)

    verified = unit_verify(str(serial))
    assert verified["claim"]["mechanism"] == "CEA" and verified["status"] == "active"
    assert [entry["kind"] for entry in verified["custody"]] == ["allowances.allocated"]

    block_transfer(
        actor=administrator,
        source_account=entity.account,
        target_account=buyer_account,
        mechanism="CEA",
        quantity=20,
    )
    assert active_cea(entity) == 30


def test_without_a_quantity_the_pre_allocation_is_70_percent_of_last_year(administrator, entity):
    verify(administrator, entity, 2023, 1001)

    allocation = allowances_allocate(
        actor=administrator, entity=entity, compliance_year=2024, kind="pre_allocation"
    )

    assert allocation.quantity == 700  # 70 % of 1,001, rounded down
    assert "70" in allocation.basis


def test_a_second_pre_allocation_for_the_year_is_refused(administrator, entity):
    allocate(administrator, entity, 2024, 700)

    with pytest.raises(Conflict) as refusal:
        allocate(administrator, entity, 2024, 10)

    assert refusal.value.code == "already_pre_allocated"
    assert Allocation.objects.count() == 1


def test_final_adjustment_upwards_allocates_more(administrator, entity):
    allocate(administrator, entity, 2024, 700)
    verify(administrator, entity, 2024, 1000)

    allocate(administrator, entity, 2024, 250, kind="final_adjustment")

    assert active_cea(entity, 202401) == 950
    assert compliance_position(entity=entity, compliance_year=2024).allocated == 950


def test_final_adjustment_downwards_cancels_allowances_of_that_year(administrator, entity):
    allocate(administrator, entity, 2023, 40)
    allocate(administrator, entity, 2024, 700)
    verify(administrator, entity, 2024, 600)

    allocation = allocate(administrator, entity, 2024, -100, kind="final_adjustment")

    assert allocation.cancellation.quantity == 100
    assert active_cea(entity, 202401) == 600
    assert active_cea(entity, 202301) == 40  # other years untouched
    assert Block.objects.filter(cancellation=allocation.cancellation, status="cancelled").exists()
    assert compliance_position(entity=entity, compliance_year=2024).allocated == 600


def test_downward_adjustment_beyond_what_the_entity_still_holds_is_refused(
    administrator, entity, buyer_account
):
    allocate(administrator, entity, 2024, 700)
    verify(administrator, entity, 2024, 600)
    block_transfer(
        actor=administrator,
        source_account=entity.account,
        target_account=buyer_account,
        mechanism="CEA",
        quantity=650,
    )
    events_before = LedgerEvent.objects.count()

    with pytest.raises(Conflict) as refusal:
        allocate(administrator, entity, 2024, -100, kind="final_adjustment")

    assert refusal.value.http_status == 409
    assert refusal.value.code == "insufficient_allowances"
    assert refusal.value.details == {"available": 50, "requested": 100}
    assert not Cancellation.objects.exists()
    assert Allocation.objects.count() == 1
    assert LedgerEvent.objects.count() == events_before


def test_a_final_adjustment_needs_the_verified_figure(administrator, entity):
    allocate(administrator, entity, 2024, 700)

    with pytest.raises(Conflict) as refusal:
        allocate(administrator, entity, 2024, 10, kind="final_adjustment")

    assert refusal.value.code == "no_verified_emissions"


def test_only_administrators_allocate(steel_user, entity):
    with pytest.raises(Forbidden):
        allocate(steel_user, entity, 2024, 10)
    assert not UnitClaim.objects.exists()


def test_schemes_take_ccer_limits_by_kind(administrator, ministry, national):
    with pytest.raises(DomainError) as refusal:
        compliance_scheme_create(
            actor=administrator,
            code="sh-pilot",
            name="Shanghai pilot",
            kind="pilot",
            province="CN-SH",
            authority=ministry,
            ccer_limit_percent="10.5",
        )
    assert refusal.value.code == "invalid_ccer_limit"

    # The check constraint is the guarantee behind the service.
    with pytest.raises(IntegrityError), transaction.atomic():
        ComplianceScheme.objects.filter(pk=national.pk).update(ccer_limit_percent=6)
