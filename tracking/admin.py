"""Admin for blocks and their movements: read-only, every change goes through the services."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from registry.admin import (
    AdministratorActionsMixin,
    HugeListAdmin,
    ReadOnlyAdmin,
    UnitClaimAdmin,
    ledger_history_link,
    run_service_action,
)
from registry.errors import DomainError
from registry.imports import AdministratorExportMixin
from registry.models import UnitClaim
from registry.permissions import is_administrator
from registry.services import validate_subdivision
from tracking.imports import BlockResource
from tracking.models import (
    Block,
    Cancellation,
    CorrespondingAdjustment,
    NeutralityEvent,
    Retirement,
    RetirementAllocation,
    Transfer,
)
from tracking.services import (
    block_cancel,
    block_set_status,
    claim_revoke,
    corresponding_adjustment_set_status,
    neutrality_event_create,
)


@admin.register(Block)
class BlockAdmin(AdministratorExportMixin, AdministratorActionsMixin, HugeListAdmin, ReadOnlyAdmin):
    """Blocks, read-only; administrators freeze and unfreeze whole blocks with a reason
    (block_set_status). The list never counts the table (see HugeListAdmin). Exported (CSV,
    XLSX) as filtered, never imported."""

    resource_classes = [BlockResource]

    list_display = (
        "id",
        "mechanism",
        "account",
        "serials",
        "quantity",
        "vintage",
        "status",
        "transfer_count",
    )
    list_filter = ("status", "mechanism")
    list_select_related = ("mechanism", "account")
    readonly_fields = ("ledger_history",)
    actions = ("freeze", "unfreeze", "cancel")

    @admin.display(description=_("ledger history"))
    def ledger_history(self, obj):
        # Events name the claim a block's units belong to (a block is split and merged as
        # units move, so few events name the block itself).
        return ledger_history_link(f"claim:{obj.claim_id}")

    def _set_status(self, request, queryset, status: str, action: str, title, done_message):
        return run_service_action(
            self,
            request,
            queryset,
            action=action,
            title=title,
            service=lambda block, reason: block_set_status(
                actor=request.user, block=block, status=status, reason=reason
            ),
            done_message=done_message,
            needs_reason=True,
        )

    @admin.action(description=_("Freeze the selected blocks (with a reason)"))
    def freeze(self, request, queryset):
        return self._set_status(
            request,
            queryset,
            Block.Status.FROZEN,
            "freeze",
            _("Freeze blocks"),
            _("%(count)s blocks frozen."),
        )

    @admin.action(description=_("Unfreeze the selected blocks (with a reason)"))
    def unfreeze(self, request, queryset):
        return self._set_status(
            request,
            queryset,
            Block.Status.ACTIVE,
            "unfreeze",
            _("Unfreeze blocks"),
            _("%(count)s blocks unfrozen."),
        )

    @admin.action(description=_("Cancel the selected blocks' units (with a reason; final)"))
    def cancel(self, request, queryset):
        return run_service_action(
            self,
            request,
            queryset.select_related("stream__project", "mechanism", "account"),
            action="cancel",
            title=_("Cancel units"),
            service=lambda block, reason: block_cancel(
                actor=request.user,
                account=block.account,
                mechanism=block.mechanism,
                serial_range=_serial_text(block),
                reason=reason,
            ),
            done_message=_("The units of %(count)s blocks cancelled."),
            needs_reason=True,
        )


def _serial_text(block: Block) -> str:
    """The block's whole serial range as the text the services parse."""
    project = block.stream.project
    return block.serial_range().format(
        project.country, project.code, block.stream.unit_kind, block.vintage
    )


admin.site.unregister(UnitClaim)


@admin.register(UnitClaim)
class RevocableUnitClaimAdmin(AdministratorActionsMixin, UnitClaimAdmin):
    """The claim list of registry.admin with the revocation action (claim_revoke lives in
    tracking, which registry may not import): refused while any of the claim's units are
    retired."""

    actions = ("revoke", "revoke_cancelling_held_units")

    @admin.action(description=_("Revoke the selected issuances (with a reason)"))
    def revoke(self, request, queryset):
        return run_service_action(
            self,
            request,
            queryset,
            action="revoke",
            title=_("Revoke issuances"),
            service=lambda claim, reason: claim_revoke(
                actor=request.user, claim=claim, reason=reason
            ),
            done_message=_("%(count)s issuances revoked."),
            needs_reason=True,
        )

    @admin.action(
        description=_(
            "Revoke the selected issuances, cancelling units other organisations hold "
            "(with a reason)"
        )
    )
    def revoke_cancelling_held_units(self, request, queryset):
        return run_service_action(
            self,
            request,
            queryset,
            action="revoke_cancelling_held_units",
            title=_("Revoke issuances and cancel units held by others"),
            service=lambda claim, reason: claim_revoke(
                actor=request.user, claim=claim, reason=reason, cancel_held_units=True
            ),
            done_message=_("%(count)s issuances revoked."),
            needs_reason=True,
        )


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ("id", "mechanism", "source_account", "target_account", "quantity", "created_at")
    list_select_related = ("mechanism", "source_account", "target_account")


