"""Claims on a retirement: parts of it allocated to a product batch, an event or a report,
never more than it retired, each reference once."""

import pytest
from django.db import IntegrityError, transaction

from issuance.services import unit_claim_issue
from registry.errors import Conflict, DomainError, Forbidden
from registry.models import LedgerEvent
from tests.conftest import RETIREMENT_DEFAULTS
from tests.tracking.test_concurrency import run_at_once
from tracking.models import RetirementAllocation
from tracking.services import block_retire, retirement_allocate


@pytest.fixture
def retirement(issuer, project_owner, march_record, owner_account):
    unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=100,
    )
    return block_retire(
        actor=project_owner,
        account=owner_account,
        mechanism="GEC",
        quantity=100,
        **RETIREMENT_DEFAULTS,
    )


def allocate(actor, retirement, quantity, reference="batch 1"):
    return retirement_allocate(
        actor=actor,
        retirement=retirement,
        quantity=quantity,
        claimant="Hebei Green Steel Co.",
        reference=reference,
    )


def test_allocations_up_to_the_retired_quantity_are_recorded(project_owner, retirement):
    allocate(project_owner, retirement, 60, "batch 1")
    allocation = allocate(project_owner, retirement, 40, "batch 2")
    assert allocation.quantity == 40
    assert sum(retirement.allocations.values_list("quantity", flat=True)) == 100
    event = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.RETIREMENT_ALLOCATED).last()
    assert event.payload["allocated_after"] == 100
    assert event.payload["reference"] == "batch 2"


def test_allocating_more_than_remains_is_refused_with_the_figures(project_owner, retirement):
    allocate(project_owner, retirement, 70, "batch 1")
    events_before = LedgerEvent.objects.count()
    with pytest.raises(Conflict) as refusal:
        allocate(project_owner, retirement, 31, "batch 2")
    assert refusal.value.code == "allocation_exceeds_retirement"
    assert refusal.value.details == {"retired": 100, "allocated": 70, "available": 30}
    assert retirement.allocations.count() == 1
    assert LedgerEvent.objects.count() == events_before


def test_the_same_reference_is_allocated_once(project_owner, retirement):
    allocate(project_owner, retirement, 10, "report 2025")
    with pytest.raises(Conflict) as refusal:
        allocate(project_owner, retirement, 10, "report 2025")
    assert refusal.value.code == "allocation_reference_taken"


def test_only_the_holder_or_an_administrator_allocates(outsider, auditor, retirement):
    for actor in (outsider, auditor):
        with pytest.raises(Forbidden):
            allocate(actor, retirement, 1)
    assert not RetirementAllocation.objects.exists()


@pytest.mark.parametrize(
    ("quantity", "field"), [(0, "quantity"), (-5, "quantity"), (True, "quantity")]
)
def test_bad_quantities_name_the_field(project_owner, retirement, quantity, field):
    with pytest.raises(DomainError) as refusal:
        allocate(project_owner, retirement, quantity)
    assert refusal.value.field == field


def test_database_refuses_an_allocation_beyond_the_retirement_inserted_directly(
    project_owner, retirement
):
    allocate(project_owner, retirement, 90)
    with pytest.raises(IntegrityError, match="would reach 101 of 100"), transaction.atomic():
        RetirementAllocation.objects.create(
            retirement=retirement,
            quantity=11,
            claimant="someone",
            reference="around the service",
            actor=project_owner,
        )


def test_allocations_are_final(project_owner, retirement):
    allocation = allocate(project_owner, retirement, 5)
    with pytest.raises(Exception, match="allocation_is_final"), transaction.atomic():
        RetirementAllocation.objects.filter(pk=allocation.pk).update(quantity=1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_concurrent_allocations_never_exceed_the_retirement(project_owner, retirement):
    results = run_at_once(
        [
            lambda reference=f"batch {index}": allocate(project_owner, retirement, 30, reference)
            for index in range(6)
        ]
    )
    won = [result for result in results if isinstance(result, RetirementAllocation)]
    refused = [result for result in results if isinstance(result, Conflict)]
    assert len(won) == 3 and len(refused) == 3
    assert {error.code for error in refused} == {"allocation_exceeds_retirement"}
    assert sum(retirement.allocations.values_list("quantity", flat=True)) == 90


def test_api_allocates_and_the_public_record_lists_the_allocations(api, project_owner, retirement):
    url = f"/api/v1/retirements/{retirement.public_id}/allocations/"
    body = {"quantity": 60, "claimant": "Hebei Green Steel Co.", "reference": "batch 1"}
    created = api(project_owner).post(url, body, format="json")
    assert created.status_code == 201, created.content
    over = api(project_owner).post(url, {**body, "reference": "batch 2"}, format="json")
    assert over.status_code == 409
    assert over.json()["code"] == "allocation_exceeds_retirement"
    assert over.json()["details"]["available"] == 40
    public = api(None).get(f"/api/v1/retirements/{retirement.public_id}/")
    assert public.status_code == 200
    assert [row["reference"] for row in public.json()["allocations"]] == ["batch 1"]
    assert api(None).post(url, body, format="json").status_code == 401
    unknown = api(project_owner).post(
        "/api/v1/retirements/not-a-uuid/allocations/", body, format="json"
    )
    assert unknown.status_code == 404
