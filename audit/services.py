"""Requesting and running uniqueness reports.

``uniqueness_report_request`` stores a queued report and hands it to the worker in one step: if
the broker cannot take the task, the transaction rolls back and nothing is stored (503).
``uniqueness_report_run`` executes the phases; each phase's results are written in one
transaction and a completed phase is never redone, so a worker killed mid-report and a
redelivered task finish the same report with the same content. ``uniqueness_reports_resend_stalled``
(run by beat) sends a report whose task was lost to the worker again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.checks import CHECKS, Check
from audit.models import ReportCheck, ReportFinding, UniquenessReport
from audit.scope import ReportScope
from registry.errors import DomainError
from registry.locks import UNIQUENESS_REPORT_RUN
from registry.models import Checkpoint

FINDINGS_INSERT_BATCH = 5_000
# Phases besides the checks: "prepare" (checkpoint, totals), "statistics" (chart figures) and
# "seal" (canonical JSON and its SHA-256).
EXTRA_PHASES = 3

logger = logging.getLogger(__name__)


class BrokerUnavailable(DomainError):
    """The task queue cannot take work now; nothing was stored."""

    code = "broker_unavailable"
    http_status = 503


def uniqueness_report_request(
    *,
    actor,
    scope: dict[str, Any] | ReportScope | None = None,
    enqueue: Callable[[UniquenessReport], str] | None = None,
) -> UniquenessReport:
    """Store a queued report over ``scope`` and send it to the worker.

    Raises ScopeError (400) for a bad scope and BrokerUnavailable (503) when the broker refuses
    the task; in both cases nothing is stored. The task is published inside the transaction: a
    worker that picks it up before the commit waits for the row (see ``audit.tasks``).
    """
    report_scope = scope if isinstance(scope, ReportScope) else ReportScope.from_json(scope)
    send = enqueue or _send_to_worker
    with transaction.atomic():
        report = UniquenessReport.objects.create(
            scope=report_scope.as_json(),
            requested_by=actor,
            work_total=len(CHECKS) + EXTRA_PHASES,
            heartbeat_at=timezone.now(),
        )
        task_id = send(report)
        UniquenessReport.objects.filter(pk=report.pk).update(task_id=task_id)
        report.task_id = task_id
    return report


def _send_to_worker(report: UniquenessReport) -> str:
    from kombu.exceptions import OperationalError

    from audit.tasks import uniqueness_report_task

    try:
        result = uniqueness_report_task.apply_async(
            args=[report.pk], retry=False, ignore_result=True
        )
    except (OperationalError, OSError) as error:
        raise BrokerUnavailable(
            _("The task queue is unavailable, so the report was not started: %(error)s")
            % {"error": error}
        ) from error
    return result.id


def uniqueness_reports_resend_stalled(
    *,
    stalled_for: dt.timedelta | None = None,
    enqueue: Callable[[UniquenessReport], str] | None = None,
) -> list[int]:
    """Send every queued or running report without a sign of life for ``stalled_for`` (default
    REGISTRY_REPORT_STALLED_MINUTES) to the worker again; returns their ids.

    A task can be lost (a broker restarted without persistence, retries exhausted while the
    database was away); a report still running elsewhere is not run twice, because the runner
    holds its advisory lock. Each report's heartbeat moves on with its new task (compare-and-set,
    in one transaction with the sending), so two sweeps at once send it once and the next sweep
    waits a whole period again. Raises BrokerUnavailable when the broker refuses, leaving the
    reports not yet sent as they were.
    """
    if stalled_for is None:
        stalled_for = dt.timedelta(minutes=settings.REGISTRY_REPORT_STALLED_MINUTES)
    send = enqueue or _send_to_worker
    cutoff = timezone.now() - stalled_for
    stalled = UniquenessReport.objects.filter(
        status__in=(UniquenessReport.Status.QUEUED, UniquenessReport.Status.RUNNING),
        heartbeat_at__lt=cutoff,
    ).order_by("pk")
    resent = []
    for report in stalled:
        with transaction.atomic():
            taken = UniquenessReport.objects.filter(
                pk=report.pk,
                heartbeat_at=report.heartbeat_at,
                status__in=(UniquenessReport.Status.QUEUED, UniquenessReport.Status.RUNNING),
            ).update(heartbeat_at=timezone.now())
            if not taken:
                continue
            task_id = send(report)
            UniquenessReport.objects.filter(pk=report.pk).update(task_id=task_id)
        logger.warning("uniqueness report %s had stalled; sent to the worker again", report.pk)
        resent.append(report.pk)
    return resent


def _set_progress(report_id: int, **fields: Any) -> None:
    # Autocommitted outside any phase transaction so that readers see progress at once.
    UniquenessReport.objects.filter(pk=report_id, status=UniquenessReport.Status.RUNNING).update(
        heartbeat_at=timezone.now(), **fields
    )


def _pause_between_phases() -> None:
    # Fault injection for tests (REGISTRY_REPORT_PHASE_DELAY_SECONDS, 0 in real use): a window
    # in which a test can kill the worker between two phases.
    delay = settings.REGISTRY_REPORT_PHASE_DELAY_SECONDS
    if delay > 0:
        time.sleep(delay)


def _run_check(report: UniquenessReport, check: Check, position: int, scope: ReportScope) -> None:
    """Write one check's findings and outcome in one transaction (idempotent: redoes nothing
    when the check is already recorded, replaces a half-written attempt otherwise)."""
    with transaction.atomic():
        if ReportCheck.objects.filter(report=report, check_id=check.id).exists():
            return
        ReportFinding.objects.filter(report=report, check_id=check.id).delete()
        offending = 0
        counts: dict[str, Any] = {}
        with connection.cursor() as cursor:
            if check.findings is not None:
                findings_sql, findings_params = check.findings(scope)
                cursor.execute(
                    f"""
                    INSERT INTO audit_reportfinding (report_id, check_id, ordinal, record)
                    SELECT %s, %s, row_number() OVER (ORDER BY {check.order_by}),
                           to_jsonb(finding)
                    FROM ({findings_sql}) AS finding
                    """,
                    [report.pk, check.id, *findings_params],
                )
                offending = cursor.rowcount
            if check.counts is not None:
                counts_sql, counts_params = check.counts(scope)
                cursor.execute(counts_sql, counts_params)
                columns = [column.name for column in cursor.description]
                counts = dict(zip(columns, cursor.fetchone(), strict=True))
        if check.stream is not None:
            # The stream fills ``counts`` as it goes; exhaust it before reading them.
            offending = _insert_streamed_findings(report, check, check.stream(scope, counts))
        examined = int(counts.pop("examined", 0) or 0)
        if check.fails_when:
            offending, counts["warnings"] = (
                _split_warnings(report, check, offending) if offending else (0, 0)
            )
        if not check.verdict_from_findings:
            verdict = ReportCheck.Verdict.INFO
        elif offending:
            verdict = ReportCheck.Verdict.FAIL
        else:
            verdict = ReportCheck.Verdict.PASS
        ReportCheck.objects.create(
            report=report,
            check_id=check.id,
            position=position,
            verdict=verdict,
            examined=examined,
            offending=offending,
            counts={key: _json_number(value) for key, value in counts.items()},
            completed_at=timezone.now(),
        )


def _split_warnings(report: UniquenessReport, check: Check, findings: int) -> tuple[int, int]:
    """(failing, warnings) among a check's stored findings, by its ``fails_when``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT count(*) FROM audit_reportfinding
            WHERE report_id = %s AND check_id = %s AND ({check.fails_when})
            """,
            [report.pk, check.id],
        )
        failing = cursor.fetchone()[0]
    return failing, findings - failing


def _insert_streamed_findings(report, check: Check, records) -> int:
    batch: list[ReportFinding] = []
    ordinal = 0
    for record in records:
        ordinal += 1
        batch.append(
            ReportFinding(report=report, check_id=check.id, ordinal=ordinal, record=record)
        )
        if len(batch) >= FINDINGS_INSERT_BATCH:
            ReportFinding.objects.bulk_create(batch)
            batch = []
    if batch:
        ReportFinding.objects.bulk_create(batch)
    return ordinal


def _json_number(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    return value


def _claim_start(report_id: int) -> UniquenessReport | None:
    """Queued → running (compare-and-set), or pick up a running report a dead worker left."""
    now = timezone.now()
    UniquenessReport.objects.filter(pk=report_id, status=UniquenessReport.Status.QUEUED).update(
        status=UniquenessReport.Status.RUNNING, started_at=now
    )
    report = UniquenessReport.objects.filter(pk=report_id).first()
    if report is None or report.status != UniquenessReport.Status.RUNNING:
        return None
    UniquenessReport.objects.filter(pk=report_id).update(
        attempts=report.attempts + 1, heartbeat_at=now
    )
    return report


def _prepare(report: UniquenessReport) -> bool:
    """Fix the checkpoint the report covers (once: a resumed run keeps the first one). Returns
    whether it did so now."""
    if report.checkpoint_hash or report.phase not in ("", "prepare"):
        return False
    checkpoint = Checkpoint.objects.order_by("-sequence").first()
    fields = {"phase": "prepare", "work_done": 1}
    if checkpoint is not None:
        fields.update(
            checkpoint_sequence=checkpoint.sequence,
            checkpoint_hash=checkpoint.checkpoint_hash,
            checkpoint_root=checkpoint.merkle_root,
            last_event_id=checkpoint.last_event_id,
        )
    _set_progress(report.pk, **fields)
    return True


def uniqueness_report_run(
    *,
    report_id: int,
    on_progress: Callable[[UniquenessReport], None] | None = None,
) -> UniquenessReport | None:
    """Run (or resume) a report to its end. Returns the finished report, or None when there is
    nothing to do (finished already, or another worker is running it now).

    Guarantees: each check is recorded once, completely or not at all; the report's final status
    is passed only if every check passed; its content hash is the SHA-256 of the JSON document
    that ``audit.outputs.render_report_json`` gave at the end, stored with it (``content``); a
    resumed run goes on from the first phase not completed, so its progress never moves back.
    ``on_progress`` is called with the report as stored after each progress write (the command
    line draws its bar from it).
    """
    from audit.outputs import render_report_json
    from audit.selectors import report_statistics

    def progress(**fields: Any) -> None:
        _set_progress(report_id, **fields)
        if on_progress is not None:
            on_progress(UniquenessReport.objects.get(pk=report_id))

    with connection.cursor() as cursor:
        # Session-level: two deliveries of one report never run at once; a dead worker's
        # connection closes and frees it.
        cursor.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [UNIQUENESS_REPORT_RUN, report_id % 2**31]
        )
        if not cursor.fetchone()[0]:
            return None
    try:
        report = _claim_start(report_id)
        if report is None:
            return None
        try:
            scope = ReportScope.from_json(report.scope)
            if _prepare(report):
                progress()
                _pause_between_phases()
            recorded = set(
                ReportCheck.objects.filter(report=report).values_list("check_id", flat=True)
            )
            for position, check in enumerate(CHECKS, start=1):
                if check.id in recorded:
                    continue  # a run before this one completed it
                progress(phase=check.id, work_done=position)
                _run_check(report, check, position, scope)
                _pause_between_phases()
            if not report.statistics:
                progress(phase="statistics", work_done=len(CHECKS) + 1)
                _set_progress(report.pk, statistics=report_statistics(scope))
                _pause_between_phases()
            progress(phase="seal", work_done=len(CHECKS) + EXTRA_PHASES - 1)
            report.refresh_from_db()
            failed = report.checks.filter(verdict=ReportCheck.Verdict.FAIL).exists()
            report.finished_at = timezone.now()
            report.status = (
                UniquenessReport.Status.FAILED if failed else UniquenessReport.Status.PASSED
            )
            document = render_report_json(report)
            UniquenessReport.objects.filter(
                pk=report.pk, status=UniquenessReport.Status.RUNNING
            ).update(
                status=report.status,
                finished_at=report.finished_at,
                phase="done",
                work_done=report.work_total,
                content_sha256=hashlib.sha256(document).hexdigest(),
                content=document,
            )
            if on_progress is not None:
                on_progress(UniquenessReport.objects.get(pk=report_id))
        except Exception as error:
            if _is_permanent(error):
                UniquenessReport.objects.filter(
                    pk=report_id, status=UniquenessReport.Status.RUNNING
                ).update(
                    status=UniquenessReport.Status.ERROR,
                    error=str(error)[:2000],
                    finished_at=timezone.now(),
                )
                return UniquenessReport.objects.get(pk=report_id)
            raise
        return UniquenessReport.objects.get(pk=report_id)
    finally:
        _release_run_lock(report_id)


def _release_run_lock(report_id: int) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, %s)", [UNIQUENESS_REPORT_RUN, report_id % 2**31]
            )
    except DatabaseError:
        # The connection broke (the error being raised says why): a session-level lock ends
        # with its session, so closing the connection releases it for sure.
        logger.warning("could not release the run lock of report %s", report_id, exc_info=True)
        if not connection.in_atomic_block:
            connection.close()


def _is_permanent(error: Exception) -> bool:
    """Errors a retry cannot cure (a scope that no longer validates, a bug in a check's SQL);
    lost connections and the like are left to the task's retry."""
    from django.db import DatabaseError, InterfaceError, OperationalError

    if isinstance(error, DomainError):
        return True
    if isinstance(error, (OperationalError, InterfaceError)):
        return False
    return isinstance(error, DatabaseError)
