"""API views of issuances: issuing bodies create unit claims, administrators revoke them."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from issuance import services
from issuance.api import serializers as api
from registry.api.base import RegistryGenericViewSet
from registry.api.pagination import NewestFirstCursorPagination
from registry.api.serializers import RequiredReasonSerializer
from registry.models import UnitClaim
from registry.selectors import mechanism_resolve
from tracking.services import claim_revoke


class IssuanceFilter(django_filters.FilterSet):
    mechanism = django_filters.CharFilter(field_name="mechanism__code")
    project = django_filters.CharFilter(field_name="stream__project__code")
    account = django_filters.CharFilter(field_name="account__number")

    class Meta:
        model = UnitClaim
        fields = ["mechanism", "project", "account", "status", "role", "vintage"]


class IssuanceViewSet(RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Unit claims: the fact "these serials are GEC" (or I-REC, CCER, ...)."""

    resource = "issuance"
    queryset = UnitClaim.objects.select_related(
        "mechanism", "stream__project", "account", "issued_by"
    )
    serializer_class = api.IssuanceSerializer
    pagination_class = NewestFirstCursorPagination
    filterset_class = IssuanceFilter

    @extend_schema(request=api.IssuanceCreateSerializer, responses={201: api.IssuanceSerializer})
    def create(self, request):
        fields = self.validated(api.IssuanceCreateSerializer)
        mechanism = mechanism_resolve(fields["mechanism"])
        self.require("issuance.create", mechanism)
        claim = services.unit_claim_issue(
            actor=request.user,
            mechanism=mechanism,
            production_record=fields["production_record"],
            account=fields["account"],
            quantity=fields.get("quantity"),
            serial_range=fields.get("serial_range") or None,
            conversion_factor=fields.get("conversion_factor"),
            conversion_source=fields.get("conversion_source", ""),
        )
        return Response(
            api.IssuanceSerializer(self.base_queryset().get(pk=claim.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=RequiredReasonSerializer, responses={200: api.IssuanceSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        claim = self.get_object()
        self.require("issuance.revoke", claim)
        payload = self.validated(RequiredReasonSerializer)
        claim_revoke(actor=request.user, claim=claim, reason=payload["reason"])
        return Response(api.IssuanceSerializer(self.base_queryset().get(pk=claim.pk)).data)
