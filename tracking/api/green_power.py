"""API of green power settlement under /api/v1/accounting/: contracts, electricity consumption
and monthly settlements (docs/domain.md, green power settlement). Serializers and views of this part
live together here; months are "YYYY-MM" text in and out."""

from __future__ import annotations

import re

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import Organisation
from registry.api.base import RegistryGenericViewSet
from registry.api.pagination import IdCursorPagination
from registry.api.serializers import PeriodField
from registry.errors import DomainError
from tracking.accounting import services
from tracking.accounting.models import (
    ElectricityConsumption,
    GreenPowerContract,
    GreenPowerSettlement,
)

MONTH_TEXT = re.compile(r"^\d{4}-\d{2}$")

# --- serializers ------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.STR)
class MonthField(serializers.Field):
    """A YYYYMM month shown as "YYYY-MM"."""

    def to_representation(self, value):
        return f"{value // 100:04d}-{value % 100:02d}"


class GreenPowerContractSerializer(serializers.ModelSerializer):
    generator_project = serializers.CharField(source="generator_project.code", read_only=True)
    generator_account = serializers.CharField(source="generator_account.number", read_only=True)
    buyer = serializers.CharField(source="buyer.code", read_only=True)
    buyer_account = serializers.CharField(source="buyer_account.number", read_only=True)
    valid_from = MonthField(read_only=True)
    valid_to = MonthField(read_only=True, allow_null=True)

    class Meta:
        model = GreenPowerContract
        fields = [
            "id",
            "code",
            "generator_project",
            "generator_account",
            "buyer",
            "buyer_account",
            "monthly_mwh",
            "valid_from",
            "valid_to",
            "created_at",
        ]


class GreenPowerContractCreateSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)
    generator_project = serializers.CharField(max_length=6, help_text="Project code.")
    generator_account = serializers.CharField(max_length=32, help_text="Account number.")
    buyer = serializers.CharField(max_length=32, help_text="Organisation code.")
    buyer_account = serializers.CharField(max_length=32, help_text="Account number.")
    monthly_mwh = serializers.DecimalField(max_digits=20, decimal_places=6, min_value=0)
    valid_from = serializers.RegexField(
        MONTH_TEXT.pattern, max_length=7, help_text='First month, "YYYY-MM".'
    )
    valid_to = serializers.RegexField(
        MONTH_TEXT.pattern,
        max_length=7,
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text='Last month, "YYYY-MM"; empty: open-ended.',
    )


class ElectricityConsumptionSerializer(serializers.ModelSerializer):
    organisation = serializers.CharField(source="organisation.code", read_only=True)
    period = PeriodField(read_only=True)

    class Meta:
        model = ElectricityConsumption
        fields = ["id", "organisation", "province", "site", "period", "mwh", "entered_at"]


class ElectricityConsumptionCreateSerializer(serializers.Serializer):
    organisation = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text="Organisation code; empty: the caller's own.",
    )
    province = serializers.CharField(max_length=6, help_text="ISO 3166-2, e.g. CN-BJ")
    site = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    mwh = serializers.DecimalField(max_digits=20, decimal_places=6, min_value=0)


