"""Admin of uniqueness reports: the list with each report's verdict and progress, a read-only
page per report with its checks and downloads, and a form that starts a report through
``uniqueness_report_request``. Reports, checks and findings are written by the runner only:
nothing here adds, changes or deletes them."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from audit.api.serializers import DOWNLOAD_FORMATS
from audit.checks import CHECKS_BY_ID
from audit.models import ReportCheck, ReportFinding, UniquenessReport
from audit.scope import SCOPE_KEYS
from audit.services import uniqueness_report_request
from registry import access
from registry.admin import ReadOnlyAdmin
from registry.errors import DomainError
from registry.models import Mechanism

# Seconds between reloads of a page that shows a report still queued or running.
REFRESH_SECONDS = 5

STATUS_COLOURS = {
    UniquenessReport.Status.QUEUED: "#6c757d",
    UniquenessReport.Status.RUNNING: "#1f6fb2",
    UniquenessReport.Status.PASSED: "#1e7e34",
    UniquenessReport.Status.FAILED: "#c82333",
    UniquenessReport.Status.ERROR: "#8a6d00",
}
VERDICT_COLOURS = {
    ReportCheck.Verdict.PASS: "#1e7e34",
    ReportCheck.Verdict.FAIL: "#c82333",
    ReportCheck.Verdict.INFO: "#6c757d",
}


def _badge(colour: str, text) -> str:
    return format_html(
        '<span style="background:{};color:#fff;padding:1px 6px;border-radius:3px;'
        'white-space:nowrap">{}</span>',
        colour,
        text,
    )


def scope_text(scope: dict) -> str:
    """``mechanism=GEC, vintage_from=202501`` or "whole registry"."""
    if not scope:
        return str(_("whole registry"))
    return ", ".join(f"{key}={scope[key]}" for key in SCOPE_KEYS if key in scope)


class ReportCheckInline(admin.TabularInline):
    model = ReportCheck
    fields = (
        "position",
        "check_id",
        "title",
        "verdict_badge",
        "examined",
        "offending",
        "counts",
        "completed_at",
    )
    readonly_fields = fields
    ordering = ("position",)
    extra = 0
    max_num = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("check"))
    def title(self, report_check: ReportCheck) -> str:
        check = CHECKS_BY_ID.get(report_check.check_id)
        return str(check.title) if check else report_check.check_id

    @admin.display(description=_("verdict"))
    def verdict_badge(self, report_check: ReportCheck) -> str:
        return _badge(
            VERDICT_COLOURS.get(report_check.verdict, "#6c757d"),
            report_check.get_verdict_display(),
        )


class ReportRequestForm(forms.Form):
    """The scope of a new report; every field optional, none: the whole registry. Checked by
    ``ReportScope`` when the report is requested (its errors land on the field they name)."""

    mechanism = forms.ChoiceField(label=_("mechanism"), required=False)
    project = forms.CharField(label=_("project code"), required=False, max_length=64)
    province = forms.CharField(
        label=_("province (ISO 3166-2)"), required=False, max_length=64, help_text="CN-HE"
    )
    organisation = forms.CharField(
        label=_("organisation code (owner of the projects)"), required=False, max_length=64
    )
    vintage_from = forms.IntegerField(
        label=_("first vintage (YYYYMM)"), required=False, help_text="202501"
    )
    vintage_to = forms.IntegerField(
        label=_("last vintage (YYYYMM)"), required=False, help_text="202512"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        codes = Mechanism.objects.order_by("code").values_list("code", flat=True)
        self.fields["mechanism"].choices = [("", _("every mechanism"))] + [
            (code, code) for code in codes
        ]

    def scope(self) -> dict:
        return {
            key: value
            for key, value in self.cleaned_data.items()
            if key in SCOPE_KEYS and value not in (None, "")
        }


@admin.register(UniquenessReport)
class UniquenessReportAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "status_badge",
        "progress",
        "scope_summary",
        "requested_by",
        "requested_at",
        "finished_at",
        "checkpoint_sequence",
    )
    list_display_links = ("id", "status_badge")
    list_filter = ("status",)
    list_select_related = ("requested_by",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "status_badge",
                    "progress",
                    "scope_summary",
                    "requested_by",
                    "requested_at",
                    "started_at",
                    "finished_at",
                    "attempts",
                    "error",
                )
            },
        ),
        (
            _("Evidence"),
            {
                "fields": (
                    "public_id",
                    "content_sha256",
                    "checkpoint_sequence",
                    "checkpoint_hash",
                    "checkpoint_root",
                    "last_event_id",
                    "downloads",
                )
            },
        ),
        (_("Worker"), {"fields": ("task_id", "heartbeat_at"), "classes": ("collapse",)}),
    )
    # Everything the page shows is read-only: reports change only through the runner.
    readonly_fields = tuple(field for _title, options in fieldsets for field in options["fields"])
    inlines = [ReportCheckInline]
    actions = ["request_again"]

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, report: UniquenessReport) -> str:
        return _badge(STATUS_COLOURS.get(report.status, "#6c757d"), report.get_status_display())

    @admin.display(description=_("progress"))
    def progress(self, report: UniquenessReport) -> str:
        text = f"{report.work_done}/{report.work_total}"
        return f"{text} — {report.phase}" if report.phase else text

    @admin.display(description=_("scope"))
    def scope_summary(self, report: UniquenessReport) -> str:
        return scope_text(report.scope)

    @admin.display(description=_("downloads"))
    def downloads(self, report: UniquenessReport) -> str:
        if report.status not in (UniquenessReport.Status.PASSED, UniquenessReport.Status.FAILED):
            return str(_("once the report has finished"))
        base = reverse("uniqueness-report-detail", args=[report.pk])
        return format_html_join(
            " · ",
            '<a href="{}">{}</a>',
            ((f"{base}report.{name}", name.upper()) for name in DOWNLOAD_FORMATS),
        )

    def get_urls(self):
        start = path(
            "request/",
            self.admin_site.admin_view(self.request_view),
            name="audit_uniquenessreport_request",
        )
        return [start, *super().get_urls()]

    def _may_request(self, request) -> bool:
        return access.allowed("uniqueness_report.request", request.user)

    def changelist_view(self, request, extra_context=None):
        unfinished = UniquenessReport.objects.exclude(status__in=UniquenessReport.FINISHED)
        context = {
            "can_request_report": self._may_request(request),
            "refresh_seconds": REFRESH_SECONDS if unfinished.exists() else None,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        report = self.get_object(request, object_id)
        running = report is not None and not report.is_finished
        context = {"refresh_seconds": REFRESH_SECONDS if running else None, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def request_view(self, request):
        """A small form for the scope; the report is requested as the logged-in user."""
        if not self._may_request(request):
            raise PermissionDenied
        form = ReportRequestForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                report = uniqueness_report_request(actor=request.user, scope=form.scope())
            except DomainError as error:
                field = error.field if error.field in form.fields else None
                form.add_error(field, str(error.message))
            else:
                self.message_user(
                    request,
                    _("Uniqueness report %(id)s queued.") % {"id": report.pk},
                    messages.SUCCESS,
                )
                return redirect(reverse("admin:audit_uniquenessreport_change", args=[report.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Start a uniqueness report"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/audit/uniquenessreport/request.html", context)

    @admin.action(description=_("Request a new report with the same scope"))
    def request_again(self, request, queryset):
        if not self._may_request(request):
            raise PermissionDenied
        for report in queryset.order_by("pk"):
            try:
                new = uniqueness_report_request(actor=request.user, scope=report.scope)
            except DomainError as error:
                self.message_user(request, str(error.message), messages.ERROR)
                return
            self.message_user(
                request,
                _("Uniqueness report %(id)s queued.") % {"id": new.pk},
                messages.SUCCESS,
            )


@admin.register(ReportCheck)
class ReportCheckAdmin(ReadOnlyAdmin):
    list_display = (
        "report",
        "position",
        "check_id",
        "verdict",
        "examined",
        "offending",
        "completed_at",
    )
    list_filter = ("verdict", "check_id")
    list_select_related = ("report",)


@admin.register(ReportFinding)
class ReportFindingAdmin(ReadOnlyAdmin):
    list_display = ("report", "check_id", "ordinal", "record")
    list_filter = ("check_id",)
    list_select_related = ("report",)
    # A report may hold millions of findings: no count of the whole table on every page.
    show_full_result_count = False
