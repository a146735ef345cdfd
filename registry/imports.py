"""Admin import and export (django-import-export) of reference data, and export-only lists.

An import never saves a row itself: each row goes to the same service as the API (so the same
validation, permissions and ledger event, with the acting administrator as actor). A refusal
becomes a row error naming the field, and the whole file is one transaction: previewed as a dry
run, confirmed, and rolled back entirely if any row fails. A row whose code exists already is
skipped when unchanged; a changed one is updated through a service where one exists (grid
regions), otherwise refused.

Exports iterate their queryset in chunks with the related rows joined in (``select_related``),
never one query per row.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets
from import_export.admin import ExportMixin, ImportExportMixin
from import_export.formats import base_formats

from registry.errors import Conflict, DomainError
from registry.models import GridRegion, LedgerEvent, Mechanism, Project, UnitClaim
from registry.permissions import is_administrator
from registry.services import (
    grid_region_create,
    grid_region_update,
    mechanism_create,
    project_register,
)

# A list in one cell ("CN-BJ, CN-TJ" or "CN-BJ|CN-TJ"): commas, semicolons, bars or spaces.
LIST_SEPARATOR = re.compile(r"[,;|\s]+")


def split_list(value: Any) -> list[str]:
    """The items of a list written in one cell, without blanks."""
    return [item for item in LIST_SEPARATOR.split(str(value or "").strip()) if item]


class CodeForeignKeyWidget(widgets.ForeignKeyWidget):
    """A related row named by its code; an unknown code is a row error on the column, not a
    crash of the import."""

    def clean(self, value, row=None, **kwargs):
        try:
            return super().clean(value, row=row, **kwargs)
        except self.model.DoesNotExist:
            raise ValueError(
                gettext("Unknown %(model)s %(code)s.")
                % {"model": self.model._meta.verbose_name, "code": value}
            ) from None


class ServiceImportResource(resources.ModelResource):
    """Base of the import resources: rows are written by ``create_through_service`` (and
    ``update_through_service`` for a changed existing row), inside the import's one transaction.

    A ``DomainError`` of the service becomes a ValidationError on the field it names, so the
    preview lists it under that column; the import then rolls back whole.
    """

    #: Columns holding a list in one cell that the service takes (compared by skip_row).
    list_columns: tuple[str, ...] = ()

    def import_data(self, dataset, **kwargs):
        # Whatever the caller asks, one transaction, rolled back on any row's refusal: a file is
        # imported whole or not at all.
        kwargs["use_transactions"] = True
        kwargs["rollback_on_validation_errors"] = True
        return super().import_data(dataset, **kwargs)

    def save_instance(self, instance, is_create, row, **kwargs):
        actor = kwargs.get("user")
        if actor is None:
            raise ValidationError({NON_FIELD_ERRORS: [gettext("An import needs an actor.")]})
        try:
            with transaction.atomic():
                if is_create:
                    saved = self.create_through_service(actor=actor, instance=instance, row=row)
                else:
                    saved = self.update_through_service(actor=actor, instance=instance, row=row)
        except DomainError as error:
            raise ValidationError(
                {error.field or NON_FIELD_ERRORS: [str(error.message)]}, code=error.code
            ) from error
        # The preview and the admin log show what the service wrote (its code, its pk).
        for model_field in saved._meta.concrete_fields:
            setattr(instance, model_field.attname, getattr(saved, model_field.attname))

    def save_m2m(self, instance, row, **kwargs):
        """Relations are set by the service, not here."""

    def create_through_service(self, *, actor, instance: Model, row: dict) -> Model:
        raise NotImplementedError

    def update_through_service(self, *, actor, instance: Model, row: dict) -> Model:
        """Reference data without an update service is only ever added by an import."""
        raise Conflict(
            _(
                "%(model)s %(code)s already exists and differs from the file; an import only "
                "adds new ones. Change it in the admin form."
            )
            % {"model": instance._meta.verbose_name, "code": getattr(instance, "code", "")},
            code="already_exists",
            field="code",
        )

    def skip_row(self, instance, original, row, import_validation_errors=None):
        """An existing row identical to the file's is skipped (re-importing an export is a
        no-op); a changed one goes to ``update_through_service``."""
        if import_validation_errors or original is None or original.pk is None:
            return False
        for field in self.get_import_fields():
            if not field.attribute or field.column_name not in row:
                continue
            if field.get_value(instance) != field.get_value(original):
                return False
        return all(
            sorted(split_list(row[column])) == sorted(self.current_list(original, column))
            for column in self.list_columns
            if column in row
        )

    def current_list(self, instance: Model, column: str) -> list[str]:
        raise NotImplementedError


class MechanismResource(ServiceImportResource):
    """Mechanisms by code; the organisations allowed to issue are a list of organisation codes.
    New mechanisms go through ``mechanism_create``; an existing one is never changed by an
    import (its rules bind units already issued)."""

    issuing_bodies = fields.Field(column_name="issuing_bodies", dehydrate_method="codes_of")
    list_columns = ("issuing_bodies",)

    class Meta:
        model = Mechanism
        import_id_fields = ("code",)
        fields = (
            "code",
            "name",
            "name_zh",
            "unit_kind",
            "kind",
            "validity_months",
            "max_transfers",
            "requires_declaration",
            "accepts_derived_units",
            "issuing_body_name",
            "issuing_bodies",
            "notes",
        )
        skip_unchanged = True
        report_skipped = True

    def codes_of(self, mechanism: Mechanism) -> str:
        return ", ".join(sorted(body.code for body in mechanism.issuing_bodies.all()))

    def current_list(self, instance, column):
        return [body.code for body in instance.issuing_bodies.all()]

    def create_through_service(self, *, actor, instance, row):
        return mechanism_create(
            actor=actor,
            code=instance.code,
            name=instance.name,
            name_zh=instance.name_zh or "",
            unit_kind=instance.unit_kind,
            kind=instance.kind,
            validity_months=instance.validity_months,
            max_transfers=instance.max_transfers,
            requires_declaration=bool(instance.requires_declaration),
            accepts_derived_units=bool(instance.accepts_derived_units),
            issuing_body_name=instance.issuing_body_name or "",
            issuing_body_codes=split_list(row.get("issuing_bodies")),
            notes=instance.notes or "",
        )

    def filter_export(self, queryset, **kwargs):
        return queryset.prefetch_related("issuing_bodies")


def identifier_cells(project: Project) -> list[str]:
    """A project's identifiers in other registries as ``REGISTRY:identifier`` items."""
    return [f"{row.registry}:{row.identifier}" for row in project.identifiers.all()]


