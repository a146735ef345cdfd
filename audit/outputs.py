"""What a report says, in the forms people and programs read: JSON (the stored content, hashed),
CSV, HTML and PDF.

The JSON document is canonical — keys sorted, checks in catalogue order, findings in their
stable order, indented for diffing — so two reports of the same registry state differ only in
their run metadata, and the stored ``content_sha256`` is the SHA-256 of exactly these bytes.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audit.checks import CHECKS_BY_ID
from audit.models import ReportCheck, ReportFinding, UniquenessReport
from registry.documents import html_to_pdf
from registry.errors import DomainError
from registry.ledger import json_default
from registry.models import Mechanism
from tracking.models import Retirement

FINDINGS_IN_DOCUMENT = 1_000


def _iso(value) -> str | None:
    return json_default(value) if value is not None else None


def report_document(report: UniquenessReport) -> dict[str, Any]:
    """The report as a JSON-ready dict; each check carries its first 1,000 findings."""
    checks = []
    with translation.override("en"):
        for report_check in report.checks.order_by("position"):
            check = CHECKS_BY_ID.get(report_check.check_id)
            findings = list(
                ReportFinding.objects.filter(report=report, check_id=report_check.check_id)
                .order_by("ordinal")
                .values_list("record", flat=True)[:FINDINGS_IN_DOCUMENT]
            )
            checks.append(
                {
                    "id": report_check.check_id,
                    "title": str(check.title) if check else report_check.check_id,
                    "guarantee": check.guarantee if check else "",
                    "verdict": report_check.verdict,
                    "examined": report_check.examined,
                    "offending": report_check.offending,
                    "counts": report_check.counts,
                    "findings": findings,
                    "findings_truncated": report_check.offending > len(findings),
                }
            )
    return {
        "report": {
            "id": report.pk,
            "public_id": str(report.public_id),
            "scope": report.scope,
            "requested_by": report.requested_by.username if report.requested_by_id else None,
            "requested_at": _iso(report.requested_at),
            "started_at": _iso(report.started_at),
            "finished_at": _iso(report.finished_at),
            "ledger_checkpoint": {
                "sequence": report.checkpoint_sequence,
                "checkpoint_hash": report.checkpoint_hash or None,
                "merkle_root": report.checkpoint_root or None,
                "last_event_id": report.last_event_id,
            },
        },
        "verdict": report.status,
        "checks": checks,
        "statistics": report.statistics,
    }


def report_json(report: UniquenessReport) -> bytes:
    """The canonical JSON bytes of a report: for a finished report the bytes stored when it was
    sealed (what ``content_sha256`` hashes), otherwise rendered now."""
    if report.content is not None:
        return bytes(report.content)
    return render_report_json(report)


def render_report_json(report: UniquenessReport) -> bytes:
    """Render the canonical JSON of a report from its rows (sorted keys, indented)."""
    return (
        json.dumps(
            report_document(report),
            sort_keys=True,
            indent=2,
            ensure_ascii=False,
            default=json_default,
        )
        + "\n"
    ).encode("utf-8")


# --- CSV and JSON lines ---------------------------------------------------------------------

FINDINGS_CHUNK = 2_000
FINDINGS_IN_PDF = 200
RETIREMENTS_IN_REPORT = 50
REPORT_CSV_COLUMNS = (
    "check",
    "title",
    "guarantee",
    "verdict",
    "examined",
    "offending",
    "counts",
)


def _cell(value: Any) -> str:
    """A finding's value as CSV text: JSON for nested values, nothing for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=json_default)
    return str(value)


