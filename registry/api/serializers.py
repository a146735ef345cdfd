"""Serializers of the core resources: input serializers validate shapes, output ones render rows.

Business validation stays in the services; these only turn JSON into typed arguments.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry import serials as serial_numbers
from registry.models import (
    Checkpoint,
    Declaration,
    LedgerEvent,
    Mechanism,
    ProductionRecord,
    Project,
    Stream,
    UnitKind,
)


def range_text(*, project: Project, unit_kind: str, vintage: int, serials) -> str | None:
    """A stored half-open integer range as the serial range string people read."""
    if serials is None or serials.lower is None:
        return None
    return serial_numbers.SerialRange(serials.lower, serials.upper).format(
        project.country, project.code, unit_kind, vintage
    )


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"},
        },
    }
)
class PeriodField(serializers.Field):
    """A half-open period as {"start", "end"} in ISO 8601."""

    def to_representation(self, value):
        return {"start": value.lower.isoformat(), "end": value.upper.isoformat()}


class MechanismSerializer(serializers.ModelSerializer):
    issuing_bodies = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = Mechanism
        fields = [
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
        ]


class StreamSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Stream
        fields = ["id", "project", "unit_kind", "next_sequence", "carried_remainder"]


class ProjectMeterSerializer(serializers.Serializer):
    meter_id = serializers.CharField(max_length=64)
    valid_from = serializers.DateField(
        required=False, allow_null=True, help_text="Defaults to the commissioning date."
    )
    valid_to = serializers.DateField(
        required=False, allow_null=True, help_text="Exclusive; empty while the meter measures."
    )


class ProjectSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="code", read_only=True)
    streams = serializers.SerializerMethodField()
    meters = serializers.SerializerMethodField()
    identifiers = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
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
            "possible_duplicates",
            "registered_at",
            "streams",
        ]

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}})
    def get_streams(self, project: Project) -> dict[str, int]:
        return {stream.unit_kind: stream.pk for stream in project.streams.all()}

    @extend_schema_field(ProjectMeterSerializer(many=True))
    def get_meters(self, project: Project) -> list[dict]:
        return [
            {"meter_id": meter.meter_id, "valid_from": meter.valid_from, "valid_to": meter.valid_to}
            for meter in project.meters.all()
        ]

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_identifiers(self, project: Project) -> dict[str, str]:
        return {row.registry: row.identifier for row in project.identifiers.all()}


class ProjectRegisterSerializer(serializers.Serializer):
    owner = serializers.SlugRelatedField(
        slug_field="code",
        # The organisation model lives in accounts, above this layer: reach it through the FK.
        queryset=Project._meta.get_field("owner").related_model.objects.all(),
        required=False,
        help_text="Organisation code; defaults to the caller's organisation.",
    )
    name = serializers.CharField(max_length=200)
    province = serializers.CharField(max_length=6, help_text="ISO 3166-2, e.g. CN-NM")
    technology = serializers.ChoiceField(choices=Project.Technology.choices)
    capacity_mw = serializers.DecimalField(
        max_digits=12, decimal_places=3, required=False, allow_null=True, min_value=0
    )
    commissioning_date = serializers.DateField(required=False, allow_null=True)
    grid_region = serializers.CharField(max_length=32, required=False, allow_blank=True)
    subsidised = serializers.BooleanField(required=False, default=False)
    inside_ets_boundary = serializers.BooleanField(required=False, default=False)
    under_energy_use_rights = serializers.BooleanField(required=False, default=False)
    national_code = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text="The asset's national filing code (建档立卡编码); trimmed and upper-cased.",
    )
    latitude = serializers.DecimalField(
        max_digits=9, decimal_places=6, required=False, allow_null=True, default=None
    )
    longitude = serializers.DecimalField(
        max_digits=9, decimal_places=6, required=False, allow_null=True, default=None
    )
    meters = ProjectMeterSerializer(many=True, required=False, default=list)
    identifiers = serializers.DictField(
        child=serializers.CharField(max_length=100),
        required=False,
        default=dict,
        help_text='Identifiers in other registries, e.g. {"GEC": "...", "IREC": "..."}.',
    )
    external_ids = serializers.DictField(
        child=serializers.CharField(max_length=100),
        required=False,
        default=dict,
        help_text="Former name of identifiers, still accepted (merged into identifiers).",
    )
    time_zone = serializers.CharField(max_length=64, required=False, default="Asia/Shanghai")


class ProjectTransferOwnershipSerializer(serializers.Serializer):
    owner = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Project._meta.get_field("owner").related_model.objects.all(),
        help_text="The new owner's organisation code.",
    )
    reason = serializers.CharField(max_length=2000)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RequiredReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ProductionRecordSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="stream.project.code", read_only=True)
    unit_kind = serializers.CharField(source="stream.unit_kind", read_only=True)
    period = PeriodField(read_only=True)
    serial_range = serializers.SerializerMethodField()
    withdrawn_range = serializers.SerializerMethodField()

    class Meta:
        model = ProductionRecord
        fields = [
            "id",
            "project",
            "stream",
            "unit_kind",
            "period",
            "quantity",
            "carried_in",
            "carried_out",
            "units",
            "serial_range",
            "vintage",
            "source",
            "corrects",
            "withdrawn_range",
            "reason",
            "evidence",
            "created_at",
        ]

    def get_serial_range(self, record: ProductionRecord) -> str | None:
        return range_text(
            project=record.stream.project,
            unit_kind=record.stream.unit_kind,
            vintage=record.vintage,
            serials=record.serials,
        )

    def get_withdrawn_range(self, record: ProductionRecord) -> str | None:
        """Serials of the corrected record a downward correction withdrew."""
        return range_text(
            project=record.stream.project,
            unit_kind=record.stream.unit_kind,
            vintage=record.vintage,
            serials=record.withdrawn,
        )


class ProductionRecordCreateSerializer(serializers.Serializer):
    project = serializers.SlugRelatedField(slug_field="code", queryset=Project.objects.all())
    unit_kind = serializers.ChoiceField(choices=UnitKind.choices, default=UnitKind.ELECTRICITY)
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    quantity = serializers.DecimalField(max_digits=20, decimal_places=6, min_value=0)


class ProductionRecordBulkSerializer(serializers.Serializer):
    records = serializers.ListField(
        child=serializers.DictField(), min_length=1, max_length=1000, allow_empty=False
    )


class DeclarationSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="code", read_only=True)
    unit_kind = serializers.CharField(source="stream.unit_kind", read_only=True)
    period = PeriodField(read_only=True)
    signer = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Declaration
        fields = [
            "id",
            "project",
            "unit_kind",
            "period",
            "template_version",
            "language",
            "text",
            "text_sha256",
            "other_registrations",
            "signer",
            "signed_at",
            "revoked_at",
        ]


class OtherRegistrationSerializer(serializers.Serializer):
    registry = serializers.CharField(max_length=100)
    identifier = serializers.CharField(max_length=100)


class DeclarationSignSerializer(serializers.Serializer):
    project = serializers.SlugRelatedField(slug_field="code", queryset=Project.objects.all())
    unit_kind = serializers.ChoiceField(choices=UnitKind.choices, default=UnitKind.ELECTRICITY)
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    other_registrations = OtherRegistrationSerializer(many=True, required=False, default=list)
    language = serializers.ChoiceField(choices=["en", "zh-hans"], default="en")


class LedgerEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = LedgerEvent
        fields = [
            "id",
            "kind",
            "actor",
            "occurred_at",
            "subjects",
            "payload",
            "event_hash",
            "txid",
        ]


class CheckpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = Checkpoint
        fields = [
            "sequence",
            "xid_from",
            "xid_to",
            "event_count",
            "last_event_id",
            "merkle_root",
            "previous_hash",
            "checkpoint_hash",
            "sealed_at",
        ]