def meter_cells(project: Project) -> list[str]:
    """A project's meters as ``METER@from`` or ``METER@from/to`` items (to exclusive)."""
    return [
        f"{row.meter_id}@{row.valid_from.isoformat()}"
        + (f"/{row.valid_to.isoformat()}" if row.valid_to else "")
        for row in project.meters.all()
    ]


def parse_identifier_cell(value: Any) -> list[dict[str, str]]:
    pairs = []
    for item in split_list(value):
        registry, _colon, identifier = item.partition(":")
        pairs.append({"registry": registry, "identifier": identifier})
    return pairs


def parse_meter_cell(value: Any) -> list[dict[str, str]]:
    meters = []
    for item in split_list(value):
        meter_id, _at, validity = item.partition("@")
        valid_from, _slash, valid_to = validity.partition("/")
        meters.append({"meter_id": meter_id, "valid_from": valid_from, "valid_to": valid_to})
    return meters


class ProjectResource(ServiceImportResource):
    """Projects; a new one is registered through ``project_register``, which gives it its code
    (leave the code column empty). The owner is an organisation code; identifiers in other
    registries are ``REGISTRY:identifier`` items and meters ``METER@from[/to]`` items of a
    list."""

    identifiers = fields.Field(column_name="identifiers", dehydrate_method="identifier_list")
    meters = fields.Field(column_name="meters", dehydrate_method="meter_list")
    list_columns = ("identifiers", "meters")

    owner = fields.Field(
        attribute="owner",
        column_name="owner",
        widget=CodeForeignKeyWidget(
            Mechanism._meta.get_field("issuing_bodies").related_model, field="code"
        ),
    )
    status = fields.Field(attribute="status", column_name="status", readonly=True)
    country = fields.Field(attribute="country", column_name="country", readonly=True)

    class Meta:
        model = Project
        import_id_fields = ("code",)
        fields = (
            "code",
            "name",
            "owner",
            "country",
            "province",
            "grid_region",
            "technology",
            "capacity_mw",
            "commissioning_date",
            "time_zone",
            "subsidised",
            "inside_ets_boundary",
            "under_energy_use_rights",
            "national_code",
            "latitude",
            "longitude",
            "meters",
            "identifiers",
            "status",
            "registered_at",
        )
        skip_unchanged = True
        report_skipped = True

    def before_import(self, dataset, **kwargs):
        # A file of new projects has no code column: the registry assigns the codes.
        if "code" not in (dataset.headers or []):
            dataset.append_col([""] * len(dataset), header="code")

    def create_through_service(self, *, actor, instance, row):
        if (row.get("code") or "").strip():
            raise DomainError(
                _(
                    "Project %(code)s does not exist; project codes are given by the registry, "
                    "leave the code empty to register a new project."
                )
                % {"code": row["code"]},
                field="code",
            )
        if instance.owner_id is None:
            raise DomainError(_("A project needs an owner organisation."), field="owner")
        return project_register(
            actor=actor,
            owner=instance.owner,
            name=instance.name or "",
            province=instance.province or "",
            technology=instance.technology or "",
            capacity_mw=instance.capacity_mw,
            commissioning_date=instance.commissioning_date,
            grid_region=instance.grid_region or "",
            subsidised=bool(instance.subsidised),
            inside_ets_boundary=bool(instance.inside_ets_boundary),
            under_energy_use_rights=bool(instance.under_energy_use_rights),
            national_code=instance.national_code or "",
            latitude=instance.latitude,
            longitude=instance.longitude,
            meters=parse_meter_cell(row.get("meters")),
            identifiers=parse_identifier_cell(row.get("identifiers")),
            time_zone=instance.time_zone or "Asia/Shanghai",
        )

    def identifier_list(self, project: Project) -> str:
        return ", ".join(identifier_cells(project))

    def meter_list(self, project: Project) -> str:
        return ", ".join(meter_cells(project))

    def current_list(self, instance, column):
        return identifier_cells(instance) if column == "identifiers" else meter_cells(instance)

    def filter_export(self, queryset, **kwargs):
        return queryset.select_related("owner").prefetch_related("identifiers", "meters")


