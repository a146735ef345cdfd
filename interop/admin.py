"""Admin for imports from other registries: batches with their row results, external records
(unlinked ones first to look at) and match suggestions, confirmed or rejected through the
services. Everything else is read-only: rows are written by the import task only."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from interop import services
from interop.models import ExternalRecord, ImportBatch, ImportRow, MatchSuggestion
from registry.admin import ReadOnlyAdmin
from registry.admin_queues import ApprovalQueue, register_approval_queue
from registry.errors import DomainError


class ImportRowInline(admin.TabularInline):
    model = ImportRow
    fields = ("row_number", "outcome", "errors", "external_record", "flags")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    max_num = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ImportUploadForm(forms.Form):
    layout = forms.ChoiceField(label=_("layout"), choices=ImportBatch.Layout.choices)
    format = forms.ChoiceField(label=_("format"), choices=ImportBatch.Format.choices)
    file = forms.FileField(label=_("file"))


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "layout",
        "format",
        "filename",
        "status",
        "processed",
        "total",
        "imported_count",
        "flagged_count",
        "duplicate_count",
        "invalid_count",
        "created_at",
    )
    list_filter = ("status", "layout")
    exclude = ("content",)
    inlines = [ImportRowInline]

    def get_urls(self):
        upload = path(
            "upload/",
            self.admin_site.admin_view(self.upload_view),
            name="interop_importbatch_upload",
        )
        return [upload, *super().get_urls()]

    def upload_view(self, request):
        """A file from the administrator's disk becomes a queued batch (import_batch_create)."""
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                batch = services.import_batch_create(
                    actor=request.user,
                    layout=form.cleaned_data["layout"],
                    file_format=form.cleaned_data["format"],
                    content=upload.read(),
                    filename=upload.name,
                )
            except DomainError as error:
                form.add_error("file", str(error.message))
            else:
                self.message_user(
                    request, _("Import %(batch)s queued.") % {"batch": batch.pk}, messages.SUCCESS
                )
                return redirect(reverse("admin:interop_importbatch_change", args=[batch.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import records of another registry"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/interop/importbatch/upload.html", context)


class SuggestionInline(admin.TabularInline):
    model = MatchSuggestion
    fields = ("project", "score", "breakdown", "status", "decided_by", "decided_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class LinkedFilter(admin.SimpleListFilter):
    title = _("linked to a project")
    parameter_name = "linked"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(project__isnull=False)
        if self.value() == "no":
            return queryset.filter(project__isnull=True)
        return queryset


@admin.register(ExternalRecord)
class ExternalRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "source",
        "external_id",
        "kind",
        "mechanism_code",
        "unit_kind",
        "project_name",
        "period",
        "quantity",
        "project",
        "link_method",
    )
    list_filter = (LinkedFilter, "source", "kind", "mechanism_code", "unit_kind", "link_method")
    list_select_related = ("project",)
    search_fields = ("external_id", "external_project_id", "project_name")
    inlines = [SuggestionInline]


@admin.register(MatchSuggestion)
class MatchSuggestionAdmin(ReadOnlyAdmin):
    list_display = ("id", "record", "project", "score", "status", "decided_by", "decided_at")
    list_filter = ("status",)
    list_select_related = ("record", "project", "decided_by")
    actions = ["confirm", "reject"]

    def has_change_permission(self, request, obj=None):
        # Actions need it; the change form stays read-only (every field is read-only).
        return request.user.is_active and request.user.is_staff

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def _decide(self, request, queryset, service, done_message):
        done = 0
        for suggestion in queryset.select_related("record", "project").order_by("pk"):
            try:
                service(actor=request.user, record=suggestion.record, project=suggestion.project)
            except DomainError as error:
                self.message_user(request, str(error.message), messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, done_message % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Confirm: link the record to this project"))
    def confirm(self, request, queryset):
        self._decide(
            request,
            queryset,
            services.external_record_confirm_match,
            _("%(count)s records linked."),
        )

    @admin.action(description=_("Reject: this project is not the record's"))
    def reject(self, request, queryset):
        self._decide(
            request,
            queryset,
            services.external_record_reject_match,
            _("%(count)s suggestions rejected."),
        )


register_approval_queue(ApprovalQueue(MatchSuggestion, pending_value=MatchSuggestion.Status.OPEN))
