"""API views of holdings: blocks, transfers, retirements, cancellations, corresponding
adjustments (R14), neutrality events (R11), and public verification."""

from __future__ import annotations

import hashlib
import uuid

import django_filters
from django.db.models import Q
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import account_resolve
from registry.api import idempotency
from registry.api.base import RegistryGenericViewSet, RegistryReadOnlyViewSet
from registry.api.filters import UtcIsoDateTimeFilter, serial_range_overlap
from registry.api.pagination import IdCursorPagination, NewestFirstCursorPagination
from tracking import selectors, services
from tracking.api import serializers as api
from tracking.models import (
    Block,
    Cancellation,
    CorrespondingAdjustment,
    NeutralityEvent,
    Retirement,
    Transfer,
)


class BlockFilter(django_filters.FilterSet):
    account = django_filters.CharFilter(field_name="account__number")
    mechanism = django_filters.CharFilter(field_name="mechanism__code")
    project = django_filters.CharFilter(field_name="stream__project__code")
    vintage_from = django_filters.NumberFilter(field_name="vintage", lookup_expr="gte")
    vintage_to = django_filters.NumberFilter(field_name="vintage", lookup_expr="lte")
    serial = django_filters.CharFilter(method="filter_serial", label="serial or serial range")

    class Meta:
        model = Block
        fields = [
            "account",
            "mechanism",
            "project",
            "status",
            "vintage",
            "vintage_from",
            "vintage_to",
            "serial",
        ]

    def filter_serial(self, queryset, name, value):
        return queryset.filter(serial_range_overlap(value))


class BlockViewSet(RegistryReadOnlyViewSet):
    """Holdings: certificates of one claim over a serial range, in one account and status."""

    resource = "block"
    queryset = Block.objects.select_related("mechanism", "account", "stream__project", "retirement")
    serializer_class = api.BlockSerializer
    pagination_class = IdCursorPagination
    filterset_class = BlockFilter

    def _set_status(self, request, new_status: str) -> Response:
        block = self.get_object()
        self.require("block.set_status", block)
        payload = self.validated(api.BlockStatusSerializer)
        services.block_set_status(
            actor=request.user,
            block=block,
            status=new_status,
            reason=payload["reason"],
        )
        return Response(api.BlockSerializer(self.get_queryset().get(pk=block.pk)).data)

    @extend_schema(request=api.BlockStatusSerializer, responses={200: api.BlockSerializer})
    @action(detail=True, methods=["post"])
    def freeze(self, request, pk=None):
        return self._set_status(request, Block.Status.FROZEN)

    @extend_schema(request=api.BlockStatusSerializer, responses={200: api.BlockSerializer})
    @action(detail=True, methods=["post"])
    def unfreeze(self, request, pk=None):
        return self._set_status(request, Block.Status.ACTIVE)


class MovementFilter(django_filters.FilterSet):
    mechanism = django_filters.CharFilter(field_name="mechanism__code")
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")


class TransferFilter(MovementFilter):
    account = django_filters.CharFilter(method="filter_account")

    class Meta:
        model = Transfer
        fields = ["mechanism", "account", "created_after", "created_before"]

    def filter_account(self, queryset, name, value):
        return queryset.filter(Q(source_account__number=value) | Q(target_account__number=value))


def _transfer_key(request) -> str | None:
    """The caller's Idempotency-Key with the request it came with, as the transfer's own unique
    key: a second, database-level guard behind the API's stored responses, which outlives them.

    The request's fingerprint is part of the key, so once the stored response has expired, the
    key with a different request acts anew instead of answering with the unrelated transfer it
    was first used for; the identical request still finds its first transfer. Hashed to fit the
    column (80 characters)."""
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key:
        return None
    fingerprint = idempotency.request_hash(request)
    return "sha256:" + hashlib.sha256(f"{key}\n{fingerprint}".encode()).hexdigest()