@admin.register(Retirement)
class RetirementAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "mechanism",
        "account",
        "quantity",
        "beneficiary_name",
        "purpose",
        "event",
        "created_at",
    )
    list_select_related = ("mechanism", "account", "event")
    readonly_fields = ("ledger_history",)

    @admin.display(description=_("ledger history"))
    def ledger_history(self, obj):
        return ledger_history_link(f"retirement:{obj.pk}")


@admin.register(RetirementAllocation)
class RetirementAllocationAdmin(ReadOnlyAdmin):
    list_display = ("id", "retirement", "quantity", "claimant", "reference", "created_at")
    list_select_related = ("retirement",)


@admin.register(Cancellation)
class CancellationAdmin(ReadOnlyAdmin):
    list_display = ("id", "mechanism", "account", "claim", "quantity", "created_at")
    list_select_related = ("mechanism", "account")


class NeutralityEventForm(forms.ModelForm):
    class Meta:
        model = NeutralityEvent
        fields = ("name", "organiser", "start_date", "end_date", "location", "projects")

    def clean_location(self):
        try:
            return validate_subdivision(self.cleaned_data["location"], field="location")
        except DomainError as error:
            raise forms.ValidationError(str(error.message)) from None


@admin.register(NeutralityEvent)
class NeutralityEventAdmin(admin.ModelAdmin):
    """Events are recorded through the service (R11 ledger record) and never changed here."""

    form = NeutralityEventForm
    list_display = ("id", "name", "organiser", "start_date", "end_date", "location")
    list_select_related = ("organiser",)
    filter_horizontal = ("projects",)
    fields = ("name", "organiser", "start_date", "end_date", "location", "projects")
    search_fields = ("name",)

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj is not None else ()

    def has_add_permission(self, request):
        return super().has_add_permission(request) and is_administrator(request.user)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = neutrality_event_create(
            actor=request.user,
            name=obj.name,
            organiser=obj.organiser,
            start_date=obj.start_date,
            end_date=obj.end_date,
            location=obj.location,
            projects=list(form.cleaned_data.get("projects") or ()),
        )
        obj.pk = created.pk

    def save_related(self, request, form, formsets, change):
        pass  # the service set the projects


class AdjustmentReferenceForm(forms.Form):
    reference = forms.CharField(
        label=_("Reference of the host country's authorisation or report"), max_length=2000
    )


@admin.register(CorrespondingAdjustment)
class CorrespondingAdjustmentAdmin(ReadOnlyAdmin):
    """Read-only; the status moves forward through the actions, which call the service."""

    list_display = (
        "id",
        "mechanism",
        "quantity",
        "host_country",
        "acquiring_country",
        "status",
        "transfer",
        "created_at",
        "completed_at",
    )
    list_filter = ("status", "mechanism", "host_country", "acquiring_country")
    list_select_related = ("mechanism", "transfer")
    actions = ("mark_pending", "mark_completed")

    def get_actions(self, request):
        return super().get_actions(request) if is_administrator(request.user) else {}

    def _advance(self, request, queryset, status: str):
        form = AdjustmentReferenceForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            for adjustment in queryset.order_by("pk"):
                try:
                    corresponding_adjustment_set_status(
                        actor=request.user,
                        adjustment=adjustment,
                        status=status,
                        reference=form.cleaned_data["reference"],
                    )
                except DomainError as error:
                    self.message_user(request, str(error.message), level=messages.ERROR)
                else:
                    self.message_user(
                        request,
                        _("Adjustment %(adjustment)s is now %(status)s.")
                        % {
                            "adjustment": adjustment.pk,
                            "status": CorrespondingAdjustment.Status(status).label,
                        },
                    )
            return None
        return TemplateResponse(
            request,
            "admin/tracking/adjustment_status.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Change corresponding adjustments"),
                "form": form,
                "adjustments": list(queryset.order_by("pk")),
                "action": f"mark_{status}",
                "status_label": CorrespondingAdjustment.Status(status).label,
            },
        )

    @admin.action(description=_("Mark as pending (host country started the adjustment)"))
    def mark_pending(self, request, queryset):
        return self._advance(request, queryset, CorrespondingAdjustment.Status.PENDING)

    @admin.action(description=_("Mark as completed (host country applied the adjustment)"))
    def mark_completed(self, request, queryset):
        return self._advance(request, queryset, CorrespondingAdjustment.Status.COMPLETED)


# Emission accounting registers its own admin classes.
from tracking.accounting import admin as accounting_admin  # noqa: E402,F401
