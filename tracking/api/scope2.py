"""API of scope 2 reports under /api/v1/accounting/scope2-reports/."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from accounts.selectors import organisation_resolve
from registry.api.base import RegistryGenericViewSet
from registry.errors import NotFound
from tracking.accounting import services
from tracking.accounting.models import Scope2Certificate, Scope2Report
from tracking.accounting.scope2 import scope2_report_create


class Scope2CertificateSerializer(serializers.ModelSerializer):
    retirement = serializers.UUIDField(source="retirement.public_id")
    mechanism = serializers.CharField(source="retirement.mechanism.code")
    region = serializers.CharField(source="region.code")
    claim_period_start = serializers.DateField(source="retirement.claim_period_start")
    claim_period_end = serializers.DateField(source="retirement.claim_period_end")
    location = serializers.CharField(source="retirement.location")
    serial_ranges = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Scope2Certificate
        fields = [
            "retirement",
            "mechanism",
            "region",
            "mwh",
            "claim_period_start",
            "claim_period_end",
            "location",
            "serial_ranges",
        ]


class Scope2ReportSerializer(serializers.ModelSerializer):
    organisation = serializers.CharField(source="organisation.code")
    period = serializers.CharField(source="period_label")
    computation = serializers.IntegerField(source="computation.pk")
    regions = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField(allow_null=True)),
        help_text=(
            "Per grid region: consumption_mwh, certificate_mwh, average_factor, "
            "residual_factor, factor_for_uncovered, location_based_t, market_based_t."
        ),
    )
    certificates = Scope2CertificateSerializer(many=True)
    created_by = serializers.CharField(source="created_by.username")

    class Meta:
        model = Scope2Report
        fields = [
            "id",
            "organisation",
            "period",
            "computation",
            "consumption_mwh",
            "certificate_mwh",
            "location_based_t",
            "market_based_t",
            "regions",
            "certificates",
            "created_by",
            "created_at",
        ]


class Scope2ReportCreateSerializer(serializers.Serializer):
    organisation = serializers.CharField(
        max_length=32, required=False, help_text="Organisation code; defaults to the caller's."
    )
    period = serializers.CharField(max_length=7, help_text="A year (2025) or a month (2025-03).")
    retirements = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=1000,
        help_text="Ids of the organisation's scope 2 retirements to count.",
    )


class Scope2ReportViewSet(RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Scope 2 reports: location-based and market-based emissions of an organisation for a
    year or a month, from the grid factors and its own retirements, each counted once."""

    resource = "scope2_report"
    queryset = (
        Scope2Report.objects.select_related("organisation", "computation", "created_by")
        .prefetch_related("certificates__retirement__mechanism", "certificates__region")
        .order_by("id")
    )
    serializer_class = Scope2ReportSerializer
    filterset_fields = {"organisation__code": ["exact"], "year": ["exact"], "month": ["exact"]}

    @extend_schema(request=Scope2ReportCreateSerializer, responses={201: Scope2ReportSerializer})
    def create(self, request):
        fields = self.validated(Scope2ReportCreateSerializer)
        if fields.get("organisation"):
            organisation = organisation_resolve(fields["organisation"], field="organisation")
        else:
            organisation = getattr(request.user, "organisation", None)
        if organisation is None:
            raise NotFound(
                _("You belong to no organisation; name one."),
                code="unknown_organisation",
                field="organisation",
            )
        self.require("scope2_report.create", organisation)
        year, month = services.parse_period(fields["period"])
        report = scope2_report_create(
            actor=request.user,
            organisation=organisation,
            year=year,
            month=month,
            retirements=fields.get("retirements", []),
        )
        return Response(
            Scope2ReportSerializer(self.base_queryset().get(pk=report.pk)).data,
            status=status.HTTP_201_CREATED,
        )
