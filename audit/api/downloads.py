"""Downloads of a report: JSON, CSV, HTML, PDF and each check's full list of findings.

Every download authenticates like the rest of the API (token or session) and answers only for a
report the caller may read (``audit.selectors.reports_visible_to``): any other id answers 404,
so a report's existence is not disclosed. A report still running answers with what it holds so
far; its status is in the document. Errors are problem+json whatever the download's format.
"""

from __future__ import annotations

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from audit import outputs
from audit.checks import CHECKS_BY_ID
from audit.models import ReportCheck, UniquenessReport
from audit.selectors import reports_visible_to
from registry.errors import NotFound

CSV_TYPE = "text/csv; charset=utf-8"
JSONL_TYPE = "application/x-ndjson; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
PDF_TYPE = "application/pdf"
# The report page has no script and loads nothing: forbid both, so that nothing a finding or a
# beneficiary name holds can ever run in the API's origin.
HTML_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"

REPORT_ID = OpenApiParameter(
    "id", int, OpenApiParameter.PATH, description="The report's id (GET /reports/)."
)
CHECK_ID = OpenApiParameter(
    "check_id",
    str,
    OpenApiParameter.PATH,
    description="A check of the report, e.g. production_periods_never_overlap.",
)


class ProblemsOnly(BaseContentNegotiation):
    """The download itself is built by the view in its own format; DRF renders only problems,
    always as JSON (problem+json), whatever the Accept header asks for."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ReportDownloadView(APIView):
    """Base of the downloads: finds the report among those the caller may read."""

    renderer_classes = [JSONRenderer]
    content_negotiation_class = ProblemsOnly
    suffix = ""

    def report(self, request, pk: int) -> UniquenessReport:
        report = reports_visible_to(request.user).filter(pk=pk).first()
        if report is None:
            raise NotFound(_("No report %(id)s.") % {"id": pk}, code="not_found")
        return report

    def filename(self, report: UniquenessReport, suffix: str = "") -> str:
        return f"uniqueness-report-{report.pk}{suffix}"

    def link_base(self, request) -> str:
        return request.build_absolute_uri("/").rstrip("/")


def _attachment(response: HttpResponse, filename: str, *, inline: bool = False) -> HttpResponse:
    kind = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{kind}; filename="{filename}"'
    return response


class ReportJSONDownload(ReportDownloadView):
    """The report's canonical JSON; for a finished report `X-Content-SHA256` (the report's
    stored content hash) is the SHA-256 of exactly the bytes of the body."""

    @extend_schema(
        operation_id="reports_download_json",
        parameters=[
            REPORT_ID,
            OpenApiParameter(
                "X-Content-SHA256",
                str,
                OpenApiParameter.HEADER,
                response=[200],
                required=False,
                description=(
                    "SHA-256 (hex) of the body, as stored with the report when it finished; "
                    "absent while it runs or when it could not run."
                ),
            ),
        ],
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="The report's canonical JSON (keys sorted, indented).",
            )
        },
    )
    def get(self, request, pk: int):
        report = self.report(request, pk)
        response = HttpResponse(outputs.report_json(report), content_type="application/json")
        if report.content_sha256:
            response["X-Content-SHA256"] = report.content_sha256
        return _attachment(response, self.filename(report, ".json"))


class ReportCSVDownload(ReportDownloadView):
    """One CSV line per check: id, title, guarantee, verdict, examined, offending, counts."""

    @extend_schema(
        operation_id="reports_download_csv",
        parameters=[REPORT_ID],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="CSV with a header line, one line per check."
            )
        },
    )
    def get(self, request, pk: int):
        report = self.report(request, pk)
        response = StreamingHttpResponse(outputs.report_csv(report), content_type=CSV_TYPE)
        return _attachment(response, self.filename(report, ".csv"))


class ReportHTMLDownload(ReportDownloadView):
    """The report page (verdict, checks, findings, charts), in the caller's language."""

    @extend_schema(
        operation_id="reports_download_html",
        parameters=[REPORT_ID],
        responses={
            (200, "text/html"): OpenApiResponse(
                OpenApiTypes.STR, description="A self-contained HTML page (no script)."
            )
        },
    )
    def get(self, request, pk: int):
        report = self.report(request, pk)
        response = HttpResponse(outputs.report_html(report), content_type=HTML_TYPE)
        response["Content-Security-Policy"] = HTML_POLICY
        return _attachment(response, self.filename(report, ".html"), inline=True)


