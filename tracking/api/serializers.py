"""Serializers of holdings and their movements: blocks, transfers, retirements, cancellations,
corresponding adjustments (R14) and neutrality events (R11)."""

from __future__ import annotations

from django.db.models import Prefetch
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.api.serializers import range_text
from registry.documents import public_url
from tracking.models import (
    ADJUSTMENT_STEPS,
    Block,
    Cancellation,
    CorrespondingAdjustment,
    NeutralityEvent,
    Retirement,
    RetirementAllocation,
    Transfer,
)
from tracking.selectors import cancellation_serial_ranges

MAX_ID = 2**63 - 1  # a bigint primary key


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
    event = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        default=None,
        help_text="Neutrality event id: required with purpose event, refused otherwise (R11).",
    )


class RetirementAllocationCreateSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=2**62)
    claimant = serializers.CharField(max_length=200, help_text="Who claims the allocated units.")
    reference = serializers.CharField(
        max_length=200,
        help_text="What they are allocated to (a product batch, an event, a report); once each.",
    )


class RetirementAllocationSerializer(serializers.ModelSerializer):
    """A claim on part of a retirement."""

    class Meta:
        model = RetirementAllocation
        fields = ["id", "quantity", "claimant", "reference", "created_at"]


# A retirement's blocks in serial order, with what their range strings need.
RETIRED_BLOCKS = Prefetch(
    "blocks",
    queryset=Block.objects.select_related("stream__project").order_by("stream_id", "serials"),
)


# The blocks of a cancellation in the order its serial ranges are published.
CANCELLED_BLOCKS = Prefetch(
    "blocks",
    queryset=Block.objects.select_related("stream__project").order_by(
        "stream__project__code", "vintage", "serials"
    ),
)


class RetirementSerializer(serializers.ModelSerializer):
    """The permanent public record of a retirement."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    mechanism = serializers.CharField(source="mechanism.code", read_only=True)
    account = serializers.CharField(source="account.number", read_only=True)
    serial_ranges = serializers.SerializerMethodField()
    allocations = RetirementAllocationSerializer(many=True, read_only=True)
    certificate_url = serializers.SerializerMethodField(
        help_text="The retirement's permanent public page (its PDF certificate links from it)."
    )

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
            "event",
            "serial_ranges",
            "allocations",
            "created_at",
            "certificate_url",
        ]

    @extend_schema_field(serializers.URLField())
    def get_certificate_url(self, retirement: Retirement) -> str:
        path = reverse("retirement-page", kwargs={"public_id": retirement.public_id})
        return public_url(path, request=self.context.get("request"))

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
    serial_ranges = serializers.SerializerMethodField(
        help_text="Every serial range the cancellation took out of circulation."
    )

    class Meta:
        model = Cancellation
        fields = [
            "id",
            "mechanism",
            "account",
            "claim",
            "quantity",
            "serial_ranges",
            "reason",
            "created_at",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_serial_ranges(self, cancellation: Cancellation) -> list[str]:
        # Lists prefetch the blocks (CANCELLED_BLOCKS, in this order); one row reads them here.
        return cancellation_serial_ranges(cancellation)


class BlockStatusSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class CorrespondingAdjustmentSerializer(serializers.ModelSerializer):
    """R14: a range of units that left its host country, and where its adjustment stands."""

    mechanism = serializers.CharField(source="mechanism.code", read_only=True)
    transfer = serializers.UUIDField(source="transfer.public_id", read_only=True)
    serial_range = serializers.SerializerMethodField()

    class Meta:
        model = CorrespondingAdjustment
        fields = [
            "id",
            "mechanism",
            "transfer",
            "serial_range",
            "quantity",
            "vintage",
            "host_country",
            "acquiring_country",
            "status",
            "created_at",
            "pending_at",
            "completed_at",
        ]

    def get_serial_range(self, adjustment: CorrespondingAdjustment) -> str:
        return range_text(
            project=adjustment.stream.project,
            unit_kind=adjustment.stream.unit_kind,
            vintage=adjustment.vintage,
            serials=adjustment.serials,
        )


class AdjustmentStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=sorted(set(ADJUSTMENT_STEPS.values())),
        help_text="The next status: not_started -> pending -> completed, one step at a time.",
    )
    reference = serializers.CharField(
        max_length=2000, help_text="The host country's authorisation or report."
    )


class NeutralityEventSerializer(serializers.ModelSerializer):
    organiser = serializers.CharField(source="organiser.code", read_only=True)
    projects = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = NeutralityEvent
        fields = [
            "id",
            "name",
            "organiser",
            "start_date",
            "end_date",
            "location",
            "projects",
            "created_at",
        ]


class NeutralityEventCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    organiser = serializers.CharField(max_length=32, help_text="Organisation code.")
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    location = serializers.CharField(max_length=6, help_text="ISO 3166-2, e.g. CN-BJ")
    projects = serializers.ListField(
        child=serializers.CharField(max_length=6),
        required=False,
        default=list,
        max_length=1000,
        help_text="Codes of the projects built for the event.",
    )
