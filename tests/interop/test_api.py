"""The interop API: imports (administrators queue, auditors read), external records and match
decisions, and the public issuance export; who may and who may not."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest

from interop.models import ExternalRecord, ImportBatch
from interop.tasks import import_batch_run_task
from issuance.services import unit_claim_issue
from tests.api.conftest import client_for
from tests.interop.conftest import fixture_text

IMPORTS = "/api/v1/imports/"
RECORDS = "/api/v1/external-records/"
EXPORT = "/api/v1/exports/issuances/"


@pytest.fixture
def api(settings):
    # Writes counted from zero in the shared Redis cache, as tests/api does.
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }
    return client_for


@pytest.fixture
def worker_runs_tasks_here(monkeypatch):
    """The task queued after commit runs in this process (as a worker would run it)."""
    monkeypatch.setattr(
        import_batch_run_task,
        "delay",
        lambda batch_id: import_batch_run_task.apply(args=[batch_id]),
    )


def _post_file(client, text, layout="canonical", file_format="csv"):
    return client.post(
        IMPORTS,
        {"layout": layout, "format": file_format, "content": text, "filename": "list.csv"},
        format="json",
    )


def test_administrator_queues_an_import_and_follows_its_progress_and_rows(
    api, administrator, known_wind_farm, worker_runs_tasks_here, django_capture_on_commit_callbacks
):
    client = api(administrator)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _post_file(client, fixture_text("canonical.csv"))

    assert response.status_code == 202, response.content
    assert response.data["status"] == "queued" and response.data["total"] == 7
    assert len(callbacks) == 1
    batch = client.get(f"{IMPORTS}{response.data['id']}/")
    assert batch.status_code == 200
    assert batch.data["status"] == "done" and batch.data["processed"] == 7
    assert (batch.data["invalid_count"], batch.data["flagged_count"]) == (4, 0)
    rows = client.get(f"{IMPORTS}{response.data['id']}/rows/", {"outcome": "invalid"})
    assert rows.status_code == 200
    assert rows.data["count"] == 4
    assert rows.data["results"][0] == {
        "row_number": 2,
        "outcome": "invalid",
        "errors": {"external_id": ["This field is required."]},
        "external_record": None,
        "flags": [],
    }
    page = client.get(f"{IMPORTS}{response.data['id']}/rows/", {"page_size": 2})
    assert page.data["count"] == 7 and len(page.data["results"]) == 2 and page.data["next"]


def test_json_rows_import_through_the_api(
    api, administrator, known_wind_farm, worker_runs_tasks_here, django_capture_on_commit_callbacks
):
    rows = json.loads(fixture_text("canonical.json"))

    with django_capture_on_commit_callbacks(execute=True):
        response = api(administrator).post(
            IMPORTS, {"layout": "canonical", "rows": rows}, format="json"
        )

    assert response.status_code == 202, response.content
    assert response.data["format"] == "json"
    assert ImportBatch.objects.get().imported_count == 2


def test_unreadable_upload_is_a_validation_error(api, administrator):
    response = _post_file(api(administrator), "no,header,we,know\n1,2,3,4\n", layout="verra")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.data["reason"] == "unreadable_file"
    assert not ImportBatch.objects.exists()


def test_content_and_rows_together_are_refused(api, administrator):
    response = api(administrator).post(
        IMPORTS, {"layout": "canonical", "content": "x", "rows": [{}]}, format="json"
    )

    assert response.status_code == 400


@pytest.mark.parametrize(
    ("persona", "expected"),
    [(None, 401), ("outsider", 403), ("auditor", 403), ("issuer", 403), ("buyer", 403)],
)
def test_only_administrators_may_import(db, api, request, persona, expected):
    user = request.getfixturevalue(persona) if persona else None

    response = _post_file(api(user), fixture_text("canonical.csv"))

    assert response.status_code == expected
    assert not ImportBatch.objects.exists()


def test_auditors_read_imports_and_records_others_see_nothing(
    api, run_import, known_wind_farm, auditor, outsider, issuer, project_owner
):
    batch = run_import(fixture_text("canonical.csv"))
    record = ExternalRecord.objects.first()

    reader = api(auditor)
    assert reader.get(f"{IMPORTS}{batch.pk}/").status_code == 200
    assert reader.get(f"{IMPORTS}{batch.pk}/rows/").status_code == 200
    assert reader.get(RECORDS).data["count"] == 3
    assert reader.get(f"{RECORDS}{record.pk}/").status_code == 200
    for user in (outsider, issuer, project_owner):
        client = api(user)
        assert client.get(IMPORTS).data["count"] == 0
        assert client.get(f"{IMPORTS}{batch.pk}/").status_code == 404
        assert client.get(f"{IMPORTS}{batch.pk}/rows/").status_code == 404
        assert client.get(RECORDS).data["count"] == 0
        assert client.get(f"{RECORDS}{record.pk}/").status_code == 404
    anonymous = api(None)
    assert anonymous.get(IMPORTS).status_code == 401
    assert anonymous.get(RECORDS).status_code == 401


def test_external_records_filter_unlinked_and_show_suggestions(
    api, run_import, known_wind_farm, administrator
):
    run_import(fixture_text("canonical.csv"))

    response = api(administrator).get(RECORDS, {"linked": "false"})

    assert response.status_code == 200
    (record,) = response.data["results"]
    assert record["external_id"] == "VCS-9999-2025" and record["project"] is None
    assert record["period"] == {"start": "2025-07-01", "end": "2025-07-31"}
    assert record["suggestions"][0]["project"] == known_wind_farm.code
    linked = api(administrator).get(RECORDS, {"linked": "true", "source": "IREC"})
    assert linked.data["count"] == 2


def test_administrator_confirms_and_rejects_matches(
    api, run_import, wind_farm, administrator, auditor, outsider
):
    run_import(fixture_text("canonical.csv"))
    record = ExternalRecord.objects.get(external_id="VCS-9999-2025")
    other = ExternalRecord.objects.get(external_id="IREC-TX-1001")
    url = f"{RECORDS}{record.pk}/confirm-match/"
    body = {"project": wind_farm.code}

    assert api(None).post(url, body, format="json").status_code == 401
    assert api(outsider).post(url, body, format="json").status_code == 404
    assert api(auditor).post(url, body, format="json").status_code == 403
    confirmed = api(administrator).post(url, body, format="json")
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.data["project"] == wind_farm.code
    assert confirmed.data["link_method"] == "confirmed_match"
    again = api(administrator).post(url, body, format="json")
    assert again.status_code == 409 and again.data["code"] == "already_linked"

    rejected = api(administrator).post(f"{RECORDS}{other.pk}/reject-match/", body, format="json")
    assert rejected.status_code == 200, rejected.content
    assert rejected.data["suggestions"][0]["status"] == "rejected"
    unknown = api(administrator).post(url, {"project": "NOPE00"}, format="json")
    assert unknown.status_code == 400


@pytest.fixture
def issued(issuer, march_record, owner_account):
    return unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=100,
    )


def test_issuance_export_is_public_csv_and_json_in_the_canonical_format(api, issued, settings):
    project = issued.stream.project
    as_csv = api(None).get(EXPORT, {"format": "csv"})

    assert as_csv.status_code == 200
    assert as_csv["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(as_csv.streaming_content).decode())))
    assert rows == [
        {
            "source_registry": settings.REGISTRY_INTEROP_SOURCE,
            "external_id": str(issued.pk),
            "kind": "issuance",
            "external_project_id": project.code,
            "project_name": "Bayan wind farm",
            "country": "CN",
            "province": "CN-NM",
            "technology": "wind",
            "capacity_mw": "100.000",
            "unit": "MWh",
            "mechanism": "GEC",
            "period_start": "2025-03-01",
            "period_end": "2025-03-31",
            "quantity": "100",
            "serials": f"CN-{project.code}-E-202503-000000000001-000000000100",
            "transaction_date": rows[0]["transaction_date"],
            "beneficiary": "",
        }
    ]
    as_json = api(None).get(EXPORT)
    assert as_json.status_code == 200
    assert json.loads(b"".join(as_json.streaming_content)) == rows


def test_issuance_export_filters(api, issued):
    client = api(None)

    def count(**query):
        response = client.get(EXPORT, query)
        assert response.status_code == 200
        return len(json.loads(b"".join(response.streaming_content)))

    assert count(mechanism="gec") == 1
    assert count(mechanism="IREC") == 0
    assert count(vintage=202503) == 1
    assert count(vintage=202504) == 0
    assert count(project=issued.stream.project.code) == 1
    assert client.get(EXPORT, {"vintage": "March"}).status_code == 400
    assert client.get(EXPORT, {"format": "xml"}).status_code == 404


def test_issuance_export_can_require_authentication(api, issued, settings, outsider):
    settings.REGISTRY_INTEROP_PUBLIC_EXPORT = False

    assert api(None).get(EXPORT).status_code == 401
    assert api(outsider).get(EXPORT).status_code == 200