class GreenPowerSettlementSerializer(serializers.ModelSerializer):
    contract = serializers.CharField(source="contract.code", read_only=True)
    month = MonthField(read_only=True)
    generator_confirmed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    buyer_confirmed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    transfer = serializers.UUIDField(
        source="transfer.public_id", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = GreenPowerSettlement
        fields = [
            "id",
            "contract",
            "month",
            "contracted_mwh",
            "buyer_scaled_mwh",
            "generator_scaled_mwh",
            "carried_in_mwh",
            "settled_mwh",
            "carried_out_mwh",
            "status",
            "computed_at",
            "generator_confirmed_by",
            "generator_confirmed_at",
            "buyer_confirmed_by",
            "buyer_confirmed_at",
            "transfer",
            "refusal_code",
            "refusal_message",
        ]


class SettleMonthSerializer(serializers.Serializer):
    month = serializers.RegexField(
        MONTH_TEXT.pattern, max_length=7, help_text='The month to settle, "YYYY-MM".'
    )


class ConfirmSettlementSerializer(serializers.Serializer):
    side = serializers.ChoiceField(
        choices=[services.GENERATOR, services.BUYER],
        required=False,
        allow_null=True,
        default=None,
        help_text="The party confirmed for: required of administrators, inferred otherwise.",
    )


# --- views ------------------------------------------------------------------------------------


class MonthFilter(django_filters.FilterSet):
    month = django_filters.CharFilter(method="filter_month", label='month, "YYYY-MM"')

    def filter_month(self, queryset, name, value):
        if not MONTH_TEXT.match(value or ""):
            return queryset.none()
        year, number = value.split("-")
        return queryset.filter(month=int(year) * 100 + int(number))


class SettlementFilter(MonthFilter):
    class Meta:
        model = GreenPowerSettlement
        fields = ["month"]


class GreenPowerContractViewSet(RegistryGenericViewSet, mixins.ListModelMixin):
    """Green power contracts between a renewable generator and a buyer; the parties see theirs.
    The generator's owner (or an administrator) records them."""

    resource = "green_power_contract"
    queryset = GreenPowerContract.objects.select_related(
        "generator_project", "generator_account", "buyer", "buyer_account"
    )
    serializer_class = GreenPowerContractSerializer
    pagination_class = IdCursorPagination

    @extend_schema(
        request=GreenPowerContractCreateSerializer,
        responses={201: GreenPowerContractSerializer},
    )
    def create(self, request):
        self.require("green_power_contract.create")
        fields = self.validated(GreenPowerContractCreateSerializer)
        contract = services.green_power_contract_create(actor=request.user, **fields)
        return Response(
            GreenPowerContractSerializer(self.base_queryset().get(pk=contract.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class ElectricityConsumptionViewSet(RegistryGenericViewSet, mixins.ListModelMixin):
    """Metered electricity consumption of organisations (MWh per province and period), which
    green power settlement and scope 2 accounting read."""

    resource = "electricity_consumption"
    queryset = ElectricityConsumption.objects.select_related("organisation")
    serializer_class = ElectricityConsumptionSerializer
    pagination_class = IdCursorPagination

    @extend_schema(
        request=ElectricityConsumptionCreateSerializer,
        responses={201: ElectricityConsumptionSerializer},
    )
    def create(self, request):
        fields = self.validated(ElectricityConsumptionCreateSerializer)
        code = fields.pop("organisation").strip()
        if code:
            organisation = Organisation.objects.filter(code=code).first()
            if organisation is None:
                raise DomainError(
                    _("Unknown organisation %(organisation)s.") % {"organisation": code},
                    code="unknown_organisation",
                    field="organisation",
                )
        else:
            organisation = request.user.organisation
            if organisation is None:
                self.require("electricity_consumption.create", None)
                raise DomainError(
                    _("Name the organisation whose consumption this is."),
                    field="organisation",
                )
        self.require("electricity_consumption.create", organisation)
        row = services.electricity_consumption_record(
            actor=request.user, organisation=organisation, **fields
        )
        return Response(
            ElectricityConsumptionSerializer(self.base_queryset().get(pk=row.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class GreenPowerSettlementViewSet(RegistryGenericViewSet, mixins.ListModelMixin):
    """Monthly green power settlements per contract; the parties see theirs. An administrator
    settles a month; each party confirms, and the second confirmation moves the GECs."""

    resource = "green_power_settlement"
    queryset = GreenPowerSettlement.objects.select_related(
        "contract", "generator_confirmed_by", "buyer_confirmed_by", "transfer"
    )
    serializer_class = GreenPowerSettlementSerializer
    pagination_class = IdCursorPagination
    filterset_class = SettlementFilter

    @extend_schema(
        request=SettleMonthSerializer,
        responses={201: GreenPowerSettlementSerializer(many=True)},
        description=(
            "Compute (or recompute, while nobody has confirmed) the settlement of every contract "
            "active in the month; answers the stored settlements."
        ),
    )
    def create(self, request):
        self.require("green_power_settlement.settle")
        fields = self.validated(SettleMonthSerializer)
        rows = services.green_power_settle_month(actor=request.user, month=fields["month"])
        stored = self.base_queryset().filter(pk__in=[row.pk for row in rows]).order_by("pk")
        return Response(
            GreenPowerSettlementSerializer(stored, many=True).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=ConfirmSettlementSerializer,
        responses={200: GreenPowerSettlementSerializer},
        description=(
            "Confirm for the caller's party (administrators name the side). The second "
            "confirmation transfers the settled GECs of the generator's project and month; "
            "where the generator lacks them the settlement is answered with status refused and "
            "the refusal's code and message."
        ),
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        settlement = self.get_object()
        self.require("green_power_settlement.confirm", settlement)
        fields = self.validated(ConfirmSettlementSerializer, data=request.data or {})
        services.green_power_settlement_confirm(
            actor=request.user, settlement=settlement, side=fields["side"]
        )
        return Response(GreenPowerSettlementSerializer(self.base_queryset().get(pk=pk)).data)
