"""Admin of issuance: mechanism registrations (read-only: written by the service) and the rule
catalogue page, which lists every rule with whether it is enabled here."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from issuance import rules
from registry.models import MechanismRegistration


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
