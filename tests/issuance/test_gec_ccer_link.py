"""R7, the GEC-CCER link: registration for CCER freezes untraded GECs, CCER issuance cancels
them, and traded or retired GECs make the CCER issuance fail."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum

from issuance.services import project_mechanism_register, unit_claim_issue
from registry.errors import Conflict, DomainError, RuleViolation
from registry.models import LedgerEvent, UnitClaim
from registry.serials import Serial, SerialRange
from registry.services import declaration_sign
from tests.conftest import RETIREMENT_DEFAULTS, month
from tracking.models import Block, Cancellation
from tracking.selectors import unit_verify
from tracking.services import block_retire, block_set_status, block_transfer

FACTOR = "0.6565"


@pytest.fixture
def gec(issuer, march_record, owner_account):
    """All 1,000 MWh of March as GEC in the owner's account."""
    return unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
    )


@pytest.fixture
def declared(project_owner, wind_farm):
    start, end = month(2025, 3)
    return declaration_sign(
        actor=project_owner, project=wind_farm, unit_kind="E", period_start=start, period_end=end
    )


def register_for_ccer(second_issuer, wind_farm):
    start, _ = month(2025, 1)
    return project_mechanism_register(
        actor=second_issuer,
        project=wind_farm,
        mechanism="CCER",
        reference="CCER-2025-0042",
        crediting_start=start,
        crediting_end=start.replace(year=2035),
    )


def issue_ccer(second_issuer, march_record, owner_account, **amount):
    return unit_claim_issue(
        actor=second_issuer,
        mechanism="CCER",
        production_record=march_record,
        account=owner_account,
        conversion_factor=FACTOR,
        **amount,
    )


def held(claim_ids, status):
    return (
        Block.objects.filter(claim_id__in=claim_ids, status=status).aggregate(
            total=Sum("quantity")
        )["total"]
        or 0
    )


def gec_claim_ids(march_record):
    return list(
        UnitClaim.objects.filter(production_record=march_record, mechanism__code="GEC").values_list(
            "pk", flat=True
        )
    )


def assert_blocks_add_up_to_their_claims():
    for claim in UnitClaim.objects.exclude(role="source"):  # consumed units have no blocks
        total = Block.objects.filter(claim=claim).aggregate(total=Sum("quantity"))["total"]
        assert total == claim.quantity, claim


def test_registering_a_wind_farm_for_ccer_freezes_its_untraded_gecs_only(
    second_issuer, wind_farm, gec, owner_account, buyer_account, project_owner
):
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=100,
    )
    registration = register_for_ccer(second_issuer, wind_farm)
    assert held([gec.pk], "frozen") == 900
    assert held([gec.pk], "active") == 100  # the traded ones, in the buyer's account
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.PROJECT_MECHANISM_REGISTERED)
    assert event.payload["frozen_quantity"] == 900
    assert event.payload["reference"] == registration.reference
    assert f"claim:{gec.pk}" in event.subjects


def test_gec_frozen_by_a_ccer_registration_cannot_be_unfrozen(
    administrator, second_issuer, wind_farm, gec
):
    register_for_ccer(second_issuer, wind_farm)
    block = Block.objects.get(claim=gec)
    with pytest.raises(RuleViolation) as refusal:
        block_set_status(actor=administrator, block=block, status="active", reason="please")
    assert refusal.value.details["rule"] == "R7"
    block.refresh_from_db()
    assert block.status == "frozen"


def test_new_gec_issuance_is_refused_while_the_project_is_registered_for_ccer(
    issuer, second_issuer, wind_farm, march_record, owner_account
):
    register_for_ccer(second_issuer, wind_farm)
    with pytest.raises(RuleViolation) as refusal:
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march_record,
            account=owner_account,
            quantity=10,
        )
    assert refusal.value.details["rule"] == "R7"
    assert refusal.value.details["facts"]["reference"] == "CCER-2025-0042"
    assert not UnitClaim.objects.exists()
    refused = LedgerEvent.objects.get(kind=LedgerEvent.Kind.ATTEMPT_REFUSED)
    assert refused.payload["details"]["rule"] == "R7"


def test_gec_before_the_crediting_period_is_still_allowed(
    issuer, second_issuer, wind_farm, march_record, owner_account
):
    start, _ = month(2025, 4)
    project_mechanism_register(
        actor=second_issuer,
        project=wind_farm,
        mechanism="CCER",
        reference="CCER-2025-0043",
        crediting_start=start,
    )
    claim = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=10,
    )
    assert claim.status == "live"


def test_ccer_issuance_cancels_the_frozen_gecs_on_its_mwh_and_publishes_it(
    second_issuer, wind_farm, march_record, gec, declared, owner_account
):
    register_for_ccer(second_issuer, wind_farm)
    ccer = issue_ccer(second_issuer, march_record, owner_account, quantity=1000)
    assert ccer.quantity == 656  # 1,000 MWh x 0.6565, rounded down
    gec.refresh_from_db()
    assert gec.status == "revoked"
    assert gec.revocation_reason.startswith("R7")
    assert held([gec.pk], "cancelled") == 1000
    cancellation = Cancellation.objects.get(claim=gec)
    assert cancellation.quantity == 1000
    event = LedgerEvent.objects.get(
        kind=LedgerEvent.Kind.UNITS_CANCELLED, subjects__contains=["rule:R7"]
    )
    assert event.payload["for_claim"] == ccer.pk
    assert event.payload["cancellation"] == str(cancellation.public_id)
    # The public record of one of those MWh: consumed by the CCER, the GEC cancelled for it.
    serial = str(Serial("CN", wind_farm.code, "E", 202503, 500))
    verified = unit_verify(serial)
    assert verified["status"] == "derived"
    assert verified["derived_into"]["mechanism"] == "CCER"
    assert verified["cancellations"] == [
        {
            "claim": gec.pk,
            "mechanism": "GEC",
            "cancellation": str(cancellation.public_id),
            "reason": cancellation.reason,
            "cancelled_at": cancellation.created_at,
            "quantity": 1000,
            "serial_ranges": [f"CN-{wind_farm.code}-E-202503-000000000001-000000001000"],
        }
    ]
    assert_blocks_add_up_to_their_claims()


