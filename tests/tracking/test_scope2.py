"""Scope 2 from the registry's own retirements: location-based on the average factor,
market-based on the residual factor less the organisation's certificates, each retirement counted
once, and only when its claim period and region match."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from registry.errors import Conflict, DomainError, Forbidden
from registry.models import LedgerEvent
from registry.services import grid_region_create
from tests.conftest import RETIREMENT_DEFAULTS, month
from tests.tracking.test_grid_factors import GENERATION
from tracking.accounting.models import Scope2Certificate, Scope2Report
from tracking.accounting.scope2 import scope2_report_create
from tracking.accounting.services import (
    electricity_consumption_record,
    grid_data_import,
    grid_factors_compute,
)
from tracking.models import RetirementAllocation
from tracking.services import block_retire

D = Decimal


@pytest.fixture
def windco(project_owner):
    return project_owner.organisation


@pytest.fixture
def grid(administrator):
    grid_region_create(
        actor=administrator, code="north", name="North", provinces=["CN-HE", "CN-BJ"]
    )
    grid_region_create(actor=administrator, code="east", name="East", provinces=["CN-SH"])
    grid_data_import(actor=administrator, kind="generation", content=GENERATION)


@pytest.fixture
def consumption(administrator, windco, grid):
    start, end = month(2025, 3)
    return electricity_consumption_record(
        actor=administrator,
        organisation=windco,
        province="CN-HE",
        period_start=start,
        period_end=end,
        mwh="300",
    )


def retire(project_owner, owner_account, quantity=100, **changes):
    return block_retire(
        actor=project_owner,
        account=owner_account,
        mechanism="GEC",
        quantity=quantity,
        **{**RETIREMENT_DEFAULTS, **changes},
    )


def compute(administrator):
    return grid_factors_compute(actor=administrator, year=2025, month=3)


def test_location_and_market_based_from_the_registry_s_own_retirement(
    administrator, project_owner, windco, owner_account, gec_claim, consumption
):
    retirement = retire(project_owner, owner_account)
    computation = compute(administrator)  # north: average 0.72, residual 360/400 = 0.90

    report = scope2_report_create(
        actor=project_owner, organisation=windco, year=2025, month=3, retirements=[retirement]
    )

    assert report.computation == computation
    assert report.consumption_mwh == 300 and report.certificate_mwh == 100
    assert report.location_based_t == D("216")  # 300 × 0.72
    assert report.market_based_t == D("180")  # (300 − 100) × 0.90 + 100 × 0
    assert report.regions["north"]["residual_factor"] == "0.900000000"
    [certificate] = Scope2Certificate.objects.filter(report=report)
    assert certificate.mwh == 100 and certificate.serial_ranges
    assert certificate.serial_ranges[0].startswith(f"CN-{gec_claim.stream.project.code}-E-202503-")
    assert certificate.allocation.reference == f"scope2:{windco.code}:2025-03"
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.SCOPE2_REPORTED)
    assert event.actor == project_owner and event.payload["market_based_t"] == "180.000000"


def test_without_certificates_both_figures_use_what_the_region_offers(
    administrator, project_owner, windco, consumption
):
    compute(administrator)
    report = scope2_report_create(actor=project_owner, organisation=windco, year=2025, month=3)
    assert report.location_based_t == report.market_based_t == D("216")


def test_one_retirement_is_never_counted_in_two_reports(
    administrator, project_owner, windco, owner_account, gec_claim, consumption
):
    retirement = retire(project_owner, owner_account)
    compute(administrator)
    scope2_report_create(
        actor=project_owner, organisation=windco, year=2025, month=3, retirements=[retirement]
    )

    with pytest.raises(Conflict) as same_period:
        scope2_report_create(
            actor=project_owner, organisation=windco, year=2025, month=3, retirements=[retirement]
        )
    assert same_period.value.code == "report_exists"

    # The year's report may not count the same MWh again: the allocation would exceed it.
    grid_data_import(
        actor=administrator,
        kind="generation",
        content="region,period,source,generation_mwh,emissions_t\nnorth,2025,coal,5000,4000\n",
    )
    grid_factors_compute(actor=administrator, year=2025, month=None)
    with pytest.raises(Conflict) as annual:
        scope2_report_create(
            actor=project_owner,
            organisation=windco,
            year=2025,
            month=None,
            retirements=[retirement],
        )
    assert annual.value.code == "allocation_exceeds_retirement"
    assert RetirementAllocation.objects.filter(retirement=retirement).count() == 1
    assert Scope2Report.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        (
            {"claim_period_start": dt.date(2025, 2, 1), "claim_period_end": dt.date(2025, 3, 31)},
            "claim_period_mismatch",
        ),
        ({"location": "CN-SH"}, "region_mismatch"),
        ({"purpose": "voluntary_neutrality"}, "purpose_mismatch"),
    ],
    ids=["claim-period", "region", "purpose"],
)
def test_a_retirement_that_does_not_match_is_refused_and_nothing_is_written(
    administrator, project_owner, windco, owner_account, gec_claim, consumption, changes, code
):
    retirement = retire(project_owner, owner_account, **changes)
    compute(administrator)
    with pytest.raises(Conflict) as refusal:
        scope2_report_create(
            actor=project_owner, organisation=windco, year=2025, month=3, retirements=[retirement]
        )
    assert refusal.value.code == code and refusal.value.field == "retirements[0]"
    assert not Scope2Report.objects.exists()
    assert not RetirementAllocation.objects.exists()


def test_certificates_above_the_region_s_consumption_are_refused(
    administrator, project_owner, windco, owner_account, gec_claim, consumption
):
    retirement = retire(project_owner, owner_account, quantity=301)
    compute(administrator)
    with pytest.raises(Conflict) as refusal:
        scope2_report_create(
            actor=project_owner, organisation=windco, year=2025, month=3, retirements=[retirement]
        )
    assert refusal.value.code == "certificates_exceed_consumption"


def test_another_organisation_s_retirement_is_not_counted(
    administrator, project_owner, buyer, buyer_account, owner_account, gec_claim, consumption
):
    from tracking.services import block_transfer

    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=50,
    )
    theirs = retire(buyer, buyer_account, quantity=50)
    compute(administrator)
    with pytest.raises(Forbidden):
        scope2_report_create(
            actor=project_owner,
            organisation=project_owner.organisation,
            year=2025,
            month=3,
            retirements=[theirs],
        )
    with pytest.raises(Forbidden):
        scope2_report_create(
            actor=buyer, organisation=project_owner.organisation, year=2025, month=3
        )


def test_reports_need_factors_consumption_and_known_retirements(
    administrator, project_owner, windco, consumption
):
    with pytest.raises(Conflict) as no_factors:
        scope2_report_create(actor=project_owner, organisation=windco, year=2025, month=3)
    assert no_factors.value.code == "no_grid_factors"
    compute(administrator)
    with pytest.raises(Conflict) as nothing_consumed:
        scope2_report_create(actor=project_owner, organisation=windco, year=2025, month=4)
    assert nothing_consumed.value.code == "no_consumption"
    with pytest.raises(DomainError) as unknown:
        scope2_report_create(
            actor=project_owner, organisation=windco, year=2025, month=3, retirements=["nope"]
        )
    assert unknown.value.field == "retirements[0]"


def test_the_api_reports_with_the_certificates_listed_by_serial_range(
    administrator, project_owner, windco, owner_account, gec_claim, consumption
):
    from tests.api.conftest import client_for

    retirement = retire(project_owner, owner_account)
    compute(administrator)
    client = client_for(project_owner)
    bad = client.post("/api/v1/accounting/scope2-reports/", {"period": "March"}, format="json")
    assert bad.status_code == 400 and "period" in bad.json()["errors"]
    response = client.post(
        "/api/v1/accounting/scope2-reports/",
        {"period": "2025-03", "retirements": [str(retirement.public_id)]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["organisation"] == windco.code and body["period"] == "2025-03"
    assert D(body["market_based_t"]) == D(180) and D(body["location_based_t"]) == D(216)
    [certificate] = body["certificates"]
    assert certificate["retirement"] == str(retirement.public_id)
    assert certificate["serial_ranges"][0].startswith("CN-")
    again = client.post(
        "/api/v1/accounting/scope2-reports/",
        {"period": "2025-03", "retirements": [str(retirement.public_id)]},
        format="json",
    )
    assert again.status_code == 409 and again.json()["code"] == "report_exists"


def test_the_report_page_explains_each_figure_to_the_organisation_only(
    client, administrator, project_owner, buyer, windco, owner_account, gec_claim, consumption
):
    retirement = retire(project_owner, owner_account)
    compute(administrator)
    report = scope2_report_create(
        actor=project_owner, organisation=windco, year=2025, month=3, retirements=[retirement]
    )
    url = f"/accounting/scope2/{report.pk}/"
    assert client.get(url).status_code == 302  # to log in
    client.force_login(buyer)
    assert client.get(url).status_code == 404
    client.force_login(project_owner)
    page = client.get(url).content.decode()
    assert '<td class="number market-based">180.000000 t</td>' in page
    assert "(consumption − certificate MWh) ×" in page and "residual factor RF" in page
    assert str(retirement.public_id) in page


def test_consumption_is_imported_from_csv_all_or_nothing(tmp_path, administrator, windco, grid):
    from django.core.management import CommandError, call_command

    from tracking.accounting.models import ElectricityConsumption

    data = tmp_path / "consumption.csv"
    header = "organisation,province,period_start,period_end,mwh,site\n"
    data.write_text(
        header
        + f"{windco.code},CN-HE,2025-03-01T00:00:00+08:00,2025-04-01T00:00:00+08:00,300,plant 1\n"
        + f"{windco.code},CN-ZZ,2025-03-01T00:00:00+08:00,2025-04-01T00:00:00+08:00,5,plant 2\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match="row 3, province"):
        call_command("import_consumption", str(data), user=administrator.username)
    assert not ElectricityConsumption.objects.exists()

    data.write_text(
        header
        + f"{windco.code},CN-HE,2025-03-01T00:00:00+08:00,2025-04-01T00:00:00+08:00,300,plant 1\n",
        encoding="utf-8",
    )
    call_command("import_consumption", str(data), user=administrator.username)
    assert ElectricityConsumption.objects.get().mwh == 300
