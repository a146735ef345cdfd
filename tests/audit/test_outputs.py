"""What a report says, downloaded: JSON (hashed), CSV, HTML with charts, PDF with Chinese and
English names, each check's full findings; and who may download it."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from pypdf import PdfReader

from accounts.models import User
from audit.checks import CHECKS, CHECKS_BY_ID
from audit.models import UniquenessReport
from audit.outputs import (
    FINDINGS_CHUNK,
    FINDINGS_IN_DOCUMENT,
    FINDINGS_IN_PDF,
    render_report_json,
    report_document,
)
from tests.api.conftest import client_for
from tests.audit.registry_data import (
    CHINESE_BENEFICIARY,
    ENGLISH_BENEFICIARY,
    overlap_findings,
    planted_failed_report,
    run_report,
)
from tests.audit.support import cjk_font_installed, require_system_package
from tests.factories import UserFactory

CHECK = CHECKS[0].id
DOWNLOADS = (
    "report.json",
    "report.csv",
    "report.html",
    "report.pdf",
    f"checks/{CHECK}/findings.csv",
    f"checks/{CHECK}/findings.jsonl",
)


@pytest.fixture
def report(registry, auditor):
    return run_report(auditor)


@pytest.fixture
def failed_report(auditor):
    """A failed report whose check lists more findings than the page shows and than one chunk
    of the streamed download holds."""
    return planted_failed_report(
        auditor, check_id=CHECK, findings=overlap_findings(FINDINGS_CHUNK + 500)
    )


def url(report: UniquenessReport, download: str) -> str:
    return f"/api/v1/reports/{report.pk}/{download}"


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body(response).decode("utf-8"))))


def pdf_text(content: bytes) -> str:
    """The PDF's text with every run of white space as one space (table cells wrap lines)."""
    pages = PdfReader(io.BytesIO(content)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


@pytest.fixture
def cjk_font():
    require_system_package(
        cjk_font_installed(), what="the font Noto Sans CJK SC", package="fonts-noto-cjk"
    )


def pdf_fonts(content: bytes) -> set[str]:
    fonts = set()
    for page in PdfReader(io.BytesIO(content)).pages:
        for font in (page["/Resources"].get_object().get("/Font") or {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    return fonts


# --- the documents ----------------------------------------------------------------------------


def test_json_download_is_the_bytes_the_stored_sha256_was_computed_over(report, auditor):
    assert report.status == UniquenessReport.Status.PASSED
    response = client_for(auditor).get(url(report, "report.json"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert hashlib.sha256(response.content).hexdigest() == report.content_sha256
    assert response["X-Content-SHA256"] == report.content_sha256
    assert response["Content-Disposition"] == (
        f'attachment; filename="uniqueness-report-{report.pk}.json"'
    )
    document = json.loads(response.content)
    assert document["verdict"] == "passed"
    assert [check["id"] for check in document["checks"]] == [check.id for check in CHECKS]


def test_the_stored_json_is_a_fresh_rendering_and_outlives_changes_to_what_it_names(
    report, auditor
):
    stored = bytes(report.content)
    assert render_report_json(report) == stored  # rendering is deterministic
    auditor.username = "auditor-renamed"
    auditor.save()
    report.refresh_from_db()
    assert render_report_json(report) != stored  # the requester's name is in the document
    response = client_for(auditor).get(url(report, "report.json"))
    assert response.content == stored
    assert hashlib.sha256(response.content).hexdigest() == report.content_sha256


def test_json_download_is_the_same_in_every_language(report, auditor):
    english = client_for(auditor).get(url(report, "report.json"))
    chinese = client_for(auditor).get(url(report, "report.json"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert chinese.content == english.content


def test_report_csv_has_a_header_and_one_row_per_check(report, auditor):
    response = client_for(auditor).get(url(report, "report.csv"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="uniqueness-report-{report.pk}.csv"'
    )
    rows = csv_rows(response)
    assert [row["check"] for row in rows] == [check.id for check in CHECKS]
    stored = {check.check_id: check for check in report.checks.all()}
    for row in rows:
        expected = "pass" if CHECKS_BY_ID[row["check"]].verdict_from_findings else "info"
        assert row["verdict"] == expected
        assert int(row["examined"]) == stored[row["check"]].examined
        assert int(row["offending"]) == 0
        assert json.loads(row["counts"]) == stored[row["check"]].counts
    # The production check looked at the three records built (March, April, the retrofit).
    assert int(rows[0]["examined"]) == 3


def test_findings_csv_and_json_lines_hold_every_finding_in_order(failed_report, auditor):
    client = client_for(auditor)
    expected = overlap_findings(FINDINGS_CHUNK + 500)

    as_csv = client.get(url(failed_report, f"checks/{CHECK}/findings.csv"))
    assert as_csv.status_code == 200
    assert as_csv.streaming
    rows = csv_rows(as_csv)
    assert len(rows) == len(expected)
    assert [int(row["ordinal"]) for row in rows] == list(range(1, len(expected) + 1))
    assert set(rows[0]) == {"ordinal", *expected[0]}
    assert [int(row["record_id"]) for row in rows] == [item["record_id"] for item in expected]
    assert rows[-1]["period_start"] == expected[-1]["period_start"]

    as_lines = client.get(url(failed_report, f"checks/{CHECK}/findings.jsonl"))
    assert as_lines.status_code == 200
    assert as_lines["Content-Type"] == "application/x-ndjson; charset=utf-8"
    lines = body(as_lines).decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == expected
    # The JSON document carries the first 1,000 of them, the same objects.
    document = report_document(failed_report)
    assert document["checks"][0]["findings"] == expected[:FINDINGS_IN_DOCUMENT]
    assert document["checks"][0]["findings_truncated"] is True


def test_findings_csv_keeps_a_key_that_the_first_finding_lacks(auditor):
    findings = [{"record_id": 1, "source": "metered"}, {"record_id": 2, "note": "extra"}]
    report = planted_failed_report(auditor, check_id=CHECK, findings=findings)
    rows = csv_rows(client_for(auditor).get(url(report, f"checks/{CHECK}/findings.csv")))
    assert rows == [
        {"ordinal": "1", "record_id": "1", "source": "metered", "note": ""},
        {"ordinal": "2", "record_id": "2", "source": "", "note": "extra"},
    ]


def test_findings_of_a_check_that_found_nothing_is_a_header_alone(report, auditor):
    client = client_for(auditor)
    assert body(client.get(url(report, f"checks/{CHECK}/findings.csv"))) == b"ordinal\r\n"
    assert body(client.get(url(report, f"checks/{CHECK}/findings.jsonl"))) == b""


def test_an_unknown_check_answers_404_problem(report, auditor):
    response = client_for(auditor).get(url(report, "checks/no_such_check/findings.csv"))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_html_shows_a_green_banner_checks_charts_and_the_retirements(report, auditor):
    response = client_for(auditor).get(url(report, "report.html"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'inline; filename="uniqueness-report-{report.pk}.html"'
    )
    assert "script-src" not in response["Content-Security-Policy"]  # default-src 'none' rules
    page = response.content.decode()
    assert '<div class="banner pass" id="verdict"' in page
    assert "Every check passed" in page
    assert report.content_sha256 in page
    assert 'data-chart="units-by-mechanism-month"' in page
    assert page.count("<svg") >= 1
    for check in CHECKS:
        verdict = "pass" if check.verdict_from_findings else "info"
        assert f'id="check-{check.id}" data-verdict="{verdict}"' in page
    assert CHINESE_BENEFICIARY in page
    assert ENGLISH_BENEFICIARY in page
    assert "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org', "").replace(
        'xmlns:xlink="http://www.w3.org', ""
    )


def test_html_of_a_failed_report_shows_a_red_banner_and_the_first_thousand_findings(
    failed_report, auditor
):
    page = client_for(auditor).get(url(failed_report, "report.html")).content.decode()
    assert '<div class="banner fail" id="verdict"' in page
    assert "A check failed" in page
    section = page[page.index(f'id="findings-{CHECK}"') :]
    section = section[: section.index("</section>")]
    assert section.count("<tr>") == FINDINGS_IN_DOCUMENT + 1  # the header row and 1,000
    assert f"The first {FINDINGS_IN_DOCUMENT} of {FINDINGS_CHUNK + 500} records" in section


def test_pdf_of_a_failed_report_lists_the_first_findings_and_where_the_rest_are(
    failed_report, auditor
):
    response = client_for(auditor).get(url(failed_report, "report.pdf"))
    assert response.status_code == 200
    text = pdf_text(response.content)
    assert "A check failed" in text
    assert f"The first {FINDINGS_IN_PDF} of {FINDINGS_CHUNK + 500} records" in text
    full_list = f"http://testserver/api/v1/reports/{failed_report.pk}/checks/{CHECK}/findings.csv"
    assert full_list in text.replace(" ", "")


def test_html_follows_the_callers_language(report, auditor):
    page = (
        client_for(auditor)
        .get(url(report, "report.html"), HTTP_ACCEPT_LANGUAGE="zh-hans")
        .content.decode()
    )
    assert '<html lang="zh-hans">' in page
    assert "已注销" in page  # "Retired", translated in the catalogue


def test_pdf_holds_the_beneficiary_names_in_chinese_and_english_with_a_cjk_font(
    report, auditor, cjk_font
):
    response = client_for(auditor).get(url(report, "report.pdf"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="uniqueness-report-{report.pk}.pdf"'
    )
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content)
    # A narrow table cell may wrap the Chinese name, and the extracted text then has a space in
    # it: Chinese has no spaces of its own to lose.
    assert CHINESE_BENEFICIARY in text.replace(" ", "")
    assert ENGLISH_BENEFICIARY in text
    assert "Every check passed" in text
    assert any("Noto-Sans-CJK-SC" in font for font in pdf_fonts(response.content))


def test_pdf_in_chinese_is_set_in_the_cjk_font(report, auditor, cjk_font):
    response = client_for(auditor).get(url(report, "report.pdf"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = pdf_text(response.content)
    assert CHINESE_BENEFICIARY in text
    assert "已注销" in text
    assert any("Noto-Sans-CJK-SC" in font for font in pdf_fonts(response.content))


def test_a_report_still_running_answers_every_download_with_its_status(registry, auditor):
    report = UniquenessReport.objects.create(
        scope={}, requested_by=auditor, status=UniquenessReport.Status.RUNNING, work_total=4
    )
    client = client_for(auditor)
    as_json = client.get(url(report, "report.json"))
    assert as_json.status_code == 200
    assert json.loads(as_json.content)["verdict"] == "running"
    assert "X-Content-SHA256" not in as_json
    assert csv_rows(client.get(url(report, "report.csv"))) == []
    page = client.get(url(report, "report.html")).content.decode()
    assert '<div class="banner neutral" id="verdict"' in page
    assert "Not sealed yet" in page
    assert "No check has completed yet." in page
    pdf = client.get(url(report, "report.pdf"))
    assert pdf.status_code == 200
    assert "Not sealed yet" in pdf_text(pdf.content)
    assert body(client.get(url(report, f"checks/{CHECK}/findings.csv"))) == b"ordinal\r\n"


def test_html_and_pdf_quote_the_ledger_checkpoint_the_report_covers(auditor):
    report = UniquenessReport.objects.create(
        scope={"mechanism": "GEC", "vintage_from": 202503},
        requested_by=auditor,
        status=UniquenessReport.Status.RUNNING,
        checkpoint_sequence=42,
        checkpoint_hash="c" * 64,
        checkpoint_root="a" * 64,
        last_event_id=1234,
    )
    client = client_for(auditor)
    page = client.get(url(report, "report.html")).content.decode()
    assert "Checkpoint 42" in page
    assert "events up to 1234" in page
    assert "c" * 64 in page
    assert "a" * 64 in page
    assert "Mechanism: GEC; Vintage from: 202503" in page
    text = pdf_text(client.get(url(report, "report.pdf")).content)
    assert "Checkpoint 42" in text
    assert "a" * 64 in text.replace(" ", "")


def test_a_report_that_could_not_run_shows_a_grey_banner_with_the_reason(auditor):
    report = UniquenessReport.objects.create(
        scope={},
        requested_by=auditor,
        status=UniquenessReport.Status.ERROR,
        error="No mechanism with the code XYZ.",
    )
    page = client_for(auditor).get(url(report, "report.html")).content.decode()
    assert '<div class="banner neutral" id="verdict"' in page
    assert "No mechanism with the code XYZ." in page


def test_a_report_scoped_to_a_mechanism_lists_only_its_retirements(registry, auditor):
    report = run_report(auditor, scope={"mechanism": "EUR"})
    page = client_for(auditor).get(url(report, "report.html")).content.decode()
    assert CHINESE_BENEFICIARY not in page
    assert "No retirements in the scope." in page
    assert "Mechanism: EUR" in page


# --- who may download -------------------------------------------------------------------------


@pytest.mark.parametrize("download", DOWNLOADS)
def test_auditors_and_administrators_read_every_report_others_only_their_own(
    registry, report, auditor, administrator, buyer, outsider, project_owner, download
):
    requested_by_buyer = run_report(buyer)
    assert client_for(administrator).get(url(report, download)).status_code == 200
    assert client_for(auditor).get(url(requested_by_buyer, download)).status_code == 200
    assert client_for(buyer).get(url(requested_by_buyer, download)).status_code == 200
    for stranger, other in ((buyer, report), (outsider, report), (project_owner, report)):
        response = client_for(stranger).get(url(other, download))
        assert response.status_code == 404, (stranger.username, download)
        assert response["Content-Type"] == "application/problem+json"
    assert client_for(outsider).get(url(requested_by_buyer, download)).status_code == 404
    assert client_for(None).get(url(report, download)).status_code == 401


def test_a_missing_or_absurd_report_id_answers_404(auditor):
    client = client_for(auditor)
    assert client.get("/api/v1/reports/999999/report.json").status_code == 404
    assert client.get(f"/api/v1/reports/{10**30}/report.pdf").status_code == 404
    assert client.get("/api/v1/reports/1/checks/a%00b/findings.csv").status_code == 404


def test_downloads_accept_a_session_as_well_as_a_token(report, client):
    reader = UserFactory(username="session-auditor", organisation=None, role=User.Role.AUDITOR)
    client.force_login(reader)
    assert client.get(url(report, "report.csv")).status_code == 200


def test_downloads_answer_whatever_the_client_accepts(report, auditor):
    response = client_for(auditor).get(url(report, "report.pdf"), HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"


def test_only_get_is_allowed(report, administrator):
    client = client_for(administrator)
    for download in DOWNLOADS:
        assert client.post(url(report, download)).status_code == 405
        assert client.delete(url(report, download)).status_code == 405
