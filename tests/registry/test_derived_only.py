"""One output, one unit kind of record: a generating asset records MWh, an energy-saving project
saved tce; their tonnes CO2e exist only as units derived from those (``derived_only``), refused
by the service, the verification queue, the API and the database. Production is also refused
before the commissioning date and at zero quantity."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from issuance.models import ProductionSubmission
from issuance.services import production_submit, unit_claim_issue
from registry.errors import Conflict, DomainError
from registry.models import LedgerEvent, ProductionRecord, Project
from registry.services import declaration_sign, production_record_create, project_register
from tests.api.conftest import client_for
from tests.conftest import SHANGHAI, month


@pytest.fixture
def forest(administrator, project_owner):
    return project_register(
        actor=administrator,
        owner=project_owner.organisation,
        name="Yunnan forest",
        province="CN-YN",
        technology="forestry",
    )


def record_tonnes(actor, project, *, year=2025, month_number=3, quantity="100"):
    start, end = month(year, month_number)
    return production_record_create(
        actor=actor,
        project=project,
        unit_kind="C",
        period_start=start,
        period_end=end,
        quantity=Decimal(quantity),
    )


def refused_attempts(code: str) -> list[LedgerEvent]:
    return list(
        LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED, payload__code=code)
    )


@pytest.mark.parametrize("project_fixture", ["wind_farm", "retrofit"])
def test_metered_tonnes_of_a_generating_or_energy_saving_project_are_refused_as_derived_only(
    request, administrator, project_fixture
):
    project = request.getfixturevalue(project_fixture)
    assert project.status == Project.Status.APPROVED

    with pytest.raises(Conflict) as refusal:
        record_tonnes(administrator, project)

    assert (refusal.value.code, refusal.value.field, refusal.value.http_status) == (
        "derived_only",
        "unit_kind",
        409,
    )
    assert refusal.value.details["derive_from"] == ("E" if project_fixture == "wind_farm" else "T")
    assert not ProductionRecord.objects.exists()
    (attempt,) = refused_attempts("derived_only")
    assert attempt.payload["operation"] == "production_record_create"
    assert attempt.payload["attempted"]["project"] == project.code


def test_metered_tonnes_are_refused_whether_or_not_the_mwh_of_the_period_are_recorded(
    administrator, wind_farm, march_record
):
    for month_number in (3, 5):  # the month of the MWh, and a month without any
        with pytest.raises(Conflict) as refusal:
            record_tonnes(administrator, wind_farm, month_number=month_number)
        assert refusal.value.code == "derived_only"
    assert not ProductionRecord.objects.filter(stream__unit_kind="C").exists()


def test_a_forest_records_its_tonnes_directly(administrator, forest):
    record = record_tonnes(administrator, forest, quantity="50")
    assert (record.units, record.source) == (50, "metered")


def test_tonnes_derived_from_the_mwh_are_still_issued(
    second_issuer, project_owner, march_record, owner_account
):
    start, end = month(2025, 3)
    declaration_sign(
        actor=project_owner,
        project=march_record.stream.project,
        unit_kind="E",
        period_start=start,
        period_end=end,
    )
    ccer = unit_claim_issue(
        actor=second_issuer,
        mechanism="CCER",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
        conversion_factor="0.6565",
    )
    assert ccer.production_record.source == "derived"
    assert ccer.stream.unit_kind == "C" and ccer.quantity == 656


def test_a_submission_of_metered_tonnes_for_a_wind_farm_is_refused(project_owner, wind_farm):
    start, end = month(2025, 3)
    with pytest.raises(Conflict) as refusal:
        production_submit(
            actor=project_owner,
            project=wind_farm,
            unit_kind="C",
            period_start=start,
            period_end=end,
            quantity=Decimal("100"),
        )
    assert refusal.value.code == "derived_only"
    assert not ProductionSubmission.objects.exists()
    assert refused_attempts("derived_only")[0].payload["operation"] == "production_submit"


def test_the_api_refuses_metered_tonnes_on_a_wind_farm_with_derived_only(issuer, wind_farm):
    start, end = month(2025, 3)
    response = client_for(issuer).post(
        "/api/v1/production-records/",
        {
            "project": wind_farm.code,
            "unit_kind": "C",
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "quantity": "100",
        },
    )
    assert response.status_code == 409, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert (body["code"], body["field"]) == ("derived_only", "unit_kind")
    assert not ProductionRecord.objects.exists()


def _insert_metered_tonnes(stream_id: int, entered_by: int, source: str = "metered") -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO registry_productionrecord (stream_id, period, quantity, carried_in,
                   carried_out, units, serials, vintage, source, entered_by_id, created_at)
               VALUES (%s, '[2025-06-01 00:00+08, 2025-07-01 00:00+08)'::tstzrange, 10, 0, 0,
                       10, '[1, 11)'::int8range, 202506, %s, %s, now())""",
            [stream_id, source, entered_by],
        )


