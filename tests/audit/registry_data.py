"""A small registry built through the services, and reports over it, for the output tests.

windco's wind farm (CN-NM) produces 1,000 MWh in March and 600 MWh in April 2025, all issued as
GEC into windco's account; 100 are retired for 河北绿钢有限公司, 50 for Hebei Green Steel Co.,
and 20 cancelled. The boiler retrofit (CN-ZJ) saves 300 tce in March, issued as energy-use
rights (EUR). Plain functions, not fixtures, so each test module chooses its own fixtures.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from audit.models import ReportCheck, ReportFinding, UniquenessReport
from audit.outputs import report_json
from audit.services import uniqueness_report_request, uniqueness_report_run
from issuance.services import unit_claim_issue
from registry.services import production_record_create
from tests.conftest import RETIREMENT_DEFAULTS, month
from tracking.models import Block
from tracking.services import block_cancel, block_retire

CHINESE_BENEFICIARY = "河北绿钢有限公司"
ENGLISH_BENEFICIARY = RETIREMENT_DEFAULTS["beneficiary_name"]  # "Hebei Green Steel Co."


@dataclass
class SmallRegistry:
    march_block: Block
    issued_e: int = 1_600
    retired_e: int = 150
    cancelled_e: int = 20
    issued_t: int = 300


def build_small_registry(
    *, issuer, second_issuer, project_owner, owner_account, wind_farm, retrofit, march_record
) -> SmallRegistry:
    april_start, april_end = month(2025, 4)
    april_record = production_record_create(
        actor=issuer,
        project=wind_farm,
        unit_kind="E",
        period_start=april_start,
        period_end=april_end,
        quantity=Decimal("600"),
    )
    for record, quantity in ((march_record, 1000), (april_record, 600)):
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=record,
            account=owner_account,
            quantity=quantity,
        )
    march_start, march_end = month(2025, 3)
    saved = production_record_create(
        actor=second_issuer,
        project=retrofit,
        unit_kind="T",
        period_start=march_start,
        period_end=march_end,
        quantity=Decimal("300"),
    )
    unit_claim_issue(
        actor=second_issuer,
        mechanism="EUR",
        production_record=saved,
        account=owner_account,
        quantity=300,
    )
    march_block = Block.objects.filter(mechanism__code="GEC", vintage=202503).first()
    retire = {**RETIREMENT_DEFAULTS}
    retire.pop("beneficiary_name")
    block_retire(
        actor=project_owner,
        account=owner_account,
        mechanism="GEC",
        quantity=100,
        beneficiary_name=CHINESE_BENEFICIARY,
        **retire,
    )
    block_retire(
        actor=project_owner,
        account=owner_account,
        mechanism="GEC",
        quantity=50,
        beneficiary_name=ENGLISH_BENEFICIARY,
        **retire,
    )
    block_cancel(
        actor=project_owner,
        account=owner_account,
        mechanism="GEC",
        quantity=20,
        reason="Issued in error",
    )
    return SmallRegistry(march_block=march_block)


def run_report(actor, scope: dict | None = None) -> UniquenessReport:
    """A report requested by ``actor`` and run to its end in this process."""
    report = uniqueness_report_request(
        actor=actor, scope=scope or {}, enqueue=lambda report: "inline"
    )
    finished = uniqueness_report_run(report_id=report.pk)
    assert finished is not None and finished.is_finished, finished
    return finished


def planted_failed_report(actor, *, check_id: str, findings: list[dict]) -> UniquenessReport:
    """A failed report whose one check lists ``findings``: written straight into the tables, as
    the runner would, then sealed with the SHA-256 of its JSON."""
    report = UniquenessReport.objects.create(
        scope={},
        requested_by=actor,
        status=UniquenessReport.Status.RUNNING,
        started_at=timezone.now(),
        work_total=1,
    )
    ReportCheck.objects.create(
        report=report,
        check_id=check_id,
        position=1,
        verdict=ReportCheck.Verdict.FAIL,
        examined=len(findings) * 2,
        offending=len(findings),
        counts={"streams": 1},
        completed_at=timezone.now(),
    )
    insert_findings(report, check_id, findings)
    report.status = UniquenessReport.Status.FAILED
    report.finished_at = timezone.now()
    sha256 = hashlib.sha256(report_json(report)).hexdigest()
    UniquenessReport.objects.filter(pk=report.pk).update(
        status=report.status, finished_at=report.finished_at, content_sha256=sha256
    )
    report.refresh_from_db()
    return report


def insert_findings(report: UniquenessReport, check_id: str, findings: list[dict]) -> None:
    ReportFinding.objects.bulk_create(
        ReportFinding(report=report, check_id=check_id, ordinal=ordinal, record=record)
        for ordinal, record in enumerate(findings, start=1)
    )


def overlap_findings(count: int) -> list[dict]:
    """``count`` findings shaped like the production-period check's."""
    return [
        {
            "stream_id": 7,
            "record_id": 1000 + number,
            "source": "metered",
            "period_start": f"2025-03-{1 + number % 28:02d}T00:00:00+08:00",
            "overlaps_record_id": number,
        }
        for number in range(1, count + 1)
    ]
