"""Production records: serial allocation, carried remainders, vintages, and refusals."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from registry.errors import Conflict, DomainError, Forbidden
from registry.models import LedgerEvent, ProductionRecord, Project
from registry.services import production_record_create, project_register, project_set_status
from tests.conftest import SHANGHAI, month


def test_whole_units_get_serials_and_the_fraction_carries_to_the_next_period(
    issuer, wind_farm, march_record
):
    assert march_record.units == 1000
    assert (march_record.serials.lower, march_record.serials.upper) == (1, 1001)
    assert march_record.carried_out == Decimal("0.4")
    start, end = month(2025, 4)
    april = production_record_create(
        actor=issuer,
        project=wind_farm,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=Decimal("999.7"),
    )
    # 999.7 + 0.4 carried = 1000.1: 1000 whole units, 0.1 carried on.
    assert april.carried_in == Decimal("0.4")
    assert april.units == 1000
    assert april.carried_out == Decimal("0.1")
    assert (april.serials.lower, april.serials.upper) == (1001, 2001)


def test_march_starting_at_shanghai_midnight_has_vintage_202503(issuer, wind_farm):
    start = dt.datetime(2025, 3, 1, tzinfo=SHANGHAI)  # 2025-02-28 16:00 UTC
    end = dt.datetime(2025, 4, 1, tzinfo=SHANGHAI)
    assert start.astimezone(dt.UTC).month == 2
    record = production_record_create(
        actor=issuer,
        project=wind_farm,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=10,
    )
    assert record.vintage == 202503


def test_february_ending_at_shanghai_midnight_is_202502(issuer, wind_farm):
    start, end = month(2025, 2)
    record = production_record_create(
        actor=issuer,
        project=wind_farm,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=10,
    )
    assert record.vintage == 202502


def test_overlapping_period_is_refused_naming_the_existing_record(issuer, wind_farm, march_record):
    start = dt.datetime(2025, 3, 31, tzinfo=SHANGHAI)
    end = dt.datetime(2025, 4, 15, tzinfo=SHANGHAI)
    with pytest.raises(Conflict) as refusal:
        production_record_create(
            actor=issuer,
            project=wind_farm,
            unit_kind="E",
            period_start=start,
            period_end=end,
            quantity=10,
        )
    assert refusal.value.code == "period_overlap"
    assert refusal.value.details == {"rule": "R2", "existing_record": march_record.pk}


def test_adjacent_periods_do_not_overlap(issuer, wind_farm, march_record):
    start, end = month(2025, 4)
    production_record_create(
        actor=issuer,
        project=wind_farm,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=1,
    )


def test_database_refuses_overlapping_period_and_serials_inserted_with_raw_sql(
    issuer, wind_farm, march_record
):
    for period, serials in (
        ("[2025-03-10 00:00+00, 2025-03-11 00:00+00)", "[5000, 5010)"),
        ("[2026-03-10 00:00+00, 2026-03-11 00:00+00)", "[900, 910)"),
    ):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO registry_productionrecord (stream_id, period, quantity, carried_in,
                       carried_out, units, serials, vintage, source, entered_by_id, created_at)
                   VALUES (%s, %s::tstzrange, 10, 0, 0, 10, %s::int8range, 202503, 'metered',
                           %s, now())""",
                [march_record.stream_id, period, serials, issuer.pk],
            )


@pytest.mark.parametrize(
    ("override", "code", "field"),
    [
        ({"quantity": -1}, "invalid_input", "quantity"),
        ({"quantity": "abc"}, "invalid_input", "quantity"),
        ({"quantity": 1.5}, "invalid_input", "quantity"),
        ({"quantity": Decimal("NaN")}, "invalid_input", "quantity"),
        ({"quantity": 10**12}, "implausible_quantity", "quantity"),
        # 100 MW x 744 h x 1.10 = 81,840 MWh is the ceiling for March.
        ({"quantity": 81_841}, "implausible_quantity", "quantity"),
        ({"unit_kind": "X"}, "invalid_input", "unit_kind"),
        ({"period_end": dt.datetime(2025, 2, 1, tzinfo=SHANGHAI)}, "invalid_period", "period_end"),
        ({"period_start": dt.datetime(2025, 3, 1)}, "invalid_input", "period_start"),
    ],
)
def test_bad_production_input_is_refused_and_writes_nothing(
    issuer, wind_farm, override, code, field
):
    start, end = month(2025, 3)
    arguments = {
        "unit_kind": "E",
        "period_start": start,
        "period_end": end,
        "quantity": 10,
        **override,
    }
    with pytest.raises(DomainError) as refusal:
        production_record_create(actor=issuer, project=wind_farm, **arguments)
    assert (refusal.value.code, refusal.value.field) == (code, field)
    assert not ProductionRecord.objects.exists()
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.PRODUCTION_RECORDED).exists()


