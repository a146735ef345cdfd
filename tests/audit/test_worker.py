"""Reliability of uniqueness reports on a real worker and the real Redis broker (no eager mode).

* A report requested through the API runs on a worker, moves its progress and stores its result.
* A worker killed (SIGKILL, its whole process group) in the middle of a report: a fresh worker
  finishes it, each check recorded exactly once, with the content of an uninterrupted run.
* Two reports of the same scope at once finish alike without sharing anything.
* A report whose task was lost is sent again by the beat safety net; a delivery that finds the
  report running elsewhere leaves it alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.core.management import call_command
from django.db import connection, connections
from django.urls import Resolver404, resolve
from django.utils import timezone

from audit.checks import CHECKS
from audit.models import ReportCheck, ReportFinding, UniquenessReport
from audit.outputs import report_json
from audit.services import (
    uniqueness_report_request,
    uniqueness_report_run,
    uniqueness_reports_resend_stalled,
)
from registry.locks import UNIQUENESS_REPORT_RUN
from registry.models import Checkpoint, ProductionRecord
from tests.audit.support import plant_overlapping_production

ROOT = Path(__file__).resolve().parent.parent.parent
REPORTS = "/api/v1/reports/"
OVERLAP_CONSTRAINT = "production_periods_never_overlap"


def wait_for(condition: Callable[[], object], *, seconds: float, what: str):
    """Poll ``condition`` until it returns something true (returned); a guard, not a timing."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.05)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_without_run_metadata(report: UniquenessReport) -> dict:
    """The report's JSON document without its "report" section (id, times, requester)."""
    document = json.loads(report_json(report))
    del document["report"]
    return document


def inline_report(actor, scope=None) -> UniquenessReport:
    """An uninterrupted run of the same scope, in this process."""
    report = uniqueness_report_request(actor=actor, scope=scope, enqueue=lambda report: "")
    return uniqueness_report_run(report_id=report.pk)


@pytest.fixture
def committed_overlap(transactional_db, march_record):
    """An overlapping production record committed behind the exclusion constraint's back (the
    constraint is restored, from the model's own definition, when the test ends)."""
    planted = plant_overlapping_production(march_record)
    yield planted
    ProductionRecord.objects.filter(pk=planted.pk).delete()
    constraint = next(
        constraint
        for constraint in ProductionRecord._meta.constraints
        if isinstance(constraint, ExclusionConstraint) and constraint.name == OVERLAP_CONSTRAINT
    )
    with connection.schema_editor() as editor:
        editor.add_constraint(ProductionRecord, constraint)


# --- the Celery path, in-process worker thread ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_report_requested_through_the_api_runs_on_a_real_worker(
    api, auditor, march_record, report_queue, settings
):
    from celery.contrib.testing.worker import start_worker

    from registry.celery import app

    settings.REGISTRY_REPORT_PHASE_DELAY_SECONDS = 0.3  # long enough to watch each phase
    client = api(auditor)
    seen: list[tuple[str, str, int]] = []

    with start_worker(
        app, perform_ping_check=False, pool="solo", loglevel="WARNING", queues=[report_queue]
    ):
        response = client.post(REPORTS, {}, format="json")
        assert response.status_code == 202, response.data
        url = f"{REPORTS}{response.data['id']}/"

        def finished():
            body = client.get(url).data
            state = (body["status"], body["phase"], body["progress"]["done"])
            if not seen or seen[-1] != state:
                seen.append(state)
            return body if body["status"] in ("passed", "failed", "error") else None

        body = wait_for(finished, seconds=120, what="the worker finishing the report")

    total = body["progress"]["total"]
    assert body["status"] == "passed", body
    assert seen[-1] == ("passed", "done", total)
    done = [state[2] for state in seen]
    assert done == sorted(done)  # progress never moves back
    running = {(phase, count) for status, phase, count in seen if status == "running"}
    assert len(running) >= 2, seen  # the progress was seen moving while it ran
    assert [check["id"] for check in body["checks"]] == [check.id for check in CHECKS]

    report = UniquenessReport.objects.get(pk=body["id"])
    document = report_json(report)
    assert body["content_sha256"] == report.content_sha256 == sha256(document)
    latest = Checkpoint.objects.order_by("-sequence").first()
    assert body["checkpoint"]["sequence"] == (latest.sequence if latest else None)
    # The downloads answer once their module routes them: the JSON download is the hashed text.
    download = body["links"]["json"].removeprefix("http://testserver")
    try:
        resolve(download)
    except Resolver404:
        pass
    else:
        fetched = client.get(download)
        assert fetched.status_code == 200
        assert sha256(b"".join(fetched) if fetched.streaming else fetched.content) == (
            report.content_sha256
        )


