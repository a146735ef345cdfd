"""Admin for the core models; the ledger and checkpoints are read-only.

Also the pieces every app's admin shares: actions that call a service once per selected object
(asking for a reason first when the service needs one), a paginator that never counts a huge
table, and the link from an object's page to its ledger history.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from registry import ledger
from registry.admin_queues import ApprovalQueue, register_approval_queue
from registry.errors import DomainError
from registry.imports import (
    AdministratorExportMixin,
    AdministratorImportExportMixin,
    GridRegionResource,
    LedgerEventResource,
    MechanismResource,
    ProjectResource,
    UnitClaimResource,
    identifier_cells,
    meter_cells,
    parse_identifier_cell,
    parse_meter_cell,
    split_list,
)
from registry.models import (
    Checkpoint,
    Declaration,
    GridRegion,
    LedgerEvent,
    Mechanism,
    ProductionRecord,
    Project,
    Stream,
    UnitClaim,
)
from registry.permissions import is_administrator
from registry.services import (
    grid_region_create,
    grid_region_update,
    grid_region_validate,
    mechanism_create,
    project_register,
    project_set_status,
    project_transfer_ownership,
)

# Up to this many rows (by the planner's estimate) a list is small enough to count exactly.
EXACT_COUNT_LIMIT = 10_000


class EstimatedCountPaginator(Paginator):
    """Counts a list exactly only when the planner expects it to be small; a huge list gets the
    planner's row estimate instead, so a page load never scans millions of rows to count them."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        estimate = int(plan[0]["Plan"]["Plan Rows"])
        if estimate <= EXACT_COUNT_LIMIT:
            return queryset.count()
        return estimate


class HugeListAdmin(admin.ModelAdmin):
    """Lists that may hold millions of rows: no exact COUNT(*) over the table on a page load."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Newest first, by the primary key's index (a sort on any other column of a huge table
    # would read it all).
    ordering = ("-pk",)


def ledger_history_url(subject: str) -> str:
    """The ledger list filtered to the events that name ``subject`` (e.g. ``claim:12``)."""
    return reverse("admin:registry_ledgerevent_changelist") + "?" + urlencode({"subject": subject})


def ledger_history_link(subject: str):
    return format_html('<a href="{}">{}</a>', ledger_history_url(subject), _("Ledger history"))


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason (written to the ledger)"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


def run_service_action(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: Any,
    service: Callable[[Model, str], Any],
    done_message: Any,
    needs_reason: bool,
    form_class: type[forms.Form] | None = None,
):
    """Call ``service(object, reason)`` for each selected object, each in its own transaction.

    With ``needs_reason`` the administrator first gives a reason on an intermediate page (the
    ``form_class`` form, with a ``reason`` field, when more than a reason is asked). Every
    refusal (a DomainError) is shown with the service's message and changes nothing for that
    object; the others go ahead.
    """
    selected = list(queryset.order_by("pk"))
    reason = ""
    if needs_reason:
        form = (form_class or ReasonForm)(request.POST if "apply" in request.POST else None)
        if not (form.is_bound and form.is_valid()):
            context = {
                **model_admin.admin_site.each_context(request),
                "title": title,
                "form": form,
                "objects": selected,
                "action": action,
                "opts": model_admin.model._meta,
            }
            return TemplateResponse(request, "admin/registry/action_reason.html", context)
        reason = form.cleaned_data["reason"]
    done = 0
    for item in selected:
        try:
            service(item, reason)
        except DomainError as error:
            model_admin.message_user(
                request,
                # Only punctuation joins the two: the refusal's message is translated already.
                f"{item}: {error.message}",
                messages.ERROR,
            )
        else:
            done += 1
    if done:
        model_admin.message_user(request, done_message % {"count": done}, messages.SUCCESS)
    return None


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only services write: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


class ServiceAddAdmin(ReadOnlyAdmin):
    """Rows only services write, with an add form (a ``ServiceCreateForm``) for administrators:
    the form's validation runs the service, and saving keeps the row it wrote."""

    def has_add_permission(self, request, obj=None):
        return is_administrator(request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.actor = request.user
        return form

    def save_model(self, request, obj, form, change):
        obj.pk = form.created.pk  # the service wrote the row, with its ledger event

    def save_related(self, request, form, formsets, change):
        pass


class AdministratorActionsMixin:
    """Service actions are offered to registry administrators only (the services refuse anyone
    else anyway; hiding them keeps the page honest)."""

    def get_actions(self, request):
        return super().get_actions(request) if is_administrator(request.user) else {}


@admin.register(Mechanism)
class MechanismAdmin(AdministratorImportExportMixin, admin.ModelAdmin):
    """Mechanisms are added through ``mechanism_create`` (form or import, with a ledger event);
    an existing mechanism's form still edits it directly."""

    resource_classes = [MechanismResource]
    list_display = (
        "code",
        "name",
        "unit_kind",
        "kind",
        "validity_months",
        "max_transfers",
        "requires_declaration",
    )
    filter_horizontal = ("issuing_bodies",)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = mechanism_create(
            actor=request.user,
            code=obj.code,
            name=obj.name,
            name_zh=obj.name_zh,
            unit_kind=obj.unit_kind,
            kind=obj.kind,
            validity_months=obj.validity_months,
            max_transfers=obj.max_transfers,
            requires_declaration=obj.requires_declaration,
            accepts_derived_units=obj.accepts_derived_units,
            issuing_body_name=obj.issuing_body_name,
            issuing_body_codes=[body.code for body in form.cleaned_data["issuing_bodies"]],
            notes=obj.notes,
        )
        obj.pk = created.pk

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)
        # On creation the service set the issuing bodies.


