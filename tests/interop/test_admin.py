"""The admin of imports: an uploaded file becomes a queued batch, a batch shows its rows, and the
match actions call the services."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from interop.models import ExternalRecord, ImportBatch, MatchSuggestion
from registry.models import LedgerEvent
from tests.interop.conftest import fixture_text


@pytest.fixture
def admin_client(client, administrator):
    administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    return client


def test_uploaded_file_becomes_a_queued_batch(admin_client, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("verra.csv", fixture_text("verra.csv").encode("utf-8"))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            reverse("admin:interop_importbatch_upload"),
            {"layout": "verra", "format": "csv", "file": upload},
        )

    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:interop_importbatch_change", args=[batch.pk])
    assert (batch.layout, batch.total, batch.status, batch.filename) == (
        "verra",
        2,
        "queued",
        "verra.csv",
    )
    assert len(callbacks) == 1  # the import task, queued once the batch is committed


def test_an_unreadable_upload_shows_the_error_and_stores_nothing(admin_client):
    upload = SimpleUploadedFile("x.csv", b"a,b\n1,2\n")

    response = admin_client.post(
        reverse("admin:interop_importbatch_upload"),
        {"layout": "gec", "format": "csv", "file": upload},
    )

    assert response.status_code == 200
    assert "lacks the columns" in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_batch_page_lists_its_rows(admin_client, run_import, known_wind_farm):
    batch = run_import(fixture_text("canonical.csv"))

    page = admin_client.get(reverse("admin:interop_importbatch_change", args=[batch.pk]))

    assert page.status_code == 200
    assert "This field is required." in page.content.decode()


def test_confirm_action_links_the_record_through_the_service(admin_client, run_import, wind_farm):
    run_import(fixture_text("canonical.csv"))
    suggestion = MatchSuggestion.objects.get(record__external_id="VCS-9999-2025")

    response = admin_client.post(
        reverse("admin:interop_matchsuggestion_changelist"),
        {"action": "confirm", "_selected_action": [suggestion.pk]},
    )

    assert response.status_code == 302
    record = ExternalRecord.objects.get(external_id="VCS-9999-2025")
    assert record.project == wind_farm and record.link_method == "confirmed_match"
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.EXTERNAL_MATCHED).count() == 1
