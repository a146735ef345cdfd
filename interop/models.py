"""Records of other registries (I-REC, Verra, Gold Standard, GEC, CCER lists) and their imports.

An ``ExternalRecord`` is one issuance or retirement certified elsewhere, unique per source
registry and external id, so re-importing a file never duplicates it. Linked to one of this
registry's projects (by a declared identifier or an administrator's confirmation of a scored
match), an external issuance takes part in rule R15: the same output may not be issued here for
an overlapping period. ``ImportBatch`` is one uploaded file and its progress; ``ImportRow`` is the
result of each of its rows, written whole or not at all together with what the row created.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import DateRangeField
from django.contrib.postgres.indexes import GistIndex
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from registry.models import Project, UnitKind


class ImportBatch(models.Model):
    """One file of another registry's records, processed row by row by a Celery task.

    The status moves only forward through compare-and-set updates (queued -> running ->
    done / failed), so two workers never both start it and a finished batch never restarts.
    The counters are updated in each row's transaction: ``processed`` always equals the number of
    row results written, whatever happened to the worker.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Format(models.TextChoices):
        CSV = "csv", _("CSV with a header row")
        JSON = "json", _("JSON list of objects")

    class Layout(models.TextChoices):
        CANONICAL = "canonical", _("Canonical interchange format")
        IREC = "irec", _("I-REC registry export")
        VERRA = "verra", _("Verra VCU issuance and retirement export")
        GOLD_STANDARD = "gold_standard", _("Gold Standard credits export")
        GEC = "gec", _("China GEC issuance list")
        CCER = "ccer", _("China CCER registration list")

    layout = models.CharField(_("layout"), max_length=16, choices=Layout.choices)
    format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    filename = models.CharField(_("file name"), max_length=255, blank=True)
    content = models.TextField(_("uploaded content"))
    content_sha256 = models.CharField(_("SHA-256 of the content"), max_length=64)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.QUEUED
    )
    error = models.TextField(_("error"), blank=True)
    total = models.PositiveIntegerField(_("rows in the file"), default=0)
    processed = models.PositiveIntegerField(_("rows processed"), default=0)
    imported_count = models.PositiveIntegerField(_("imported"), default=0)
    flagged_count = models.PositiveIntegerField(_("imported and flagged"), default=0)
    duplicate_count = models.PositiveIntegerField(_("already imported"), default=0)
    invalid_count = models.PositiveIntegerField(_("invalid"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("import batch")
        verbose_name_plural = _("import batches")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed__lte=models.F("total")), name="import_processed_le_total"
            ),
        ]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.layout}, {self.status})"


