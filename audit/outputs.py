"""What a report says, in the forms people and programs read: JSON (the stored content, hashed),
CSV, HTML and PDF.

The JSON document is canonical — keys sorted, checks in catalogue order, findings in their
stable order, indented for diffing — so two reports of the same registry state differ only in
their run metadata, and the stored ``content_sha256`` is the SHA-256 of exactly these bytes.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils import translation

from audit.checks import CHECKS_BY_ID
from audit.models import ReportFinding, UniquenessReport
from registry.ledger import json_default

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
    """The canonical JSON bytes of a report (what ``content_sha256`` hashes)."""
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
