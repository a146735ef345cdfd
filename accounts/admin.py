"""Admin for organisations, users and holding accounts.

Creation goes through the services (so it is numbered and written to the ledger); account status
changes only through the services, so the status field is read-only here.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import HoldingAccount, Organisation, User
from accounts.services import holding_account_open, organisation_create


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
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
class HoldingAccountAdmin(admin.ModelAdmin):
    list_display = ("number", "name", "organisation", "status")
    list_filter = ("status",)
    list_select_related = ("organisation",)
    search_fields = ("number", "name")
    fields = ("number", "organisation", "name", "status")

    def get_readonly_fields(self, request, obj=None):
        return ("number", "organisation", "status") if obj is not None else ("number", "status")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        opened = holding_account_open(
            actor=request.user, organisation=obj.organisation, name=obj.name
        )
        obj.pk, obj.number = opened.pk, opened.number
