"""Models of emission accounting and green power settlement (issue 7).

Imported by name at the end of tracking/models.py so that Django finds them; they belong to the
``tracking`` app. Each part of issue 7 keeps its models in its own section below.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# =============================================================================================
# Green power settlement (DOMAIN.md section 4)
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
    and the remainder carried to the next month (DOMAIN.md 4, computed by
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
