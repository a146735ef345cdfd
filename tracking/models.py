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
from django.contrib.postgres.indexes import GistIndex
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
            # The admin's block list, newest first (-id), filtered by status or by mechanism:
            # without these a rare status (frozen) or mechanism walks the primary key backwards
            # through every other block before finding a page.
            models.Index(fields=["status", "id"], name="block_status_newest"),
            models.Index(fields=["mechanism", "id"], name="block_mechanism_newest"),
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
            # I4: a block lies inside its claim, on its claim's stream. A row trigger before
            # the write, reading NEW and the claim's row by its key: every service writes the
            # claim before the blocks that point at it. (An AFTER constraint trigger re-reading
            # the block took the 1,000,000-block bulk load of the report benchmark from seconds
            # to more than 13 minutes: docs/performance.md.)
            pgtrigger.Trigger(
                name="block_inside_its_claim",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.UpdateOf("serials", "claim_id", "stream_id"),
                func="""
                IF NOT EXISTS (
                    SELECT 1 FROM registry_unitclaim AS claim
                    WHERE claim.id = NEW.claim_id
                      AND claim.stream_id = NEW.stream_id
                      AND claim.serials @> NEW.serials
                ) THEN
                    RAISE EXCEPTION 'block % serials % lie outside claim %',
                        NEW.id, NEW.serials, NEW.claim_id USING ERRCODE = '23514';
                END IF;
                RETURN NEW;
                """,
            ),
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
    event = models.ForeignKey(
        "NeutralityEvent",
        verbose_name=_("event"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="retirements",
        help_text=_("The event whose neutrality the units serve (purpose event only)."),
    )
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
            # R11: a retirement for an event names the event, and only such a retirement does.
            # Added NOT VALID by migration 0003: retirements written before events existed may
            # have purpose "event" and no event, and they are final (immutable), so the check
            # binds every new row without rewriting the old ones.
            models.CheckConstraint(
                condition=(Q(purpose="event") & Q(event__isnull=False))
                | (~Q(purpose="event") & Q(event__isnull=True)),
                name="retirement_event_iff_purpose_event",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="retirement_is_final", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"retirement {self.pk}: {self.quantity} for {self.beneficiary_name}"


class RetirementAllocation(models.Model):
    """A claim on part of a retirement: a product batch, an event, a report that counts it.

    Allocations of one retirement never add up to more than it retired: a trigger locks the
    retirement row and compares the sum on every insert, so concurrent allocations cannot
    overrun it together. ``reference`` is unique per retirement (the same batch or report is
    never allocated twice). Allocations are final: never changed, never deleted.
    """

    retirement = models.ForeignKey(
        Retirement,
        verbose_name=_("retirement"),
        on_delete=models.PROTECT,
        related_name="allocations",
    )
    quantity = models.BigIntegerField(_("quantity"))
    claimant = models.CharField(_("claimant"), max_length=200)
    reference = models.CharField(
        _("reference"),
        max_length=200,
        help_text=_("What the units are allocated to: a product batch, an event, a report."),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("allocated at"), auto_now_add=True)

    class Meta:
        verbose_name = _("retirement allocation")
        verbose_name_plural = _("retirement allocations")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="allocation_quantity_positive"
            ),
            models.UniqueConstraint(
                fields=["retirement", "reference"], name="allocation_reference_once"
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="allocations_within_retirement",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                declare=[("retired", "bigint"), ("allocated", "bigint")],
                func="""
                -- The row lock serialises allocations of one retirement.
                SELECT quantity INTO retired FROM tracking_retirement
                WHERE id = NEW.retirement_id FOR UPDATE;
                SELECT coalesce(sum(quantity), 0) INTO allocated
                FROM tracking_retirementallocation WHERE retirement_id = NEW.retirement_id;
                IF allocated + NEW.quantity > retired THEN
                    RAISE EXCEPTION 'allocations of retirement % would reach % of % units',
                        NEW.retirement_id, allocated + NEW.quantity, retired
                        USING ERRCODE = '23514';
                END IF;
                RETURN NEW;
                """,
            ),
            pgtrigger.Protect(
                name="allocation_is_final", operation=pgtrigger.Update | pgtrigger.Delete
            ),
        ]

    def __str__(self) -> str:
        return f"allocation {self.pk}: {self.quantity} of retirement {self.retirement_id}"


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


