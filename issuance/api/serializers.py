"""Serializers of issuances (unit claims)."""

from __future__ import annotations

from django.db.backends.postgresql.psycopg_any import NumericRange
from rest_framework import serializers

from issuance.models import IssuanceRequest, ProductionSubmission
from registry import serials as serial_numbers
from registry.api.serializers import PeriodField, ProductionRecordCreateSerializer, range_text
from registry.models import MechanismRegistration, ProductionRecord, Project, UnitClaim


class IssuanceSerializer(serializers.ModelSerializer):
    mechanism = serializers.CharField(source="mechanism.code", read_only=True)
    project = serializers.CharField(source="stream.project.code", read_only=True)
    unit_kind = serializers.CharField(source="stream.unit_kind", read_only=True)
    account = serializers.CharField(source="account.number", read_only=True)
    issued_by = serializers.CharField(source="issued_by.username", read_only=True, default=None)
    serial_range = serializers.SerializerMethodField()

    class Meta:
        model = UnitClaim
        fields = [
            "id",
            "mechanism",
            "role",
            "project",
            "unit_kind",
            "production_record",
            "serial_range",
            "quantity",
            "vintage",
            "account",
            "status",
            "expires_at",
            "source_claim",
            "conversion_factor",
            "conversion_source",
            "issued_by",
            "issued_at",
            "revoked_at",
            "revocation_reason",
            "declaration",
            "split_from",
        ]

    def get_serial_range(self, claim: UnitClaim) -> str:
        return range_text(
            project=claim.stream.project,
            unit_kind=claim.stream.unit_kind,
            vintage=claim.vintage,
            serials=claim.serials,
        )


class IssuanceCreateSerializer(serializers.Serializer):
    mechanism = serializers.CharField(max_length=16)
    production_record = serializers.PrimaryKeyRelatedField(
        queryset=ProductionRecord.objects.select_related("stream__project"),
        required=False,
        help_text="The production record; may be left out when serial_range is given.",
    )
    account = serializers.CharField(max_length=32, help_text="Target holding account number.")
    quantity = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    serial_range = serializers.CharField(max_length=80, required=False, allow_null=True)
    conversion_factor = serializers.DecimalField(
        max_digits=12,
        decimal_places=6,
        required=False,
        allow_null=True,
        min_value=0,
        help_text="Derived units per source unit (tCO2e per MWh, tCO2e per tce).",
    )
    conversion_source = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate(self, attrs):
        if attrs.get("quantity") is not None and attrs.get("serial_range"):
            raise serializers.ValidationError(
                {"quantity": ["Give either quantity or serial_range, not both."]},
                code="quantity_or_range",
            )
        if attrs.get("production_record") is None:
            if not attrs.get("serial_range"):
                raise serializers.ValidationError(
                    {"production_record": ["Give the production record or a serial range."]},
                    code="required",
                )
            attrs["production_record"] = self._record_of(attrs["serial_range"])
        return attrs

    @staticmethod
    def _record_of(serial_range: str) -> ProductionRecord:
        """The production record whose serials contain the whole range."""
        try:
            parsed = serial_numbers.parse_range(serial_range)
        except serial_numbers.SerialError as error:
            raise serializers.ValidationError(
                {"serial_range": [error.message]}, code=error.code
            ) from None
        record = (
            ProductionRecord.objects.filter(
                stream__project__code=parsed.project_code,
                stream__project__country=parsed.country,
                stream__unit_kind=parsed.unit_kind,
                vintage=parsed.vintage,
                serials__contains=NumericRange(
                    parsed.serial_range.lower, parsed.serial_range.upper, "[)"
                ),
            )
            .select_related("stream__project")
            .first()
        )
        if record is None:
            raise serializers.ValidationError(
                {"serial_range": ["No production record holds this whole range."]},
                code="range_outside_production",
            )
        return record


class ProductionCorrectionSerializer(serializers.Serializer):
    """A correction of a production record by compensating entry."""

    direction = serializers.ChoiceField(choices=["up", "down"])
    quantity = serializers.DecimalField(
        max_digits=20, decimal_places=6, min_value=0, help_text="By how much, always positive."
    )
    reason = serializers.CharField(max_length=2000)
    evidence = serializers.CharField(
        max_length=2000, help_text="The meter reading, report or document the correction rests on."
    )