class TransferViewSet(RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Movements of units between accounts, by quantity or by serial range."""

    resource = "transfer"
    queryset = Transfer.objects.select_related(
        "mechanism", "source_account", "target_account", "actor"
    )
    serializer_class = api.TransferSerializer
    pagination_class = NewestFirstCursorPagination
    filterset_class = TransferFilter
    lookup_field = "public_id"

    @extend_schema(request=api.TransferCreateSerializer, responses={201: api.TransferSerializer})
    def create(self, request):
        fields = self.validated(api.TransferCreateSerializer)
        source = account_resolve(fields["source_account"], field="source_account")
        self.require("holding.operate", source)
        transfer = services.block_transfer(
            actor=request.user,
            source_account=source,
            target_account=fields["target_account"],
            mechanism=fields["mechanism"],
            quantity=fields["quantity"],
            serial_range=fields["serial_range"],
            idempotency_key=_transfer_key(request),
        )
        return Response(api.TransferSerializer(transfer).data, status=status.HTTP_201_CREATED)


class AccountMovementFilter(MovementFilter):
    account = django_filters.CharFilter(field_name="account__number")


class RetirementFilter(AccountMovementFilter):
    class Meta:
        model = Retirement
        fields = [
            "mechanism",
            "account",
            "purpose",
            "reporting_year",
            "location",
            "event",
            "created_after",
            "created_before",
        ]


class RetirementViewSet(RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Retirements. One retirement by id is public: its permanent record needs no login."""

    resource = "retirement"
    queryset = Retirement.objects.select_related("mechanism", "account").prefetch_related(
        api.RETIRED_BLOCKS, "allocations"
    )
    serializer_class = api.RetirementSerializer
    pagination_class = NewestFirstCursorPagination
    filterset_class = RetirementFilter
    lookup_field = "public_id"

    def _public_record(self) -> bool:
        # The record's own route is public (other methods there answer 405); its allocations
        # route needs a login. ``action`` is not set yet when authenticators are chosen.
        return (
            bool(getattr(self, "kwargs", {}).get("public_id"))
            and "retrieve" in getattr(self, "action_map", {}).values()
        )

    def get_permissions(self):
        # As the authenticators below: other methods on the record answer 405, not 403.
        if self._public_record():
            return [AllowAny()]
        return super().get_permissions()

    def get_authenticators(self):
        # The public record answers the same to everyone, so a stale token must not turn it 401.
        if self._public_record():
            return []
        return super().get_authenticators()

    def get_queryset(self):
        if self.action == "retrieve":
            return self.base_queryset()
        return super().get_queryset()

    @extend_schema(auth=[{}])
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=api.RetirementCreateSerializer, responses={201: api.RetirementSerializer}
    )
    def create(self, request):
        fields = self.validated(api.RetirementCreateSerializer)
        account = account_resolve(fields.pop("account"), field="account")
        self.require("holding.operate", account)
        retirement = services.block_retire(actor=request.user, account=account, **fields)
        return Response(
            api.RetirementSerializer(
                self.base_queryset().get(pk=retirement.pk), context={"request": request}
            ).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=api.RetirementAllocationCreateSerializer,
        responses={201: api.RetirementAllocationSerializer},
    )
    @action(detail=True, methods=["post"])
    def allocations(self, request, public_id=None):
        """Allocate part of the retirement to a product batch, an event or a report (its
        holder or an administrator): never more than it retired (409
        ``allocation_exceeds_retirement``), each reference once (409
        ``allocation_reference_taken``)."""
        try:
            retirement = self.base_queryset().filter(public_id=uuid.UUID(public_id)).first()
        except ValueError:
            retirement = None
        if retirement is None:
            raise NotFound()
        self.require("holding.operate", retirement.account)
        fields = self.validated(api.RetirementAllocationCreateSerializer)
        allocation = services.retirement_allocate(
            actor=request.user, retirement=retirement, **fields
        )
        return Response(
            api.RetirementAllocationSerializer(allocation).data, status=status.HTTP_201_CREATED
        )


