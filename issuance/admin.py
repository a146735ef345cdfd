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
    ServiceAddAdmin,
    ServiceCreateForm,
    ledger_history_link,
    run_service_action,
)
from registry.admin_queues import ApprovalQueue, register_approval_queue
from registry.models import LedgerEvent, MechanismRegistration


class MechanismRegistrationForm(ServiceCreateForm):
    crediting_start = forms.DateTimeField(label=_("crediting period start"))
    crediting_end = forms.DateTimeField(label=_("crediting period end"), required=False)

    class Meta:
        model = MechanismRegistration
        fields = ("project", "mechanism", "reference")

    def create(self, actor):
        return services.project_mechanism_register(
            actor=actor,
            project=self.cleaned_data["project"],
            mechanism=self.cleaned_data["mechanism"],
            reference=self.cleaned_data["reference"],
            crediting_start=self.cleaned_data["crediting_start"],
            crediting_end=self.cleaned_data.get("crediting_end"),
        )


@admin.register(MechanismRegistration)
class MechanismRegistrationAdmin(ServiceAddAdmin):
    """Registrations are written by project_mechanism_register only (a renewable project's CCER
    registration freezes its untraded GECs, R7), from the API or this add form."""

    form = MechanismRegistrationForm
    list_display = ("project", "mechanism", "reference", "crediting_period", "status")
    list_filter = ("mechanism", "status")
    list_select_related = ("project", "mechanism")
    search_fields = ("reference", "project__code", "project__name")
    autocomplete_fields = ("project",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("project", "mechanism", "reference", "crediting_start", "crediting_end")
        return [field.name for field in MechanismRegistration._meta.fields if field.name != "id"]

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)


def rule_catalogue_view(request):
    """The cross-mechanism rule catalogue, for administrators (docs/domain.md, rule catalogue)."""
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


class QueueAdmin(AdministratorActionsMixin, ServiceAddAdmin):
    """A queue: rows are added through a service form, never edited; pending rows are decided
    by the actions (each through its service, with the acting administrator in the ledger)."""

    list_filter = ("status",)
    add_fields: tuple = ()
    detail_fields: tuple = ()

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.detail_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.detail_fields


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