class RevocationSerializer(serializers.Serializer):
    """Revoking an issuance: a reason, and whether units held by other organisations are to be
    cancelled too (administrators; without it such a revocation is refused)."""

    reason = serializers.CharField(max_length=2000)
    cancel_held_units = serializers.BooleanField(
        default=False,
        help_text="Cancel the units other organisations hold (one cancellation per holder).",
    )


class RuleSerializer(serializers.Serializer):
    """One rule of the cross-mechanism catalogue and whether it is enabled here."""

    id = serializers.CharField()
    description = serializers.CharField()
    effect = serializers.ChoiceField(
        choices=["reject", "flag"],
        help_text="reject when the rule refuses some operation with the current settings.",
    )
    effects = serializers.DictField(
        child=serializers.ChoiceField(choices=["reject", "flag"]),
        help_text="Operation (issuance, transfer, retirement, ...) -> its effect, as enforced "
        "with the current settings.",
    )
    mechanisms = serializers.ListField(
        child=serializers.CharField(), help_text="Empty: every mechanism."
    )
    source = serializers.CharField()
    configurable = serializers.BooleanField()
    enabled = serializers.BooleanField()
    enforced_by = serializers.CharField()


class MechanismRegistrationSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.code", read_only=True)
    mechanism = serializers.CharField(source="mechanism.code", read_only=True)
    crediting_start = serializers.DateTimeField(source="crediting_period.lower", read_only=True)
    crediting_end = serializers.DateTimeField(
        source="crediting_period.upper", read_only=True, allow_null=True
    )
    registered_by = serializers.CharField(source="registered_by.username", read_only=True)

    class Meta:
        model = MechanismRegistration
        fields = [
            "id",
            "project",
            "mechanism",
            "reference",
            "crediting_start",
            "crediting_end",
            "status",
            "registered_by",
            "registered_at",
            "withdrawn_at",
        ]


class MechanismRegistrationCreateSerializer(serializers.Serializer):
    project = serializers.SlugRelatedField(slug_field="code", queryset=Project.objects.all())
    mechanism = serializers.CharField(max_length=16)
    reference = serializers.CharField(max_length=100)
    crediting_start = serializers.DateTimeField()
    crediting_end = serializers.DateTimeField(required=False, allow_null=True)


class ProductionSubmissionSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="code", read_only=True)
    period = PeriodField(read_only=True)
    submitted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = ProductionSubmission
        fields = [
            "id",
            "project",
            "unit_kind",
            "period",
            "quantity",
            "evidence",
            "submitted_by",
            "submitted_at",
            "status",
            "decided_by",
            "decided_at",
            "decision_reason",
            "production_record",
        ]


class ProductionSubmissionCreateSerializer(ProductionRecordCreateSerializer):
    evidence = serializers.CharField(max_length=4000, required=False, allow_blank=True)


class IssuanceRequestSerializer(serializers.ModelSerializer):
    mechanism = serializers.SlugRelatedField(slug_field="code", read_only=True)
    account = serializers.SlugRelatedField(slug_field="number", read_only=True)
    project = serializers.CharField(source="production_record.stream.project.code", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = IssuanceRequest
        fields = [
            "id",
            "mechanism",
            "project",
            "production_record",
            "account",
            "quantity",
            "conversion_factor",
            "conversion_source",
            "requested_by",
            "requested_at",
            "status",
            "decided_by",
            "decided_at",
            "decision_reason",
            "unit_claim",
        ]


class IssuanceRequestCreateSerializer(serializers.Serializer):
    mechanism = serializers.CharField(max_length=16)
    production_record = serializers.PrimaryKeyRelatedField(
        queryset=ProductionRecord.objects.select_related("stream__project")
    )
    account = serializers.CharField(max_length=32, help_text="Target holding account number.")
    quantity = serializers.IntegerField(min_value=1, max_value=10**15)
    conversion_factor = serializers.DecimalField(
        max_digits=12,
        decimal_places=6,
        required=False,
        allow_null=True,
        min_value=0,
        help_text="Derived units per source unit (tCO2e per MWh, tCO2e per tce).",
    )
    conversion_source = serializers.CharField(max_length=200, required=False, allow_blank=True)
