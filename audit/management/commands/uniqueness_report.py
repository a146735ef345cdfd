"""Run a uniqueness report from the command line and print each check's verdict.

Exit status: 0 every check passed, 1 a check failed, 2 the report could not run (a bad scope,
the broker unavailable, the report ended in error, no result within --timeout).
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext as _

from audit.models import ReportCheck, UniquenessReport
from audit.scope import SCOPE_KEYS, ScopeError
from audit.selectors import report_get
from audit.services import BrokerUnavailable, uniqueness_report_request, uniqueness_report_run

POLL_SECONDS = 0.5
BAR_WIDTH = 30
EXIT_PASSED, EXIT_FAILED, EXIT_COULD_NOT_RUN = 0, 1, 2


def _option(field: str) -> str:
    return "--" + field.replace("_", "-")


class ProgressBar:
    """Progress on stderr: one line redrawn with \\r on a terminal, else a line per phase."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.redraw = stream.isatty()
        self.last_state = None
        self.last_phase = None
        self.width = 0

    def draw(self, report: UniquenessReport) -> None:
        state = (report.status, report.phase, report.work_done, report.work_total)
        if state == self.last_state:
            return
        self.last_state = state
        total = max(report.work_total, 1)
        filled = BAR_WIDTH * min(report.work_done, total) // total
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        text = f"[{bar}] {report.work_done}/{report.work_total} {report.phase or report.status}"
        if self.redraw:
            self.stream.write("\r" + text.ljust(self.width), ending="", style_func=str)
            self.width = len(text)
        elif (report.status, report.phase) != self.last_phase:
            self.stream.write(text, style_func=str)
        self.last_phase = (report.status, report.phase)
        self.stream.flush()

    def close(self) -> None:
        if self.redraw and self.width:
            self.stream.write("", style_func=str)  # leave the bar's line


class Command(BaseCommand):
    """``manage.py uniqueness_report``: request (or run here) a report and follow it."""

    @property
    def help(self) -> str:  # translated when asked for, in the language then active
        return _(
            "Run a uniqueness report over the registry or a scope and print each check's verdict. "
            "By default the Celery worker runs it and this command follows its progress; --inline "
            "runs it here. Exits 0 when every check passed, 1 when a check failed, 2 when the "
            "report could not run."
        )

    def add_arguments(self, parser):
        parser.add_argument("--mechanism", help=_("mechanism code, e.g. GEC"))
        parser.add_argument("--project", help=_("project code"))
        parser.add_argument("--province", help=_("province of the projects, e.g. CN-HE"))
        parser.add_argument("--organisation", help=_("code of the organisation owning them"))
        parser.add_argument("--vintage-from", help=_("first vintage month, YYYYMM"))
        parser.add_argument("--vintage-to", help=_("last vintage month, YYYYMM"))
        parser.add_argument(
            "--inline",
            action="store_true",
            help=_("run the report in this process, no worker"),
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=3600.0,
            help=_("seconds to wait for the worker's result (default 3600)"),
        )

    def handle(self, *args, **options):
        scope = {key: options[key] for key in SCOPE_KEYS if options.get(key) not in (None, "")}
        progress = ProgressBar(self.stderr)
        try:
            if options["inline"]:
                report = self._run_here(scope, progress)
            else:
                report = self._run_in_worker(scope, progress, options["timeout"])
        finally:
            progress.close()
        self._print(report)
        if report.status == UniquenessReport.Status.ERROR:
            raise CommandError(
                _("Report %(id)s could not run: %(error)s")
                % {"id": report.pk, "error": report.error},
                returncode=EXIT_COULD_NOT_RUN,
            )
        if report.status == UniquenessReport.Status.FAILED:
            raise SystemExit(EXIT_FAILED)

    def _request(self, scope: dict, **kwargs) -> UniquenessReport:
        try:
            return uniqueness_report_request(actor=None, scope=scope, **kwargs)
        except ScopeError as error:
            field = error.field or ""
            raise CommandError(
                _("Invalid scope (%(option)s): %(message)s")
                % {"option": _option(field), "message": error.message},
                returncode=EXIT_COULD_NOT_RUN,
            ) from None
        except BrokerUnavailable as error:
            raise CommandError(str(error.message), returncode=EXIT_COULD_NOT_RUN) from None

    def _run_here(self, scope: dict, progress: ProgressBar) -> UniquenessReport:
        report = self._request(scope, enqueue=lambda report: "")
        progress.draw(report)
        try:
            uniqueness_report_run(report_id=report.pk, on_progress=progress.draw)
        except (OperationalError, InterfaceError) as error:
            raise CommandError(
                _("Report %(id)s could not run: %(error)s") % {"id": report.pk, "error": error},
                returncode=EXIT_COULD_NOT_RUN,
            ) from None
        return report_get(report_id=report.pk)

    def _run_in_worker(self, scope: dict, progress: ProgressBar, timeout: float):
        report = self._request(scope)
        deadline = time.monotonic() + timeout
        while True:
            report = report_get(report_id=report.pk)
            progress.draw(report)
            if report.is_finished:
                return report
            if time.monotonic() >= deadline:
                raise CommandError(
                    _(
                        "No result from the worker within %(seconds)s s; report %(id)s stays "
                        "%(status)s (is a worker running?)."
                    )
                    % {"seconds": f"{timeout:g}", "id": report.pk, "status": report.status},
                    returncode=EXIT_COULD_NOT_RUN,
                )
            time.sleep(POLL_SECONDS)

    def _print(self, report: UniquenessReport) -> None:
        for check in report.checks.order_by("position"):
            verdict = {
                ReportCheck.Verdict.PASS: "PASS",
                ReportCheck.Verdict.FAIL: "FAIL",
            }.get(check.verdict, "INFO")
            self.stdout.write(
                f"{verdict}  {check.check_id}  examined {check.examined}  "
                f"offending {check.offending}"
            )
        self.stdout.write(
            _("report %(id)s: %(status)s") % {"id": report.pk, "status": report.status}
        )
        if report.content_sha256:
            self.stdout.write(_("content SHA-256: %(hash)s") % {"hash": report.content_sha256})
        if report.checkpoint_hash:
            self.stdout.write(
                _("ledger checkpoint: %(sequence)s (hash %(hash)s, Merkle root %(root)s)")
                % {
                    "sequence": report.checkpoint_sequence,
                    "hash": report.checkpoint_hash,
                    "root": report.checkpoint_root,
                }
            )
        else:
            self.stdout.write(_("ledger checkpoint: none sealed yet"))
