"""Admin import and export of organisations (see registry/imports.py for how imports work)."""

from __future__ import annotations

from accounts.models import Organisation
from accounts.services import organisation_create
from registry.imports import ServiceImportResource


class OrganisationResource(ServiceImportResource):
    """Organisations by code; a new one is created through ``organisation_create``, an existing
    one is skipped when unchanged and refused otherwise (no update service exists)."""

    class Meta:
        model = Organisation
        import_id_fields = ("code",)
        fields = ("code", "name", "kind", "country", "created_at")
        skip_unchanged = True
        report_skipped = True

    def create_through_service(self, *, actor, instance, row):
        return organisation_create(
            actor=actor,
            code=(instance.code or "").strip(),
            name=instance.name or "",
            kind=instance.kind or "",
            country=instance.country or "CN",
        )
