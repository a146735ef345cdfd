"""Admin for organisations, users and holding accounts (status changes go through services)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import HoldingAccount, Organisation, User


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "country")
    list_filter = ("kind",)
    search_fields = ("code", "name")


@admin.register(User)
class RegistryUserAdmin(UserAdmin):
    list_display = ("username", "organisation", "role", "is_staff", "is_active")
    list_filter = ("role", "is_staff")
    list_select_related = ("organisation",)
    fieldsets = UserAdmin.fieldsets + (("Registry", {"fields": ("organisation", "role")}),)


@admin.register(HoldingAccount)
class HoldingAccountAdmin(admin.ModelAdmin):
    list_display = ("number", "name", "organisation", "status")
    list_filter = ("status",)
    list_select_related = ("organisation",)
    readonly_fields = ("number", "status")
    search_fields = ("number", "name")
