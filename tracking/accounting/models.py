"""Tables of emission accounting (issue: grid data, factors, scope 2, green power settlement).

Imported by name at the end of ``tracking.models`` so that Django finds them in the tracking app.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# --- grid data and factors ---------------------------------------------------------------------


def period_label(year: int, month: int | None) -> str:
    """``2025`` for a year, ``2025-03`` for a month."""
    return f"{year}" if month is None else f"{year}-{month:02d}"


class GridPeriodFields(models.Model):
    """A year (``month`` empty) or one month of a year."""

    year = models.PositiveSmallIntegerField(_("year"))
    month = models.PositiveSmallIntegerField(_("month"), null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def period_label(self) -> str:
        return period_label(self.year, self.month)


def _period_check(prefix: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        name=f"{prefix}_period_valid",
        condition=Q(year__gte=1990, year__lte=2200)
        & (Q(month__isnull=True) | Q(month__gte=1, month__lte=12)),
    )


class ImportedGridRow(GridPeriodFields):
    """A row of grid statistics of a period, with who imported it and when."""

    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("imported by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)

    class Meta:
        abstract = True


class GridGeneration(ImportedGridRow):
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


class GridExchange(ImportedGridRow):
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
    from (docs/domain.md, emission accounting; formulas in tracking.accounting.factors)."""

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

    class Meta:
        verbose_name = _("scope 2 certificate")
        verbose_name_plural = _("scope 2 certificates")
        constraints = [
            models.UniqueConstraint(
                fields=["report", "retirement"], name="scope2_certificate_once_per_report"
            )
        ]

    def __str__(self) -> str:
        return f"{self.report_id}: {self.retirement_id}"


# =============================================================================================
# Green power settlement (docs/domain.md, green power settlement)
# =============================================================================================


