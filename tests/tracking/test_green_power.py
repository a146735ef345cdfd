"""Green power settlement in the registry: contracts, consumption, stored monthly settlements,
confirmation by both parties and the GEC transfer of exactly the settled MWh of the generator's
project and month (docs/domain.md, green power settlement). Quantities are computed by hand in the
comments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from issuance.services import unit_claim_issue
from registry.errors import Conflict, DomainError, Forbidden
from registry.models import LedgerEvent
from registry.serials import SerialRange
from registry.services import production_record_create
from tests.conftest import month
from tracking.accounting.models import GreenPowerSettlement
from tracking.accounting.services import (
    electricity_consumption_record,
    green_power_contract_create,
    green_power_settle_month,
    green_power_settlement_confirm,
)
from tracking.models import Block, Transfer
from tracking.services import block_transfer


def _record(project, issuer, year: int, number: int, mwh: str):
    start, end = month(year, number)
    return production_record_create(
        actor=issuer,
        project=project,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=Decimal(mwh),
    )


def _consume(actor, organisation, year: int, number: int, mwh: str, **extra):
    start, end = month(year, number)
    return electricity_consumption_record(
        actor=actor,
        organisation=organisation,
        province="CN-BJ",
        period_start=start,
        period_end=end,
        mwh=Decimal(mwh),
        **extra,
    )


def _contract(administrator, wind_farm, owner_account, buyer, buyer_account, **extra):
    fields = {"code": "K1", "monthly_mwh": "800", "valid_from": "2025-03", **extra}
    return green_power_contract_create(
        actor=administrator,
        generator_project=wind_farm,
        generator_account=owner_account,
        buyer=buyer.organisation,
        buyer_account=buyer_account,
        **fields,
    )


def _held(account, **filters) -> int:
    return sum(
        Block.objects.filter(
            account=account, mechanism__code="GEC", status="active", **filters
        ).values_list("quantity", flat=True)
    )


@pytest.fixture
def february_gecs(wind_farm, issuer, owner_account):
    """300 GECs of the wind farm's February 2025, recorded before March, so they come first in
    serial order: a transfer by quantity without filters would take them first."""
    record = _record(wind_farm, issuer, 2025, 2, "300")
    return unit_claim_issue(
        actor=issuer, mechanism="GEC", production_record=record, account=owner_account, quantity=300
    )


# --- block_transfer's project and vintage filters ---------------------------------------------


def test_block_transfer_without_filters_still_takes_units_in_serial_order(
    february_gecs, gec_claim, project_owner, owner_account, buyer_account
):
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=10,
    )
    assert _held(buyer_account, vintage=202502) == 10


def test_block_transfer_with_a_vintage_takes_only_units_of_that_month(
    february_gecs, gec_claim, project_owner, owner_account, buyer_account, wind_farm
):
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=310,
        project=wind_farm,
        vintage=202503,
    )
    assert _held(buyer_account, vintage=202503) == 310
    assert _held(buyer_account) == 310
    assert _held(owner_account, vintage=202502) == 300


def test_block_transfer_with_filters_refuses_when_too_few_units_match(
    february_gecs, gec_claim, project_owner, owner_account, buyer_account, wind_farm
):
    # 1,300 GECs held, 1,000 of them of March: 1,001 of March is too many.
    with pytest.raises(Conflict) as refused:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=buyer_account,
            mechanism="GEC",
            quantity=1001,
            vintage=202503,
        )
    assert refused.value.code == "insufficient_units"
    assert refused.value.details == {"available": 1000, "requested": 1001}


def test_block_transfer_of_a_range_outside_the_filters_is_refused(
    february_gecs, gec_claim, project_owner, owner_account, buyer_account
):
    lower = Block.objects.get(claim=february_gecs).serials.lower
    text = SerialRange(lower, lower + 5).format("CN", gec_claim.stream.project.code, "E", 202502)
    with pytest.raises(Conflict) as refused:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=buyer_account,
            mechanism="GEC",
            serial_range=text,
            vintage=202503,
        )
    assert refused.value.code == "units_not_held"


# --- contracts and consumption ----------------------------------------------------------------


def test_a_contract_is_recorded_with_a_ledger_event(
    administrator, wind_farm, owner_account, buyer, buyer_account
):
    contract = _contract(administrator, wind_farm, owner_account, buyer, buyer_account)
    assert (contract.valid_from, contract.valid_to, contract.monthly_mwh) == (
        202503,
        None,
        Decimal("800"),
    )
    event = LedgerEvent.objects.get(kind="green_power.contract_created")
    assert event.payload["contract"] == "K1"


def test_the_generator_owner_may_record_a_contract_but_the_buyer_may_not(
    project_owner, buyer, wind_farm, owner_account, buyer_account
):
    _contract(project_owner, wind_farm, owner_account, buyer, buyer_account)
    with pytest.raises(Forbidden):
        _contract(buyer, wind_farm, owner_account, buyer, buyer_account, code="K2")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "K 1"}, "code"),
        ({"monthly_mwh": "0"}, "monthly_mwh"),
        ({"monthly_mwh": "-5"}, "monthly_mwh"),
        ({"valid_from": "2025-13"}, "valid_from"),
        ({"valid_to": "2025-02"}, "valid_to"),
    ],
)
def test_a_contract_with_bad_fields_is_refused_naming_the_field(
    administrator, wind_farm, owner_account, buyer, buyer_account, changes, field
):
    with pytest.raises(DomainError) as refused:
        _contract(administrator, wind_farm, owner_account, buyer, buyer_account, **changes)
    assert refused.value.field == field


def test_a_contract_needs_a_renewable_generator_and_the_parties_accounts(
    administrator, wind_farm, retrofit, owner_account, buyer, buyer_account
):
    with pytest.raises(DomainError) as refused:
        _contract(administrator, retrofit, owner_account, buyer, buyer_account)
    assert refused.value.code == "not_a_generator"
    with pytest.raises(DomainError) as refused:
        _contract(administrator, wind_farm, buyer_account, buyer, owner_account)
    assert refused.value.field == "generator_account"
    with pytest.raises(DomainError) as refused:
        green_power_contract_create(
            actor=administrator,
            code="K1",
            generator_project=wind_farm,
            generator_account=owner_account,
            buyer=wind_farm.owner,
            buyer_account=owner_account,
            monthly_mwh="1",
            valid_from="2025-03",
        )
    assert refused.value.code == "same_party"


def test_a_duplicate_contract_code_is_refused(
    administrator, wind_farm, owner_account, buyer, buyer_account
):
    _contract(administrator, wind_farm, owner_account, buyer, buyer_account)
    with pytest.raises(Conflict) as refused:
        _contract(administrator, wind_farm, owner_account, buyer, buyer_account)
    assert refused.value.code == "duplicate_code"


def test_consumption_is_recorded_by_its_organisation_and_never_twice(buyer, project_owner):
    row = _consume(buyer, buyer.organisation, 2025, 3, "700.6")
    assert row.province == "CN-BJ"
    assert LedgerEvent.objects.filter(kind="consumption.recorded").count() == 1
    with pytest.raises(Conflict) as refused:
        _consume(buyer, buyer.organisation, 2025, 3, "1")
    assert refused.value.code == "overlapping_period"
    _consume(buyer, buyer.organisation, 2025, 3, "1", site="second meter")  # another site
    with pytest.raises(Forbidden):
        _consume(project_owner, buyer.organisation, 2025, 4, "1")


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"province": "CN-XX"}, "province"), ({"mwh": Decimal("-1")}, "mwh")],
)
def test_bad_consumption_is_refused_naming_the_field(buyer, changes, field):
    start, end = month(2025, 3)
    fields = {"province": "CN-BJ", "mwh": Decimal("1"), **changes}
    with pytest.raises(DomainError) as refused:
        electricity_consumption_record(
            actor=buyer,
            organisation=buyer.organisation,
            period_start=start,
            period_end=end,
            **fields,
        )
    assert refused.value.field == field


# --- settlement end to end --------------------------------------------------------------------


@pytest.fixture
def march_contract(administrator, wind_farm, owner_account, buyer, buyer_account):
    return _contract(administrator, wind_farm, owner_account, buyer, buyer_account)


def test_a_settlement_confirmed_by_both_moves_exactly_the_settled_gecs_of_that_project_and_month(
    february_gecs,
    gec_claim,
    march_contract,
    administrator,
    project_owner,
    buyer,
    owner_account,
    buyer_account,
    wind_farm,
):
    # Contract 800 MWh. Buyer consumed 700.6 (< 800: scaled 800 x 700.6/800 = 700.6); the wind
    # farm metered 1,000.4 in March (>= 800: 800). min(800, 700.6, 800) = 700.6 -> 700 settled,
    # 0.6 carried. A consumption row straddling March's end belongs to no month: not counted.
    _consume(buyer, buyer.organisation, 2025, 3, "700.6")
    start, _ = month(2025, 3)
    _, end = month(2025, 4)
    electricity_consumption_record(
        actor=buyer,
        organisation=buyer.organisation,
        province="CN-BJ",
        site="straddling",
        period_start=start,
        period_end=end,
        mwh=Decimal("5000"),
    )
    (settlement,) = green_power_settle_month(actor=administrator, month="2025-03")
    assert (settlement.buyer_scaled_mwh, settlement.generator_scaled_mwh) == (
        Decimal("700.6"),
        Decimal("800"),
    )
    assert (settlement.settled_mwh, settlement.carried_out_mwh) == (700, Decimal("0.6"))

    settlement = green_power_settlement_confirm(actor=buyer, settlement=settlement)
    assert settlement.status == "computed"
    assert _held(buyer_account) == 0  # one confirmation moves nothing
    settlement = green_power_settlement_confirm(actor=project_owner, settlement=settlement)

    assert settlement.status == "transferred"
    assert settlement.transfer.quantity == 700
    assert _held(buyer_account) == 700
    assert _held(buyer_account, vintage=202503, stream__project=wind_farm) == 700
    assert _held(owner_account, vintage=202502) == 300  # February's GECs stay
    assert _held(owner_account, vintage=202503) == 300
    event = LedgerEvent.objects.filter(kind="green_power.confirmed").latest("id")
    assert event.payload["status"] == "transferred"
    assert event.payload["transfer"] == str(settlement.transfer.public_id)


def test_a_generator_without_enough_gecs_is_refused_and_nothing_moves(
    february_gecs,
    march_record,
    march_contract,
    issuer,
    administrator,
    project_owner,
    buyer,
    owner_account,
    buyer_account,
):
    # Buyer consumed 900 (>= 800), generator 1,000.4 (>= 800): 800 settled. Only 500 GECs of
    # March were issued (and 300 of February, which do not count): refused.
    unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=500,
    )
    _consume(buyer, buyer.organisation, 2025, 3, "900")
    (settlement,) = green_power_settle_month(actor=administrator, month=202503)
    assert settlement.settled_mwh == 800
    green_power_settlement_confirm(actor=project_owner, settlement=settlement)
    settlement = green_power_settlement_confirm(actor=buyer, settlement=settlement)

    assert settlement.status == "refused"
    assert settlement.refusal_code == "insufficient_units"
    assert "500" in settlement.refusal_message
    assert settlement.transfer is None
    assert _held(buyer_account) == 0
    assert _held(owner_account) == 800
    assert not Transfer.objects.exists()
    refusal = LedgerEvent.objects.get(kind="attempt.refused")
    assert refusal.payload["operation"] == "green_power_settlement_transfer"
    assert refusal.payload["attempted"]["quantity"] == 800
    settlement.refresh_from_db()
    assert settlement.status == "refused"  # stored, not rolled back

    # Once the missing 300 GECs of March are issued, either party retries.
    unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=300,
    )
    settlement = green_power_settlement_confirm(actor=buyer, settlement=settlement)
    assert settlement.status == "transferred"
    assert _held(buyer_account, vintage=202503) == 800


def test_remainders_are_carried_across_three_months_through_the_stored_settlements(
    march_record, wind_farm, issuer, administrator, buyer, owner_account, buyer_account
):
    # Contract 100 MWh a month; the buyer consumes 90.4 each month (scaled 90.4); the wind farm
    # produces far more. March: 90.4 + 0 = 90 + 0.4; April: 90.4 + 0.4 = 90 + 0.8;
    # May: 90.4 + 0.8 = 91.2 -> 91 + 0.2.
    _contract(administrator, wind_farm, owner_account, buyer, buyer_account, monthly_mwh="100")
    _record(wind_farm, issuer, 2025, 4, "1000")
    _record(wind_farm, issuer, 2025, 5, "1000")
    figures = []
    for number in (3, 4, 5):
        _consume(buyer, buyer.organisation, 2025, number, "90.4")
        (settlement,) = green_power_settle_month(actor=administrator, month=f"2025-0{number}")
        figures.append(
            (settlement.carried_in_mwh, settlement.settled_mwh, settlement.carried_out_mwh)
        )
    assert figures == [
        (Decimal("0"), 90, Decimal("0.4")),
        (Decimal("0.4"), 90, Decimal("0.8")),
        (Decimal("0.8"), 91, Decimal("0.2")),
    ]


def test_a_month_is_recomputed_until_someone_confirms_and_never_behind_a_later_month(
    march_record, wind_farm, issuer, march_contract, administrator, buyer
):
    _consume(buyer, buyer.organisation, 2025, 3, "100")
    (first,) = green_power_settle_month(actor=administrator, month="2025-03")
    assert first.settled_mwh == 100
    # Consumption entered late: recomputing replaces the row.
    _consume(buyer, buyer.organisation, 2025, 3, "50.5", site="second meter")
    (second,) = green_power_settle_month(actor=administrator, month="2025-03")
    assert (second.settled_mwh, second.carried_out_mwh) == (150, Decimal("0.5"))
    assert GreenPowerSettlement.objects.count() == 1

    _record(wind_farm, issuer, 2025, 4, "1000")
    green_power_settle_month(actor=administrator, month="2025-04")
    with pytest.raises(Conflict) as refused:
        green_power_settle_month(actor=administrator, month="2025-03")
    assert refused.value.code == "later_month_settled"

    (april,) = GreenPowerSettlement.objects.filter(month=202504)
    green_power_settlement_confirm(actor=buyer, settlement=april)
    with pytest.raises(Conflict) as refused:
        green_power_settle_month(actor=administrator, month="2025-04")
    assert refused.value.code == "month_confirmed"


def test_confirming_a_settlement_replaced_by_a_recomputation_is_refused(
    march_record, march_contract, administrator, buyer
):
    _consume(buyer, buyer.organisation, 2025, 3, "10")
    (stale,) = green_power_settle_month(actor=administrator, month="2025-03")
    (fresh,) = green_power_settle_month(actor=administrator, month="2025-03")
    with pytest.raises(Conflict) as refused:
        green_power_settlement_confirm(actor=buyer, settlement=stale)
    assert refused.value.code == "settlement_recomputed"
    assert green_power_settlement_confirm(actor=buyer, settlement=fresh).buyer_confirmed_by == buyer


def test_who_may_confirm_and_for_which_party(
    march_record, march_contract, administrator, project_owner, buyer, auditor, outsider, issuer
):
    _consume(buyer, buyer.organisation, 2025, 3, "10")
    (settlement,) = green_power_settle_month(actor=administrator, month="2025-03")
    for stranger in (auditor, outsider, issuer):
        with pytest.raises(Forbidden):
            green_power_settlement_confirm(actor=stranger, settlement=settlement)
    with pytest.raises(Forbidden):
        green_power_settlement_confirm(actor=buyer, settlement=settlement, side="generator")
    with pytest.raises(DomainError) as refused:
        green_power_settlement_confirm(actor=administrator, settlement=settlement)
    assert refused.value.code == "side_required"
    settlement = green_power_settlement_confirm(
        actor=administrator, settlement=settlement, side="buyer"
    )
    assert settlement.buyer_confirmed_by == administrator
    with pytest.raises(Conflict) as refused:
        green_power_settlement_confirm(actor=buyer, settlement=settlement)
    assert refused.value.code == "already_confirmed"


def test_only_administrators_settle_a_month(project_owner, buyer):
    for actor in (project_owner, buyer):
        with pytest.raises(Forbidden):
            green_power_settle_month(actor=actor, month="2025-03")


def test_a_zero_settlement_confirmed_by_both_moves_nothing(
    march_record, march_contract, administrator, project_owner, buyer
):
    # No consumption entered for March: buyer-scaled 0 -> 0 settled, nothing to move.
    (settlement,) = green_power_settle_month(actor=administrator, month="2025-03")
    assert settlement.settled_mwh == 0
    green_power_settlement_confirm(actor=project_owner, settlement=settlement)
    settlement = green_power_settlement_confirm(actor=buyer, settlement=settlement)
    assert settlement.status == "confirmed"
    assert settlement.transfer is None


def test_contracts_outside_their_months_are_not_settled(
    march_record, administrator, wind_farm, owner_account, buyer, buyer_account
):
    _contract(administrator, wind_farm, owner_account, buyer, buyer_account, valid_from="2025-04")
    assert green_power_settle_month(actor=administrator, month="2025-03") == []


# --- through the API --------------------------------------------------------------------------

PROBLEM = "application/problem+json"
CONTRACTS = "/api/v1/accounting/contracts/"
CONSUMPTION = "/api/v1/accounting/consumption/"
SETTLEMENTS = "/api/v1/accounting/settlements/"


def _contract_body(wind_farm, **changes) -> dict:
    return {
        "code": "K1",
        "generator_project": wind_farm.code,
        "generator_account": "CN-00000001",
        "buyer": "buyer-co",
        "buyer_account": "CN-00000002",
        "monthly_mwh": "800",
        "valid_from": "2025-03",
        **changes,
    }


def test_the_api_settles_a_month_and_moves_the_gecs_after_both_confirm(
    api, gec_claim, administrator, project_owner, buyer, wind_farm, buyer_account
):
    # 800 contracted, 700.6 consumed, 1,000.4 produced: 700 settled, 0.6 carried.
    created = api(project_owner).post(CONTRACTS, _contract_body(wind_farm))
    assert created.status_code == 201, created.content
    assert created.json()["valid_to"] is None
    start, end = month(2025, 3)
    consumed = api(buyer).post(
        CONSUMPTION,
        {
            "province": "CN-BJ",
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "mwh": "700.6",
        },
    )
    assert consumed.status_code == 201, consumed.content
    assert consumed.json()["organisation"] == "buyer-co"
    settled = api(administrator).post(SETTLEMENTS, {"month": "2025-03"})
    assert settled.status_code == 201, settled.content
    (row,) = settled.json()
    assert (row["month"], row["settled_mwh"], row["carried_out_mwh"]) == (
        "2025-03",
        700,
        "0.600000",
    )
    confirm = f"{SETTLEMENTS}{row['id']}/confirm/"
    assert api(buyer).post(confirm, {}).json()["status"] == "computed"
    answer = api(project_owner).post(confirm, {}).json()
    assert answer["status"] == "transferred"
    assert answer["transfer"] == str(Transfer.objects.get().public_id)
    assert _held(buyer_account, vintage=202503) == 700
    listed = api(buyer).get(SETTLEMENTS, {"month": "2025-03"}).json()["results"]
    assert [entry["status"] for entry in listed] == ["transferred"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"monthly_mwh": "-1"}, "monthly_mwh"),
        ({"generator_project": "NOPE99"}, "generator_project"),
        ({"valid_from": "March"}, "valid_from"),
    ],
)
def test_bad_contract_input_is_400_naming_the_field(
    api, project_owner, wind_farm, owner_account, buyer_account, changes, field
):
    response = api(project_owner).post(CONTRACTS, _contract_body(wind_farm, **changes))
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert field in body["errors"], body


def test_bad_consumption_and_malformed_json_are_400(api, buyer, administrator):
    response = api(buyer).post(
        CONSUMPTION, data='{"province": "CN-BJ",', content_type="application/json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    start, end = month(2025, 3)
    response = api(buyer).post(
        CONSUMPTION,
        {
            "province": "CN-BJ",
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "mwh": "-3",
        },
    )
    assert response.status_code == 400
    assert "mwh" in response.json()["errors"]
    response = api(administrator).post(SETTLEMENTS, {"month": "2025-3"})
    assert response.status_code == 400
    assert "month" in response.json()["errors"]


# --- admin ------------------------------------------------------------------------------------


def test_the_admin_lists_and_confirms_through_the_service(
    client, superuser, march_record, march_contract, administrator, buyer
):
    from django.urls import reverse

    _consume(buyer, buyer.organisation, 2025, 3, "10")
    (settlement,) = green_power_settle_month(actor=administrator, month="2025-03")
    client.force_login(superuser)
    for name in ("greenpowercontract", "electricityconsumption", "greenpowersettlement"):
        assert client.get(reverse(f"admin:tracking_{name}_changelist")).status_code == 200
    url = reverse("admin:tracking_greenpowersettlement_changelist")
    response = client.post(
        url, {"action": "confirm_for_buyer", "_selected_action": [settlement.pk]}, follow=True
    )
    assert response.status_code == 200
    settlement.refresh_from_db()
    assert settlement.buyer_confirmed_by == superuser
    assert settlement.generator_confirmed_by is None
    assert client.get(reverse("admin:tracking_greenpowersettlement_add")).status_code == 403


def test_the_month_page_explains_each_figure_to_the_parties(
    client, gec_claim, march_contract, administrator, buyer, second_issuer, outsider
):
    _consume(administrator, buyer.organisation, 2025, 3, "700.6")
    green_power_settle_month(actor=administrator, month="2025-03")
    url = "/accounting/green-power/2025-03/"
    assert client.get(url).status_code == 302  # to log in
    client.force_login(outsider)
    assert 'data-contract="K1"' not in client.get(url).content.decode()
    client.force_login(buyer)
    page = client.get(url).content.decode()
    assert 'data-contract="K1"' in page
    assert '<td class="number settled">700</td>' in page
    assert "consumption / total contracted" in page
    assert client.get("/accounting/green-power/2025-13/").status_code == 404
