"""Admin for ETS compliance. Schemes, covered entities and verified emissions are created
through the services; allocations and surrenders are read-only rows (the API and the admin
action below write them through the services)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from compliance.models import (
    Allocation,
    ComplianceScheme,
    CoveredEntity,
    Surrender,
    VerifiedEmission,
)
from compliance.services import (
    allowances_allocate,
    compliance_scheme_create,
    covered_entity_register,
    verified_emissions_record,
)
from registry.admin import ReadOnlyAdmin
from registry.errors import DomainError


class ComplianceSchemeAddForm(forms.ModelForm):
    province = forms.CharField(
        label=_("seat of the scheme (ISO 3166-2)"),
        max_length=6,
        help_text=_("Province of the allowance budget project, e.g. CN-BJ."),
    )

    class Meta:
        model = ComplianceScheme
        fields = [
            "code",
            "name",
            "kind",
            "ccer_limit_percent",
            "old_ccer_issued_before",
            "old_ccer_unusable_from",
            "authority",
        ]


@admin.register(ComplianceScheme)
class ComplianceSchemeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "ccer_limit_percent", "authority", "budget_project")
    list_select_related = ("authority", "budget_project")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ComplianceSchemeAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ("code", "kind", "authority", "budget_project") if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:  # name, CCER limit and cut-off dates: the check constraints still apply
            super().save_model(request, obj, form, change)
            return
        created = compliance_scheme_create(
            actor=request.user,
            code=obj.code,
            name=obj.name,
            kind=obj.kind,
            province=form.cleaned_data["province"],
            authority=obj.authority,
            ccer_limit_percent=obj.ccer_limit_percent,
            old_ccer_issued_before=obj.old_ccer_issued_before,
            old_ccer_unusable_from=obj.old_ccer_unusable_from,
        )
        obj.pk, obj.budget_project = created.pk, created.budget_project


@admin.register(CoveredEntity)
class CoveredEntityAdmin(admin.ModelAdmin):
    list_display = ("id", "organisation", "scheme", "account", "registered_at")
    list_filter = ("scheme",)
    list_select_related = ("organisation", "scheme", "account")
    fields = ("scheme", "organisation", "account")

    def get_readonly_fields(self, request, obj=None):
        return ("scheme", "organisation", "account") if obj is not None else ("account",)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        created = covered_entity_register(
            actor=request.user, scheme=obj.scheme, organisation=obj.organisation
        )
        obj.pk, obj.account = created.pk, created.account


@admin.register(VerifiedEmission)
class VerifiedEmissionAdmin(admin.ModelAdmin):
    list_display = ("id", "entity", "compliance_year", "quantity", "verifier", "superseded_at")
    list_filter = ("compliance_year",)
    list_select_related = ("entity__organisation", "entity__scheme")
    fields = ("entity", "compliance_year", "quantity", "verifier")
    actions = ["pre_allocate_next_year"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # A second figure for the same year supersedes the current one (a correction).
        created = verified_emissions_record(
            actor=request.user,
            entity=obj.entity,
            compliance_year=obj.compliance_year,
            quantity=obj.quantity,
            verifier=obj.verifier,
        )
        obj.pk = created.pk

    @admin.action(description=_("Pre-allocate the next compliance year from these figures"))
    def pre_allocate_next_year(self, request, queryset):
        for figure in queryset.filter(superseded_at__isnull=True).select_related("entity"):
            try:
                allocation = allowances_allocate(
                    actor=request.user,
                    entity=figure.entity,
                    compliance_year=figure.compliance_year + 1,
                    kind=Allocation.Kind.PRE_ALLOCATION,
                )
            except DomainError as refusal:
                self.message_user(request, refusal.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("%(quantity)s allowances of %(year)s pre-allocated to entity %(entity)s.")
                    % {
                        "quantity": allocation.quantity,
                        "year": allocation.compliance_year,
                        "entity": figure.entity_id,
                    },
                    messages.SUCCESS,
                )


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    list_display = ("id", "entity", "compliance_year", "kind", "quantity", "claim", "created_at")
    list_filter = ("kind", "compliance_year")
    list_select_related = ("entity__organisation", "entity__scheme")


@admin.register(Surrender)
class SurrenderAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "entity",
        "compliance_year",
        "obligation",
        "allowance_quantity",
        "ccer_quantity",
        "created_at",
    )
    list_filter = ("compliance_year",)
    list_select_related = ("entity__organisation", "entity__scheme")
