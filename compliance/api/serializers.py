"""Serializers of ETS compliance: input shapes for the services, output renderings of rows."""

from __future__ import annotations

from rest_framework import serializers

from compliance.models import (
    Allocation,
    ComplianceScheme,
    CoveredEntity,
    Surrender,
    VerifiedEmission,
)
from registry.api.serializers import range_text

YEAR = {"min_value": 2005, "max_value": 2100}


class ComplianceSchemeSerializer(serializers.ModelSerializer):
    authority = serializers.CharField(source="authority.code", read_only=True)
    budget_project = serializers.CharField(source="budget_project.code", read_only=True)

    class Meta:
        model = ComplianceScheme
        fields = [
            "code",
            "name",
            "kind",
            "ccer_limit_percent",
            "old_ccer_issued_before",
            "old_ccer_unusable_from",
            "authority",
            "budget_project",
        ]


class CoveredEntitySerializer(serializers.ModelSerializer):
    scheme = serializers.CharField(source="scheme.code", read_only=True)
    organisation = serializers.CharField(source="organisation.code", read_only=True)
    organisation_name = serializers.CharField(source="organisation.name", read_only=True)
    account = serializers.CharField(source="account.number", read_only=True)

    class Meta:
        model = CoveredEntity
        fields = ["id", "scheme", "organisation", "organisation_name", "account", "registered_at"]


class CoveredEntityCreateSerializer(serializers.Serializer):
    scheme = serializers.SlugField(max_length=32)
    organisation = serializers.SlugField(max_length=32)


class VerifiedEmissionSerializer(serializers.ModelSerializer):
    class Meta:
        model = VerifiedEmission
        fields = [
            "id",
            "entity",
            "compliance_year",
            "quantity",
            "verifier",
            "supersedes",
            "superseded_at",
            "recorded_at",
        ]


class VerifiedEmissionCreateSerializer(serializers.Serializer):
    entity = serializers.IntegerField(min_value=1)
    compliance_year = serializers.IntegerField(**YEAR)
    quantity = serializers.IntegerField(min_value=0, max_value=10**12)
    verifier = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class AllocationSerializer(serializers.ModelSerializer):
    serial_range = serializers.SerializerMethodField()
    cancellation = serializers.UUIDField(
        source="cancellation.public_id", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Allocation
        fields = [
            "id",
            "entity",
            "compliance_year",
            "kind",
            "quantity",
            "claim",
            "serial_range",
            "cancellation",
            "basis",
            "created_at",
        ]

    def get_serial_range(self, allocation: Allocation) -> str | None:
        """The allowances' serials (allocations that add allowances only)."""
        claim = allocation.claim
        if claim is None:
            return None
        return range_text(
            project=claim.stream.project,
            unit_kind=claim.stream.unit_kind,
            vintage=claim.vintage,
            serials=claim.serials,
        )


class AllocationCreateSerializer(serializers.Serializer):
    entity = serializers.IntegerField(min_value=1)
    compliance_year = serializers.IntegerField(**YEAR)
    kind = serializers.ChoiceField(choices=Allocation.Kind.choices)
    quantity = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=-(10**12),
        max_value=10**12,
        help_text="Negative for a downward final adjustment; omit for a pre-allocation of the "
        "configured percent of last year's verified emissions.",
    )
    basis = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class SurrenderSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    allowance_retirement = serializers.UUIDField(
        source="allowance_retirement.public_id", read_only=True, default=None, allow_null=True
    )
    ccer_retirement = serializers.UUIDField(
        source="ccer_retirement.public_id", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Surrender
        fields = [
            "id",
            "entity",
            "compliance_year",
            "obligation",
            "ccer_limit_percent",
            "allowance_quantity",
            "ccer_quantity",
            "allowance_retirement",
            "ccer_retirement",
            "created_at",
        ]


class SurrenderCreateSerializer(serializers.Serializer):
    entity = serializers.IntegerField(min_value=1)
    compliance_year = serializers.IntegerField(**YEAR)
    allowance_quantity = serializers.IntegerField(min_value=0, max_value=10**12, default=0)
    ccer_quantity = serializers.IntegerField(min_value=0, max_value=10**12, default=0)
    ccer_serial_range = serializers.CharField(
        max_length=80, required=False, allow_null=True, allow_blank=True, default=None
    )


class PositionQuerySerializer(serializers.Serializer):
    compliance_year = serializers.IntegerField(**YEAR)


class CompliancePositionSerializer(serializers.Serializer):
    """An entity's standing for a compliance year; figures needing the obligation are null
    until verified emissions are recorded."""

    entity = serializers.IntegerField()
    scheme = serializers.CharField()
    compliance_year = serializers.IntegerField()
    obligation = serializers.IntegerField(allow_null=True)
    allocated = serializers.IntegerField()
    held_allowances = serializers.IntegerField()
    surrendered_allowances = serializers.IntegerField()
    surrendered_ccer = serializers.IntegerField()
    surrendered = serializers.IntegerField()
    remaining = serializers.IntegerField(allow_null=True)
    ccer_limit_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    ccer_allowed = serializers.IntegerField(allow_null=True)
    ccer_headroom = serializers.IntegerField(allow_null=True)
