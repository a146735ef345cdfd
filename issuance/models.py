"""The queues of the way in: production awaiting verification and issuance awaiting approval.

Neither queue creates units by itself. Verifying a submission records it through
``registry.services.production_record_create`` (which allocates the serials); approving a request
issues through ``issuance.services.unit_claim_issue`` (which the exclusion constraint
``one_live_claim_per_unit`` guards). A queue row only says who asked, who decided, when and why.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from registry.models import Mechanism, ProductionRecord, Project, UnitClaim, UnitKind


class QueueStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


def _decision_constraints(prefix: str, outcome_field: str) -> list[models.BaseConstraint]:
    """A pending row has no decision; a decided row names its decider and time; an approved row
    points at what it created and only an approved row does."""
    return [
        models.CheckConstraint(
            name=f"{prefix}_decided_when_not_pending",
            condition=(
                Q(status="pending", decided_by__isnull=True, decided_at__isnull=True)
                | (~Q(status="pending") & Q(decided_by__isnull=False, decided_at__isnull=False))
            ),
        ),
        models.CheckConstraint(
            name=f"{prefix}_outcome_only_when_approved",
            condition=(
                Q(status="approved", **{f"{outcome_field}__isnull": False})
                | (~Q(status="approved") & Q(**{f"{outcome_field}__isnull": True}))
            ),
        ),
        models.CheckConstraint(
            name=f"{prefix}_rejection_has_reason",
            condition=~Q(status="rejected") | ~Q(decision_reason=""),
        ),
    ]


class QueueEntry(models.Model):
    """What every queue row has: its status and, once decided, who decided, when and why (the
    constraints of ``_decision_constraints`` hold these together)."""

    status = models.CharField(
        _("status"), max_length=8, choices=QueueStatus.choices, default=QueueStatus.PENDING
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
    decision_reason = models.TextField(_("reason"), blank=True)

    class Meta:
        abstract = True


class ProductionSubmission(QueueEntry):
    """Output a project owner reports, waiting for an issuing body or administrator to verify it.

    Guarantees (database): pending submissions of one project and unit kind never overlap in
    period; a verified submission points at the production record its verification created, and
    only a verified one does; a decided submission names who decided and when, and a rejected one
    why. No serial is allocated before verification.
    """

    project = models.ForeignKey(
        Project,
        verbose_name=_("project"),
        on_delete=models.PROTECT,
        related_name="production_submissions",
    )
    unit_kind = models.CharField(_("unit kind"), max_length=1, choices=UnitKind.choices)
    period = DateTimeRangeField(_("period"))
    quantity = models.DecimalField(_("quantity"), max_digits=20, decimal_places=6)
    evidence = models.TextField(
        _("evidence"),
        blank=True,
        help_text=_("Meter reading, settlement statement or verification report it rests on."),
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("submitted by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    submitted_at = models.DateTimeField(_("submitted at"), auto_now_add=True)
    production_record = models.OneToOneField(
        ProductionRecord,
        verbose_name=_("production record"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="submission",
    )

    class Meta:
        verbose_name = _("production awaiting verification")
        verbose_name_plural = _("production awaiting verification")
        constraints = [
            ExclusionConstraint(
                name="pending_submissions_never_overlap",
                expressions=[
                    ("project", RangeOperators.EQUAL),
                    ("unit_kind", RangeOperators.EQUAL),
                    ("period", RangeOperators.OVERLAPS),
                ],
                condition=Q(status="pending"),
            ),
            models.CheckConstraint(
                name="submission_quantity_nonnegative", condition=Q(quantity__gte=0)
            ),
            *_decision_constraints("submission", "production_record"),
        ]
        indexes = [
            models.Index(
                fields=["submitted_at"],
                condition=Q(status="pending"),
                name="submission_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.project.code} {self.unit_kind} #{self.pk}"


class IssuanceRequest(QueueEntry):
    """A request that a mechanism issue units from a verified production record into an account,
    waiting for an issuing body of the mechanism (or an administrator) to approve or reject it.

    Guarantees (database): an approved request points at the unit claim its approval created and
    only an approved one does; a decided request names who decided and when, and a rejected one
    why. Requests may compete for the same units: the first approved wins and a later approval is
    refused by ``one_live_claim_per_unit``, naming the claim that holds them.
    """

    mechanism = models.ForeignKey(
        Mechanism, verbose_name=_("mechanism"), on_delete=models.PROTECT, related_name="+"
    )
    production_record = models.ForeignKey(
        ProductionRecord,
        verbose_name=_("production record"),
        on_delete=models.PROTECT,
        related_name="issuance_requests",
    )
    account = models.ForeignKey(
        "accounts.HoldingAccount",
        verbose_name=_("into account"),
        on_delete=models.PROTECT,
        related_name="issuance_requests",
    )
    quantity = models.BigIntegerField(_("quantity"))
    conversion_factor = models.DecimalField(
        _("conversion factor"), max_digits=12, decimal_places=6, null=True, blank=True
    )
    conversion_source = models.CharField(_("factor source"), max_length=200, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    unit_claim = models.OneToOneField(
        UnitClaim,
        verbose_name=_("unit claim"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="issuance_request",
    )

    class Meta:
        verbose_name = _("issuance request")
        verbose_name_plural = _("issuance requests")
        constraints = [
            models.CheckConstraint(name="request_quantity_positive", condition=Q(quantity__gt=0)),
            *_decision_constraints("request", "unit_claim"),
        ]
        indexes = [
            models.Index(
                fields=["requested_at"],
                condition=Q(status="pending"),
                name="issuance_request_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.mechanism.code} #{self.pk}"
