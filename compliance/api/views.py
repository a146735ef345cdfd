"""API views of ETS compliance: schemes (read), covered entities and their position,
verified emissions and allocations (written by administrators), surrenders (by the entity)."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import Organisation
from compliance import selectors, services
from compliance.api import serializers as api
from compliance.models import (
    Allocation,
    ComplianceScheme,
    CoveredEntity,
    Surrender,
    VerifiedEmission,
)
from registry.api.base import RegistryGenericViewSet, RegistryReadOnlyViewSet
from registry.api.pagination import NewestFirstCursorPagination
from registry.errors import NotFound


def _entity(entity_id: int) -> CoveredEntity:
    """The covered entity a request body names. As accounts named in a transfer, it is looked
    up without the caller's scope: the permission check that follows answers 403 to a caller
    who may not act for it, and an unknown id is a 400 ``unknown_entity`` on the field."""
    entity = (
        CoveredEntity.objects.select_related("scheme__budget_project", "organisation", "account")
        .filter(pk=entity_id)
        .first()
    )
    if entity is None:
        raise NotFound(
            _("Unknown covered entity %(entity)s.") % {"entity": entity_id},
            code="unknown_entity",
            field="entity",
        )
    return entity


class ComplianceSchemeViewSet(RegistryReadOnlyViewSet):
    """Emissions trading schemes: the national ETS and regional pilots, with their CCER limits."""

    resource = "compliance_scheme"
    queryset = ComplianceScheme.objects.select_related("authority", "budget_project").order_by(
        "code"
    )
    serializer_class = api.ComplianceSchemeSerializer
    lookup_field = "code"
    filterset_fields = ["kind"]


class CoveredEntityFilter(django_filters.FilterSet):
    scheme = django_filters.CharFilter(field_name="scheme__code")
    organisation = django_filters.CharFilter(field_name="organisation__code")

    class Meta:
        model = CoveredEntity
        fields = ["scheme", "organisation"]


class CoveredEntityViewSet(
    RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Organisations covered by a scheme, with the compliance account they hold allowances in."""

    resource = "covered_entity"
    queryset = CoveredEntity.objects.select_related("scheme", "organisation", "account").order_by(
        "id"
    )
    serializer_class = api.CoveredEntitySerializer
    filterset_class = CoveredEntityFilter

    @extend_schema(
        request=api.CoveredEntityCreateSerializer, responses={201: api.CoveredEntitySerializer}
    )
    def create(self, request):
        self.require("covered_entity.create")
        fields = self.validated(api.CoveredEntityCreateSerializer)
        scheme = ComplianceScheme.objects.filter(code=fields["scheme"]).first()
        if scheme is None:
            raise NotFound(
                _("Unknown scheme %(scheme)s.") % {"scheme": fields["scheme"]},
                code="unknown_scheme",
                field="scheme",
            )
        organisation = Organisation.objects.filter(code=fields["organisation"]).first()
        if organisation is None:
            raise NotFound(
                _("Unknown organisation %(organisation)s.")
                % {"organisation": fields["organisation"]},
                code="unknown_organisation",
                field="organisation",
            )
        entity = services.covered_entity_register(
            actor=request.user, scheme=scheme, organisation=organisation
        )
        return Response(
            api.CoveredEntitySerializer(self.base_queryset().get(pk=entity.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("compliance_year", int, OpenApiParameter.QUERY, required=True)
        ],
        responses={200: api.CompliancePositionSerializer},
        filters=False,
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def position(self, request, pk=None):
        """Obligation, allocation, allowances held, surrendered allowances and CCER, what
        remains, and the CCER headroom for one compliance year."""
        entity = self.get_object()
        query = self.validated(api.PositionQuerySerializer, data=request.query_params)
        position = selectors.compliance_position(
            entity=entity, compliance_year=query["compliance_year"]
        )
        return Response(api.CompliancePositionSerializer(position).data)


class EntityYearFilter(django_filters.FilterSet):
    scheme = django_filters.CharFilter(field_name="entity__scheme__code")
    organisation = django_filters.CharFilter(field_name="entity__organisation__code")


class VerifiedEmissionFilter(EntityYearFilter):
    class Meta:
        model = VerifiedEmission
        fields = ["entity", "compliance_year", "scheme", "organisation"]


class VerifiedEmissionViewSet(
    RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Verified emissions per entity and compliance year (the obligation); a correction
    supersedes the figure before it."""

    resource = "verified_emission"
    queryset = VerifiedEmission.objects.all()
    serializer_class = api.VerifiedEmissionSerializer
    pagination_class = NewestFirstCursorPagination
    filterset_class = VerifiedEmissionFilter

    @extend_schema(
        request=api.VerifiedEmissionCreateSerializer,
        responses={201: api.VerifiedEmissionSerializer},
    )
    def create(self, request):
        self.require("verified_emission.create")
        fields = self.validated(api.VerifiedEmissionCreateSerializer)
        entity = _entity(fields.pop("entity"))
        figure = services.verified_emissions_record(actor=request.user, entity=entity, **fields)
        return Response(api.VerifiedEmissionSerializer(figure).data, status=status.HTTP_201_CREATED)


class AllocationFilter(EntityYearFilter):
    class Meta:
        model = Allocation
        fields = ["entity", "compliance_year", "kind", "scheme", "organisation"]


class AllocationViewSet(RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Allowances allocated to covered entities: pre-allocations and final adjustments."""

    resource = "allocation"
    queryset = Allocation.objects.select_related("claim__stream__project", "cancellation")
    serializer_class = api.AllocationSerializer
    pagination_class = NewestFirstCursorPagination
    filterset_class = AllocationFilter

    @extend_schema(
        request=api.AllocationCreateSerializer, responses={201: api.AllocationSerializer}
    )
    def create(self, request):
        self.require("allocation.create")
        fields = self.validated(api.AllocationCreateSerializer)
        entity = _entity(fields.pop("entity"))
        allocation = services.allowances_allocate(actor=request.user, entity=entity, **fields)
        return Response(
            api.AllocationSerializer(self.base_queryset().get(pk=allocation.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class SurrenderFilter(EntityYearFilter):
    class Meta:
        model = Surrender
        fields = ["entity", "compliance_year", "scheme", "organisation"]


class SurrenderViewSet(RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Surrenders of allowances and CCER for a compliance year (R10 checks the CCER)."""

    resource = "surrender"
    queryset = Surrender.objects.select_related("allowance_retirement", "ccer_retirement")
    serializer_class = api.SurrenderSerializer
    pagination_class = NewestFirstCursorPagination
    filterset_class = SurrenderFilter
    lookup_field = "public_id"

    @extend_schema(request=api.SurrenderCreateSerializer, responses={201: api.SurrenderSerializer})
    def create(self, request):
        fields = self.validated(api.SurrenderCreateSerializer)
        entity = _entity(fields.pop("entity"))
        self.require("surrender.create", entity.account)
        surrender = services.units_surrender(
            actor=request.user,
            entity=entity,
            compliance_year=fields["compliance_year"],
            allowance_quantity=fields["allowance_quantity"],
            ccer_quantity=fields["ccer_quantity"],
            ccer_serial_range=fields["ccer_serial_range"] or None,
        )
        return Response(
            api.SurrenderSerializer(self.base_queryset().get(pk=surrender.pk)).data,
            status=status.HTTP_201_CREATED,
        )
