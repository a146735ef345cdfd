"""Each check of the uniqueness report finds exactly its planted defect; a clean registry passes."""

from __future__ import annotations

from audit.models import ReportCheck, ReportFinding
from audit.services import uniqueness_report_request, uniqueness_report_run


def run_report(actor, scope=None):
    report = uniqueness_report_request(actor=actor, scope=scope, enqueue=lambda report: "inline")
    return uniqueness_report_run(report_id=report.pk)


def test_a_clean_registry_passes_every_check(clean_registry):
    report = run_report(clean_registry.auditor)
    for check in ReportCheck.objects.filter(report=report).order_by("position"):
        print(check.check_id, check.verdict, check.examined, check.offending, check.counts)
        for finding in ReportFinding.objects.filter(report=report, check_id=check.check_id)[:5]:
            print("   ", finding.record)
    assert report.status == "passed"