class GridRegionForm(forms.ModelForm):
    """A grid region with its provinces as one list of ISO 3166-2 codes; checked by the same
    validation as the services (grid_region_validate) so a refusal is a form error."""

    provinces = forms.CharField(
        label=_("provinces (ISO 3166-2)"),
        help_text=_("E.g. CN-BJ, CN-TJ, CN-HE. A province belongs to at most one grid region."),
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )

    class Meta:
        model = GridRegion
        fields = ("code", "name", "name_zh")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["provinces"].initial = ", ".join(self.instance.province_codes())

    def clean(self):
        cleaned = super().clean()
        try:
            _name, cleaned["province_codes"] = grid_region_validate(
                name=cleaned.get("name") or "",
                provinces=split_list(cleaned.get("provinces")),
                grid_region=self.instance if self.instance.pk else None,
            )
        except DomainError as error:
            self.add_error(error.field if error.field in self.fields else None, error.message)
        return cleaned


@admin.register(GridRegion)
class GridRegionAdmin(AdministratorImportExportMixin, admin.ModelAdmin):
    """Grid regions and their provinces, created and changed through the services (each with a
    ledger event); imported and exported as CSV or XLSX."""

    form = GridRegionForm
    resource_classes = [GridRegionResource]
    list_display = ("code", "name", "name_zh", "province_list")
    search_fields = ("code", "name", "name_zh")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("provinces")

    def get_readonly_fields(self, request, obj=None):
        return ("code",) if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("provinces"))
    def province_list(self, obj):
        return ", ".join(sorted(item.province for item in obj.provinces.all()))

    def save_model(self, request, obj, form, change):
        codes = form.cleaned_data["province_codes"]
        if change:
            grid_region_update(
                actor=request.user,
                grid_region=obj,
                name=obj.name,
                name_zh=obj.name_zh,
                provinces=codes,
            )
            return
        created = grid_region_create(
            actor=request.user, code=obj.code, name=obj.name, name_zh=obj.name_zh, provinces=codes
        )
        obj.pk = created.pk


PROJECT_ADD_FIELDS = (
    "owner",
    "name",
    "province",
    "technology",
    "capacity_mw",
    "commissioning_date",
    "national_code",
    "latitude",
    "longitude",
    "grid_region",
    "subsidised",
    "inside_ets_boundary",
    "under_energy_use_rights",
    "time_zone",
)


class ProjectRegisterForm(ServiceCreateForm):
    meters = forms.CharField(
        label=_("meters"),
        required=False,
        help_text=_("METER@from or METER@from/to (to exclusive), separated by commas."),
    )
    identifiers = forms.CharField(
        label=_("identifiers in other registries"),
        required=False,
        help_text=_("REGISTRY:identifier, separated by commas, e.g. GEC:GEC-NM-0001."),
    )

    class Meta:
        model = Project
        fields = PROJECT_ADD_FIELDS

    def create(self, actor):
        fields = {name: self.cleaned_data.get(name) for name in PROJECT_ADD_FIELDS}
        fields["grid_region"] = fields["grid_region"] or ""
        fields["national_code"] = fields["national_code"] or ""
        return project_register(
            actor=actor,
            meters=parse_meter_cell(self.cleaned_data.get("meters")),
            identifiers=parse_identifier_cell(self.cleaned_data.get("identifiers")),
            **fields,
        )