class NeutralityEvent(models.Model):
    """A large event that claims carbon neutrality (R11): who organises it, when and where, and
    the projects built for it.

    Retirements with purpose "event" name one (database check on Retirement). Credits retired for
    it must be retired within one year after it ends, and no carbon credits may be issued for a
    project built for it (issuance.rules R11).
    """

    name = models.CharField(_("name"), max_length=200)
    organiser = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("organiser"),
        on_delete=models.PROTECT,
        related_name="neutrality_events",
    )
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"))
    location = models.CharField(_("location (ISO 3166-2)"), max_length=6)
    projects = models.ManyToManyField(
        "registry.Project",
        verbose_name=_("projects built for the event"),
        blank=True,
        related_name="neutrality_events",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("neutrality event")
        verbose_name_plural = _("neutrality events")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")),
                name="neutrality_event_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.start_date:%Y-%m-%d} - {self.end_date:%Y-%m-%d})"


ADJUSTMENT_STEPS = {"not_started": "pending", "pending": "completed"}


class CorrespondingAdjustment(models.Model):
    """R14: units that count toward a host country's target left it for an account of another
    country; the host must make a corresponding adjustment, whose status is tracked here.

    One row per serial range a cross-border transfer moved. Only the status (and its time
    stamps) ever changes, one step forward at a time: not started -> pending -> completed
    (database trigger); rows are never deleted. Status changes go through
    ``tracking.services.corresponding_adjustment_set_status``.
    """

    class Status(models.TextChoices):
        NOT_STARTED = "not_started", _("Not started")
        PENDING = "pending", _("Pending")
        COMPLETED = "completed", _("Completed")

    transfer = models.ForeignKey(
        Transfer,
        verbose_name=_("transfer"),
        on_delete=models.PROTECT,
        related_name="corresponding_adjustments",
    )
    mechanism = models.ForeignKey(
        "registry.Mechanism",
        verbose_name=_("mechanism"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    stream = models.ForeignKey(
        "registry.Stream",
        verbose_name=_("stream"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # the GiST index on (stream, serials) serves lookups by stream
    )
    serials = BigIntegerRangeField(_("serial range"))
    vintage = models.PositiveIntegerField(_("vintage (YYYYMM)"))
    quantity = models.BigIntegerField(_("quantity"))
    host_country = models.CharField(_("host country"), max_length=2)
    acquiring_country = models.CharField(_("acquiring country"), max_length=2)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.NOT_STARTED
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    pending_at = models.DateTimeField(_("pending since"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("corresponding adjustment")
        verbose_name_plural = _("corresponding adjustments")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="adjustment_quantity_positive"
            ),
            models.CheckConstraint(
                condition=~Q(host_country=models.F("acquiring_country")),
                name="adjustment_crosses_a_border",
            ),
            models.CheckConstraint(
                condition=Q(
                    status="not_started", pending_at__isnull=True, completed_at__isnull=True
                )
                | Q(status="pending", pending_at__isnull=False, completed_at__isnull=True)
                | Q(status="completed", pending_at__isnull=False, completed_at__isnull=False),
                name="adjustment_status_has_its_times",
            ),
        ]
        indexes = [
            # Retiring units abroad looks up the adjustments covering the retired serials.
            GistIndex(fields=["stream", "serials"], name="adjustment_serials"),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="adjustment_quantity_matches_range",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                func="""
                IF NEW.quantity <> upper(NEW.serials) - lower(NEW.serials) THEN
                    RAISE EXCEPTION 'adjustment quantity % does not match its range %',
                        NEW.quantity, NEW.serials USING ERRCODE = '23514';
                END IF;
                RETURN NEW;
                """,
            ),
            # Only the status moves, one step forward; what the adjustment is about never changes.
            pgtrigger.Trigger(
                name="adjustment_status_only_forward",
                when=pgtrigger.Before,
                operation=pgtrigger.Update,
                func="""
                IF (NEW.transfer_id, NEW.mechanism_id, NEW.stream_id, NEW.serials, NEW.vintage,
                    NEW.quantity, NEW.host_country, NEW.acquiring_country, NEW.created_at)
                   IS DISTINCT FROM
                   (OLD.transfer_id, OLD.mechanism_id, OLD.stream_id, OLD.serials, OLD.vintage,
                    OLD.quantity, OLD.host_country, OLD.acquiring_country, OLD.created_at) THEN
                    RAISE EXCEPTION 'corresponding adjustment % may change only its status',
                        OLD.id USING ERRCODE = '23514';
                END IF;
                IF NOT ((OLD.status = 'not_started' AND NEW.status = 'pending')
                        OR (OLD.status = 'pending' AND NEW.status = 'completed')) THEN
                    RAISE EXCEPTION 'corresponding adjustment % cannot go from % to %',
                        OLD.id, OLD.status, NEW.status USING ERRCODE = '23514';
                END IF;
                RETURN NEW;
                """,
            ),
            pgtrigger.Protect(name="adjustments_never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return (
            f"adjustment {self.pk}: {self.quantity} {self.host_country}->"
            f"{self.acquiring_country} {self.status}"
        )

    def serial_range(self) -> serial_numbers.SerialRange:
        return serial_numbers.SerialRange(self.serials.lower, self.serials.upper)


# Emission accounting keeps its tables in tracking/accounting/models.py; imported here so that
# Django finds them in the tracking app.
from tracking.accounting.models import (  # noqa: E402,F401
    ElectricityConsumption,
    FactorComputation,
    GreenPowerContract,
    GreenPowerSettlement,
    GridExchange,
    GridFactor,
    GridGeneration,
    Scope2Certificate,
    Scope2Report,
)