class CancellationFilter(AccountMovementFilter):
    class Meta:
        model = Cancellation
        fields = ["mechanism", "account", "created_after", "created_before"]


class CancellationViewSet(RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Units taken out of circulation without a beneficiary."""

    resource = "cancellation"
    queryset = Cancellation.objects.select_related("mechanism", "account").prefetch_related(
        api.CANCELLED_BLOCKS
    )
    serializer_class = api.CancellationSerializer
    pagination_class = NewestFirstCursorPagination
    filterset_class = CancellationFilter
    lookup_field = "public_id"

    @extend_schema(
        request=api.CancellationCreateSerializer, responses={201: api.CancellationSerializer}
    )
    def create(self, request):
        fields = self.validated(api.CancellationCreateSerializer)
        account = account_resolve(fields["account"], field="account")
        self.require("holding.operate", account)
        cancellation = services.block_cancel(
            actor=request.user,
            account=account,
            mechanism=fields["mechanism"],
            reason=fields["reason"],
            quantity=fields["quantity"],
            serial_range=fields["serial_range"],
        )
        return Response(
            api.CancellationSerializer(cancellation).data, status=status.HTTP_201_CREATED
        )


class CorrespondingAdjustmentFilter(django_filters.FilterSet):
    mechanism = django_filters.CharFilter(field_name="mechanism__code")
    transfer = django_filters.UUIDFilter(field_name="transfer__public_id")

    class Meta:
        model = CorrespondingAdjustment
        fields = ["mechanism", "status", "host_country", "acquiring_country", "transfer"]


class CorrespondingAdjustmentViewSet(RegistryReadOnlyViewSet):
    """R14: units counting toward a host country's target that left it, and the status of the
    host's corresponding adjustment. Administrators move the status forward."""

    resource = "corresponding_adjustment"
    queryset = CorrespondingAdjustment.objects.select_related(
        "mechanism", "transfer", "stream__project"
    )
    serializer_class = api.CorrespondingAdjustmentSerializer
    pagination_class = IdCursorPagination
    filterset_class = CorrespondingAdjustmentFilter

    @extend_schema(
        request=api.AdjustmentStatusSerializer,
        responses={200: api.CorrespondingAdjustmentSerializer},
    )
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        """Move the adjustment one step forward (administrators): not_started -> pending ->
        completed, with the host country's reference; other steps answer 409."""
        adjustment = self.get_object()
        self.require("corresponding_adjustment.set_status", adjustment)
        payload = self.validated(api.AdjustmentStatusSerializer)
        services.corresponding_adjustment_set_status(
            actor=request.user,
            adjustment=adjustment,
            status=payload["status"],
            reference=payload["reference"],
        )
        return Response(
            api.CorrespondingAdjustmentSerializer(self.get_queryset().get(pk=adjustment.pk)).data
        )


class NeutralityEventViewSet(
    RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """R11: large events that claim neutrality, with the projects built for them; retirements
    with purpose event name one. Administrators record them."""

    resource = "neutrality_event"
    queryset = NeutralityEvent.objects.select_related("organiser").prefetch_related("projects")
    serializer_class = api.NeutralityEventSerializer
    pagination_class = IdCursorPagination

    @extend_schema(
        request=api.NeutralityEventCreateSerializer,
        responses={201: api.NeutralityEventSerializer},
    )
    def create(self, request):
        self.require("neutrality_event.create")
        fields = self.validated(api.NeutralityEventCreateSerializer)
        event = services.neutrality_event_create(actor=request.user, **fields)
        return Response(
            api.NeutralityEventSerializer(self.base_queryset().get(pk=event.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class VerifyView(APIView):
    """Public: which mechanism claims a unit, its status, chain of custody and retirement."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, auth=[{}])
    def get(self, request, serial: str):
        return Response(selectors.unit_verify(serial))