class TransferOwnershipForm(ReasonForm):
    owner = forms.ModelChoiceField(
        label=_("new owner"),
        queryset=Project._meta.get_field("owner").related_model.objects.order_by("code"),
        to_field_name="code",
    )


@admin.register(Project)
class ProjectAdmin(AdministratorImportExportMixin, AdministratorActionsMixin, ServiceAddAdmin):
    """Projects are registered through the API, an import or the add form (project_register,
    approved at once when an administrator registers); here administrators approve or reject
    pending registrations (project_set_status), with a reason for a rejection."""

    form = ProjectRegisterForm
    resource_classes = [ProjectResource]
    # Status and the possible-duplicate note next to the name: the approval queue's decision
    # must be visible without scrolling the table sideways.
    list_display = (
        "code",
        "name",
        "status",
        "possible_duplicate_note",
        "owner",
        "province",
        "technology",
        "capacity_mw",
        "national_code",
    )
    list_filter = ("status", "technology", "province")
    list_select_related = ("owner",)
    search_fields = ("code", "name", "national_code")
    actions = ("approve", "reject", "transfer_ownership")

    def get_fields(self, request, obj=None):
        if obj is None:
            return (*PROJECT_ADD_FIELDS, "meters", "identifiers")
        return [field.name for field in Project._meta.fields if field.name != "id"] + [
            "meter_list",
            "identifier_list",
            "ledger_history",
        ]

    @admin.display(description=_("possible duplicate of"))
    def possible_duplicate_note(self, obj):
        if not obj.possible_duplicates:
            return ""
        return _("possible duplicate of %(candidates)s") % {
            "candidates": ", ".join(
                f"{candidate.get('project')} {candidate.get('name', '')}".strip()
                for candidate in obj.possible_duplicates
            )
        }

    @admin.display(description=_("meters"))
    def meter_list(self, obj):
        return ", ".join(meter_cells(obj))

    @admin.display(description=_("identifiers in other registries"))
    def identifier_list(self, obj):
        return ", ".join(identifier_cells(obj))

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    @admin.display(description=_("ledger history"))
    def ledger_history(self, obj):
        return ledger_history_link(f"project:{obj.pk}")

    @admin.action(description=_("Approve the selected pending projects"))
    def approve(self, request, queryset):
        # A possible duplicate is approved only with a reason ("distinct asset: ..."): ask for
        # one when any selected project has candidates.
        return run_service_action(
            self,
            request,
            queryset,
            action="approve",
            title=_("Approve projects (possible duplicates: why is each a distinct asset?)"),
            service=lambda project, reason: project_set_status(
                actor=request.user, project=project, status=Project.Status.APPROVED, reason=reason
            ),
            done_message=_("%(count)s projects approved."),
            needs_reason=queryset.exclude(possible_duplicates=[]).exists(),
        )

    @admin.action(description=_("Transfer the ownership of the selected projects (with a reason)"))
    def transfer_ownership(self, request, queryset):
        form = TransferOwnershipForm(request.POST if "apply" in request.POST else None)
        new_owner = form.cleaned_data["owner"] if form.is_bound and form.is_valid() else None
        return run_service_action(
            self,
            request,
            queryset,
            action="transfer_ownership",
            title=_("Transfer project ownership"),
            service=lambda project, reason: project_transfer_ownership(
                actor=request.user, project=project, new_owner=new_owner, reason=reason
            ),
            done_message=_("%(count)s projects given to their new owner."),
            needs_reason=True,
            form_class=TransferOwnershipForm,
        )

    @admin.action(description=_("Reject the selected pending projects (with a reason)"))
    def reject(self, request, queryset):
        return run_service_action(
            self,
            request,
            queryset,
            action="reject",
            title=_("Reject projects"),
            service=lambda project, reason: project_set_status(
                actor=request.user, project=project, status=Project.Status.REJECTED, reason=reason
            ),
            done_message=_("%(count)s projects rejected."),
            needs_reason=True,
        )


register_approval_queue(ApprovalQueue(Project))


@admin.register(Stream)
class StreamAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "unit_kind", "next_sequence", "carried_remainder")
    list_select_related = ("project",)


