"""The admin of uniqueness reports: the list and the report page show status and progress (and
reload themselves while a report runs), a form starts a report through the service, and
nothing adds, changes or deletes a report through the generic forms."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.checks import CHECKS
from audit.models import ReportCheck, UniquenessReport
from audit.services import uniqueness_report_request, uniqueness_report_run
from tests.audit.support import broker_redis

REFRESH = '<meta http-equiv="refresh"'


@pytest.fixture
def admin_client(client, administrator):
    administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    return client


def _queued(actor, scope=None) -> UniquenessReport:
    return uniqueness_report_request(actor=actor, scope=scope, enqueue=lambda report: "")


def test_the_list_shows_status_progress_and_scope_and_reloads_while_a_report_runs(
    admin_client, administrator
):
    report = _queued(administrator, {"mechanism": "GEC", "vintage_from": 202501})
    UniquenessReport.objects.filter(pk=report.pk).update(
        status="running", phase="production_periods_never_overlap", work_done=1
    )

    page = admin_client.get(reverse("admin:audit_uniquenessreport_changelist"))

    text = page.content.decode()
    assert page.status_code == 200
    assert f"1/{report.work_total} — production_periods_never_overlap" in text
    assert "mechanism=GEC, vintage_from=202501" in text
    assert "Running" in text and REFRESH in text
    assert reverse("admin:audit_uniquenessreport_request") in text


def test_a_finished_report_page_shows_its_checks_and_downloads_and_stays_still(
    admin_client, administrator, march_record
):
    report = uniqueness_report_run(report_id=_queued(administrator).pk)

    page = admin_client.get(reverse("admin:audit_uniquenessreport_change", args=[report.pk]))
    listing = admin_client.get(reverse("admin:audit_uniquenessreport_changelist"))

    text = page.content.decode()
    assert page.status_code == 200
    assert "Every check passed" in text and "production_periods_never_overlap" in text
    assert f"{report.work_total}/{report.work_total} — done" in text
    assert f"/api/v1/reports/{report.pk}/report.json" in text
    assert f"/api/v1/reports/{report.pk}/report.pdf" in text
    assert report.content_sha256 in text
    assert REFRESH not in text and REFRESH not in listing.content.decode()
    assert 'name="_save"' not in text  # read-only: nothing to save


def test_the_form_starts_a_report_as_the_logged_in_user(admin_client, administrator, report_queue):
    form = admin_client.get(reverse("admin:audit_uniquenessreport_request"))
    response = admin_client.post(
        reverse("admin:audit_uniquenessreport_request"),
        {"mechanism": "GEC", "province": "CN-NM", "vintage_from": "202503", "vintage_to": ""},
    )

    report = UniquenessReport.objects.get()
    assert form.status_code == 200
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:audit_uniquenessreport_change", args=[report.pk])
    assert report.requested_by == administrator and report.status == "queued"
    assert report.scope == {"mechanism": "GEC", "province": "CN-NM", "vintage_from": 202503}
    assert broker_redis().llen(report_queue) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"vintage_from": "202513"}, "vintage_from must be a vintage written YYYYMM"),
        ({"project": "NO-SUCH"}, "No project with the code NO-SUCH."),
        ({"vintage_from": "202512", "vintage_to": "202501"}, "vintage_from is after vintage_to."),
    ],
)
def test_a_bad_scope_is_shown_on_the_form_and_nothing_is_stored(admin_client, fields, message):
    response = admin_client.post(reverse("admin:audit_uniquenessreport_request"), fields)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not UniquenessReport.objects.exists()


def test_a_broker_that_is_down_is_shown_on_the_form_and_nothing_is_stored(
    admin_client, unreachable_broker
):
    response = admin_client.post(reverse("admin:audit_uniquenessreport_request"), {})

    assert response.status_code == 200
    assert "The task queue is unavailable" in response.content.decode()
    assert not UniquenessReport.objects.exists()


def test_staff_who_are_not_administrators_or_auditors_may_not_start_a_report(client, issuer):
    issuer.is_staff = True
    issuer.save()
    client.force_login(issuer)

    response = client.post(reverse("admin:audit_uniquenessreport_request"), {})

    assert response.status_code == 403
    assert not UniquenessReport.objects.exists()


def test_reports_are_never_added_changed_or_deleted_through_the_generic_forms(
    admin_client, administrator, march_record
):
    report = uniqueness_report_run(report_id=_queued(administrator).pk)
    check = report.checks.first()

    answers = [
        admin_client.get(reverse("admin:audit_uniquenessreport_add")).status_code,
        admin_client.post(
            reverse("admin:audit_uniquenessreport_change", args=[report.pk]), {"scope": "{}"}
        ).status_code,
        admin_client.post(
            reverse("admin:audit_uniquenessreport_delete", args=[report.pk]), {"post": "yes"}
        ).status_code,
        admin_client.get(reverse("admin:audit_reportcheck_add")).status_code,
        admin_client.post(
            reverse("admin:audit_reportcheck_delete", args=[check.pk]), {"post": "yes"}
        ).status_code,
        admin_client.get(reverse("admin:audit_reportfinding_add")).status_code,
    ]

    assert answers == [403] * 6
    assert UniquenessReport.objects.get().status == "passed"
    assert ReportCheck.objects.count() == len(CHECKS)


def test_request_again_queues_a_new_report_with_the_same_scope(admin_client, administrator):
    first = _queued(administrator, {"mechanism": "CCER"})

    response = admin_client.post(
        reverse("admin:audit_uniquenessreport_changelist"),
        {"action": "request_again", "_selected_action": [first.pk]},
    )

    assert response.status_code == 302
    again = UniquenessReport.objects.exclude(pk=first.pk).get()
    assert again.scope == {"mechanism": "CCER"} and again.requested_by == administrator