class GreenPowerContract(models.Model):
    """A monthly green power contract: a renewable generator sells ``monthly_mwh`` a month, from
    ``valid_from`` to ``valid_to`` (YYYYMM, both included; no end: open-ended), to a buyer.

    The generator account belongs to the project's owner and the buyer account to the buyer
    (checked by ``green_power_contract_create``, the only writer); settled GECs move between
    these two accounts.
    """

    code = models.CharField(_("contract code"), max_length=32, unique=True)
    generator_project = models.ForeignKey(
        "registry.Project",
        verbose_name=_("generator project"),
        on_delete=models.PROTECT,
        related_name="green_power_contracts",
    )
    generator_account = models.ForeignKey(
        "accounts.HoldingAccount",
        verbose_name=_("generator account"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    buyer = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("buyer"),
        on_delete=models.PROTECT,
        related_name="green_power_purchases",
    )
    buyer_account = models.ForeignKey(
        "accounts.HoldingAccount",
        verbose_name=_("buyer account"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    monthly_mwh = models.DecimalField(_("contracted MWh a month"), max_digits=20, decimal_places=6)
    valid_from = models.PositiveIntegerField(_("first month (YYYYMM)"))
    valid_to = models.PositiveIntegerField(
        _("last month (YYYYMM)"), null=True, blank=True, help_text=_("Empty: open-ended.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("green power contract")
        verbose_name_plural = _("green power contracts")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(monthly_mwh__gt=0), name="green_contract_mwh_positive"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="green_contract_months_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(generator_account=models.F("buyer_account")),
                name="green_contract_two_accounts",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class ElectricityConsumption(models.Model):
    """Metered electricity an organisation consumed in one province over a half-open UTC
    period (like production records), optionally at a named site.

    Periods of one organisation, province and site never overlap (exclusion constraint), so the
    same MWh are never entered twice. Green power settlement sums the rows wholly inside a month;
    scope 2 accounting may use any period. Written only by ``electricity_consumption_record``.
    """

    organisation = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="electricity_consumption",
    )
    province = models.CharField(_("province (ISO 3166-2)"), max_length=6)
    site = models.CharField(_("site or meter"), max_length=100, blank=True)
    period = DateTimeRangeField(_("period"))
    mwh = models.DecimalField(_("MWh"), max_digits=20, decimal_places=6)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("entered by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    entered_at = models.DateTimeField(_("entered at"), auto_now_add=True)

    class Meta:
        verbose_name = _("electricity consumption")
        verbose_name_plural = _("electricity consumption")
        ordering = ["pk"]
        constraints = [
            ExclusionConstraint(
                name="consumption_periods_never_overlap",
                expressions=[
                    ("organisation", RangeOperators.EQUAL),
                    ("province", RangeOperators.EQUAL),
                    ("site", RangeOperators.EQUAL),
                    ("period", RangeOperators.OVERLAPS),
                ],
            ),
            models.CheckConstraint(condition=Q(mwh__gte=0), name="consumption_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id} {self.province} {self.mwh} MWh"


class GreenPowerSettlement(models.Model):
    """One contract's settlement of one month: the quantities compared, the whole MWh settled
    and the remainder carried to the next month (docs/domain.md, green power settlement, computed by
    tracking.accounting.settlement).

    ``computed`` until both parties confirmed; then, in the same transaction as the second
    confirmation, ``transferred`` (the GECs moved: ``transfer``), ``refused`` (the generator
    lacked them: refusal code and message, nothing moved) or ``confirmed`` (nothing to move,
    0 MWh settled). One row per contract and month.
    """

    class Status(models.TextChoices):
        COMPUTED = "computed", _("Computed, awaiting confirmation")
        CONFIRMED = "confirmed", _("Confirmed by both parties")
        TRANSFERRED = "transferred", _("GECs transferred")
        REFUSED = "refused", _("Transfer refused")

    contract = models.ForeignKey(
        GreenPowerContract,
        verbose_name=_("contract"),
        on_delete=models.PROTECT,
        related_name="settlements",
    )
    month = models.PositiveIntegerField(_("month (YYYYMM)"))
    contracted_mwh = models.DecimalField(_("contracted MWh"), max_digits=20, decimal_places=6)
    buyer_scaled_mwh = models.DecimalField(
        _("buyer-side scaled MWh"), max_digits=20, decimal_places=6
    )
    generator_scaled_mwh = models.DecimalField(
        _("generator-side scaled MWh"), max_digits=20, decimal_places=6
    )
    carried_in_mwh = models.DecimalField(_("carried in (MWh)"), max_digits=20, decimal_places=6)
    settled_mwh = models.BigIntegerField(_("settled MWh"))
    carried_out_mwh = models.DecimalField(_("carried out (MWh)"), max_digits=20, decimal_places=6)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.COMPUTED
    )
    computed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("computed by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    computed_at = models.DateTimeField(_("computed at"))
    generator_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("confirmed for the generator by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    generator_confirmed_at = models.DateTimeField(
        _("confirmed for the generator at"), null=True, blank=True
    )
    buyer_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("confirmed for the buyer by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    buyer_confirmed_at = models.DateTimeField(
        _("confirmed for the buyer at"), null=True, blank=True
    )
    transfer = models.OneToOneField(
        "tracking.Transfer",
        verbose_name=_("transfer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="green_power_settlement",
    )
    refusal_code = models.CharField(_("refusal code"), max_length=64, blank=True)
    refusal_message = models.TextField(_("refusal message"), blank=True)

    class Meta:
        verbose_name = _("green power settlement")
        verbose_name_plural = _("green power settlements")
        ordering = ["month", "contract_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "month"], name="green_settlement_once_per_month"
            ),
            models.CheckConstraint(
                condition=Q(settled_mwh__gte=0)
                & Q(carried_in_mwh__gte=0)
                & Q(carried_in_mwh__lt=1)
                & Q(carried_out_mwh__gte=0)
                & Q(carried_out_mwh__lt=1),
                name="green_settlement_quantities",
            ),
            models.CheckConstraint(
                condition=~Q(status="transferred") | Q(transfer__isnull=False),
                name="green_settlement_transfer_recorded",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract_id} {self.month}: {self.settled_mwh} MWh"

    @property
    def month_text(self) -> str:
        """The month as "YYYY-MM"."""
        return f"{self.month // 100:04d}-{self.month % 100:02d}"


# =============================================================================================
# End of green power settlement
# =============================================================================================
