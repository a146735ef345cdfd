"""ETS compliance (rule R10): schemes, covered entities, verified emissions, allowance
allocations and surrenders.

Allowances (CEA) are real serialised units: each scheme has a budget project whose carbon stream
receives one production record per allocation, claimed at once by the CEA mechanism into the
covered entity's compliance account. A surrender retires allowances and CCERs from that account
through ``tracking.Retirement`` rows of purpose ``ets_compliance``. The database keeps the
facts consistent (limits per scheme kind, one current verified figure per entity and year,
surrenders matching their retirements and never exceeding the obligation); the services explain.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# Defaults of the old-CCER rule (R10): CCER issued before this day ...
OLD_CCER_ISSUED_BEFORE = dt.date(2017, 3, 14)
# ... may not be used for compliance from this day on.
OLD_CCER_UNUSABLE_FROM = dt.date(2025, 1, 1)

COMPLIANCE_YEAR_RANGE = Q(compliance_year__gte=2005) & Q(compliance_year__lte=2100)


class ComplianceScheme(models.Model):
    """An emissions trading system: the national ETS or a regional pilot.

    Guarantees (check constraints): the national ETS admits CCER for exactly 5 % of an
    obligation, a pilot for 5 to 10 %; the old-CCER cut-off dates are ordered. Each scheme owns
    one budget project (owned by the allocating authority) whose carbon stream carries the serials
    of every allowance the scheme allocates.
    """

    class Kind(models.TextChoices):
        NATIONAL = "national", _("National ETS")
        PILOT = "pilot", _("Regional pilot ETS")

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    ccer_limit_percent = models.DecimalField(
        _("CCER limit (percent of the obligation)"), max_digits=5, decimal_places=2
    )
    old_ccer_issued_before = models.DateField(
        _("old CCER: issued before"), default=OLD_CCER_ISSUED_BEFORE
    )
    old_ccer_unusable_from = models.DateField(
        _("old CCER: not usable from"), default=OLD_CCER_UNUSABLE_FROM
    )
    authority = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("allocating authority"),
        on_delete=models.PROTECT,
        related_name="compliance_schemes",
    )
    budget_project = models.OneToOneField(
        "registry.Project",
        verbose_name=_("allowance budget project"),
        on_delete=models.PROTECT,
        related_name="compliance_scheme",
        help_text=_("Its carbon stream carries the serials of the scheme's allowances."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("compliance scheme")
        verbose_name_plural = _("compliance schemes")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="national", ccer_limit_percent=5)
                | Q(kind="pilot", ccer_limit_percent__gte=5, ccer_limit_percent__lte=10),
                name="scheme_ccer_limit_by_kind",
            ),
            models.CheckConstraint(
                condition=Q(old_ccer_unusable_from__gte=models.F("old_ccer_issued_before")),
                name="scheme_old_ccer_dates_ordered",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="scheme_budget_project_fixed",
                operation=pgtrigger.UpdateOf("budget_project_id", "authority_id"),
            ),
            pgtrigger.Protect(name="scheme_never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return self.code


class CoveredEntity(models.Model):
    """An organisation covered by a scheme, with the holding account it complies from.

    One entry per organisation and scheme; the account is the entity's own compliance account
    (allowances are allocated into it, and surrenders take allowances and CCERs from it).
    """

    scheme = models.ForeignKey(
        ComplianceScheme,
        verbose_name=_("scheme"),
        on_delete=models.PROTECT,
        related_name="entities",
    )
    organisation = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="covered_entities",
    )
    account = models.OneToOneField(
        "accounts.HoldingAccount",
        verbose_name=_("compliance account"),
        on_delete=models.PROTECT,
        related_name="covered_entity",
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("registered by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    registered_at = models.DateTimeField(_("registered at"), auto_now_add=True)

    class Meta:
        verbose_name = _("covered entity")
        verbose_name_plural = _("covered entities")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "organisation"], name="covered_entity_once_per_scheme"
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="covered_entity_fixed",
                operation=pgtrigger.UpdateOf("scheme_id", "organisation_id", "account_id")
                | pgtrigger.Delete,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation.code} ({self.scheme.code})"


class VerifiedEmission(models.Model):
    """An entity's verified emissions of one compliance year: its surrender obligation.

    At most one current figure per entity and year (partial unique constraint); a correction
    supersedes the current figure, which then never changes again. Figures are never deleted.
    """

    entity = models.ForeignKey(
        CoveredEntity,
        verbose_name=_("covered entity"),
        on_delete=models.PROTECT,
        related_name="verified_emissions",
    )
    compliance_year = models.PositiveIntegerField(_("compliance year"))
    quantity = models.BigIntegerField(_("verified emissions (tCO2)"))
    verifier = models.CharField(_("verification body"), max_length=200, blank=True)
    supersedes = models.OneToOneField(
        "self",
        verbose_name=_("supersedes"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="superseded_by",
    )
    superseded_at = models.DateTimeField(_("superseded at"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("verified emissions")
        verbose_name_plural = _("verified emissions")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "compliance_year"],
                condition=Q(superseded_at__isnull=True),
                name="one_current_verified_figure",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0), name="verified_emissions_nonnegative"
            ),
            models.CheckConstraint(
                condition=COMPLIANCE_YEAR_RANGE, name="verified_emissions_year_plausible"
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="verified_figure_fixed",
                operation=pgtrigger.UpdateOf(
                    "entity_id", "compliance_year", "quantity", "supersedes_id"
                )
                | pgtrigger.Delete,
            ),
            pgtrigger.Protect(
                name="superseded_figure_final",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__superseded_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entity_id} {self.compliance_year}: {self.quantity}"


class Allocation(models.Model):
    """Allowances given to (or taken back from) an entity for a compliance year.

    A pre-allocation (once per entity and year) and final adjustments add allowances (positive
    quantity, the CEA claim that holds them); a downward final adjustment takes them back
    (negative quantity, the cancellation of the entity's blocks). Rows never change.
    """

    class Kind(models.TextChoices):
        PRE_ALLOCATION = "pre_allocation", _("Pre-allocation")
        FINAL_ADJUSTMENT = "final_adjustment", _("Final adjustment")

    entity = models.ForeignKey(
        CoveredEntity,
        verbose_name=_("covered entity"),
        on_delete=models.PROTECT,
        related_name="allocations",
    )
    compliance_year = models.PositiveIntegerField(_("compliance year"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    quantity = models.BigIntegerField(
        _("quantity"), help_text=_("Negative for a downward adjustment.")
    )
    claim = models.OneToOneField(
        "registry.UnitClaim",
        verbose_name=_("allowance claim"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="allocation",
    )
    cancellation = models.OneToOneField(
        "tracking.Cancellation",
        verbose_name=_("cancellation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="allocation",
    )
    basis = models.CharField(_("basis"), max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(quantity__gt=0) & Q(claim__isnull=False) & Q(cancellation__isnull=True)
                )
                | (
                    Q(quantity__lt=0)
                    & Q(kind="final_adjustment")
                    & Q(claim__isnull=True)
                    & Q(cancellation__isnull=False)
                ),
                name="allocation_adds_or_takes_back",
            ),
            models.UniqueConstraint(
                fields=["entity", "compliance_year"],
                condition=Q(kind="pre_allocation"),
                name="one_pre_allocation_per_year",
            ),
            models.CheckConstraint(
                condition=COMPLIANCE_YEAR_RANGE, name="allocation_year_plausible"
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="allocation_is_final", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"allocation {self.pk}: {self.quantity} for {self.compliance_year}"


class Surrender(models.Model):
    """Allowances and CCERs surrendered by an entity for a compliance year; final.

    The database guarantees that each retirement it points at is of the right mechanism, of
    purpose ``ets_compliance`` and of exactly the surrendered quantity, that it refers to the
    current verified figure, and that an entity's surrenders for a year never add up to more
    than that figure. The CCER share (R10, configurable) is checked by the service.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    entity = models.ForeignKey(
        CoveredEntity,
        verbose_name=_("covered entity"),
        on_delete=models.PROTECT,
        related_name="surrenders",
    )
    compliance_year = models.PositiveIntegerField(_("compliance year"))
    verified_emission = models.ForeignKey(
        VerifiedEmission,
        verbose_name=_("verified emissions"),
        on_delete=models.PROTECT,
        related_name="surrenders",
    )
    obligation = models.BigIntegerField(_("obligation (tCO2)"))
    ccer_limit_percent = models.DecimalField(
        _("CCER limit applied (percent)"), max_digits=5, decimal_places=2
    )
    allowance_quantity = models.BigIntegerField(_("allowances surrendered"))
    ccer_quantity = models.BigIntegerField(_("CCER surrendered"))
    allowance_retirement = models.OneToOneField(
        "tracking.Retirement",
        verbose_name=_("allowance retirement"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="allowance_surrender",
    )
    ccer_retirement = models.OneToOneField(
        "tracking.Retirement",
        verbose_name=_("CCER retirement"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ccer_surrender",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("surrendered at"), auto_now_add=True)

    class Meta:
        verbose_name = _("surrender")
        verbose_name_plural = _("surrenders")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(allowance_quantity__gte=0)
                & Q(ccer_quantity__gte=0)
                & (Q(allowance_quantity__gt=0) | Q(ccer_quantity__gt=0)),
                name="surrender_quantities_positive",
            ),
            models.CheckConstraint(
                condition=(Q(allowance_quantity=0) & Q(allowance_retirement__isnull=True))
                | (Q(allowance_quantity__gt=0) & Q(allowance_retirement__isnull=False)),
                name="surrender_allowances_retired",
            ),
            models.CheckConstraint(
                condition=(Q(ccer_quantity=0) & Q(ccer_retirement__isnull=True))
                | (Q(ccer_quantity__gt=0) & Q(ccer_retirement__isnull=False)),
                name="surrender_ccer_retired",
            ),
            models.CheckConstraint(
                condition=COMPLIANCE_YEAR_RANGE, name="surrender_year_plausible"
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="surrender_is_final", operation=pgtrigger.Update | pgtrigger.Delete
            ),
            pgtrigger.Trigger(
                name="surrender_matches_retirements_and_obligation",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                declare=[("surrendered", "bigint")],
                func="""
                IF NEW.allowance_retirement_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM tracking_retirement AS retirement
                    JOIN registry_mechanism AS mechanism ON mechanism.id = retirement.mechanism_id
                    WHERE retirement.id = NEW.allowance_retirement_id
                      AND retirement.quantity = NEW.allowance_quantity
                      AND retirement.purpose = 'ets_compliance'
                      AND mechanism.code = 'CEA'
                ) THEN
                    RAISE EXCEPTION 'surrender: retirement % is not % CEA for ETS compliance',
                        NEW.allowance_retirement_id, NEW.allowance_quantity
                        USING ERRCODE = '23514';
                END IF;
                IF NEW.ccer_retirement_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM tracking_retirement AS retirement
                    JOIN registry_mechanism AS mechanism ON mechanism.id = retirement.mechanism_id
                    WHERE retirement.id = NEW.ccer_retirement_id
                      AND retirement.quantity = NEW.ccer_quantity
                      AND retirement.purpose = 'ets_compliance'
                      AND mechanism.code = 'CCER'
                ) THEN
                    RAISE EXCEPTION 'surrender: retirement % is not % CCER for ETS compliance',
                        NEW.ccer_retirement_id, NEW.ccer_quantity USING ERRCODE = '23514';
                END IF;
                IF NOT EXISTS (
                    SELECT 1 FROM compliance_verifiedemission AS figure
                    WHERE figure.id = NEW.verified_emission_id
                      AND figure.entity_id = NEW.entity_id
                      AND figure.compliance_year = NEW.compliance_year
                      AND figure.superseded_at IS NULL
                      AND figure.quantity = NEW.obligation
                ) THEN
                    RAISE EXCEPTION 'surrender: % is not the current verified figure of %',
                        NEW.obligation, NEW.compliance_year USING ERRCODE = '23514';
                END IF;
                SELECT COALESCE(SUM(earlier.allowance_quantity + earlier.ccer_quantity), 0)
                    INTO surrendered
                    FROM compliance_surrender AS earlier
                    WHERE earlier.entity_id = NEW.entity_id
                      AND earlier.compliance_year = NEW.compliance_year;
                IF surrendered + NEW.allowance_quantity + NEW.ccer_quantity > NEW.obligation THEN
                    RAISE EXCEPTION 'surrender: % surrendered for % would exceed the obligation %',
                        surrendered + NEW.allowance_quantity + NEW.ccer_quantity,
                        NEW.compliance_year, NEW.obligation USING ERRCODE = '23514';
                END IF;
                RETURN NEW;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"surrender {self.pk}: {self.allowance_quantity} CEA + {self.ccer_quantity} CCER"
