"""Tables of emission accounting (issue: grid data, factors, scope 2, green power settlement).

Imported by name at the end of ``tracking.models`` so that Django finds them in the tracking app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# --- grid data and factors ---------------------------------------------------------------------


class GridPeriodFields(models.Model):
    """A year (``month`` empty) or one month of a year."""

    year = models.PositiveSmallIntegerField(_("year"))
    month = models.PositiveSmallIntegerField(_("month"), null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def period_label(self) -> str:
        return f"{self.year}" if self.month is None else f"{self.year}-{self.month:02d}"


def _period_check(prefix: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        name=f"{prefix}_period_valid",
        condition=Q(year__gte=1990, year__lte=2200)
        & (Q(month__isnull=True) | Q(month__gte=1, month__lte=12)),
    )


class GridGeneration(GridPeriodFields):
    """What one source (coal, gas, wind, ...) generated in a grid region in a period, and what it
    emitted: imported from the grid's statistics. One row per region, period and source."""

    region = models.ForeignKey(
        "registry.GridRegion",
        verbose_name=_("grid region"),
        on_delete=models.PROTECT,
        related_name="generation",
    )
    source = models.SlugField(_("source"), max_length=32)
    generation_mwh = models.DecimalField(_("generation (MWh)"), max_digits=20, decimal_places=3)
    emissions_t = models.DecimalField(_("emissions (tCO2)"), max_digits=20, decimal_places=3)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("imported by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)

    class Meta:
        verbose_name = _("grid generation")
        verbose_name_plural = _("grid generation")
        constraints = [
            _period_check("grid_generation"),
            models.UniqueConstraint(
                fields=["region", "year", "month", "source"],
                name="grid_generation_once_per_source",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                name="grid_generation_nonnegative",
                condition=Q(generation_mwh__gte=0, emissions_t__gte=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.period_label} {self.source}"


class GridExchange(GridPeriodFields):
    """MWh that flowed from one grid region into another in a period."""

    exporter = models.ForeignKey(
        "registry.GridRegion",
        verbose_name=_("exporting region"),
        on_delete=models.PROTECT,
        related_name="exports",
    )
    importer = models.ForeignKey(
        "registry.GridRegion",
        verbose_name=_("importing region"),
        on_delete=models.PROTECT,
        related_name="imports",
    )
    mwh = models.DecimalField(_("MWh"), max_digits=20, decimal_places=3)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("imported by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)

    class Meta:
        verbose_name = _("grid exchange")
        verbose_name_plural = _("grid exchanges")
        constraints = [
            _period_check("grid_exchange"),
            models.UniqueConstraint(
                fields=["exporter", "importer", "year", "month"],
                name="grid_exchange_once_per_pair",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                name="grid_exchange_between_two_regions",
                condition=~Q(exporter=models.F("importer")),
            ),
            models.CheckConstraint(name="grid_exchange_nonnegative", condition=Q(mwh__gte=0)),
        ]

    def __str__(self) -> str:
        return f"{self.exporter_id} -> {self.importer_id} {self.period_label}"


class FactorComputation(GridPeriodFields):
    """One computation of every region's factors for a period, from the grid data and the
    registry's own claims as they stood at ``last_event_id`` (sealed up to ``checkpoint``).

    Rows are never changed: a recomputation is a new row, and the newest one is published.
    """

    policy = models.JSONField(
        _("claimed MWh counted"),
        help_text=_("Which claimed MWh the residual factor removes: retired, exported, valid."),
    )
    checkpoint = models.ForeignKey(
        "registry.Checkpoint",
        verbose_name=_("latest checkpoint"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    last_event_id = models.BigIntegerField(_("last ledger event"), null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    computed_at = models.DateTimeField(_("computed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("factor computation")
        verbose_name_plural = _("factor computations")
        constraints = [_period_check("factor_computation")]
        indexes = [models.Index(fields=["year", "month", "-id"], name="factor_computation_latest")]

    def __str__(self) -> str:
        return f"{self.period_label} #{self.pk}"


class GridFactor(models.Model):
    """A region's average and residual factors in one computation, with the figures they come
    from (DOMAIN.md section 5; formulas in tracking.accounting.factors)."""

    computation = models.ForeignKey(
        FactorComputation,
        verbose_name=_("computation"),
        on_delete=models.CASCADE,
        related_name="factors",
    )
    region = models.ForeignKey(
        "registry.GridRegion",
        verbose_name=_("grid region"),
        on_delete=models.PROTECT,
        related_name="factors",
    )
    generation_mwh = models.DecimalField(_("generation (MWh)"), max_digits=20, decimal_places=3)
    generation_emissions_t = models.DecimalField(
        _("generation emissions (t)"), max_digits=20, decimal_places=3
    )
    imports_mwh = models.DecimalField(_("imports (MWh)"), max_digits=20, decimal_places=6)
    supply_emissions_t = models.DecimalField(
        _("supply emissions (t)"), max_digits=20, decimal_places=6
    )
    average_factor = models.DecimalField(_("average factor"), max_digits=14, decimal_places=9)
    retired_mwh = models.DecimalField(
        _("retired for consumers (MWh)"), max_digits=20, decimal_places=6
    )
    exported_mwh = models.DecimalField(_("exported (MWh)"), max_digits=20, decimal_places=6)
    valid_mwh = models.DecimalField(_("issued and valid (MWh)"), max_digits=20, decimal_places=6)
    claimed_mwh = models.DecimalField(_("claimed (MWh)"), max_digits=20, decimal_places=6)
    residual_factor = models.DecimalField(
        _("residual factor"), max_digits=14, decimal_places=9, null=True, blank=True
    )
    double_counted_t = models.DecimalField(
        _("counted twice with the average (t)"), max_digits=20, decimal_places=6
    )

    class Meta:
        verbose_name = _("grid factor")
        verbose_name_plural = _("grid factors")
        constraints = [
            models.UniqueConstraint(
                fields=["computation", "region"], name="grid_factor_once_per_computation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.average_factor}"


# --- scope 2 ------------------------------------------------------------------------------------


class Scope2Report(GridPeriodFields):
    """An organisation's scope 2 emissions of a year or month: location-based (consumption x
    the region's average factor) and market-based (consumption less the MWh of its retired
    certificates, x the residual factor), region by region, from one factor computation.

    One report per organisation and period (database); each certificate it counts is a claim on
    its retirement (``RetirementAllocation``), so no retirement counts twice.
    """

    organisation = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="scope2_reports",
    )
    computation = models.ForeignKey(
        FactorComputation,
        verbose_name=_("factors used"),
        on_delete=models.PROTECT,
        related_name="scope2_reports",
    )
    consumption_mwh = models.DecimalField(_("consumption (MWh)"), max_digits=20, decimal_places=6)
    certificate_mwh = models.DecimalField(_("certificates (MWh)"), max_digits=20, decimal_places=6)
    location_based_t = models.DecimalField(_("location-based (t)"), max_digits=20, decimal_places=6)
    market_based_t = models.DecimalField(_("market-based (t)"), max_digits=20, decimal_places=6)
    regions = models.JSONField(_("by grid region"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("scope 2 report")
        verbose_name_plural = _("scope 2 reports")
        constraints = [
            _period_check("scope2_report"),
            models.UniqueConstraint(
                fields=["organisation", "year", "month"],
                name="scope2_report_once_per_period",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id} {self.period_label}"


class Scope2Certificate(models.Model):
    """A retirement counted in a scope 2 report: the allocation that claims it for the report,
    the region whose consumption it covers and the serial ranges retired."""

    report = models.ForeignKey(
        Scope2Report,
        verbose_name=_("report"),
        on_delete=models.PROTECT,
        related_name="certificates",
    )
    retirement = models.ForeignKey(
        "tracking.Retirement",
        verbose_name=_("retirement"),
        on_delete=models.PROTECT,
        related_name="scope2_uses",
    )
    allocation = models.OneToOneField(
        "tracking.RetirementAllocation",
        verbose_name=_("allocation"),
        on_delete=models.PROTECT,
        related_name="scope2_use",
    )
    region = models.ForeignKey(
        "registry.GridRegion", verbose_name=_("grid region"), on_delete=models.PROTECT
    )
    mwh = models.BigIntegerField(_("MWh"))
    serial_ranges = models.JSONField(_("serial ranges"))

    def __str__(self) -> str:
        return f"{self.report_id}: {self.retirement_id}"

    class Meta:
        verbose_name = _("scope 2 certificate")
        verbose_name_plural = _("scope 2 certificates")
        constraints = [
            models.UniqueConstraint(
                fields=["report", "retirement"], name="scope2_certificate_once_per_report"
            )
        ]
