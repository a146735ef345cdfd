"""Admin of emission accounting and green power settlement (issue 7), imported by
tracking/admin.py. Read-only: every change goes through the services."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from registry.admin import AdministratorActionsMixin, ReadOnlyAdmin, run_service_action
from tracking.accounting.models import (
    ElectricityConsumption,
    GreenPowerContract,
    GreenPowerSettlement,
)
from tracking.accounting.services import BUYER, GENERATOR, green_power_settlement_confirm

# =============================================================================================
# Green power settlement
# =============================================================================================


@admin.register(GreenPowerContract)
class GreenPowerContractAdmin(ReadOnlyAdmin):
    """Green power contracts, read-only (recorded through the API's green_power_contract_create)."""

    list_display = (
        "code",
        "generator_project",
        "generator_account",
        "buyer",
        "buyer_account",
        "monthly_mwh",
        "valid_from",
        "valid_to",
    )
    list_select_related = ("generator_project", "generator_account", "buyer", "buyer_account")
    search_fields = ("code",)


@admin.register(ElectricityConsumption)
class ElectricityConsumptionAdmin(ReadOnlyAdmin):
    """Metered electricity consumption, read-only (electricity_consumption_record)."""

    list_display = ("id", "organisation", "province", "site", "period", "mwh", "entered_at")
    list_select_related = ("organisation",)
    list_filter = ("province",)


@admin.register(GreenPowerSettlement)
class GreenPowerSettlementAdmin(AdministratorActionsMixin, ReadOnlyAdmin):
    """Monthly settlements, read-only; an administrator confirms for one named party through
    green_power_settlement_confirm (the second confirmation moves the GECs)."""

    list_display = (
        "id",
        "contract",
        "month",
        "contracted_mwh",
        "buyer_scaled_mwh",
        "generator_scaled_mwh",
        "carried_in_mwh",
        "settled_mwh",
        "carried_out_mwh",
        "status",
        "refusal_code",
    )
    list_select_related = ("contract",)
    list_filter = ("status", "month")
    actions = ("confirm_for_generator", "confirm_for_buyer")

    def _confirm(self, request, queryset, side: str, action: str):
        return run_service_action(
            self,
            request,
            queryset,
            action=action,
            title=_("Confirm settlements"),
            service=lambda settlement, reason: green_power_settlement_confirm(
                actor=request.user, settlement=settlement, side=side
            ),
            done_message=_("%(count)s settlements confirmed."),
            needs_reason=False,
        )

    @admin.action(description=_("Confirm the selected settlements for the generator"))
    def confirm_for_generator(self, request, queryset):
        return self._confirm(request, queryset, GENERATOR, "confirm_for_generator")

    @admin.action(description=_("Confirm the selected settlements for the buyer"))
    def confirm_for_buyer(self, request, queryset):
        return self._confirm(request, queryset, BUYER, "confirm_for_buyer")
