"""Admin for organisations, users and holding accounts.

Creation goes through the services (so it is numbered and written to the ledger); account status
changes only through the services, so the status field is read-only here.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from accounts.imports import OrganisationResource
from accounts.models import HoldingAccount, Organisation, User
from accounts.selectors import balances_of
from accounts.services import holding_account_open, holding_account_set_status, organisation_create
from registry.admin import AdministratorActionsMixin, ledger_history_link, run_service_action
from registry.imports import AdministratorImportExportMixin


@admin.register(Organisation)
class OrganisationAdmin(AdministratorImportExportMixin, admin.ModelAdmin):
    """Organisations are created through ``organisation_create`` (form or import)."""

    resource_classes = [OrganisationResource]
    list_display = ("code", "name", "kind", "country")
    list_filter = ("kind",)
    search_fields = ("code", "name")

    def get_readonly_fields(self, request, obj=None):
        return ("code", "kind") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = organisation_create(
            actor=request.user, code=obj.code, name=obj.name, kind=obj.kind, country=obj.country
        )
        obj.pk = created.pk


@admin.register(User)
class RegistryUserAdmin(UserAdmin):
    list_display = ("username", "organisation", "role", "is_staff", "is_active")
    list_filter = ("role", "is_staff")
    list_select_related = ("organisation",)
    fieldsets = (*UserAdmin.fieldsets, (_("Registry"), {"fields": ("organisation", "role")}))


@admin.register(HoldingAccount)
class HoldingAccountAdmin(AdministratorActionsMixin, admin.ModelAdmin):
    """Accounts are opened through the service; administrators freeze and unfreeze them with a
    reason (holding_account_set_status), which the ledger records with the acting user."""

    list_display = ("number", "name", "organisation", "status")
    list_filter = ("status",)
    list_select_related = ("organisation",)
    search_fields = ("number", "name")
    fields = ("number", "organisation", "name", "status", "balances", "ledger_history")
    actions = ("freeze", "unfreeze")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("number", "organisation", "status", "balances", "ledger_history")
        return ("number", "status", "balances", "ledger_history")

    @admin.display(description=_("balances"))
    def balances(self, obj):
        """Units held per mechanism and block status, from one grouped query."""
        rows = balances_of([obj]).get(obj.pk, []) if obj.pk else []
        if not rows:
            return "-"
        statuses = [
            ("active", _("active")),
            ("frozen", _("frozen")),
            ("retired", _("retired")),
            ("cancelled", _("cancelled")),
            ("expired", _("expired")),
            ("exported", _("exported")),
        ]
        header = format_html_join("", "<th>{}</th>", ((label,) for _status, label in statuses))
        body = format_html_join(
            "",
            '<tr class="balance" data-mechanism="{}"><th>{}</th>{}</tr>',
            (
                (
                    row["mechanism"],
                    row["mechanism"],
                    format_html_join(
                        "",
                        '<td class="balance-{}">{}</td>',
                        ((status, row[status]) for status, _label in statuses),
                    ),
                )
                for row in rows
            ),
        )
        return format_html(
            '<table class="balances"><tr><th>{}</th>{}</tr>{}</table>',
            _("mechanism"),
            header,
            body,
        )

    @admin.display(description=_("ledger history"))
    def ledger_history(self, obj):
        return ledger_history_link(f"account:{obj.pk}") if obj.pk else "-"

    def _set_status(self, request, queryset, status: str, action: str, title, done_message):
        return run_service_action(
            self,
            request,
            queryset,
            action=action,
            title=title,
            service=lambda account, reason: holding_account_set_status(
                actor=request.user, account=account, status=status, reason=reason
            ),
            done_message=done_message,
            needs_reason=True,
        )

    @admin.action(description=_("Freeze the selected accounts (with a reason)"))
    def freeze(self, request, queryset):
        return self._set_status(
            request,
            queryset,
            HoldingAccount.Status.FROZEN,
            "freeze",
            _("Freeze accounts"),
            _("%(count)s accounts frozen."),
        )

    @admin.action(description=_("Unfreeze the selected accounts (with a reason)"))
    def unfreeze(self, request, queryset):
        return self._set_status(
            request,
            queryset,
            HoldingAccount.Status.ACTIVE,
            "unfreeze",
            _("Unfreeze accounts"),
            _("%(count)s accounts unfrozen."),
        )

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        opened = holding_account_open(
            actor=request.user, organisation=obj.organisation, name=obj.name
        )
        obj.pk, obj.number = opened.pk, opened.number
