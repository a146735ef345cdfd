"""Serializers of holdings and their movements: blocks, transfers, retirements, cancellations."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.api.serializers import range_text
from tracking.models import Block, Cancellation, Retirement, Transfer


class BlockSerializer(serializers.ModelSerializer):
    mechanism = serializers.CharField(source="mechanism.code", read_only=True)
    account = serializers.CharField(source="account.number", read_only=True)
    project = serializers.CharField(source="stream.project.code", read_only=True)
    unit_kind = serializers.CharField(source="stream.unit_kind", read_only=True)
    serial_range = serializers.SerializerMethodField()
    retirement = serializers.UUIDField(
        source="retirement.public_id", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Block
        fields = [
            "id",
            "mechanism",
            "claim",
            "project",
            "unit_kind",
            "serial_range",
            "quantity",
            "vintage",
            "status",
            "account",
            "transfer_count",
            "expires_at",
            "retirement",
        ]

    def get_serial_range(self, block: Block) -> str:
        return range_text(
            project=block.stream.project,
            unit_kind=block.stream.unit_kind,
            vintage=block.vintage,
            serials=block.serials,
        )


class MovementSerializer(serializers.Serializer):
    """Input shared by transfers, retirements and cancellations: by quantity or by range."""

    mechanism = serializers.CharField(max_length=16)
    quantity = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    serial_range = serializers.CharField(max_length=80, required=False, allow_null=True)

    def validate(self, attrs):
        attrs["quantity"] = attrs.get("quantity")
        attrs["serial_range"] = attrs.get("serial_range") or None  # "" means no range
        if (attrs["quantity"] is None) == (attrs["serial_range"] is None):
            raise serializers.ValidationError(
                {"quantity": ["Give either quantity or serial_range, not both."]},
                code="quantity_or_range",
            )
        return attrs


class TransferCreateSerializer(MovementSerializer):
    source_account = serializers.CharField(max_length=32)
    target_account = serializers.CharField(max_length=32)


class TransferSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    mechanism = serializers.CharField(source="mechanism.code", read_only=True)
    source_account = serializers.CharField(source="source_account.number", read_only=True)
    target_account = serializers.CharField(source="target_account.number", read_only=True)
    actor = serializers.CharField(source="actor.username", read_only=True)

    class Meta:
        model = Transfer
        fields = [
            "id",
            "mechanism",
            "source_account",
            "target_account",
            "quantity",
            "serial_ranges",
            "actor",
            "created_at",
        ]


class RetirementCreateSerializer(MovementSerializer):
    account = serializers.CharField(max_length=32)
    beneficiary_name = serializers.CharField(max_length=200)
    beneficiary_organisation = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    purpose = serializers.ChoiceField(choices=Retirement.Purpose.choices)
    claim_period_start = serializers.DateField()
    claim_period_end = serializers.DateField()
    location = serializers.CharField(max_length=6, help_text="ISO 3166-2, e.g. CN-SH")
    reporting_year = serializers.IntegerField(min_value=2000, max_value=2100)


# A retirement's blocks in serial order, with what their range strings need.
RETIRED_BLOCKS = Prefetch(
    "blocks",
    queryset=Block.objects.select_related("stream__project").order_by("stream_id", "serials"),
)


class RetirementSerializer(serializers.ModelSerializer):
    """The permanent public record of a retirement."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    mechanism = serializers.CharField(source="mechanism.code", read_only=True)
    account = serializers.CharField(source="account.number", read_only=True)
    serial_ranges = serializers.SerializerMethodField()

    class Meta:
        model = Retirement
        fields = [
            "id",
            "mechanism",
            "account",
            "quantity",
            "beneficiary_name",
            "beneficiary_organisation",
            "purpose",
            "claim_period_start",
            "claim_period_end",
            "location",
            "reporting_year",
            "serial_ranges",
            "created_at",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_serial_ranges(self, retirement: Retirement) -> list[str]:
        # Lists prefetch the blocks (RETIRED_BLOCKS); a single retirement reads them here.
        return [
            range_text(
                project=block.stream.project,
                unit_kind=block.stream.unit_kind,
                vintage=block.vintage,
                serials=block.serials,
            )
            for block in retirement.blocks.all()
        ]


class CancellationCreateSerializer(MovementSerializer):
    account = serializers.CharField(max_length=32)
    reason = serializers.CharField(max_length=2000)


class CancellationSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    mechanism = serializers.CharField(source="mechanism.code", read_only=True)
    account = serializers.CharField(
        source="account.number", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Cancellation
        fields = ["id", "mechanism", "account", "claim", "quantity", "reason", "created_at"]


class BlockStatusSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