def test_capacity_ceiling_allows_output_up_to_the_margin(issuer, wind_farm):
    start, end = month(2025, 3)
    record = production_record_create(
        actor=issuer,
        project=wind_farm,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=81_840,
    )
    assert record.units == 81_840


def test_period_in_the_future_is_refused(issuer, wind_farm):
    now = timezone.now()
    with pytest.raises(DomainError) as refusal:
        production_record_create(
            actor=issuer,
            project=wind_farm,
            unit_kind="E",
            period_start=now - dt.timedelta(hours=1),
            period_end=now + dt.timedelta(hours=1),
            quantity=1,
        )
    assert refusal.value.code == "period_in_future"


def test_other_project_owner_cannot_record_production(wind_farm, db):
    from tests.factories import UserFactory

    stranger = UserFactory(role="project_owner")
    start, end = month(2025, 3)
    with pytest.raises(Forbidden):
        production_record_create(
            actor=stranger,
            project=wind_farm,
            unit_kind="E",
            period_start=start,
            period_end=end,
            quantity=1,
        )


def test_project_registered_by_owner_waits_for_approval(administrator, project_owner, issuer):
    project = project_register(
        actor=project_owner,
        owner=project_owner.organisation,
        name="Owner's solar",
        province="CN-QH",
        technology="solar",
        capacity_mw=Decimal("10"),
        commissioning_date=dt.date(2024, 1, 1),
    )
    assert project.status == Project.Status.PENDING
    start, end = month(2025, 3)
    with pytest.raises(Conflict) as refusal:
        production_record_create(
            actor=issuer,
            project=project,
            unit_kind="E",
            period_start=start,
            period_end=end,
            quantity=1,
        )
    assert refusal.value.code == "project_not_approved"
    project_set_status(actor=administrator, project=project, status="approved")
    production_record_create(
        actor=issuer,
        project=project,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=1,
    )
    with pytest.raises(Conflict):
        project_set_status(actor=administrator, project=project, status="rejected")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"province": "CN-ZZ"}, "province"),
        ({"technology": "perpetual"}, "technology"),
        ({"capacity_mw": Decimal("-1")}, "capacity_mw"),
        ({"name": " "}, "name"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
def test_bad_project_registration_is_refused(administrator, project_owner, override, field):
    arguments = {
        "name": "X",
        "province": "CN-NM",
        "technology": "wind",
        "capacity_mw": Decimal("10"),
        "commissioning_date": dt.date(2024, 1, 1),
        **override,
    }
    with pytest.raises(DomainError) as refusal:
        project_register(actor=administrator, owner=project_owner.organisation, **arguments)
    assert refusal.value.field == field
    assert not Project.objects.exists()


def test_project_cannot_be_registered_for_another_organisation(buyer, project_owner):
    with pytest.raises(Forbidden):
        project_register(
            actor=buyer,
            owner=project_owner.organisation,
            name="X",
            province="CN-NM",
            technology="wind",
        )


def test_every_adjacent_swap_in_a_project_code_is_caught_by_the_check_number():
    from itertools import product

    from registry.serials import Serial, SerialError
    from registry.services import PROJECT_CODE_ALPHABET

    for left, right in product(PROJECT_CODE_ALPHABET, repeat=2):
        if left == right:
            continue
        serial = Serial("CN", f"P{left}{right}AAA", "E", 202503, 1001)
        swapped = str(serial).replace(f"P{left}{right}", f"P{right}{left}", 1)
        with pytest.raises(SerialError):
            Serial.parse(swapped)


def test_a_project_owner_submits_production_instead_of_recording_it(project_owner, wind_farm):
    start, end = month(2025, 3)
    with pytest.raises(Forbidden) as refusal:
        production_record_create(
            actor=project_owner,
            project=wind_farm,
            unit_kind="E",
            period_start=start,
            period_end=end,
            quantity=1,
        )
    assert refusal.value.code == "verification_required"
    assert not ProductionRecord.objects.exists()
