"""Certificate blocks and their life: transfer, retirement, cancellation, expiry, freezing.

A block is a contiguous range of one claim's units in one account. Blocks of a claim never overlap
(exclusion constraint, I4) and always add up to the claim; a block whose units were retired,
cancelled or expired can never change again (trigger, I5).
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import BigIntegerRangeField, RangeOperators
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from registry import serials as serial_numbers

FINAL_STATUSES = ("retired", "cancelled", "expired")


class Block(models.Model):
    """Units of one claim, a contiguous serial range, held in one account with one status.

    Splitting shrinks this row and inserts the moved part as a new row; the sum of a claim's
    block lengths always equals the claim's quantity.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        FROZEN = "frozen", _("Frozen")
        RETIRED = "retired", _("Retired")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")
        EXPORTED = "exported", _("Exported")

    claim = models.ForeignKey(
        "registry.UnitClaim",
        verbose_name=_("claim"),
        on_delete=models.PROTECT,
        related_name="blocks",
        # The exclusion constraint's GiST index on (claim, serials) serves lookups by claim.
        db_index=False,
    )
    mechanism = models.ForeignKey(
        "registry.Mechanism",
        verbose_name=_("mechanism"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # always filtered together with the account: see block_holding
    )
    stream = models.ForeignKey(
        "registry.Stream", verbose_name=_("stream"), on_delete=models.PROTECT, related_name="+"
    )
    account = models.ForeignKey(
        "accounts.HoldingAccount",
        verbose_name=_("account"),
        on_delete=models.PROTECT,
        related_name="blocks",
        db_index=False,  # block_holding starts with the account
    )
    serials = BigIntegerRangeField(_("serial range"))
    quantity = models.BigIntegerField(_("quantity"))
    vintage = models.PositiveIntegerField(_("vintage (YYYYMM)"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    transfer_count = models.PositiveIntegerField(_("times transferred"), default=0)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    retirement = models.ForeignKey(
        "Retirement",
        verbose_name=_("retirement"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="blocks",
        db_index=False,  # most blocks are never retired: see the partial index
    )
    cancellation = models.ForeignKey(
        "Cancellation",
        verbose_name=_("cancellation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="blocks",
        db_index=False,  # most blocks are never cancelled: see the partial index
    )

    class Meta:
        verbose_name = _("block")
        verbose_name_plural = _("blocks")
        constraints = [
            ExclusionConstraint(
                name="blocks_of_a_claim_never_overlap",
                expressions=[("claim", RangeOperators.EQUAL), ("serials", RangeOperators.OVERLAPS)],
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="block_quantity_positive"),
            models.CheckConstraint(
                condition=~Q(status="retired") | Q(retirement__isnull=False),
                name="retired_block_has_retirement",
            ),
        ]
        indexes = [
            # Balances per status, and units taken in serial order for a transfer by quantity.
            models.Index(
                fields=["account", "mechanism", "status", "stream", "serials"],
                name="block_holding",
            ),
            models.Index(
                fields=["expires_at"],
                condition=Q(status__in=("active", "frozen"), expires_at__isnull=False),
                name="block_expiry",
            ),
            models.Index(
                fields=["retirement"],
                condition=Q(retirement__isnull=False),
                name="block_retirement",
            ),
            models.Index(
                fields=["cancellation"],
                condition=Q(cancellation__isnull=False),
                name="block_cancellation",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="block_quantity_matches_range",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update,
                func="""
                IF NEW.quantity <> upper(NEW.serials) - lower(NEW.serials) THEN
                    RAISE EXCEPTION 'block quantity % does not match its range %',
                        NEW.quantity, NEW.serials USING ERRCODE = '23514';
                END IF;
                RETURN NEW;
                """,
            ),
            # I5: retired, cancelled and expired units never move or change again.
            pgtrigger.Protect(
                name="final_blocks_never_change",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status__in=FINAL_STATUSES),
            ),
            pgtrigger.Protect(name="blocks_never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"block {self.pk} {self.mechanism_id} {self.serials}"

    def serial_range(self) -> serial_numbers.SerialRange:
        return serial_numbers.SerialRange(self.serials.lower, self.serials.upper)


class Transfer(models.Model):
    """A movement of units of one mechanism from one account to another.

    ``serial_ranges`` lists the ranges moved as [stream id, lower, upper) triples.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    mechanism = models.ForeignKey(
        "registry.Mechanism",
        verbose_name=_("mechanism"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    source_account = models.ForeignKey(
        "accounts.HoldingAccount",
        verbose_name=_("from account"),
        on_delete=models.PROTECT,
        related_name="transfers_out",
    )
    target_account = models.ForeignKey(
        "accounts.HoldingAccount",
        verbose_name=_("to account"),
        on_delete=models.PROTECT,
        related_name="transfers_in",
    )
    quantity = models.BigIntegerField(_("quantity"))
    serial_ranges = models.JSONField(_("serial ranges"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=80, null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="transfer_quantity_positive"),
            models.CheckConstraint(
                condition=~Q(source_account=models.F("target_account")),
                name="transfer_between_two_accounts",
            ),
            models.UniqueConstraint(
                fields=["actor", "idempotency_key"], name="transfer_idempotency_key_once"
            ),
        ]

    def __str__(self) -> str:
        return f"transfer {self.pk}: {self.quantity} {self.mechanism_id}"


class Retirement(models.Model):
    """The final use of units for a beneficiary: one beneficiary, purpose, claim period and
    location per retired unit, for ever (R12)."""

    class Purpose(models.TextChoices):
        SCOPE2 = "scope2_electricity", _("Scope 2 electricity")
        ETS = "ets_compliance", _("ETS compliance")
        NEUTRALITY = "voluntary_neutrality", _("Voluntary neutrality")
        EVENT = "event", _("Event")
        PRODUCT = "product", _("Product")
        QUOTA = "renewable_quota", _("Renewable-consumption quota")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    mechanism = models.ForeignKey(
        "registry.Mechanism",
        verbose_name=_("mechanism"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    account = models.ForeignKey(
        "accounts.HoldingAccount",
        verbose_name=_("account"),
        on_delete=models.PROTECT,
        related_name="retirements",
    )
    quantity = models.BigIntegerField(_("quantity"))
    beneficiary_name = models.CharField(_("beneficiary"), max_length=200)
    beneficiary_organisation = models.CharField(
        _("beneficiary organisation"), max_length=200, blank=True
    )
    purpose = models.CharField(_("purpose"), max_length=24, choices=Purpose.choices)
    claim_period_start = models.DateField(_("claim period start"))
    claim_period_end = models.DateField(_("claim period end"))
    location = models.CharField(_("location (ISO 3166-2)"), max_length=6)
    reporting_year = models.PositiveIntegerField(_("reporting year"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("retired at"), auto_now_add=True)

    class Meta:
        verbose_name = _("retirement")
        verbose_name_plural = _("retirements")
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="retirement_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(claim_period_end__gte=models.F("claim_period_start")),
                name="retirement_claim_period_ordered",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="retirement_is_final", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"retirement {self.pk}: {self.quantity} for {self.beneficiary_name}"


class Cancellation(models.Model):
    """Units taken out of circulation without a beneficiary (by the holder, or by revocation)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    mechanism = models.ForeignKey(
        "registry.Mechanism",
        verbose_name=_("mechanism"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    account = models.ForeignKey(
        "accounts.HoldingAccount",
        verbose_name=_("account"),
        on_delete=models.PROTECT,
        related_name="cancellations",
        null=True,
        blank=True,
    )
    claim = models.ForeignKey(
        "registry.UnitClaim",
        verbose_name=_("revoked claim"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cancellations",
    )
    quantity = models.BigIntegerField(_("quantity"))
    reason = models.TextField(_("reason"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("cancelled at"), auto_now_add=True)

    class Meta:
        verbose_name = _("cancellation")
        verbose_name_plural = _("cancellations")
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="cancellation_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"cancellation {self.pk}: {self.quantity}"
