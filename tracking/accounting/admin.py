"""Admin of emission accounting: grid data (read-only lists, CSV upload through the import
service), factor computations (read-only, with a form that computes a period now), scope 2
reports, and green power settlement (read-only; confirmations through the service)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from registry.admin import AdministratorActionsMixin, ReadOnlyAdmin, run_service_action
from registry.errors import DomainError
from tracking.accounting import services
from tracking.accounting.models import (
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
from tracking.accounting.services import BUYER, GENERATOR, green_power_settlement_confirm


class GridDataUploadForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("kind of data"),
        choices=[("generation", _("generation by source")), ("exchanges", _("exchanges"))],
    )
    file = forms.FileField(label=_("CSV file (UTF-8)"))


class ComputeForm(forms.Form):
    period = forms.CharField(label=_("period (2025 or 2025-03)"), max_length=7)


def _render(model_admin, request, template: str, title, form):
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "opts": model_admin.model._meta,
    }
    return TemplateResponse(request, template, context)


@admin.register(GridGeneration)
class GridGenerationAdmin(ReadOnlyAdmin):
    """Generation and emissions by source, as imported; the upload replaces a region's period."""

    list_display = ("region", "period_label", "source", "generation_mwh", "emissions_t")
    list_filter = ("region", "year", "month", "source")
    list_select_related = ("region",)
    change_list_template = "admin/tracking/grid_data_change_list.html"

    def get_urls(self):
        upload = path(
            "upload/",
            self.admin_site.admin_view(self.upload_view),
            name="tracking_griddata_upload",
        )
        return [upload, *super().get_urls()]

    def upload_view(self, request):
        """A CSV from the administrator's disk through grid_data_import (all or nothing)."""
        form = GridDataUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                content = form.cleaned_data["file"].read().decode("utf-8")
                result = services.grid_data_import(
                    actor=request.user, kind=form.cleaned_data["kind"], content=content
                )
            except UnicodeDecodeError:
                form.add_error("file", _("The file is not UTF-8 text."))
            except DomainError as error:
                form.add_error("file", str(error.message))
            else:
                self.message_user(
                    request,
                    _("%(rows)s rows imported for %(periods)s.")
                    % {"rows": result.rows, "periods": ", ".join(result.periods)},
                    messages.SUCCESS,
                )
                return redirect(reverse("admin:tracking_gridgeneration_changelist"))
        return _render(
            self, request, "admin/tracking/grid_data_upload.html", _("Import grid data"), form
        )


@admin.register(GridExchange)
class GridExchangeAdmin(ReadOnlyAdmin):
    list_display = ("exporter", "importer", "period_label", "mwh")
    list_filter = ("year", "month", "exporter", "importer")
    list_select_related = ("exporter", "importer")


class GridFactorInline(admin.TabularInline):
    model = GridFactor
    fields = (
        "region",
        "average_factor",
        "residual_factor",
        "generation_mwh",
        "imports_mwh",
        "retired_mwh",
        "exported_mwh",
        "valid_mwh",
        "claimed_mwh",
        "double_counted_t",
    )
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(FactorComputation)
class FactorComputationAdmin(ReadOnlyAdmin):
    """Computations are never changed; the newest of a period is the published one."""

    list_display = ("id", "period_label", "computed_at", "requested_by", "policy", "checkpoint")
    list_filter = ("year", "month")
    list_select_related = ("requested_by", "checkpoint")
    ordering = ("-pk",)
    inlines = [GridFactorInline]
    change_list_template = "admin/tracking/factor_computation_change_list.html"

    def get_urls(self):
        compute = path(
            "compute/",
            self.admin_site.admin_view(self.compute_view),
            name="tracking_gridfactors_compute",
        )
        return [compute, *super().get_urls()]

    def compute_view(self, request):
        form = ComputeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                year, month = services.parse_period(form.cleaned_data["period"])
                computation = services.grid_factors_compute(
                    actor=request.user, year=year, month=month
                )
            except DomainError as error:
                form.add_error("period", str(error.message))
            else:
                return redirect(
                    reverse("admin:tracking_factorcomputation_change", args=[computation.pk])
                )
        return _render(
            self, request, "admin/tracking/compute_factors.html", _("Compute grid factors"), form
        )


class Scope2CertificateInline(admin.TabularInline):
    model = Scope2Certificate
    fields = ("retirement", "region", "mwh", "serial_ranges", "allocation")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(Scope2Report)
class Scope2ReportAdmin(ReadOnlyAdmin):
    """Scope 2 reports, made through scope2_report_create (API); read-only here."""

    list_display = (
        "id",
        "organisation",
        "period_label",
        "consumption_mwh",
        "certificate_mwh",
        "location_based_t",
        "market_based_t",
        "created_at",
    )
    list_filter = ("year", "month")
    list_select_related = ("organisation",)
    search_fields = ("organisation__code", "organisation__name")
    inlines = [Scope2CertificateInline]


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
