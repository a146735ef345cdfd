"""Admin for the core models; the ledger and checkpoints are read-only."""

from django.contrib import admin

from registry.models import (
    Checkpoint,
    Declaration,
    LedgerEvent,
    Mechanism,
    ProductionRecord,
    Project,
    Stream,
    UnitClaim,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only services write: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Mechanism)
class MechanismAdmin(admin.ModelAdmin):
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


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "owner", "province", "technology", "capacity_mw", "status")
    list_filter = ("status", "technology", "province")
    list_select_related = ("owner",)
    search_fields = ("code", "name")


@admin.register(Stream)
class StreamAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "unit_kind", "next_sequence", "carried_remainder")
    list_select_related = ("project",)


@admin.register(ProductionRecord)
class ProductionRecordAdmin(ReadOnlyAdmin):
    list_display = ("id", "stream", "vintage", "quantity", "units", "serials", "source")
    list_select_related = ("stream__project",)
    list_filter = ("source",)


@admin.register(UnitClaim)
class UnitClaimAdmin(ReadOnlyAdmin):
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


@admin.register(Declaration)
class DeclarationAdmin(ReadOnlyAdmin):
    list_display = ("id", "project", "stream", "signer", "signed_at", "revoked_at")
    list_select_related = ("project", "stream__project", "signer")


@admin.register(LedgerEvent)
class LedgerEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "actor", "occurred_at", "event_hash")
    list_filter = ("kind",)
    list_select_related = ("actor",)
    search_fields = ("subjects",)
    show_full_result_count = False


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "event_count", "merkle_root", "checkpoint_hash", "sealed_at")
