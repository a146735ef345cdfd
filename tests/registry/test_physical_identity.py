"""One physical asset, one live registration: the national filing code, the revenue meters and
the identifiers in other registries are unique among live projects (service and database),
likely twins wait for an administrator's reason, and a change of owner is its own operation."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, connections, transaction

from accounts.models import Organisation, User
from registry.errors import Conflict, DomainError, DuplicateAsset, Forbidden
from registry.models import (
    GENERATING_TECHNOLOGY_VALUES,
    LedgerEvent,
    Project,
    ProjectIdentifier,
    ProjectMeter,
    Stream,
)
from registry.services import (
    production_record_create,
    project_register,
    project_set_status,
    project_transfer_ownership,
)
from tests.conftest import month
from tests.factories import OrganisationFactory, UserFactory

WIND = {
    "name": "Bayannur wind farm",
    "province": "CN-NM",
    "technology": "wind",
    "capacity_mw": Decimal("200"),
    "commissioning_date": dt.date(2021, 12, 1),
    "national_code": "150821W2021120001",
    "latitude": Decimal("40.752300"),
    "longitude": Decimal("107.387600"),
    "meters": [{"meter_id": "NM-BYN-M0001", "valid_from": dt.date(2021, 12, 1)}],
    "identifiers": {"GEC": "GEC-NM-0001"},
}
# Another plant of the same technology far away, under another name: no twin of the wind farm.
ELSEWHERE = {
    "name": "Jiuquan wind farm",
    "province": "CN-GS",
    "technology": "wind",
    "capacity_mw": Decimal("300"),
    "commissioning_date": dt.date(2019, 1, 1),
    "latitude": Decimal("39.700000"),
    "longitude": Decimal("98.500000"),
}


@pytest.fixture
def demo_wind(administrator, project_owner):
    return project_register(actor=administrator, owner=project_owner.organisation, **WIND)


@pytest.fixture
def other_owner(db):
    company = OrganisationFactory(
        code="otherwind", name="Other Wind Co", kind=Organisation.Kind.PROJECT_OWNER
    )
    return UserFactory(username="other-owner", organisation=company, role=User.Role.PROJECT_OWNER)


def register_elsewhere(actor, **identity):
    return project_register(actor=actor, owner=actor.organisation, **{**ELSEWHERE, **identity})


# --- refused registrations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "field", "value"),
    [
        ({"national_code": " 150821w2021120001 "}, "national_code", "150821W2021120001"),
        ({"meters": [{"meter_id": "nm-byn-m0001", "valid_from": "2024-01-01"}]}, "meters", None),
        ({"identifiers": {"gec": "GEC-NM-0001"}}, "identifiers", "GEC:GEC-NM-0001"),
    ],
)
def test_an_identity_held_by_a_live_project_is_refused_naming_it(
    demo_wind, other_owner, identity, field, value
):
    projects, events = Project.objects.count(), LedgerEvent.objects.count()

    with pytest.raises(DuplicateAsset) as refusal:
        register_elsewhere(other_owner, **identity)

    error = refusal.value
    assert (error.code, error.http_status, error.field) == ("duplicate_asset", 409, field)
    assert error.details["holder"] == {
        "project": demo_wind.code,
        "name": "Bayannur wind farm",
        "status": "approved",
        "owner": {"code": "windco", "name": "Wind Co"},
    }
    assert error.details["identifier"]["field"] == field
    assert error.details["identifier"]["value"] == (value or "NM-BYN-M0001")
    assert Project.objects.count() == projects
    # Only the refused attempt was written, in a transaction of its own.
    [refused] = LedgerEvent.objects.order_by("pk")[events:]
    assert refused.kind == LedgerEvent.Kind.ATTEMPT_REFUSED
    assert refused.payload["operation"] == "project_register"
    assert refused.payload["code"] == "duplicate_asset"
    assert refused.payload["details"]["holder"]["project"] == demo_wind.code
    assert refused.payload["attempted"]["name"] == "Jiuquan wind farm"


def test_a_meter_may_measure_another_asset_after_its_validity_ended(
    administrator, project_owner, other_owner
):
    project_register(
        actor=administrator,
        owner=project_owner.organisation,
        **{
            **WIND,
            "meters": [
                {"meter_id": "M-1", "valid_from": "2021-12-01", "valid_to": "2024-01-01"},
            ],
        },
    )
    with pytest.raises(DuplicateAsset):
        register_elsewhere(other_owner, meters=[{"meter_id": "M-1", "valid_from": "2023-12-31"}])

    later = register_elsewhere(
        other_owner, meters=[{"meter_id": "M-1", "valid_from": "2024-01-01"}]
    )

    assert later.meters.get().meter_id == "M-1"


def test_the_same_identifier_in_another_registry_is_another_identity(demo_wind, other_owner):
    project = register_elsewhere(other_owner, identifiers={"IREC": "GEC-NM-0001"})

    assert dict(project.identifiers.values_list("registry", "identifier")) == {
        "IREC": "GEC-NM-0001"
    }


def test_a_rejected_project_frees_its_identity(administrator, project_owner, other_owner):
    pending = project_register(actor=project_owner, owner=project_owner.organisation, **WIND)
    assert set(pending.meters.values_list("live", flat=True)) == {True}

    project_set_status(
        actor=administrator, project=pending, status="rejected", reason="filed twice"
    )

    assert set(ProjectMeter.objects.filter(project=pending).values_list("live", flat=True)) == {
        False
    }
    assert not ProjectIdentifier.objects.get(project=pending).live
    again = project_register(actor=other_owner, owner=other_owner.organisation, **WIND)
    assert again.national_code == pending.national_code


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"national_code": "X" * 33}, "national_code"),
        ({"national_code": "AB\n12"}, "national_code"),
        ({"latitude": Decimal("90.5")}, "latitude"),
        ({"longitude": Decimal("-181")}, "longitude"),
        ({"latitude": None}, "latitude"),
        ({"latitude": "north"}, "latitude"),
        ({"meters": [{"meter_id": " "}]}, "meters"),
        (
            {"meters": [{"meter_id": "M", "valid_from": "2024-02-01", "valid_to": "2024-01-01"}]},
            "meters",
        ),
        ({"meters": [{"meter_id": "M", "valid_from": "1 May"}]}, "meters"),
        ({"meters": [{"meter_id": "M"}], "commissioning_date": None}, "commissioning_date"),
        ({"meters": ["M", "m"]}, "meters"),
        ({"identifiers": {"GEC": " "}}, "identifiers"),
        ({"identifiers": {"": "X"}}, "identifiers"),
        (
            {
                "identifiers": [
                    {"registry": "GEC", "identifier": "A"},
                    {"registry": "gec", "identifier": "B"},
                ]
            },
            "identifiers",
        ),
        ({"capacity_mw": None}, "capacity_mw"),
        ({"capacity_mw": Decimal("0")}, "capacity_mw"),
        ({"capacity_mw": Decimal("1.0001")}, "capacity_mw"),
        ({"commissioning_date": None}, "commissioning_date"),
    ],
)
def test_bad_identity_is_refused_naming_the_field_and_nothing_is_written(
    administrator, project_owner, override, field
):
    events = LedgerEvent.objects.count()

    with pytest.raises(DomainError) as refusal:
        project_register(
            actor=administrator, owner=project_owner.organisation, **{**WIND, **override}
        )

    assert refusal.value.field == field
    assert refusal.value.http_status == 400
    assert not Project.objects.exists()
    assert LedgerEvent.objects.count() == events


def test_capacity_and_commissioning_date_are_optional_for_other_technologies(
    administrator, project_owner
):
    retrofit = project_register(
        actor=administrator,
        owner=project_owner.organisation,
        name="Boiler retrofit",
        province="CN-ZJ",
        technology="energy_saving",
    )
    assert retrofit.capacity_mw is None


def test_the_constraint_knows_the_generating_technologies():
    assert set(GENERATING_TECHNOLOGY_VALUES) == {
        str(item) for item in Project.GENERATING_TECHNOLOGIES
    }


# --- likely twins -----------------------------------------------------------------------------


def test_a_near_twin_waits_even_for_an_administrator_and_is_approved_only_with_a_reason(
    administrator, demo_wind, other_owner
):
    # About 300 m north of the wind farm, a similar name, no shared identifier.
    twin = project_register(
        actor=administrator,
        owner=other_owner.organisation,
        **{
            **ELSEWHERE,
            "name": "Bayannur wind farm phase II",
            "province": "CN-NM",
            "latitude": Decimal("40.755000"),
            "longitude": Decimal("107.387600"),
        },
    )

    assert twin.status == Project.Status.PENDING
    [candidate] = Project.objects.get(pk=twin.pk).possible_duplicates
    assert candidate["project"] == demo_wind.code
    assert candidate["owner"] == {"code": "windco", "name": "Wind Co"}
    assert Decimal("0.28") < Decimal(candidate["distance_km"]) < Decimal("0.32")
    registered = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.PROJECT_REGISTERED).last()
    assert registered.payload["possible_duplicates"][0]["project"] == demo_wind.code

    with pytest.raises(DomainError) as refusal:
        project_set_status(actor=administrator, project=twin, status="approved", reason=" ")
    assert refusal.value.code == "duplicate_reason_required"
    assert Project.objects.get(pk=twin.pk).status == Project.Status.PENDING

    reason = "distinct asset: phase II has its own grid connection and meters"
    project_set_status(actor=administrator, project=twin, status="approved", reason=reason)

    approval = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.PROJECT_STATUS).last()
    assert approval.payload["reason"] == reason
    assert approval.payload["possible_duplicates"][0]["project"] == demo_wind.code
    assert Project.objects.get(pk=twin.pk).status == Project.Status.APPROVED


def test_a_namesake_in_the_same_province_with_a_close_capacity_is_a_twin(
    administrator, demo_wind, other_owner
):
    twin = register_elsewhere(
        other_owner,
        name="Bayannur Wind Farm",
        province="CN-NM",
        capacity_mw=Decimal("190"),
        latitude=None,
        longitude=None,
    )
    different_capacity = register_elsewhere(
        other_owner, name="Bayannur Wind Farm.", province="CN-NM", capacity_mw=Decimal("150")
    )
    other_technology = project_register(
        actor=other_owner,
        owner=other_owner.organisation,
        **{**ELSEWHERE, "name": "Bayannur wind farm", "province": "CN-NM", "technology": "solar"},
    )

    assert [item["project"] for item in Project.objects.get(pk=twin.pk).possible_duplicates] == [
        demo_wind.code
    ]
    assert Decimal(twin.possible_duplicates[0]["name_similarity"]) == 1
    assert Project.objects.get(pk=different_capacity.pk).possible_duplicates == []
    assert Project.objects.get(pk=other_technology.pk).possible_duplicates == []


# --- ownership --------------------------------------------------------------------------------


def test_ownership_transfer_keeps_the_streams_and_serials_and_is_in_the_ledger(
    administrator, issuer, demo_wind, other_owner
):
    start, end = month(2025, 1)
    record = production_record_create(
        actor=issuer,
        project=demo_wind,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=Decimal("48210.375"),
    )
    streams = list(Stream.objects.filter(project=demo_wind).values_list("pk", "next_sequence"))
    code = demo_wind.code

    project_transfer_ownership(
        actor=administrator,
        project=demo_wind,
        new_owner=other_owner.organisation,
        reason="Sold to Other Wind Co on 1 May 2025",
    )

    demo_wind.refresh_from_db()
    assert demo_wind.owner == other_owner.organisation
    assert demo_wind.code == code
    assert list(Stream.objects.filter(project=demo_wind).values_list("pk", "next_sequence")) == (
        streams
    )
    record.refresh_from_db()
    assert record.serials.lower == 1
    event = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.PROJECT_OWNERSHIP_TRANSFERRED).get()
    assert event.payload["from"] == {"code": "windco", "name": "Wind Co"}
    assert event.payload["to"] == {"code": "otherwind", "name": "Other Wind Co"}
    assert event.payload["reason"] == "Sold to Other Wind Co on 1 May 2025"
    assert f"project:{demo_wind.pk}" in event.subjects


def test_ownership_transfer_needs_an_administrator_a_reason_and_a_new_owner(
    administrator, project_owner, demo_wind, other_owner
):
    with pytest.raises(Forbidden):
        project_transfer_ownership(
            actor=project_owner, project=demo_wind, new_owner=other_owner.organisation, reason="x"
        )
    with pytest.raises(DomainError) as no_reason:
        project_transfer_ownership(
            actor=administrator, project=demo_wind, new_owner=other_owner.organisation, reason=""
        )
    assert no_reason.value.code == "reason_required"
    with pytest.raises(Conflict) as same:
        project_transfer_ownership(
            actor=administrator,
            project=demo_wind,
            new_owner=project_owner.organisation,
            reason="no change",
        )
    assert same.value.code == "same_owner"
    assert not LedgerEvent.objects.filter(
        kind=LedgerEvent.Kind.PROJECT_OWNERSHIP_TRANSFERRED
    ).exists()


# --- the database is the guarantee ------------------------------------------------------------


def execute(sql: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def insert_project(owner_id: int, code: str, **columns) -> int:
    values = {
        "code": code,
        "name": "Raw wind farm",
        "country": "CN",
        "province": "CN-NM",
        "grid_region": "",
        "technology": "wind",
        "capacity_mw": 10,
        "commissioning_date": dt.date(2020, 1, 1),
        "time_zone": "Asia/Shanghai",
        "subsidised": False,
        "inside_ets_boundary": False,
        "under_energy_use_rights": False,
        "national_code": "",
        "possible_duplicates": "[]",
        "status": "approved",
        "registered_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        "owner_id": owner_id,
        **columns,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO registry_project ({', '.join(values)}) "
            f"VALUES ({', '.join(['%s'] * len(values))}) RETURNING id",
            list(values.values()),
        )
        return cursor.fetchone()[0]


def refused(sql: str, params=()) -> bool:
    try:
        with transaction.atomic():
            execute(sql, params)
    except IntegrityError:
        return True
    return False


def test_the_database_refuses_a_second_live_national_code(demo_wind, other_owner):
    owner = other_owner.organisation_id
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_project(owner, "PRAW01", national_code="150821W2021120001")
    # A rejected registration of the same code is allowed; it cannot come back to life.
    rejected = insert_project(owner, "PRAW02", national_code="150821W2021120001", status="rejected")
    assert refused("UPDATE registry_project SET status = 'pending' WHERE id = %s", [rejected])
    assert refused(
        "UPDATE registry_project SET national_code = ' abc' WHERE id = %s", [demo_wind.pk]
    )


def test_the_database_refuses_a_meter_on_two_live_projects_at_once(demo_wind, other_owner):
    other = insert_project(other_owner.organisation_id, "PRAW03")
    meter = (
        "INSERT INTO registry_projectmeter (project_id, country, meter_id, valid_from, valid_to, "
        "live) VALUES (%s, 'CN', 'NM-BYN-M0001', %s, %s, %s)"
    )
    assert refused(meter, [other, dt.date(2030, 1, 1), None, True])
    # The trigger sets the flag from the project, whatever the writer says.
    assert refused(meter, [other, dt.date(2030, 1, 1), None, False])
    assert not refused(meter, [other, dt.date(2020, 1, 1), dt.date(2021, 12, 1), True])
    assert refused(
        "INSERT INTO registry_projectmeter (project_id, country, meter_id, valid_from, valid_to, "
        "live) VALUES (%s, 'CN', 'M-2', '2024-01-01', '2023-01-01', true)",
        [other],
    )


def test_the_database_refuses_an_identifier_on_two_live_projects(demo_wind, other_owner):
    other = insert_project(other_owner.organisation_id, "PRAW04")
    identifier = (
        "INSERT INTO registry_projectidentifier (project_id, registry, identifier, live) "
        "VALUES (%s, 'GEC', 'GEC-NM-0001', false)"
    )
    assert refused(identifier, [other])
    # Once the holder is rejected (in SQL too), its identifier is free and its rows say so.
    execute("UPDATE registry_project SET status = 'rejected' WHERE id = %s", [demo_wind.pk])
    assert not ProjectIdentifier.objects.get(project=demo_wind).live
    assert not ProjectMeter.objects.get(project=demo_wind).live
    assert not refused(identifier, [other])
    assert ProjectIdentifier.objects.get(project_id=other).live
    # ... and the rejected project cannot come back while another holds it.
    assert refused("UPDATE registry_project SET status = 'pending' WHERE id = %s", [demo_wind.pk])


@pytest.mark.parametrize(
    "columns",
    [
        {"latitude": Decimal("91"), "longitude": Decimal("0")},
        {"latitude": Decimal("10"), "longitude": None},
        {"latitude": Decimal("0"), "longitude": Decimal("180.5")},
        {"capacity_mw": None},
        {"commissioning_date": None},
        {"capacity_mw": 0},
    ],
)
def test_the_database_refuses_bad_plant_facts(other_owner, columns):
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_project(other_owner.organisation_id, "PRAW05", **columns)


# --- concurrency ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_registrations_of_one_code_one_wins_the_other_is_refused(
    administrator, project_owner, other_owner
):
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def register(index: int, actor) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = project_register(
                actor=actor,
                owner=actor.organisation,
                **{**ELSEWHERE, "name": f"Race {index}", "national_code": "RACE-1"},
            )
        except Exception as error:  # noqa: BLE001 - the outcome is what the test inspects
            results[index] = error
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=register, args=(index, actor))
        for index, actor in enumerate((project_owner, other_owner))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    winners = [result for result in results if isinstance(result, Project)]
    losers = [result for result in results if isinstance(result, DuplicateAsset)]
    assert (len(winners), len(losers)) == (1, 1), results
    assert losers[0].details["holder"]["project"] == winners[0].code
    assert Project.objects.filter(national_code="RACE-1").count() == 1
    assert LedgerEvent.objects.filter(
        kind=LedgerEvent.Kind.ATTEMPT_REFUSED, payload__code="duplicate_asset"
    ).exists()


def test_a_code_the_database_would_normalise_differently_is_a_400_not_a_crash(
    administrator, project_owner, monkeypatch
):
    # As if Python's upper-casing had left a character PostgreSQL's upper() changes.
    monkeypatch.setattr(
        "registry.services.normalised_national_code", lambda value: value.strip().lower()
    )

    with pytest.raises(DomainError) as refusal:
        project_register(
            actor=administrator,
            owner=project_owner.organisation,
            **{**WIND, "national_code": "abc"},
        )

    assert refusal.value.field == "national_code"
    assert not Project.objects.exists()