class ProductionCorrectionInline(admin.TabularInline):
    """The corrections of a record (compensating entries, made through the API's service),
    read only."""

    model = ProductionRecord
    fk_name = "corrects"
    verbose_name = _("correction")
    verbose_name_plural = _("corrections")
    fields = ("id", "quantity", "units", "serials", "withdrawn", "reason", "evidence", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ProductionRecord)
class ProductionRecordAdmin(HugeListAdmin, ReadOnlyAdmin):
    list_display = (
        "id",
        "stream",
        "vintage",
        "quantity",
        "units",
        "serials",
        "source",
        "corrects",
        "withdrawn",
    )
    list_select_related = ("stream__project",)
    list_filter = ("source",)
    inlines = [ProductionCorrectionInline]


@admin.register(UnitClaim)
class UnitClaimAdmin(AdministratorExportMixin, HugeListAdmin, ReadOnlyAdmin):
    resource_classes = [UnitClaimResource]
    list_display = (
        "id",
        "mechanism",
        "stream",
        "serials",
        "quantity",
        "role",
        "status",
        "account",
        "issued_at",
    )
    list_filter = ("mechanism", "status", "role")
    list_select_related = ("mechanism", "stream__project", "account")
    readonly_fields = ("ledger_history",)

    @admin.display(description=_("ledger history"))
    def ledger_history(self, obj):
        return ledger_history_link(f"claim:{obj.pk}")


@admin.register(Declaration)
class DeclarationAdmin(ReadOnlyAdmin):
    list_display = ("id", "project", "stream", "signer", "signed_at", "revoked_at")
    list_select_related = ("project", "stream__project", "signer")


class SubjectFilter(admin.SimpleListFilter):
    """Events that name one subject (``claim:12``, ``account:3``...): the object's ledger
    history. Served by the GIN index on subjects."""

    title = _("subject")
    parameter_name = "subject"

    def lookups(self, request, model_admin):
        # Only shown while a subject is chosen (from an object's "ledger history" link).
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(subjects__contains=[self.value()])
        return queryset


@admin.register(LedgerEvent)
class LedgerEventAdmin(AdministratorExportMixin, HugeListAdmin, ReadOnlyAdmin):
    """The ledger, read-only, newest first; filters that stay cheap on millions of events (no
    filter lists distinct values of the ledger itself). A search term is a subject
    (``claim:12``), matched exactly through the GIN index. Exported (CSV, XLSX) as filtered,
    never imported."""

    resource_classes = [LedgerEventResource]
    list_display = ("id", "kind", "actor", "actor_organisation", "occurred_at", "subjects_text")
    list_filter = (
        SubjectFilter,
        "kind",
        ("actor__organisation", admin.RelatedFieldListFilter),
        ("occurred_at", admin.DateFieldListFilter),
    )
    list_select_related = ("actor__organisation",)
    search_fields = ("subjects",)
    search_help_text = _("A subject, e.g. claim:12, account:3, project:5 or retirement:7.")

    @admin.display(description=_("organisation"))
    def actor_organisation(self, obj):
        return obj.actor.organisation if obj.actor else None

    @admin.display(description=_("subjects"))
    def subjects_text(self, obj):
        return ", ".join(obj.subjects)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(subjects__contains=[term]), False


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    """Checkpoints are read-only; administrators seal the ledger with the button on the list."""

    list_display = ("sequence", "event_count", "merkle_root", "checkpoint_hash", "sealed_at")
    change_list_template = "admin/registry/checkpoint/change_list.html"

    def get_urls(self):
        seal = path(
            "seal/", self.admin_site.admin_view(self.seal_view), name="registry_checkpoint_seal"
        )
        return [seal, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_seal": is_administrator(request.user)}
        return super().changelist_view(request, extra_context)

    def seal_view(self, request):
        """POST: seal every committed event since the last checkpoint (registry.ledger.seal)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not is_administrator(request.user):
            self.message_user(
                request, _("Only a registry administrator may seal the ledger."), messages.ERROR
            )
        else:
            checkpoint = ledger.seal(actor=request.user)
            if checkpoint is None:
                self.message_user(
                    request,
                    _("Nothing to seal: no new events, or another seal is running."),
                    messages.WARNING,
                )
            else:
                self.message_user(
                    request,
                    _("Checkpoint %(sequence)s sealed %(count)s events.")
                    % {"sequence": checkpoint.sequence, "count": checkpoint.event_count},
                    messages.SUCCESS,
                )
        return redirect(reverse("admin:registry_checkpoint_changelist"))