@pytest.mark.django_db(transaction=True)
def test_the_command_follows_a_report_on_the_worker_and_exits_0(march_record, report_queue):
    import io

    from celery.contrib.testing.worker import start_worker

    from registry.celery import app

    stdout, stderr = io.StringIO(), io.StringIO()
    with start_worker(
        app, perform_ping_check=False, pool="solo", loglevel="WARNING", queues=[report_queue]
    ):
        call_command("uniqueness_report", "--timeout", "120", stdout=stdout, stderr=stderr)

    report = UniquenessReport.objects.get()
    assert report.status == "passed" and report.task_id
    assert f"content SHA-256: {report.content_sha256}" in stdout.getvalue()
    assert stderr.getvalue().splitlines()[-1].endswith("done")


# --- killing the worker in the middle of a report ---------------------------------------------


def _database_url() -> str:
    database = settings.DATABASES["default"]
    credentials = quote(database["USER"], safe="")
    if database.get("PASSWORD"):
        credentials += ":" + quote(database["PASSWORD"], safe="")
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    if host.startswith("/"):
        # A unix socket directory (the embedded PostgreSQL): django-environ reads it from a
        # path of the form /<socket dir>/<name>, percent-encoded.
        socket_path = quote(f"{host}/{database['NAME']}", safe="")
        return f"postgres://{credentials}@:{port}/{socket_path}"
    return f"postgres://{credentials}@{host}:{port}/{quote(database['NAME'], safe='')}"