class ExternalRecord(models.Model):
    """An issuance or retirement certified by another registry.

    Unique per (source, external id). ``period`` is the half-open range of whole days the output
    was produced in (the file's inclusive end date plus one day). ``project`` is set only by a
    declared identifier or an administrator's confirmation; ``link_method`` says which.
    """

    class Kind(models.TextChoices):
        ISSUANCE = "issuance", _("Issuance")
        RETIREMENT = "retirement", _("Retirement")

    class LinkMethod(models.TextChoices):
        NONE = "", _("Not linked")
        IDENTIFIER = "identifier", _("Declared identifier")
        CONFIRMED_MATCH = "confirmed_match", _("Match confirmed by an administrator")

    source = models.CharField(_("source registry"), max_length=32)
    external_id = models.CharField(_("external record id"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    mechanism_code = models.CharField(_("mechanism or instrument"), max_length=16)
    unit_kind = models.CharField(_("unit kind"), max_length=1, choices=UnitKind.choices)
    external_project_id = models.CharField(_("external project id"), max_length=100, blank=True)
    project_name = models.CharField(_("project name"), max_length=300, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    province = models.CharField(_("province (ISO 3166-2)"), max_length=6, blank=True)
    location = models.CharField(_("location as given"), max_length=200, blank=True)
    technology = models.CharField(
        _("technology"), max_length=16, choices=Project.Technology.choices, blank=True
    )
    capacity_mw = models.DecimalField(
        _("capacity (MW)"), max_digits=12, decimal_places=3, null=True, blank=True
    )
    period = DateRangeField(_("production period"))
    quantity = models.DecimalField(_("quantity"), max_digits=20, decimal_places=6)
    serials = models.CharField(_("serial range or certificate ids"), max_length=500, blank=True)
    transaction_date = models.DateField(_("issue or retirement date"), null=True, blank=True)
    beneficiary = models.CharField(_("beneficiary"), max_length=300, blank=True)
    project = models.ForeignKey(
        Project,
        verbose_name=_("linked project"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="external_records",
    )
    link_method = models.CharField(
        _("linked by"), max_length=16, choices=LinkMethod.choices, blank=True, default=""
    )
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("linked by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    linked_at = models.DateTimeField(_("linked at"), null=True, blank=True)
    raw = models.JSONField(_("row as given"), default=dict)
    batch = models.ForeignKey(
        ImportBatch,
        verbose_name=_("imported by batch"),
        on_delete=models.PROTECT,
        related_name="records",
    )
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)

    class Meta:
        verbose_name = _("external record")
        verbose_name_plural = _("external records")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="external_record_unique_per_source"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="external_quantity_positive"),
            models.CheckConstraint(
                condition=Q(project__isnull=True, link_method="")
                | (Q(project__isnull=False) & ~Q(link_method="")),
                name="external_link_method_recorded",
            ),
            models.CheckConstraint(
                condition=~Q(period__isempty=True), name="external_period_not_empty"
            ),
        ]
        indexes = [
            # R15 looks up a linked project's external issuances by overlapping period.
            GistIndex(
                fields=["project", "period"],
                name="external_project_period",
                condition=Q(project__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.external_id}"

    def period_text(self) -> str:
        """The period as the files write it: first and last day, inclusive."""
        import datetime as dt

        last_day = self.period.upper - dt.timedelta(days=1)
        return f"{self.period.lower.isoformat()}/{last_day.isoformat()}"


class ImportRow(models.Model):
    """The result of one row of a batch: what it became, or why it was refused per field."""

    class Outcome(models.TextChoices):
        IMPORTED = "imported", _("Imported")
        FLAGGED = "overlaps_internal", _("Imported; overlaps an issuance of this registry")
        DUPLICATE = "duplicate_external", _("Already imported (same source and id)")
        INVALID = "invalid", _("Invalid")

    batch = models.ForeignKey(
        ImportBatch, verbose_name=_("batch"), on_delete=models.CASCADE, related_name="rows"
    )
    row_number = models.PositiveIntegerField(_("row number"))
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    errors = models.JSONField(_("errors per field"), default=dict, blank=True)
    external_record = models.ForeignKey(
        ExternalRecord,
        verbose_name=_("external record"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="import_rows",
    )
    flags = models.JSONField(_("internal issuances overlapped"), default=list, blank=True)

    class Meta:
        verbose_name = _("import row")
        verbose_name_plural = _("import rows")
        ordering = ["batch", "row_number"]
        constraints = [
            # A re-run of the task skips rows already answered instead of answering them twice.
            models.UniqueConstraint(fields=["batch", "row_number"], name="import_row_once"),
            models.CheckConstraint(
                condition=Q(outcome="invalid", external_record__isnull=True)
                | (~Q(outcome="invalid") & Q(external_record__isnull=False)),
                name="import_row_record_unless_invalid",
            ),
        ]

    def __str__(self) -> str:
        return f"import {self.batch_id} row {self.row_number}: {self.outcome}"


class MatchSuggestion(models.Model):
    """A candidate project for an unlinked external record, with its score and why.

    An administrator confirms one (the record is linked) or rejects it; decisions are final.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CONFIRMED = "confirmed", _("Confirmed")
        REJECTED = "rejected", _("Rejected")

    record = models.ForeignKey(
        ExternalRecord,
        verbose_name=_("external record"),
        on_delete=models.CASCADE,
        related_name="suggestions",
    )
    project = models.ForeignKey(
        Project, verbose_name=_("candidate project"), on_delete=models.PROTECT, related_name="+"
    )
    score = models.DecimalField(_("score"), max_digits=4, decimal_places=3)
    breakdown = models.JSONField(_("score breakdown"), default=dict)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("match suggestion")
        verbose_name_plural = _("match suggestions")
        ordering = ["record", "-score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["record", "project"], name="suggestion_once"),
            models.CheckConstraint(
                condition=Q(score__gte=0) & Q(score__lte=1), name="suggestion_score_0_to_1"
            ),
            # At most one confirmed suggestion per record: a record links to one project.
            models.UniqueConstraint(
                fields=["record"],
                condition=Q(status="confirmed"),
                name="suggestion_one_confirmed_per_record",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record} ~ {self.project.code} ({self.score})"
