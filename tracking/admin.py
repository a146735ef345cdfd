"""Admin for blocks and their movements: read-only, every change goes through the services."""

from django.contrib import admin

from registry.admin import ReadOnlyAdmin
from tracking.models import Block, Cancellation, Retirement, Transfer


@admin.register(Block)
class BlockAdmin(ReadOnlyAdmin):
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
    show_full_result_count = False


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
        "created_at",
    )
    list_select_related = ("mechanism", "account")


@admin.register(Cancellation)
class CancellationAdmin(ReadOnlyAdmin):
    list_display = ("id", "mechanism", "account", "claim", "quantity", "created_at")
    list_select_related = ("mechanism", "account")
