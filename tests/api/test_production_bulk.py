"""POST production-records/bulk/: many records in one request, each row answered exactly as a
single POST of it would be, each in its own transaction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from registry.models import LedgerEvent, ProductionRecord
from tests.conftest import SHANGHAI, month

pytestmark = pytest.mark.django_db

BULK = "/api/v1/production-records/bulk/"
SINGLE = "/api/v1/production-records/"


def row(project, year: int, month_number: int, quantity="100.5", **extra) -> dict:
    start, end = month(year, month_number)
    return {
        "project": getattr(project, "code", project),
        "unit_kind": "E",
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "quantity": str(quantity),
        **extra,
    }


def without_volatile(problem: dict) -> dict:
    """A row's problem without the bulk-only keys, to compare with a single POST's body."""
    return {key: value for key, value in problem.items() if key not in {"index"}}


def test_valid_rows_are_created_with_their_records_and_serials_in_row_order(api, issuer, wind_farm):
    rows = [row(wind_farm, 2025, number, quantity="10.4") for number in (1, 2, 3)]
    response = api(issuer).post(BULK, {"records": rows})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["count"], body["created"], body["failed"]) == (3, 3, 0)
    assert [result["index"] for result in body["results"]] == [0, 1, 2]
    assert all(result["status"] == 201 for result in body["results"])
    records = [result["record"] for result in body["results"]]
    assert [record["vintage"] for record in records] == [202501, 202502, 202503]
    # The remainder carries from row to row exactly as with single records: 10 + 10 + 11 units.
    assert [record["units"] for record in records] == [10, 10, 11]
    assert [record["carried_out"] for record in records] == ["0.400000", "0.800000", "0.200000"]
    assert records[0]["serial_range"].endswith("-000000000001-000000000010")
    assert records[2]["serial_range"].endswith("-000000000021-000000000031")
    for record in records:
        stored = api(issuer).get(f"{SINGLE}{record['id']}/")
        assert stored.json() == record
    assert ProductionRecord.objects.count() == 3
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.PRODUCTION_RECORDED).count() == 3


def test_each_invalid_row_gets_the_problem_a_single_post_would_get_and_the_others_are_created(
    api, issuer, wind_farm, march_record
):
    future_start = timezone.now().astimezone(SHANGHAI).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    ) + dt.timedelta(days=40)
    future = {
        **row(wind_farm, 2025, 1),
        "period_start": future_start.isoformat(),
        "period_end": (future_start + dt.timedelta(days=28)).isoformat(),
    }
    cases = {
        "valid-january": (row(wind_farm, 2025, 1), 201, None, None),
        "overlap": (row(wind_farm, 2025, 3), 409, "period_overlap", "period_start"),
        "future": (future, 400, "validation_error", "period_end"),
        "negative": (row(wind_farm, 2025, 4, quantity="-1"), 400, "validation_error", "quantity"),
        "unknown-project": (row("PZZZZZ", 2025, 4), 400, "validation_error", "project"),
        "end-before-start": (
            {**row(wind_farm, 2025, 5), "period_end": month(2025, 4)[0].isoformat()},
            400,
            "validation_error",
            "period_end",
        ),
        "too-many-decimals": (
            row(wind_farm, 2025, 6, quantity="1.1234567"),
            400,
            "validation_error",
            "quantity",
        ),
        "missing-field": (
            {key: value for key, value in row(wind_farm, 2025, 7).items() if key != "quantity"},
            400,
            "validation_error",
            "quantity",
        ),
        "valid-february": (row(wind_farm, 2025, 2), 201, None, None),
    }
    client = api(issuer)
    records_before = ProductionRecord.objects.count()
    response = client.post(BULK, {"records": [case[0] for case in cases.values()]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["count"], body["created"], body["failed"]) == (len(cases), 2, len(cases) - 2)
    assert ProductionRecord.objects.count() == records_before + 2
    results = dict(zip(cases, body["results"], strict=True))
    for name, (_row, status, code, field) in cases.items():
        result = results[name]
        assert result["status"] == status, (name, result)
        if status == 201:
            assert result["record"]["project"] == wind_farm.code
            continue
        assert result["code"] == code, (name, result)
        if code == "validation_error":
            assert field in result["errors"], (name, result)
        else:
            assert result["field"] == field
        assert "record" not in result

    # Each failed row, POSTed alone, gets the very same problem.
    for name, (single_row, status, _code, _field) in cases.items():
        if status == 201:
            continue
        alone = client.post(SINGLE, single_row)
        assert alone.status_code == status, name
        assert alone["Content-Type"] == "application/problem+json"
        expected = without_volatile(results[name])
        assert alone.json() == expected, name
    assert ProductionRecord.objects.count() == records_before + 2


def test_the_overlap_names_the_record_that_holds_the_period(api, issuer, wind_farm, march_record):
    result = api(issuer).post(BULK, {"records": [row(wind_farm, 2025, 3)]}).json()["results"][0]
    assert result["status"] == 409
    assert result["code"] == "period_overlap"
    assert result["details"] == {"rule": "R2", "existing_record": march_record.pk}
    assert str(march_record.pk) in result["detail"]


def test_rows_of_one_request_are_independent_a_later_row_overlapping_an_earlier_one_fails_alone(
    api, issuer, wind_farm
):
    rows = [
        row(wind_farm, 2025, 1, quantity="5"),
        row(wind_farm, 2025, 1, quantity="6"),  # the same month again
        row(wind_farm, 2025, 2, quantity="7"),
    ]
    body = api(issuer).post(BULK, {"records": rows}).json()
    assert [result["status"] for result in body["results"]] == [201, 409, 201]
    first_id = body["results"][0]["record"]["id"]
    assert body["results"][1]["details"] == {"rule": "R2", "existing_record": first_id}
    # The refused row took no serials: February follows January directly.
    assert body["results"][2]["record"]["serial_range"].endswith("-000000000006-000000000012")
    assert ProductionRecord.objects.count() == 2


def test_a_project_owner_may_not_record_production_in_bulk(api, project_owner, wind_farm):
    """Recording production is verifying it: an owner submits to the verification queue."""
    rows = [row(wind_farm, 2025, 1)]
    response = api(project_owner).post(BULK, {"records": rows})
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not ProductionRecord.objects.exists()


def test_each_row_is_checked_as_a_single_request_would_be(api, issuer, wind_farm, project_owner):
    """A project not yet approved refuses its row (409); the other rows are recorded."""
    from registry.services import project_register

    pending = project_register(
        actor=project_owner,
        owner=project_owner.organisation,
        name="Not approved yet",
        province="CN-GS",
        technology="solar",
        capacity_mw=Decimal("10"),
        commissioning_date=dt.date(2024, 1, 1),
    )
    rows = [row(wind_farm, 2025, 1), row(pending, 2025, 1), row(wind_farm, 2025, 2)]
    body = api(issuer).post(BULK, {"records": rows}).json()
    assert [result["status"] for result in body["results"]] == [201, 409, 201]
    assert body["results"][1]["code"] == "project_not_approved"
    assert not ProductionRecord.objects.filter(stream__project=pending).exists()


def test_more_than_1000_rows_is_400_and_writes_nothing(api, issuer, wind_farm):
    rows = [row(wind_farm, 2000 + number // 12, number % 12 + 1) for number in range(1001)]
    events_before = LedgerEvent.objects.count()
    response = api(issuer).post(BULK, {"records": rows})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    assert "records" in body["errors"]
    assert ProductionRecord.objects.count() == 0
    assert LedgerEvent.objects.count() == events_before


@pytest.mark.parametrize(
    "payload",
    [{"records": []}, {}, {"records": "January"}, {"records": [1, 2]}, [row("P", 2025, 1)]],
    ids=["empty", "missing", "not-a-list", "not-objects", "bare-list"],
)
def test_a_malformed_bulk_request_is_400_and_writes_nothing(api, issuer, wind_farm, payload):
    response = api(issuer).post(BULK, payload)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert ProductionRecord.objects.count() == 0


def test_the_bulk_endpoint_needs_authentication_and_a_role_that_submits(
    api, auditor, buyer, wind_farm
):
    rows = [row(wind_farm, 2025, 1)]
    assert api(None).post(BULK, {"records": rows}).status_code == 401
    for persona in (auditor, buyer):
        response = api(persona).post(BULK, {"records": rows})
        body = response.json()
        # Refused as a whole (a role that never submits) or row by row; either way, 403.
        refusal = body if response.status_code == 403 else body["results"][0]
        assert refusal["status"] == 403, body
        assert refusal["code"] == "permission_denied"
    assert ProductionRecord.objects.count() == 0