class GridRegionResource(ServiceImportResource):
    """Grid regions by code with their provinces as a list of ISO 3166-2 codes: a new code is
    created (``grid_region_create``), a changed existing one updated (``grid_region_update``)."""

    provinces = fields.Field(column_name="provinces", dehydrate_method="province_list")
    list_columns = ("provinces",)

    class Meta:
        model = GridRegion
        import_id_fields = ("code",)
        fields = ("code", "name", "name_zh", "provinces")
        skip_unchanged = True
        report_skipped = True

    def province_list(self, grid_region: GridRegion) -> str:
        return ", ".join(sorted(item.province for item in grid_region.provinces.all()))

    def current_list(self, instance, column):
        return instance.province_codes()

    def create_through_service(self, *, actor, instance, row):
        return grid_region_create(
            actor=actor,
            code=instance.code or "",
            name=instance.name or "",
            name_zh=instance.name_zh or "",
            provinces=split_list(row.get("provinces")),
        )

    def update_through_service(self, *, actor, instance, row):
        provinces = (
            split_list(row["provinces"]) if "provinces" in row else instance.province_codes()
        )
        return grid_region_update(
            actor=actor,
            grid_region=instance,
            name=instance.name or "",
            name_zh=instance.name_zh or "",
            provinces=provinces,
        )

    def filter_export(self, queryset, **kwargs):
        return queryset.prefetch_related("provinces")


class SerialRangeExportMixin(resources.Resource):
    """Serial ranges as two integer columns (first serial, serial after the last)."""

    serial_from = fields.Field(column_name="serial_from", dehydrate_method="serial_lower")
    serial_to = fields.Field(column_name="serial_to_exclusive", dehydrate_method="serial_upper")

    def serial_lower(self, obj) -> int:
        return obj.serials.lower

    def serial_upper(self, obj) -> int:
        return obj.serials.upper


class LedgerEventResource(resources.ModelResource):
    """The ledger, export only: kind, actor's username, time, subjects, payload and hash."""

    actor = fields.Field(attribute="actor__username", column_name="actor")
    subjects = fields.Field(column_name="subjects", dehydrate_method="subjects_text")
    payload = fields.Field(attribute="payload", column_name="payload", widget=widgets.JSONWidget())

    class Meta:
        model = LedgerEvent
        fields = ("id", "kind", "actor", "occurred_at", "subjects", "payload", "event_hash", "txid")

    def subjects_text(self, event: LedgerEvent) -> str:
        return " ".join(event.subjects)

    def filter_export(self, queryset: QuerySet, **kwargs) -> QuerySet:
        return queryset.select_related("actor")


class UnitClaimResource(SerialRangeExportMixin, resources.ModelResource):
    """Unit claims, export only; related rows by their codes and numbers."""

    mechanism = fields.Field(attribute="mechanism__code", column_name="mechanism")
    project = fields.Field(attribute="stream__project__code", column_name="project")
    unit_kind = fields.Field(attribute="stream__unit_kind", column_name="unit_kind")
    account = fields.Field(attribute="account__number", column_name="account")

    class Meta:
        model = UnitClaim
        fields = (
            "id",
            "mechanism",
            "project",
            "unit_kind",
            "serial_from",
            "serial_to",
            "quantity",
            "vintage",
            "role",
            "status",
            "account",
            "expires_at",
            "issued_at",
            "revoked_at",
        )

    def filter_export(self, queryset: QuerySet, **kwargs) -> QuerySet:
        return queryset.select_related("mechanism", "stream__project", "account")


class AdministratorExportMixin(ExportMixin):
    """CSV and XLSX export of the filtered list, for staff registry administrators only."""

    formats = (base_formats.CSV, base_formats.XLSX)

    def has_export_permission(self, request) -> bool:
        return bool(request.user.is_staff and is_administrator(request.user))


class AdministratorImportExportMixin(ImportExportMixin, AdministratorExportMixin):
    """Import (through the services, see ServiceImportResource) and export, for staff registry
    administrators only. A confirmed import that a row refuses after all (the registry changed
    since the preview) is rolled back and reported, never half written."""

    def has_import_permission(self, request) -> bool:
        return bool(request.user.is_staff and is_administrator(request.user))

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            self.message_user(
                request,
                _("Nothing was imported: a row was refused. Import the file again to see why."),
                messages.ERROR,
            )
            return HttpResponseRedirect(
                reverse("admin:{}_{}_import".format(*self.get_model_info()))
            )
        return super().process_result(result, request)