def test_ccer_on_part_of_the_frozen_gecs_splits_the_gec_claim(
    second_issuer, wind_farm, march_record, gec, declared, owner_account
):
    register_for_ccer(second_issuer, wind_farm)
    taken = SerialRange(301, 501)
    text = taken.format("CN", wind_farm.code, "E", 202503)
    issue_ccer(second_issuer, march_record, owner_account, serial_range=text)
    gec.refresh_from_db()
    assert gec.status == "live" and (gec.serials.lower, gec.serials.upper) == (1, 301)
    parts = {
        (part.status, part.serials.lower, part.serials.upper)
        for part in UnitClaim.objects.filter(split_from=gec)
    }
    assert parts == {("live", 501, 1001), ("revoked", 301, 501)}
    assert held(gec_claim_ids(march_record), "frozen") == 800
    assert held(gec_claim_ids(march_record), "cancelled") == 200
    assert_blocks_add_up_to_their_claims()
    # The remaining frozen MWh can still become CCER later, one contiguous range at a time.
    with pytest.raises(Conflict) as too_long:
        issue_ccer(second_issuer, march_record, owner_account, quantity=800)
    assert too_long.value.details["runs"] == [[1, 301], [501, 1001]]
    issue_ccer(second_issuer, march_record, owner_account, quantity=500)
    issue_ccer(second_issuer, march_record, owner_account, quantity=300)
    assert held(gec_claim_ids(march_record), "cancelled") == 1000
    assert_blocks_add_up_to_their_claims()


def test_traded_gecs_make_the_ccer_issuance_fail(
    second_issuer,
    project_owner,
    wind_farm,
    march_record,
    gec,
    declared,
    owner_account,
    buyer_account,
):
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=100,
    )
    register_for_ccer(second_issuer, wind_farm)
    claims_before = UnitClaim.objects.count()
    with pytest.raises(RuleViolation) as refusal:
        issue_ccer(second_issuer, march_record, owner_account, quantity=1000)
    assert refusal.value.details["rule"] == "R7"
    assert refusal.value.details["facts"]["gec_blocks"][0]["transfer_count"] == 1
    assert UnitClaim.objects.count() == claims_before
    assert held([gec.pk], "frozen") == 900 and held([gec.pk], "cancelled") == 0
    # The 900 untraded MWh are still available to a CCER issuance of that size.
    ccer = issue_ccer(second_issuer, march_record, owner_account, quantity=900)
    assert ccer.source_claim.serials.lower == 101


def test_retired_gecs_make_a_ccer_issuance_on_their_mwh_fail(
    second_issuer, project_owner, wind_farm, march_record, gec, declared, owner_account
):
    block_retire(
        actor=project_owner,
        account=owner_account,
        mechanism="GEC",
        quantity=10,
        **RETIREMENT_DEFAULTS,
    )
    register_for_ccer(second_issuer, wind_farm)
    text = SerialRange(1, 101).format("CN", wind_farm.code, "E", 202503)
    with pytest.raises(RuleViolation) as refusal:
        issue_ccer(second_issuer, march_record, owner_account, serial_range=text)
    assert refusal.value.details["rule"] == "R7"
    assert refusal.value.details["facts"]["gec_blocks"][0]["status"] == "retired"


def test_without_a_registration_ccer_on_gec_mwh_is_a_double_claim(
    second_issuer, march_record, gec, declared, owner_account
):
    with pytest.raises(Conflict) as refusal:
        issue_ccer(second_issuer, march_record, owner_account, quantity=10)
    assert refusal.value.code == "double_claim"
    assert refusal.value.details["existing_claim"]["mechanism"] == "GEC"


def test_overlapping_active_registrations_are_refused(second_issuer, wind_farm):
    register_for_ccer(second_issuer, wind_farm)
    with pytest.raises(Conflict) as refusal:
        project_mechanism_register(
            actor=second_issuer,
            project=wind_farm,
            mechanism="CCER",
            reference="again",
            crediting_start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
    assert refusal.value.code == "registration_overlap"


@pytest.mark.parametrize("year", [194, 1999, 2101])
def test_an_implausible_crediting_period_is_refused(second_issuer, wind_farm, year):
    with pytest.raises(DomainError) as refusal:
        project_mechanism_register(
            actor=second_issuer,
            project=wind_farm,
            mechanism="CCER",
            reference="typo",
            crediting_start=dt.datetime(year, 1, 1, tzinfo=dt.UTC),
        )
    assert refusal.value.field == "crediting_start"
    assert refusal.value.code == "implausible_period"
