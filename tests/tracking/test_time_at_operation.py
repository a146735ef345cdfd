"""Time is checked at the moment of every operation: units whose validity has ended are never
issued (``expired_on_issue``) and never transferred or retired (``units_expired``), whatever the
hourly expiry job has marked so far; the selection compares with the transaction's time."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from issuance.services import unit_claim_issue
from registry.errors import Conflict, UnitsExpired
from registry.models import LedgerEvent, UnitClaim
from registry.services import declaration_sign, production_record_create
from tests.conftest import RETIREMENT_DEFAULTS, month
from tracking.models import Block, Retirement, Transfer
from tracking.services import block_retire, block_transfer, units_expire


def refused(code: str) -> list[LedgerEvent]:
    return list(
        LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED, payload__code=code)
    )


def record_month(issuer, project, year, month_number, quantity="500"):
    start, end = month(year, month_number)
    return production_record_create(
        actor=issuer,
        project=project,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=Decimal(quantity),
    )


def lapse(claim: UnitClaim) -> None:
    """The claim's validity ended an hour ago and the expiry job has not run since."""
    Block.objects.filter(claim=claim).update(expires_at=timezone.now() - dt.timedelta(hours=1))


@pytest.fixture
def october_2024(issuer, wind_farm):
    """Production of October 2024: its GECs expired on 2026-11-01 (24 months after)."""
    return record_month(issuer, wind_farm, 2024, 10)


@pytest.fixture
def two_gec_months(issuer, wind_farm, march_record, owner_account):
    """GECs of March (serials 1..1000) and April 2025 (1001..1500) in the owner's account."""
    april = record_month(issuer, wind_farm, 2025, 4)
    claims = [
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=record,
            account=owner_account,
            quantity=quantity,
        )
        for record, quantity in ((march_record, 1000), (april, 500))
    ]
    return claims


# --- issuance --------------------------------------------------------------------------------


def test_gecs_whose_validity_has_ended_are_not_issued(issuer, october_2024, owner_account):
    with pytest.raises(UnitsExpired) as refusal:
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=october_2024,
            account=owner_account,
            quantity=100,
        )
    assert (refusal.value.code, refusal.value.field, refusal.value.http_status) == (
        "expired_on_issue",
        "production_record",
        409,
    )
    assert refusal.value.details["expires_at"].startswith("2026-11-01T00:00:00+08:00")
    assert not UnitClaim.objects.exists() and not Block.objects.exists()
    (attempt,) = refused("expired_on_issue")
    assert attempt.payload["operation"] == "unit_claim_issue"


def test_a_mechanism_without_validity_is_issued_for_the_same_production(
    issuer, project_owner, wind_farm, october_2024, owner_account
):
    start, end = month(2024, 10)
    declaration_sign(
        actor=project_owner, project=wind_farm, unit_kind="E", period_start=start, period_end=end
    )
    claim = unit_claim_issue(
        actor=issuer,
        mechanism="TIGR",
        production_record=october_2024,
        account=owner_account,
        quantity=100,
    )
    assert claim.expires_at is None


def test_the_api_refuses_born_expired_gecs(api, issuer, october_2024, owner_account):
    response = api(issuer).post(
        "/api/v1/issuances/",
        {
            "mechanism": "GEC",
            "production_record": october_2024.pk,
            "account": owner_account.number,
            "quantity": 100,
        },
    )
    assert response.status_code == 409, response.content
    assert (response.json()["code"], response.json()["field"]) == (
        "expired_on_issue",
        "production_record",
    )
    assert not UnitClaim.objects.exists()


# --- transfer and retirement -----------------------------------------------------------------


def test_a_range_past_its_expiry_is_refused_naming_the_serials_before_the_job_marks_it(
    project_owner, gec_claim, owner_account, buyer_account, wind_farm
):
    lapse(gec_claim)
    serials = f"CN-{wind_farm.code}-E-202503-000000000011-000000000020"
    with pytest.raises(UnitsExpired) as refusal:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=buyer_account,
            mechanism="GEC",
            serial_range=serials,
        )
    assert (refusal.value.code, refusal.value.field) == ("units_expired", "serial_range")
    assert [item["serials"] for item in refusal.value.details["expired"]] == [serials]
    assert not Transfer.objects.exists()
    assert Block.objects.get(claim=gec_claim).status == Block.Status.ACTIVE
    assert refused("units_expired")[0].payload["operation"] == "block_transfer"


def test_a_range_the_job_marked_expired_is_refused_as_units_expired(
    project_owner, gec_claim, owner_account, wind_farm
):
    lapse(gec_claim)
    assert units_expire() == 1000
    with pytest.raises(UnitsExpired) as refusal:
        block_retire(
            actor=project_owner,
            account=owner_account,
            mechanism="GEC",
            serial_range=f"CN-{wind_farm.code}-E-202503-000000000001-000000000005",
            **RETIREMENT_DEFAULTS,
        )
    assert refusal.value.code == "units_expired"
    assert not Retirement.objects.exists()
    assert refused("units_expired")[0].payload["operation"] == "block_retire"


def test_a_quantity_skips_expired_blocks_and_takes_valid_ones(
    project_owner, two_gec_months, owner_account, buyer_account
):
    march, april = two_gec_months
    lapse(march)
    transfer = block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=300,
    )
    # March's serials come first in serial order, but they have expired: April's move.
    assert transfer.serial_ranges == [[april.stream_id, 1001, 1301]]
    assert Block.objects.get(claim=march).account_id == owner_account.pk


def test_a_quantity_only_expired_units_could_cover_is_refused_as_units_expired(
    project_owner, two_gec_months, owner_account, wind_farm
):
    march, _april = two_gec_months
    lapse(march)
    with pytest.raises(UnitsExpired) as refusal:
        block_retire(
            actor=project_owner,
            account=owner_account,
            mechanism="GEC",
            quantity=600,
            **RETIREMENT_DEFAULTS,
        )
    details = refusal.value.details
    assert (refusal.value.code, refusal.value.field) == ("units_expired", "quantity")
    assert (details["available"], details["requested"], details["expired_quantity"]) == (
        500,
        600,
        1000,
    )
    assert details["expired"][0]["serials"] == (
        f"CN-{wind_farm.code}-E-202503-000000000001-000000001000"
    )
    assert not Retirement.objects.exists()


def test_a_quantity_even_expired_units_cannot_cover_is_insufficient(
    project_owner, two_gec_months, owner_account, buyer_account
):
    march, _april = two_gec_months
    lapse(march)
    with pytest.raises(Conflict) as refusal:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=buyer_account,
            mechanism="GEC",
            quantity=1501,
        )
    assert refusal.value.code == "insufficient_units"
    assert refusal.value.details == {"available": 500, "requested": 1501}


def test_the_api_refuses_expired_units_with_units_expired(
    api, project_owner, gec_claim, owner_account, buyer_account
):
    lapse(gec_claim)
    response = api(project_owner).post(
        "/api/v1/transfers/",
        {
            "mechanism": "GEC",
            "source_account": owner_account.number,
            "target_account": buyer_account.number,
            "quantity": 10,
        },
    )
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "units_expired"
    assert body["details"]["expired"][0]["serials"].endswith("000000000001-000000001000")
    assert not Transfer.objects.exists()
