"""``manage.py uniqueness_report``: the verdict of each check on stdout, progress on stderr, and
the exit status (0 every check passed, 1 a check failed, 2 could not run)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from audit import checks
from audit.checks import CHECKS
from audit.models import UniquenessReport
from tests.audit.support import plant_overlapping_production


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*args: str, stderr=None) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), stderr or io.StringIO()
    call_command("uniqueness_report", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_inline_run_of_a_clean_registry_prints_each_verdict_and_exits_0(march_record):
    stdout, stderr = run("--inline")

    report = UniquenessReport.objects.get()
    total = report.work_total
    assert report.status == "passed" and report.requested_by is None
    assert "PASS  production_periods_never_overlap  examined 1  offending 0" in stdout.splitlines()
    assert f"content SHA-256: {report.content_sha256}" in stdout
    assert "ledger checkpoint: none sealed yet" in stdout
    # Not a terminal: one line per phase, in order.
    phases = [line.split("] ", 1)[1] for line in stderr.splitlines()]
    assert phases == [
        f"0/{total} queued",
        f"1/{total} prepare",
        *[f"{position}/{total} {check.id}" for position, check in enumerate(CHECKS, start=1)],
        f"{total - 2}/{total} statistics",
        f"{total - 1}/{total} seal",
        f"{total}/{total} done",
    ]


def test_on_a_terminal_the_progress_bar_is_redrawn_on_one_line(march_record):
    _stdout, stderr = run("--inline", stderr=Terminal())

    assert stderr.count("\r") >= 5 and stderr.count("\n") == 1
    assert stderr.rstrip().endswith("done")
    assert "[" + "#" * 30 + "]" in stderr


def test_a_scope_narrows_the_report(march_record, wind_farm):
    stdout, _stderr = run("--inline", "--project", wind_farm.code, "--vintage-from", "202504")

    assert UniquenessReport.objects.get().scope == {
        "project": wind_farm.code,
        "vintage_from": 202504,
    }
    assert "examined 0" in stdout  # March is before the scope's first vintage


def test_a_planted_overlap_fails_its_check_and_exits_1(march_record):
    plant_overlapping_production(march_record)

    stdout = io.StringIO()
    with pytest.raises(SystemExit) as exit_status:
        call_command("uniqueness_report", "--inline", stdout=stdout, stderr=io.StringIO())

    assert exit_status.value.code == 1
    lines = stdout.getvalue().splitlines()
    assert "FAIL  production_periods_never_overlap  examined 2  offending 1" in lines
    assert UniquenessReport.objects.get().status == "failed"


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--vintage-from", "202513"], "--vintage-from"),
        (["--vintage-from", "202512", "--vintage-to", "202501"], "--vintage-from"),
        (["--mechanism", "NOPE"], "--mechanism"),
        (["--organisation", "nobody"], "--organisation"),
    ],
)
def test_a_bad_scope_exits_2_naming_the_option_and_stores_nothing(db, args, option):
    with pytest.raises(CommandError) as error:
        run("--inline", *args)

    assert error.value.returncode == 2
    assert option in str(error.value)
    assert not UniquenessReport.objects.exists()


def test_a_broker_that_is_down_exits_2_and_stores_nothing(db, unreachable_broker):
    with pytest.raises(CommandError) as error:
        run()

    assert error.value.returncode == 2
    assert "task queue is unavailable" in str(error.value)
    assert not UniquenessReport.objects.exists()


def test_no_result_from_the_worker_within_the_timeout_exits_2(db):
    with pytest.raises(CommandError) as error:
        run("--timeout", "0")

    assert error.value.returncode == 2
    report = UniquenessReport.objects.get()
    assert f"report {report.pk} stays queued" in str(error.value)


def test_a_report_that_ends_in_error_exits_2(march_record, monkeypatch):
    broken = checks.Check(
        id="broken",
        title="broken",
        description="broken",
        guarantee="-",
        findings=lambda scope: ("SELECT 1 / 0 AS quotient", []),
        order_by="quotient",
    )
    monkeypatch.setattr(checks, "CHECKS", [*checks.CHECKS, broken])
    monkeypatch.setattr("audit.services.CHECKS", checks.CHECKS)

    with pytest.raises(CommandError) as error:
        run("--inline")

    assert error.value.returncode == 2
    assert "division by zero" in str(error.value)
    assert UniquenessReport.objects.get().status == "error"