def _csv_line(values: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(list(values))
    return buffer.getvalue()


def report_csv(report: UniquenessReport) -> Iterator[str]:
    """One CSV line per check of the report (in catalogue order) after a header: id, title (in
    the active language), guarantee, verdict, records examined, offending records and the
    check's counts as JSON. A running report lists the checks completed so far."""
    yield _csv_line(REPORT_CSV_COLUMNS)
    for report_check in report.checks.order_by("position"):
        check = CHECKS_BY_ID.get(report_check.check_id)
        yield _csv_line(
            [
                report_check.check_id,
                str(check.title) if check else report_check.check_id,
                check.guarantee if check else "",
                report_check.verdict,
                report_check.examined,
                report_check.offending,
                _cell(report_check.counts),
            ]
        )


def _findings(report: UniquenessReport, check_id: str):
    return (
        ReportFinding.objects.filter(report=report, check_id=check_id)
        .order_by("ordinal")
        .values_list("ordinal", "record")
        .iterator(chunk_size=FINDINGS_CHUNK)
    )


def finding_columns(report: UniquenessReport, check_id: str) -> list[str]:
    """The keys of a check's findings: the first finding's keys in their order, then any key
    another finding has that the first lacks (sorted), so no value is ever left out."""
    first = (
        ReportFinding.objects.filter(report=report, check_id=check_id)
        .order_by("ordinal")
        .values_list("record", flat=True)
        .first()
    )
    columns = list(first) if isinstance(first, dict) else []
    with connection.cursor() as cursor:
        # One pass in the database over the check's findings; only the distinct keys come back.
        cursor.execute(
            """
            SELECT DISTINCT keys.key
            FROM audit_reportfinding AS finding,
                 jsonb_object_keys(
                     CASE WHEN jsonb_typeof(finding.record) = 'object'
                          THEN finding.record ELSE '{}'::jsonb END
                 ) AS keys(key)
            WHERE finding.report_id = %s AND finding.check_id = %s
            ORDER BY 1
            """,
            [report.pk, check_id],
        )
        known = set(columns)
        columns += [key for (key,) in cursor.fetchall() if key not in known]
    return columns


def findings_csv(report: UniquenessReport, check_id: str) -> Iterator[str]:
    """Every finding of one check as CSV, in order: ``ordinal`` then one column per key of the
    findings (see ``finding_columns``). Read in chunks from a server-side cursor, so memory
    stays bounded however many findings there are."""
    columns = finding_columns(report, check_id)
    yield _csv_line(["ordinal", *columns])
    for ordinal, record in _findings(report, check_id):
        values = record if isinstance(record, dict) else {}
        yield _csv_line([ordinal, *(_cell(values.get(column)) for column in columns)])


def findings_jsonl(report: UniquenessReport, check_id: str) -> Iterator[str]:
    """Every finding of one check, one JSON object per line, in order: the same objects as the
    report JSON's ``findings`` list (whose first 1,000 they begin with), keys sorted."""
    for _ordinal, record in _findings(report, check_id):
        yield (json.dumps(record, sort_keys=True, ensure_ascii=False, default=json_default) + "\n")


# --- HTML and PDF ---------------------------------------------------------------------------


def _display(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=json_default)
    return str(value)


def _is_table(value: Any) -> bool:
    return bool(value) and isinstance(value, list) and all(isinstance(row, dict) for row in value)


def _count_table(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    return {
        "name": name,
        "columns": columns,
        "rows": [[_display(row.get(key)) for key in columns] for row in rows],
    }


def _banner(report: UniquenessReport, checks: list[dict[str, Any]]) -> dict[str, str]:
    failed = sum(1 for check in checks if check["verdict"] == ReportCheck.Verdict.FAIL)
    if report.status == UniquenessReport.Status.PASSED:
        return {
            "tone": "pass",
            "headline": _("Every check passed"),
            "detail": ngettext(
                "No unit was counted twice: %(count)s check ran and found nothing wrong.",
                "No unit was counted twice: %(count)s checks ran and found nothing wrong.",
                len(checks),
            )
            % {"count": len(checks)},
        }
    if report.status == UniquenessReport.Status.FAILED:
        return {
            "tone": "fail",
            "headline": _("A check failed"),
            "detail": ngettext(
                "%(failed)s of %(count)s check found offending records (below).",
                "%(failed)s of %(count)s checks found offending records (below).",
                len(checks),
            )
            % {"failed": failed, "count": len(checks)},
        }
    if report.status == UniquenessReport.Status.ERROR:
        return {
            "tone": "neutral",
            "headline": _("The report could not run"),
            "detail": report.error or "",
        }
    return {
        "tone": "neutral",
        "headline": report.get_status_display(),
        "detail": _(
            "Not finished: %(done)s of %(total)s steps done (current: %(phase)s). What is shown "
            "is what has been found so far."
        )
        % {
            "done": report.work_done,
            "total": report.work_total,
            "phase": report.phase or "—",
        },
    }


def _scope_rows(report: UniquenessReport) -> list[tuple[str, str]]:
    labels = {
        "mechanism": _("Mechanism"),
        "project": _("Project"),
        "province": _("Province"),
        "organisation": _("Organisation"),
        "vintage_from": _("Vintage from"),
        "vintage_to": _("Vintage to"),
    }
    return [
        (str(labels.get(key, key)), _display(value))
        for key, value in sorted((report.scope or {}).items())
    ]


def _check_entries(
    report: UniquenessReport, *, findings_limit: int, link_base: str
) -> list[dict[str, Any]]:
    entries = []
    for report_check in report.checks.order_by("position"):
        check = CHECKS_BY_ID.get(report_check.check_id)
        entry: dict[str, Any] = {
            "id": report_check.check_id,
            "title": str(check.title) if check else report_check.check_id,
            "description": str(check.description) if check else "",
            "guarantee": check.guarantee if check else "",
            "verdict": report_check.verdict,
            "verdict_label": report_check.get_verdict_display(),
            "examined": report_check.examined,
            "offending": report_check.offending,
            "counts": [
                (key, _display(value))
                for key, value in report_check.counts.items()
                if not _is_table(value)
            ],
            # Counts that are rows (e.g. issued = active + ... per mechanism and vintage) read
            # as tables of their own.
            "count_tables": [
                _count_table(key, value)
                for key, value in report_check.counts.items()
                if _is_table(value)
            ],
            "columns": [],
            "rows": [],
            "shown": 0,
            "csv_url": link_base
            + reverse(
                "report-download-findings-csv",
                kwargs={"pk": report.pk, "check_id": report_check.check_id},
            ),
            "jsonl_url": link_base
            + reverse(
                "report-download-findings-jsonl",
                kwargs={"pk": report.pk, "check_id": report_check.check_id},
            ),
        }
        if report_check.verdict != ReportCheck.Verdict.PASS:
            records = list(
                ReportFinding.objects.filter(report=report, check_id=report_check.check_id)
                .order_by("ordinal")
                .values_list("record", flat=True)[:findings_limit]
            )
            columns: list[str] = []
            for record in records:
                columns += [key for key in record if key not in columns]
            entry["columns"] = columns
            entry["rows"] = [[_display(record.get(key)) for key in columns] for record in records]
            entry["shown"] = len(records)
        entries.append(entry)
    return entries


def report_context(
    report: UniquenessReport,
    *,
    findings_limit: int = FINDINGS_IN_DOCUMENT,
    link_base: str = "",
) -> dict[str, Any]:
    """Everything the report page shows, in the active language. ``link_base`` (scheme and
    host) makes the download links absolute, as a PDF needs."""
    from audit import charts
    from audit.scope import ReportScope
    from audit.selectors import retirements_in_scope

    checks = _check_entries(report, findings_limit=findings_limit, link_base=link_base)
    statistics = report.statistics or {}
    units = statistics.get("units_by_mechanism_month") or []
    refused = statistics.get("refused_attempts") or []
    unit_kinds = dict(Mechanism.objects.values_list("code", "unit_kind"))
    units_by_mechanism: dict[str, dict[str, int]] = {}
    for row in units:
        sums = units_by_mechanism.setdefault(row["mechanism"], defaultdict(int))
        for key in ("issued", "retired", "cancelled", "expired", "active"):
            sums[key] += int(row.get(key) or 0)
    try:
        scope = ReportScope.from_json(report.scope)
    except DomainError:  # a scope naming what no longer exists: nothing to list
        scope = None
    retirements = (
        retirements_in_scope(scope=scope, as_of=report.finished_at, limit=RETIREMENTS_IN_REPORT)
        if scope is not None
        else []
    )
    purposes = dict(Retirement.Purpose.choices)
    for retirement in retirements:
        retirement["purpose_label"] = purposes.get(retirement["purpose"], retirement["purpose"])
    downloads = {
        name: link_base + reverse(f"report-download-{name}", kwargs={"pk": report.pk})
        for name in ("json", "csv", "html", "pdf")
    }
    return {
        "report": report,
        "banner": _banner(report, checks),
        "scope_rows": _scope_rows(report),
        "checks": checks,
        "listed_checks": [check for check in checks if check["verdict"] != "pass"],
        "findings_limit": findings_limit,
        "units_chart": charts.units_by_mechanism_month_svg(units, units=unit_kinds),
        "refused_chart": charts.refused_attempts_svg(refused),
        "units_by_mechanism": [
            {
                "mechanism": mechanism,
                "unit": charts.UNIT_SYMBOLS.get(unit_kinds.get(mechanism, ""), ""),
                **sums,
            }
            for mechanism, sums in units_by_mechanism.items()
        ],
        "refused_attempts": refused,
        "retirements": retirements,
        "retirements_limit": RETIREMENTS_IN_REPORT,
        "downloads": downloads,
    }


def report_html(report: UniquenessReport, *, link_base: str = "") -> str:
    """The report as one self-contained HTML page in the active language: verdict banner,
    scope, ledger checkpoint, times, content hash, checks, findings, charts (inline SVG) and
    the latest retirements in scope. No script, no external resource."""
    return render_to_string("audit/report.html", report_context(report, link_base=link_base))


def report_pdf(report: UniquenessReport, *, link_base: str = "") -> bytes:
    """The report page as PDF (WeasyPrint), with the page's print styles; Chinese text is set in
    the embedded Noto Sans CJK SC font.

    Each listed check shows its first ``FINDINGS_IN_PDF`` findings and the address of the full
    list: laying out a thousand table rows takes WeasyPrint about ten seconds, so a report with
    several failing checks would outlast any request timeout.
    """
    context = report_context(report, findings_limit=FINDINGS_IN_PDF, link_base=link_base)
    html = render_to_string("audit/report.html", {**context, "for_print": True})
    return html_to_pdf(html, base_url=link_base or None)
