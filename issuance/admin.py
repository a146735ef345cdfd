"""Admin of issuance: the verification and approval queues (production submitted by project
owners, issuance requests), mechanism registrations (read-only: written by the service) and the
rule catalogue page, which lists every rule with whether it is enabled here."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from issuance import rules, services
from issuance.models import IssuanceRequest, ProductionSubmission
from registry.admin import (
    AdministratorActionsMixin,
    LedgerEventAdmin,
    ReadOnlyAdmin,
    ledger_history_link,
    run_service_action,
)
from registry.admin_queues import ApprovalQueue, register_approval_queue
from registry.errors import DomainError
from registry.models import LedgerEvent, MechanismRegistration
from registry.permissions import is_administrator


@admin.register(MechanismRegistration)
class MechanismRegistrationAdmin(admin.ModelAdmin):
    list_display = ("project", "mechanism", "reference", "crediting_period", "status")
    list_filter = ("mechanism", "status")
    list_select_related = ("project", "mechanism")
    search_fields = ("reference", "project__code", "project__name")

    def has_add_permission(self, request, obj=None):
        return False  # registrations freeze GECs (R7): only the service writes them

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def rule_catalogue_view(request):
    """The cross-mechanism rule catalogue, for administrators (DOMAIN.md section 3)."""
    context = {
        **admin.site.each_context(request),
        "title": _("Rule catalogue"),
        "rules": rules.catalogue_listing(),
        "disabled_setting": "REGISTRY_DISABLED_RULES",
    }
    return TemplateResponse(request, "admin/issuance/rule_catalogue.html", context)


class RuleFilter(admin.SimpleListFilter):
    """Events about one rule of the catalogue: attempts it refused (payload details.rule) and
    operations it flagged (subject ``rule:<id>``)."""

    title = _("rule")
    parameter_name = "rule"

    def lookups(self, request, model_admin):
        return [(rule.id, rule.id) for rule in rules.CATALOGUE]

    def queryset(self, request, queryset):
        rule_id = self.value()
        if not rule_id:
            return queryset
        return queryset.filter(
            Q(kind=LedgerEvent.Kind.ATTEMPT_REFUSED, payload__details__rule=rule_id)
            | Q(kind=LedgerEvent.Kind.RULE_FLAGGED, subjects__contains=[f"rule:{rule_id}"])
        )


admin.site.unregister(LedgerEvent)


@admin.register(LedgerEvent)
class LedgerEventWithRulesAdmin(LedgerEventAdmin):
    """The ledger list of registry.admin with a filter by rule (the catalogue lives here)."""

    list_filter = (*LedgerEventAdmin.list_filter, RuleFilter)


class ServiceCreateForm(forms.ModelForm):
    """An add form whose validation is the service itself: ``create`` is called from ``clean``
    and a refusal becomes an error on the field it names (or on the form)."""

    created = None

    def create(self, actor):
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.created = self.create(self.actor)
        except DomainError as error:
            field = error.field if error.field in self.fields else None
            self.add_error(field, str(error.message))
        return cleaned


class ProductionSubmissionForm(ServiceCreateForm):
    period_start = forms.DateTimeField(label=_("period start"))
    period_end = forms.DateTimeField(label=_("period end (exclusive)"))

    class Meta:
        model = ProductionSubmission
        fields = ("project", "unit_kind", "quantity", "evidence")

    def create(self, actor):
        return services.production_submit(
            actor=actor,
            project=self.cleaned_data["project"],
            unit_kind=self.cleaned_data["unit_kind"],
            period_start=self.cleaned_data["period_start"],
            period_end=self.cleaned_data["period_end"],
            quantity=self.cleaned_data["quantity"],
            evidence=self.cleaned_data.get("evidence", ""),
        )


class IssuanceRequestForm(ServiceCreateForm):
    class Meta:
        model = IssuanceRequest
        fields = (
            "mechanism",
            "production_record",
            "account",
            "quantity",
            "conversion_factor",
            "conversion_source",
        )

    def create(self, actor):
        return services.issuance_request_create(
            actor=actor,
            mechanism=self.cleaned_data["mechanism"],
            production_record=self.cleaned_data["production_record"],
            account=self.cleaned_data["account"],
            quantity=self.cleaned_data["quantity"],
            conversion_factor=self.cleaned_data.get("conversion_factor"),
            conversion_source=self.cleaned_data.get("conversion_source") or "",
        )


class QueueAdmin(AdministratorActionsMixin, ReadOnlyAdmin):
    """A queue: rows are added through a service form, never edited; pending rows are decided
    by the actions (each through its service, with the acting administrator in the ledger)."""

    list_filter = ("status",)
    date_hierarchy = None
    add_fields: tuple = ()

    def has_add_permission(self, request, obj=None):
        return is_administrator(request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.actor = request.user
        return form

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.detail_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.detail_fields

    def save_model(self, request, obj, form, change):
        obj.pk = form.created.pk  # the service wrote the row, with its ledger event

    def save_related(self, request, form, formsets, change):
        pass


@admin.register(ProductionSubmission)
class ProductionSubmissionAdmin(QueueAdmin):
    """Production reported by project owners, waiting for verification; verifying records it
    (serials allocated), rejecting needs a reason."""

    form = ProductionSubmissionForm
    list_display = (
        "id",
        "project",
        "unit_kind",
        "period_local",
        "quantity",
        "submitted_by",
        "submitted_at",
        "status",
        "production_record",
    )
    list_select_related = ("project", "submitted_by", "production_record")
    search_fields = ("project__code", "project__name")
    ordering = ("-pk",)
    add_fields = ("project", "unit_kind", "period_start", "period_end", "quantity", "evidence")
    detail_fields = (
        "project",
        "unit_kind",
        "period",
        "quantity",
        "evidence",
        "submitted_by",
        "submitted_at",
        "status",
        "decided_by",
        "decided_at",
        "decision_reason",
        "production_record",
        "ledger_history",
    )
    autocomplete_fields = ("project",)
    actions = ("verify", "reject")

    @admin.display(description=_("period"))
    def period_local(self, obj):
        return _period_text(obj.period)

    @admin.display(description=_("ledger history"))
    def ledger_history(self, obj):
        return ledger_history_link(f"submission:{obj.pk}")

    @admin.action(description=_("Verify the selected submissions (records them, serials given)"))
    def verify(self, request, queryset):
        return run_service_action(
            self,
            request,
            queryset,
            action="verify",
            title=_("Verify production"),
            service=lambda submission, reason: services.production_submission_verify(
                actor=request.user, submission=submission
            ),
            done_message=_("%(count)s submissions verified and recorded."),
            needs_reason=False,
        )

    @admin.action(description=_("Reject the selected submissions (with a reason)"))
    def reject(self, request, queryset):
        return run_service_action(
            self,
            request,
            queryset,
            action="reject",
            title=_("Reject production"),
            service=lambda submission, reason: services.production_submission_reject(
                actor=request.user, submission=submission, reason=reason
            ),
            done_message=_("%(count)s submissions rejected."),
            needs_reason=True,
        )


def _period_text(period) -> str:
    if period is None:
        return "-"
    return f"{period.lower:%Y-%m-%d %H:%M} – {period.upper:%Y-%m-%d %H:%M} UTC"


@admin.register(IssuanceRequest)
class IssuanceRequestAdmin(QueueAdmin):
    """Issuance requests waiting for an issuing body or an administrator. Approving issues
    through unit_claim_issue; a refusal (a rule, or units already claimed) is shown with the
    claim that holds the units and leaves the request pending."""

    form = IssuanceRequestForm
    list_display = (
        "id",
        "mechanism",
        "project",
        "production_record",
        "quantity",
        "account",
        "requested_by",
        "requested_at",
        "status",
        "unit_claim",
    )
    list_filter = ("status", "mechanism")
    list_select_related = (
        "mechanism",
        "production_record__stream__project",
        "account",
        "requested_by",
        "unit_claim",
    )
    search_fields = ("production_record__stream__project__code", "account__number")
    ordering = ("-pk",)
    add_fields = (
        "mechanism",
        "production_record",
        "account",
        "quantity",
        "conversion_factor",
        "conversion_source",
    )
    detail_fields = (
        "mechanism",
        "production_record",
        "account",
        "quantity",
        "conversion_factor",
        "conversion_source",
        "requested_by",
        "requested_at",
        "status",
        "decided_by",
        "decided_at",
        "decision_reason",
        "unit_claim",
        "ledger_history",
    )
    raw_id_fields = ("production_record",)
    autocomplete_fields = ("account",)
    actions = ("approve", "reject")

    @admin.display(description=_("project"))
    def project(self, obj):
        return obj.production_record.stream.project.code

    @admin.display(description=_("ledger history"))
    def ledger_history(self, obj):
        return ledger_history_link(f"issuance_request:{obj.pk}")

    @admin.action(description=_("Approve the selected requests (issues the units)"))
    def approve(self, request, queryset):
        return run_service_action(
            self,
            request,
            queryset,
            action="approve",
            title=_("Approve issuance"),
            service=lambda issuance_request, reason: services.issuance_request_approve(
                actor=request.user, issuance_request=issuance_request
            ),
            done_message=_("%(count)s requests approved and issued."),
            needs_reason=False,
        )

    @admin.action(description=_("Reject the selected requests (with a reason)"))
    def reject(self, request, queryset):
        return run_service_action(
            self,
            request,
            queryset,
            action="reject",
            title=_("Reject issuance requests"),
            service=lambda issuance_request, reason: services.issuance_request_reject(
                actor=request.user, issuance_request=issuance_request, reason=reason
            ),
            done_message=_("%(count)s requests rejected."),
            needs_reason=True,
        )


register_approval_queue(ApprovalQueue(ProductionSubmission))
register_approval_queue(ApprovalQueue(IssuanceRequest))