@pytest.mark.parametrize("project_fixture", ["wind_farm", "retrofit"])
def test_the_database_refuses_a_metered_tonne_record_of_a_generating_or_energy_saving_project(
    request, administrator, project_fixture
):
    project = request.getfixturevalue(project_fixture)
    carbon = project.streams.get(unit_kind="C")
    with pytest.raises(IntegrityError) as refusal, transaction.atomic():
        _insert_metered_tonnes(carbon.pk, administrator.pk)
    assert refusal.value.__cause__.diag.constraint_name == "tonnes_derived_only"


def test_the_database_refuses_turning_a_derived_tonne_record_into_a_metered_one(
    administrator, wind_farm
):
    carbon = wind_farm.streams.get(unit_kind="C")
    _insert_metered_tonnes(carbon.pk, administrator.pk, source="derived")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE registry_productionrecord SET source = 'metered' WHERE stream_id = %s",
            [carbon.pk],
        )


def test_the_database_accepts_metered_tonnes_of_a_forest(administrator, forest):
    _insert_metered_tonnes(forest.streams.get(unit_kind="C").pk, administrator.pk)
    assert ProductionRecord.objects.filter(stream__project=forest).count() == 1


# --- commissioning date and zero quantity ----------------------------------------------------


def test_production_before_the_commissioning_date_is_refused(issuer, wind_farm):
    # The wind farm was commissioned on 2020-06-01 (Shanghai).
    start = dt.datetime(2020, 5, 31, 23, tzinfo=SHANGHAI)
    with pytest.raises(DomainError) as refusal:
        production_record_create(
            actor=issuer,
            project=wind_farm,
            unit_kind="E",
            period_start=start,
            period_end=dt.datetime(2020, 6, 2, tzinfo=SHANGHAI),
            quantity=10,
        )
    assert (refusal.value.code, refusal.value.field) == ("before_commissioning", "period_start")
    assert refusal.value.details == {"commissioning_date": "2020-06-01"}
    assert not ProductionRecord.objects.exists()


def test_production_from_the_commissioning_day_on_is_recorded(issuer, wind_farm):
    record = production_record_create(
        actor=issuer,
        project=wind_farm,
        unit_kind="E",
        period_start=dt.datetime(2020, 6, 1, tzinfo=SHANGHAI),
        period_end=dt.datetime(2020, 7, 1, tzinfo=SHANGHAI),
        quantity=10,
    )
    assert record.vintage == 202006


def test_a_zero_quantity_is_refused_naming_the_quantity(issuer, wind_farm):
    start, end = month(2025, 3)
    with pytest.raises(DomainError) as refusal:
        production_record_create(
            actor=issuer,
            project=wind_farm,
            unit_kind="E",
            period_start=start,
            period_end=end,
            quantity="0",
        )
    assert (refusal.value.code, refusal.value.field, refusal.value.http_status) == (
        "zero_quantity",
        "quantity",
        400,
    )
    assert not ProductionRecord.objects.exists()


@pytest.mark.parametrize(
    ("override", "code", "field"),
    [
        ({"quantity": "0"}, "zero_quantity", "quantity"),
        ({"period_start": "2020-05-01T00:00:00+08:00"}, "before_commissioning", "period_start"),
        ({"quantity": "81841"}, "implausible_quantity", "quantity"),
    ],
)
def test_the_api_refuses_implausible_production_naming_the_field(
    issuer, wind_farm, override, code, field
):
    start, end = month(2025, 3)
    body = {
        "project": wind_farm.code,
        "unit_kind": "E",
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "quantity": "10",
        **override,
    }
    response = client_for(issuer).post("/api/v1/production-records/", body)
    assert response.status_code == 400, response.content
    problem = response.json()
    assert (problem["code"], problem["reason"]) == ("validation_error", code)
    assert problem["errors"][field][0]["code"] == code
    assert not ProductionRecord.objects.exists()
