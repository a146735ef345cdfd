"""Uniqueness reports: an auditor's independent re-derivation of the registry's guarantees.

A report is stored with its scope, the ledger checkpoint it covers, each check's verdict and
counts, every offending record, and the SHA-256 of its canonical JSON. Rows of a finished report
never change again (trigger), so a report read next year says what it said the day it was run.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class UniquenessReport(models.Model):
    """One run of every uniqueness check over a scope.

    ``status`` moves queued → running → passed | failed | error, each step a compare-and-set
    update; ``work_done`` / ``work_total`` and ``phase`` show progress while it runs. A worker
    that dies mid-run leaves the report running; the redelivered task resumes it from the first
    check that had not completed (each check's results are written in one transaction).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        PASSED = "passed", _("Every check passed")
        FAILED = "failed", _("A check failed")
        ERROR = "error", _("Could not run")

    FINISHED = (Status.PASSED, Status.FAILED, Status.ERROR)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    scope = models.JSONField(
        _("scope"),
        default=dict,
        blank=True,
        help_text=_(
            "Empty: the whole registry. Keys: mechanism, project, province, organisation, "
            "vintage_from, vintage_to."
        ),
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.QUEUED
    )
    phase = models.CharField(_("current phase"), max_length=64, blank=True)
    work_done = models.PositiveIntegerField(_("work done"), default=0)
    work_total = models.PositiveIntegerField(_("work in all"), default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("times started"), default=0)
    # Moved on by every progress write and by every (re)sending of the task: a queued or running
    # report whose heartbeat is old has lost its task, and is sent to the worker again.
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    task_id = models.CharField(_("task id"), max_length=64, blank=True)
    checkpoint_sequence = models.PositiveIntegerField(
        _("ledger checkpoint covered"), null=True, blank=True
    )
    checkpoint_hash = models.CharField(_("checkpoint hash"), max_length=64, blank=True)
    checkpoint_root = models.CharField(_("checkpoint Merkle root"), max_length=64, blank=True)
    last_event_id = models.BigIntegerField(_("last ledger event covered"), null=True, blank=True)
    statistics = models.JSONField(
        _("statistics"),
        default=dict,
        blank=True,
        help_text=_("Totals per mechanism and month and refused attempts per rule, for charts."),
    )
    content_sha256 = models.CharField(_("SHA-256 of the report JSON"), max_length=64, blank=True)
    content = models.BinaryField(
        _("report JSON as hashed"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "The exact bytes content_sha256 was computed over, kept so that the download "
            "always matches its hash, whatever later happens to users or rows it names."
        ),
    )
    error = models.TextField(_("why it could not run"), blank=True)

    class Meta:
        verbose_name = _("uniqueness report")
        verbose_name_plural = _("uniqueness reports")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(work_done__lte=models.F("work_total")),
                name="report_progress_within_total",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=("passed", "failed")) | ~Q(content_sha256=""),
                name="finished_report_has_its_hash",
            ),
        ]
        triggers = [
            # A finished report is evidence: it never changes and is never deleted.
            pgtrigger.Protect(
                name="finished_report_never_changes",
                operation=pgtrigger.Update | pgtrigger.Delete,
                condition=pgtrigger.Q(old__status__in=("passed", "failed")),
            ),
        ]

    def __str__(self) -> str:
        return f"uniqueness report {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class ReportCheck(models.Model):
    """The outcome of one check of a report: verdict, counts and how many records offend.

    Written in the same transaction as the check's findings, so a check is either absent
    (not yet run) or complete.
    """

    class Verdict(models.TextChoices):
        PASS = "pass", _("Pass")
        FAIL = "fail", _("Fail")
        INFO = "info", _("For information")

    report = models.ForeignKey(
        UniquenessReport,
        verbose_name=_("report"),
        on_delete=models.CASCADE,
        related_name="checks",
    )
    check_id = models.CharField(_("check"), max_length=48)
    position = models.PositiveSmallIntegerField(_("position"))
    verdict = models.CharField(_("verdict"), max_length=4, choices=Verdict.choices)
    examined = models.BigIntegerField(_("records examined"), default=0)
    offending = models.BigIntegerField(_("offending records"), default=0)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    completed_at = models.DateTimeField(_("completed at"))

    class Meta:
        verbose_name = _("report check")
        verbose_name_plural = _("report checks")
        ordering = ["report", "position"]
        constraints = [
            models.UniqueConstraint(fields=["report", "check_id"], name="report_check_once"),
        ]

    def __str__(self) -> str:
        return f"{self.check_id}: {self.verdict}"


class ReportFinding(models.Model):
    """One offending (or, for information checks, listed) record of a check, as JSON.

    Inserted by ``INSERT … SELECT`` straight from the check's query, so a check with millions of
    findings never passes them through the worker's memory.
    """

    report = models.ForeignKey(
        UniquenessReport,
        verbose_name=_("report"),
        on_delete=models.CASCADE,
        related_name="findings",
        db_index=False,  # the (report, check, ordinal) index serves every lookup
    )
    check_id = models.CharField(_("check"), max_length=48)
    ordinal = models.BigIntegerField(_("ordinal"))
    record = models.JSONField(_("record"))

    class Meta:
        verbose_name = _("report finding")
        verbose_name_plural = _("report findings")
        constraints = [
            models.UniqueConstraint(
                fields=["report", "check_id", "ordinal"], name="report_finding_ordinal_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.check_id} #{self.ordinal}"
