"""Export of blocks from the admin (CSV, XLSX); blocks are never imported."""

from __future__ import annotations

from django.db.models import QuerySet
from import_export import fields, resources

from registry.imports import SerialRangeExportMixin
from tracking.models import Block


class BlockResource(SerialRangeExportMixin, resources.ModelResource):
    """Blocks with their mechanism code, project code, unit kind and account number, joined in
    one query per chunk (no query per row)."""

    mechanism = fields.Field(attribute="mechanism__code", column_name="mechanism")
    project = fields.Field(attribute="stream__project__code", column_name="project")
    unit_kind = fields.Field(attribute="stream__unit_kind", column_name="unit_kind")
    account = fields.Field(attribute="account__number", column_name="account")

    class Meta:
        model = Block
        fields = (
            "id",
            "claim",
            "mechanism",
            "project",
            "unit_kind",
            "serial_from",
            "serial_to",
            "quantity",
            "vintage",
            "status",
            "transfer_count",
            "account",
            "expires_at",
        )

    def filter_export(self, queryset: QuerySet, **kwargs) -> QuerySet:
        return queryset.select_related("mechanism", "stream__project", "account")
