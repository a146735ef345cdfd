"""Admin of issuance: mechanism registrations (read-only: written by the service) and the rule
catalogue page, which lists every rule with whether it is enabled here."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from issuance import rules
from registry.admin import LedgerEventAdmin
from registry.models import LedgerEvent, MechanismRegistration


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