def _start_worker_process(queue: str, log: Path, *, phase_delay: float) -> subprocess.Popen:
    """A prefork worker (a main process and one child) in a process group of its own, on the
    test database and the test's queue; unacknowledged tasks come back after 2 s."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "registry.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,
        "CELERY_VISIBILITY_TIMEOUT": "2",
        "REGISTRY_REPORT_PHASE_DELAY_SECONDS": str(phase_delay),
    }
    with log.open("ab") as output:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "registry",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--queues",
                queue,
                "--hostname",
                f"reports-{uuid.uuid4().hex[:8]}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(worker: subprocess.Popen, how: signal.Signals = signal.SIGTERM) -> None:
    if worker.poll() is not None:
        return
    os.killpg(worker.pid, how)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_report_is_replaced_and_the_report_finishes_the_same(
    auditor, committed_overlap, report_queue, tmp_path
):
    log = tmp_path / "workers.log"
    report = uniqueness_report_request(actor=auditor, scope={})
    first = _start_worker_process(report_queue, log, phase_delay=3)
    second = None
    try:
        wait_for(
            lambda: ReportCheck.objects.filter(report=report).exists(),
            seconds=120,
            what=f"the first worker recording a check (log: {log.read_text()})",
        )
        _stop(first, signal.SIGKILL)
        killed = UniquenessReport.objects.get(pk=report.pk)
        assert killed.status == "running", "the kill came too late to interrupt the report"
        recorded_before = ReportCheck.objects.filter(report=report).count()

        second = _start_worker_process(report_queue, log, phase_delay=0)
        finished = wait_for(
            lambda: UniquenessReport.objects.filter(
                pk=report.pk, status__in=UniquenessReport.FINISHED
            ).first(),
            seconds=180,
            what=f"the second worker finishing the report (log: {log.read_text()})",
        )
    finally:
        _stop(first, signal.SIGKILL)
        if second is not None:
            _stop(second)

    assert finished.status == "failed", finished.error  # the planted overlap
    assert finished.attempts == 2
    assert 1 <= recorded_before < len(CHECKS) + 1
    assert Counter(finished.checks.values_list("check_id", flat=True)) == Counter(
        check.id for check in CHECKS
    )
    periods = finished.checks.get(check_id=OVERLAP_CONSTRAINT)
    assert (periods.verdict, periods.offending) == ("fail", 1)
    assert ReportFinding.objects.filter(report=finished).count() == sum(
        finished.checks.values_list("offending", flat=True)
    )
    assert finished.content_sha256 == sha256(report_json(finished))

    uninterrupted = inline_report(auditor)
    assert content_without_run_metadata(finished) == content_without_run_metadata(uninterrupted)
    assert (finished.checkpoint_hash, finished.last_event_id) == (
        uninterrupted.checkpoint_hash,
        uninterrupted.last_event_id,
    )


# --- two reports of one scope at once ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_reports_of_the_same_scope_at_once_finish_alike_without_sharing_rows(
    auditor, administrator, committed_overlap, settings
):
    settings.REGISTRY_REPORT_PHASE_DELAY_SECONDS = 0.2  # their phases interleave
    scope = {"mechanism": "", "vintage_from": 202501}
    reports = [
        uniqueness_report_request(actor=actor, scope=scope, enqueue=lambda report: "")
        for actor in (auditor, administrator)
    ]
    barrier = threading.Barrier(len(reports))

    def run(report_id: int) -> UniquenessReport | None:
        try:
            barrier.wait(timeout=30)
            return uniqueness_report_run(report_id=report_id)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(reports)) as pool:
        first, second = pool.map(run, [report.pk for report in reports])

    assert first.status == second.status == "failed"
    findings = [ReportFinding.objects.filter(report=report).count() for report in (first, second)]
    assert findings[0] == findings[1] >= 1
    for report in (first, second):
        assert report.checks.count() == len(CHECKS)
        assert report.content_sha256 == sha256(report_json(report))
    assert first.content_sha256 != second.content_sha256  # each hashes its own document
    assert content_without_run_metadata(first) == content_without_run_metadata(second)
    assert [
        (check.check_id, check.verdict, check.examined, check.offending, check.counts)
        for check in first.checks.order_by("position")
    ] == [
        (check.check_id, check.verdict, check.examined, check.offending, check.counts)
        for check in second.checks.order_by("position")
    ]


# --- the safety net for lost tasks ------------------------------------------------------------


def test_stalled_reports_are_sent_again_once_per_period(administrator):
    sent: list[int] = []

    def enqueue(report):
        sent.append(report.pk)
        return f"task-{report.pk}"

    stale = timezone.now() - dt.timedelta(hours=1)
    lost_queued, lost_running, fresh, finished = (
        uniqueness_report_request(actor=administrator, enqueue=lambda report: "") for _ in range(4)
    )
    UniquenessReport.objects.filter(pk=lost_queued.pk).update(heartbeat_at=stale)
    UniquenessReport.objects.filter(pk=lost_running.pk).update(status="running", heartbeat_at=stale)
    UniquenessReport.objects.filter(pk=finished.pk).update(status="error", heartbeat_at=stale)

    resent = uniqueness_reports_resend_stalled(enqueue=enqueue)
    again = uniqueness_reports_resend_stalled(enqueue=enqueue)

    assert resent == sent == [lost_queued.pk, lost_running.pk]
    assert again == []  # their heartbeat moved on with the new task
    assert UniquenessReport.objects.get(pk=lost_running.pk).task_id == f"task-{lost_running.pk}"
    assert fresh.pk not in sent and finished.pk not in sent


def test_the_safety_net_runs_on_beat():
    from registry.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["uniqueness-reports-resend-stalled"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


@pytest.mark.django_db(transaction=True)
def test_a_report_whose_task_was_lost_is_finished_by_the_worker_once_sent_again(
    auditor, march_record, report_queue
):
    from celery.contrib.testing.worker import start_worker

    from registry.celery import app

    lost = uniqueness_report_request(actor=auditor, enqueue=lambda report: "")  # never sent
    with start_worker(
        app, perform_ping_check=False, pool="solo", loglevel="WARNING", queues=[report_queue]
    ):
        assert uniqueness_reports_resend_stalled(stalled_for=dt.timedelta(0)) == [lost.pk]
        finished = wait_for(
            lambda: UniquenessReport.objects.filter(pk=lost.pk, status="passed").first(),
            seconds=120,
            what="the worker finishing the report sent again",
        )
    assert finished.task_id and finished.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_a_delivery_that_finds_the_report_running_elsewhere_leaves_it_alone(auditor, march_record):
    report = uniqueness_report_request(actor=auditor, enqueue=lambda report: "")
    elsewhere = connections.create_connection("default")
    try:
        with elsewhere.cursor() as cursor:  # another worker's session holds the run lock
            cursor.execute(
                "SELECT pg_advisory_lock(%s, %s)", [UNIQUENESS_REPORT_RUN, report.pk % 2**31]
            )
        assert uniqueness_report_run(report_id=report.pk) is None
        untouched = UniquenessReport.objects.get(pk=report.pk)
        assert (untouched.status, untouched.attempts) == ("queued", 0)
        # Released explicitly: closing the connection frees the lock only when the server
        # process has exited, which may come after the next line's attempt to take it.
        with elsewhere.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, %s)", [UNIQUENESS_REPORT_RUN, report.pk % 2**31]
            )
    finally:
        elsewhere.close()
    assert uniqueness_report_run(report_id=report.pk).status == "passed"
