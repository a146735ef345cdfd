"""R14: units counting toward a host country's target that cross a border need a corresponding
adjustment; its status only moves forward, and units cannot be retired abroad until it is
completed (or, configured so, the retirement is only flagged)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction

from accounts.models import Organisation, User
from issuance.services import unit_claim_issue
from registry.errors import Conflict, DomainError, Forbidden, RuleViolation
from registry.models import LedgerEvent
from registry.serials import Serial
from registry.services import declaration_sign
from tests.conftest import RETIREMENT_DEFAULTS, month
from tests.factories import HoldingAccountFactory, OrganisationFactory, UserFactory
from tracking.models import Block, CorrespondingAdjustment, Retirement
from tracking.selectors import unit_verify
from tracking.services import (
    block_retire,
    block_transfer,
    corresponding_adjustment_set_status,
)


@pytest.fixture
def foreign_buyer(db):
    company = OrganisationFactory(
        code="berlin-air", name="Berlin Air GmbH", kind=Organisation.Kind.TRADER, country="DE"
    )
    return UserFactory(username="berlin", organisation=company, role=User.Role.HOLDER)


@pytest.fixture
def foreign_account(foreign_buyer):
    return HoldingAccountFactory(
        organisation=foreign_buyer.organisation, number="DE-00000001", name="Berlin Air account"
    )


@pytest.fixture
def ccer_claim(second_issuer, project_owner, wind_farm, march_record, owner_account):
    """656 CCER tonnes derived from the wind farm's March MWh, in the owner's account."""
    start, end = month(2025, 3)
    declaration_sign(
        actor=project_owner, project=wind_farm, unit_kind="E", period_start=start, period_end=end
    )
    return unit_claim_issue(
        actor=second_issuer,
        mechanism="CCER",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
        conversion_factor=Decimal("0.6565"),
        conversion_source="North China grid combined margin 2025",
    )


def send_abroad(project_owner, owner_account, foreign_account, quantity=100, mechanism="CCER"):
    return block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=foreign_account,
        mechanism=mechanism,
        quantity=quantity,
    )


def flags(rule_id):
    return list(
        LedgerEvent.objects.filter(kind=LedgerEvent.Kind.RULE_FLAGGED, payload__rule=rule_id)
    )


def retire(actor, account, quantity=10, mechanism="CCER"):
    return block_retire(
        actor=actor, account=account, mechanism=mechanism, quantity=quantity, **RETIREMENT_DEFAULTS
    )


def advance(administrator, adjustment, *statuses):
    for status in statuses:
        corresponding_adjustment_set_status(
            actor=administrator, adjustment=adjustment, status=status, reference="BTR-2026 annex"
        )
    return adjustment


# --- transfers --------------------------------------------------------------------------------


def test_ccer_sent_abroad_opens_a_not_started_adjustment_and_flags_r14(
    project_owner, wind_farm, ccer_claim, owner_account, foreign_account
):
    transfer = send_abroad(project_owner, owner_account, foreign_account, quantity=100)

    adjustment = CorrespondingAdjustment.objects.get()
    assert adjustment.transfer == transfer
    assert adjustment.status == CorrespondingAdjustment.Status.NOT_STARTED
    assert (adjustment.host_country, adjustment.acquiring_country) == ("CN", "DE")
    assert (adjustment.serials.lower, adjustment.serials.upper) == (1, 101)
    assert adjustment.quantity == 100 and adjustment.stream_id == ccer_claim.stream_id
    [flagged] = flags("R14")
    assert f"adjustment:{adjustment.pk}" in flagged.subjects
    assert f"transfer:{transfer.pk}" in flagged.subjects
    assert flagged.payload["facts"]["adjustments"][0]["adjustment"] == adjustment.pk
    assert flagged.payload["facts"]["adjustments"][0]["serials"].endswith(
        "-000000000001-000000000100"
    )
    # Still exactly one units.transferred event for the transfer.
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.UNITS_TRANSFERRED).count() == 1


def test_domestic_ccer_transfer_opens_no_adjustment(
    project_owner, ccer_claim, owner_account, buyer_account
):
    send_abroad(project_owner, owner_account, buyer_account, quantity=100)

    assert not CorrespondingAdjustment.objects.exists()
    assert flags("R14") == []


def test_gec_sent_abroad_opens_no_adjustment_energy_attributes_are_not_mitigation(
    project_owner, gec_claim, owner_account, foreign_account
):
    send_abroad(project_owner, owner_account, foreign_account, quantity=100, mechanism="GEC")

    assert not CorrespondingAdjustment.objects.exists()
    assert flags("R14") == []


def test_units_moving_on_between_two_foreign_accounts_open_no_second_adjustment(
    project_owner, foreign_buyer, ccer_claim, owner_account, foreign_account
):
    send_abroad(project_owner, owner_account, foreign_account, quantity=100)
    french = HoldingAccountFactory(
        organisation=OrganisationFactory(code="paris-co", country="FR"), number="FR-00000001"
    )

    block_transfer(
        actor=foreign_buyer,
        source_account=foreign_account,
        target_account=french,
        mechanism="CCER",
        quantity=40,
    )

    assert CorrespondingAdjustment.objects.count() == 1


def test_disabled_r14_opens_no_adjustment(
    settings, project_owner, ccer_claim, owner_account, foreign_account
):
    settings.REGISTRY_DISABLED_RULES = ["R14"]

    send_abroad(project_owner, owner_account, foreign_account)

    assert not CorrespondingAdjustment.objects.exists()


# --- retirement abroad ------------------------------------------------------------------------


def test_retiring_abroad_before_the_adjustment_is_completed_is_refused_by_r14(
    project_owner, foreign_buyer, ccer_claim, owner_account, foreign_account
):
    send_abroad(project_owner, owner_account, foreign_account, quantity=100)
    adjustment = CorrespondingAdjustment.objects.get()
    blocks_before = sorted(Block.objects.values_list("pk", "serials", "status", "account_id"))
    events_before = LedgerEvent.objects.count()

    with pytest.raises(RuleViolation) as refusal:
        retire(foreign_buyer, foreign_account, quantity=10)

    assert refusal.value.details["rule"] == "R14"
    facts = refusal.value.details["facts"]
    assert facts["adjustment"] == adjustment.pk
    assert facts["status"] == "not_started"
    assert facts["serials"].endswith("-000000000001-000000000010")
    assert (facts["host_country"], facts["retiring_country"]) == ("CN", "DE")
    assert not Retirement.objects.exists()
    assert sorted(Block.objects.values_list("pk", "serials", "status", "account_id")) == (
        blocks_before
    )
    refused = LedgerEvent.objects.order_by("-id").first()
    assert LedgerEvent.objects.count() == events_before + 1
    assert refused.kind == LedgerEvent.Kind.ATTEMPT_REFUSED
    assert refused.payload["operation"] == "block_retire"
    assert refused.payload["details"]["rule"] == "R14"


def test_retiring_abroad_while_pending_is_still_refused(
    administrator, project_owner, foreign_buyer, ccer_claim, owner_account, foreign_account
):
    send_abroad(project_owner, owner_account, foreign_account)
    advance(administrator, CorrespondingAdjustment.objects.get(), "pending")

    with pytest.raises(RuleViolation) as refusal:
        retire(foreign_buyer, foreign_account)

    assert refusal.value.details["facts"]["status"] == "pending"


def test_retiring_abroad_after_pending_then_completed_is_allowed(
    administrator, project_owner, foreign_buyer, ccer_claim, owner_account, foreign_account
):
    send_abroad(project_owner, owner_account, foreign_account, quantity=100)
    adjustment = advance(
        administrator, CorrespondingAdjustment.objects.get(), "pending", "completed"
    )
    assert adjustment.status == "completed"
    assert adjustment.pending_at is not None and adjustment.completed_at is not None

    retirement = retire(foreign_buyer, foreign_account, quantity=10)

    assert retirement.quantity == 10
    assert flags("R14") and all(
        flagged.payload["facts"].get("transfer") for flagged in flags("R14")
    )  # only the transfer's flag, none for the retirement


def test_retiring_at_home_needs_no_adjustment(
    project_owner, buyer, ccer_claim, owner_account, buyer_account
):
    send_abroad(project_owner, owner_account, buyer_account)

    assert retire(buyer, buyer_account).quantity == 10


def test_units_sent_abroad_and_back_may_be_retired_at_home_before_completion(
    project_owner, foreign_buyer, ccer_claim, owner_account, foreign_account
):
    send_abroad(project_owner, owner_account, foreign_account)
    block_transfer(
        actor=foreign_buyer,
        source_account=foreign_account,
        target_account=owner_account,
        mechanism="CCER",
        quantity=100,
    )

    retirement = retire(project_owner, owner_account, quantity=10)

    retired = Block.objects.get(retirement=retirement)
    assert (retired.serials.lower, retired.serials.upper) == (1, 11)  # the units that came back
    assert CorrespondingAdjustment.objects.get().status == "not_started"


def test_flag_setting_lets_the_retirement_through_with_a_rule_flagged_event(
    settings, project_owner, foreign_buyer, ccer_claim, owner_account, foreign_account
):
    settings.REGISTRY_R14_RETIREMENT_EFFECT = "flag"
    send_abroad(project_owner, owner_account, foreign_account)
    adjustment = CorrespondingAdjustment.objects.get()

    retirement = retire(foreign_buyer, foreign_account, quantity=10)

    assert retirement.quantity == 10
    retirement_flags = [
        flagged for flagged in flags("R14") if "adjustment" in flagged.payload["facts"]
    ]
    [flagged] = retirement_flags
    assert flagged.payload["facts"]["adjustment"] == adjustment.pk
    assert flagged.payload["facts"]["status"] == "not_started"
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).exists()


def test_units_issued_straight_into_a_foreign_account_are_flagged_when_retired_there(
    second_issuer, project_owner, foreign_buyer, wind_farm, march_record, foreign_account
):
    start, end = month(2025, 3)
    declaration_sign(
        actor=project_owner, project=wind_farm, unit_kind="E", period_start=start, period_end=end
    )
    unit_claim_issue(
        actor=second_issuer,
        mechanism="CCER",
        production_record=march_record,
        account=foreign_account,
        quantity=100,
        conversion_factor=Decimal("0.6565"),
    )

    retirement = retire(foreign_buyer, foreign_account, quantity=10)

    assert retirement.quantity == 10
    [flagged] = flags("R14")
    assert flagged.payload["facts"]["status"] == "missing"


# --- status changes ---------------------------------------------------------------------------


def test_status_moves_backwards_or_skips_are_refused(
    administrator, project_owner, ccer_claim, owner_account, foreign_account
):
    send_abroad(project_owner, owner_account, foreign_account)
    adjustment = CorrespondingAdjustment.objects.get()

    with pytest.raises(Conflict) as skipped:
        advance(administrator, adjustment, "completed")
    assert skipped.value.code == "invalid_status_change"

    advance(administrator, adjustment, "pending")
    with pytest.raises(Conflict) as backwards:
        advance(administrator, adjustment, "not_started")
    assert backwards.value.details == {"current": "pending", "requested": "not_started"}
    adjustment.refresh_from_db()
    assert adjustment.status == "pending"
    assert (
        LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ADJUSTMENT_STATUS).count() == 1
    )  # only the one step that happened


def test_the_database_refuses_a_backward_status_change_and_any_other_change(
    administrator, project_owner, ccer_claim, owner_account, foreign_account
):
    send_abroad(project_owner, owner_account, foreign_account)
    adjustment = advance(administrator, CorrespondingAdjustment.objects.get(), "pending")

    backwards = "cannot go from pending to not_started"
    with pytest.raises(DatabaseError, match=backwards), transaction.atomic():
        CorrespondingAdjustment.objects.filter(pk=adjustment.pk).update(
            status="not_started", pending_at=None
        )
    with pytest.raises(DatabaseError, match="may change only its status"), transaction.atomic():
        CorrespondingAdjustment.objects.filter(pk=adjustment.pk).update(acquiring_country="FR")
    with pytest.raises(DatabaseError, match="Cannot delete"), transaction.atomic():
        CorrespondingAdjustment.objects.filter(pk=adjustment.pk).delete()


def test_only_an_administrator_changes_an_adjustment_and_with_a_reference(
    administrator, project_owner, auditor, ccer_claim, owner_account, foreign_account
):
    send_abroad(project_owner, owner_account, foreign_account)
    adjustment = CorrespondingAdjustment.objects.get()

    for actor in (project_owner, auditor):
        with pytest.raises(Forbidden):
            advance(actor, adjustment, "pending")
    with pytest.raises(DomainError) as no_reference:
        corresponding_adjustment_set_status(
            actor=administrator, adjustment=adjustment, status="pending", reference=" "
        )
    assert no_reference.value.code == "reference_required"
    advance(administrator, adjustment, "pending")
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.ADJUSTMENT_STATUS)
    assert event.payload["from"] == "not_started" and event.payload["to"] == "pending"
    assert event.payload["reference"] == "BTR-2026 annex"
    assert f"adjustment:{adjustment.pk}" in event.subjects


# --- public verification ----------------------------------------------------------------------


def test_verify_shows_the_adjustment_status_of_a_unit_that_crossed_a_border(
    administrator, project_owner, wind_farm, ccer_claim, owner_account, foreign_account
):
    send_abroad(project_owner, owner_account, foreign_account, quantity=100)
    adjustment = advance(administrator, CorrespondingAdjustment.objects.get(), "pending")

    moved = unit_verify(str(Serial("CN", wind_farm.code, "C", 202503, 5)))
    stayed = unit_verify(str(Serial("CN", wind_farm.code, "C", 202503, 500)))

    [shown] = moved["corresponding_adjustments"]
    assert shown["id"] == adjustment.pk
    assert shown["status"] == "pending"
    assert (shown["host_country"], shown["acquiring_country"]) == ("CN", "DE")
    assert stayed["corresponding_adjustments"] == []


# --- API --------------------------------------------------------------------------------------

ADJUSTMENTS = "/api/v1/corresponding-adjustments/"


@pytest.fixture
def adjustment(project_owner, ccer_claim, owner_account, foreign_account):
    send_abroad(project_owner, owner_account, foreign_account, quantity=100)
    return CorrespondingAdjustment.objects.get()


def listed(client) -> list[int]:
    response = client.get(ADJUSTMENTS)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_adjustments_are_listed_for_admin_auditor_and_both_sides_of_the_transfer_only(
    api, adjustment, administrator, auditor, project_owner, foreign_buyer, buyer, outsider
):
    for seeing in (administrator, auditor, project_owner, foreign_buyer):
        assert listed(api(seeing)) == [adjustment.pk]
    for blind in (buyer, outsider):
        assert listed(api(blind)) == []
        assert api(blind).get(f"{ADJUSTMENTS}{adjustment.pk}/").status_code == 404
    assert api(None).get(ADJUSTMENTS).status_code == 401


def test_an_adjustment_shows_its_range_countries_and_status(api, adjustment, wind_farm, auditor):
    body = api(auditor).get(f"{ADJUSTMENTS}{adjustment.pk}/").json()

    assert body["status"] == "not_started"
    assert (body["host_country"], body["acquiring_country"]) == ("CN", "DE")
    assert body["mechanism"] == "CCER" and body["quantity"] == 100
    assert body["serial_range"] == f"CN-{wind_farm.code}-C-202503-000000000001-000000000100"
    assert body["transfer"] == str(adjustment.transfer.public_id)
    filtered = api(auditor).get(ADJUSTMENTS, {"status": "completed"}).json()["results"]
    assert filtered == []


def test_only_an_administrator_moves_the_status_forward_through_the_api(
    api, adjustment, administrator, auditor, project_owner, foreign_buyer, buyer
):
    url = f"{ADJUSTMENTS}{adjustment.pk}/status/"
    body = {"status": "pending", "reference": "CN BTR 2026, table 4"}

    assert api(None).post(url, body).status_code == 401
    for refused in (auditor, project_owner, foreign_buyer):
        response = api(refused).post(url, body)
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "permission_denied"
    assert api(buyer).post(url, body).status_code == 404  # not disclosed
    adjustment.refresh_from_db()
    assert adjustment.status == "not_started"

    moved = api(administrator).post(url, body)
    assert moved.status_code == 200, moved.content
    assert moved.json()["status"] == "pending" and moved.json()["pending_at"]

    backwards = api(administrator).post(url, {**body, "status": "not_started"})
    assert backwards.status_code == 400  # not a forward step: not even offered
    again = api(administrator).post(url, body)
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_status_change"
    no_reference = api(administrator).post(url, {"status": "completed", "reference": ""})
    assert no_reference.status_code == 400
    adjustment.refresh_from_db()
    assert adjustment.status == "pending"


def test_retiring_abroad_through_the_api_answers_409_naming_r14(
    api, adjustment, foreign_buyer, foreign_account
):
    response = api(foreign_buyer).post(
        "/api/v1/retirements/",
        {
            **{key: str(value) for key, value in RETIREMENT_DEFAULTS.items()},
            "reporting_year": 2025,
            "account": foreign_account.number,
            "mechanism": "CCER",
            "quantity": 5,
        },
    )

    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "rule_violation"
    assert body["details"]["rule"] == "R14"
    assert body["details"]["facts"]["adjustment"] == adjustment.pk
    assert not Retirement.objects.exists()


def test_public_verify_shows_the_adjustment(api, adjustment, wind_farm):
    serial = Serial("CN", wind_farm.code, "C", 202503, 7)

    unit = api(None).get(f"/api/v1/verify/{serial}/").json()

    assert [entry["status"] for entry in unit["corresponding_adjustments"]] == ["not_started"]


# --- admin ------------------------------------------------------------------------------------


def test_admin_action_asks_for_a_reference_then_moves_the_status_through_the_service(
    client, superuser, adjustment
):
    client.force_login(superuser)
    url = "/admin/tracking/correspondingadjustment/"
    assert client.get(url).status_code == 200
    chosen = {"action": "mark_pending", "_selected_action": [adjustment.pk]}

    asked = client.post(url, chosen)
    assert asked.status_code == 200 and b"reference" in asked.content
    adjustment.refresh_from_db()
    assert adjustment.status == "not_started"

    done = client.post(url, {**chosen, "apply": "1", "reference": "CN BTR 2026"})
    assert done.status_code == 302
    adjustment.refresh_from_db()
    assert adjustment.status == "pending"
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.ADJUSTMENT_STATUS)
    assert event.payload["reference"] == "CN BTR 2026"
    assert client.get(f"{url}{adjustment.pk}/change/").status_code == 200  # read-only view