class ReportPDFDownload(ReportDownloadView):
    """The report page as PDF, in the caller's language, with an embedded CJK font."""

    @extend_schema(
        operation_id="reports_download_pdf",
        parameters=[REPORT_ID],
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The report page as PDF."
            )
        },
    )
    def get(self, request, pk: int):
        report = self.report(request, pk)
        body = outputs.report_pdf(report, link_base=self.link_base(request))
        return _attachment(HttpResponse(body, content_type=PDF_TYPE), self.filename(report, ".pdf"))


class FindingsDownloadView(ReportDownloadView):
    """Base of the findings downloads: the report and one of its checks."""

    def check_of(self, report: UniquenessReport, check_id: str) -> str:
        # NUL cannot even be sent to PostgreSQL; an unknown check names nothing.
        if "\x00" in check_id:
            raise Http404
        known = check_id in CHECKS_BY_ID
        if not known and not ReportCheck.objects.filter(report=report, check_id=check_id).exists():
            raise NotFound(
                _("The report has no check %(check)s.") % {"check": check_id}, code="not_found"
            )
        return check_id


class FindingsCSVDownload(FindingsDownloadView):
    """Every finding of one check as CSV (`ordinal` and one column per key), streamed."""

    @extend_schema(
        operation_id="reports_download_findings_csv",
        parameters=[REPORT_ID, CHECK_ID],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="CSV: a header line, then one line per finding."
            )
        },
    )
    def get(self, request, pk: int, check_id: str):
        report = self.report(request, pk)
        check_id = self.check_of(report, check_id)
        response = StreamingHttpResponse(
            outputs.findings_csv(report, check_id), content_type=CSV_TYPE
        )
        return _attachment(response, self.filename(report, f"-{check_id}.csv"))


class FindingsJSONLinesDownload(FindingsDownloadView):
    """Every finding of one check, one JSON object per line (JSON Lines), streamed."""

    @extend_schema(
        operation_id="reports_download_findings_jsonl",
        parameters=[REPORT_ID, CHECK_ID],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="One JSON object per line, one line per finding."
            )
        },
    )
    def get(self, request, pk: int, check_id: str):
        report = self.report(request, pk)
        check_id = self.check_of(report, check_id)
        response = StreamingHttpResponse(
            outputs.findings_jsonl(report, check_id), content_type=JSONL_TYPE
        )
        return _attachment(response, self.filename(report, f"-{check_id}.jsonl"))


urlpatterns = [
    path(
        "reports/<int:pk>/report.json",
        ReportJSONDownload.as_view(),
        name="report-download-json",
    ),
    path("reports/<int:pk>/report.csv", ReportCSVDownload.as_view(), name="report-download-csv"),
    path(
        "reports/<int:pk>/report.html",
        ReportHTMLDownload.as_view(),
        name="report-download-html",
    ),
    path("reports/<int:pk>/report.pdf", ReportPDFDownload.as_view(), name="report-download-pdf"),
    path(
        "reports/<int:pk>/checks/<str:check_id>/findings.csv",
        FindingsCSVDownload.as_view(),
        name="report-download-findings-csv",
    ),
    path(
        "reports/<int:pk>/checks/<str:check_id>/findings.jsonl",
        FindingsJSONLinesDownload.as_view(),
        name="report-download-findings-jsonl",
    ),
]
