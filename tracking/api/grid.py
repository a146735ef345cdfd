"""API of grid factors: the published factors (public) and a recomputation on demand
(administrators)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.api.base import RegistryViewSetMixin
from tracking.accounting import selectors, services
from tracking.accounting.models import GridFactor


class CheckpointReferenceSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    checkpoint_hash = serializers.CharField()
    sealed_at = serializers.DateTimeField()


class GridFactorSerializer(serializers.ModelSerializer):
    region = serializers.CharField(source="region.code")
    region_name = serializers.CharField(source="region.name")
    period = serializers.CharField(source="computation.period_label")
    year = serializers.IntegerField(source="computation.year")
    month = serializers.IntegerField(source="computation.month", allow_null=True)
    residual_factor = serializers.DecimalField(
        max_digits=14, decimal_places=9, allow_null=True, read_only=True
    )
    policy = serializers.ListField(child=serializers.CharField(), source="computation.policy")
    computation = serializers.IntegerField(source="computation.pk")
    computed_at = serializers.DateTimeField(source="computation.computed_at")
    last_event_id = serializers.IntegerField(source="computation.last_event_id", allow_null=True)
    checkpoint = CheckpointReferenceSerializer(
        source="computation.checkpoint", allow_null=True, read_only=True
    )

    class Meta:
        model = GridFactor
        fields = [
            "region",
            "region_name",
            "period",
            "year",
            "month",
            "average_factor",
            "residual_factor",
            "generation_mwh",
            "generation_emissions_t",
            "imports_mwh",
            "supply_emissions_t",
            "retired_mwh",
            "exported_mwh",
            "valid_mwh",
            "claimed_mwh",
            "double_counted_t",
            "policy",
            "computation",
            "computed_at",
            "last_event_id",
            "checkpoint",
        ]


class GridFactorComputeSerializer(serializers.Serializer):
    period = serializers.CharField(
        max_length=7, help_text="A year (2025) or a month (2025-03) with grid data."
    )


class GridFactorsView(APIView):
    """Public: each grid region's average and residual factor (t/MWh) of every period with grid
    data, from the newest computation, with the claimed MWh the residual removes, the tonnes the
    average would count twice, and the ledger checkpoint the computation saw."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[
            OpenApiParameter("region", str, description="Grid region code."),
            OpenApiParameter("period", str, description="2025 or 2025-03."),
        ],
        responses={200: GridFactorSerializer(many=True)},
        auth=[{}],
    )
    def get(self, request):
        factors = selectors.published_factors()
        region = request.query_params.get("region")
        if region:
            factors = factors.filter(region__code=region.strip().lower())
        period = request.query_params.get("period")
        if period:
            year, month = services.parse_period(period)
            factors = factors.filter(computation__year=year, computation__month=month)
        return Response(GridFactorSerializer(factors, many=True).data)


class GridFactorComputeView(RegistryViewSetMixin, APIView):
    """Administrators: compute the factors of a period now (the worker also does so every
    hour); answers the new computation's factors."""

    @extend_schema(
        request=GridFactorComputeSerializer,
        responses={201: GridFactorSerializer(many=True)},
    )
    def post(self, request):
        self.require("grid_factor.compute")
        fields = self.validated(GridFactorComputeSerializer)
        year, month = services.parse_period(fields["period"])
        computation = services.grid_factors_compute(actor=request.user, year=year, month=month)
        factors = computation.factors.select_related("region", "computation__checkpoint")
        return Response(
            GridFactorSerializer(factors.order_by("region__code"), many=True).data,
            status=status.HTTP_201_CREATED,
        )
