"""API views of the core: mechanisms, projects, streams, production, declarations, the ledger."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from registry import services
from registry.api import serializers as api
from registry.api.base import RegistryGenericViewSet, RegistryReadOnlyViewSet
from registry.api.filters import UtcIsoDateTimeFilter, serial_range_overlap
from registry.api.pagination import NewestFirstCursorPagination
from registry.api.problems import problem_exception_handler
from registry.errors import DomainError
from registry.models import (
    Checkpoint,
    Declaration,
    LedgerEvent,
    Mechanism,
    ProductionRecord,
    Project,
    Stream,
    UnitClaim,
)


class MechanismViewSet(RegistryReadOnlyViewSet):
    """Mechanisms (GEC, I-REC, CCER, ...): reference data, read only."""

    resource = "mechanism"
    queryset = Mechanism.objects.prefetch_related("issuing_bodies").order_by("code")
    serializer_class = api.MechanismSerializer
    lookup_field = "code"
    filterset_fields = ["unit_kind", "kind"]


class ProjectFilter(django_filters.FilterSet):
    owner = django_filters.CharFilter(field_name="owner__code")

    class Meta:
        model = Project
        fields = ["status", "province", "technology", "owner"]


class ProjectViewSet(RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Projects: project owners register, administrators approve or reject."""

    resource = "project"
    queryset = (
        Project.objects.select_related("owner")
        .prefetch_related("streams", "meters", "identifiers")
        .order_by("id")
    )
    serializer_class = api.ProjectSerializer
    lookup_field = "code"
    filterset_class = ProjectFilter

    @extend_schema(request=api.ProjectRegisterSerializer, responses={201: api.ProjectSerializer})
    def create(self, request):
        self.require("project.register")
        fields = self.validated(api.ProjectRegisterSerializer)
        owner = fields.pop("owner", None) or request.user.organisation
        if owner is None:
            raise DomainError("An owner organisation is required.", field="owner")
        # ``external_ids`` is the former name of ``identifiers``: both are accepted, not both
        # for the same registry.
        former = fields.pop("external_ids")
        clash = sorted(set(former) & set(fields["identifiers"]))
        if clash:
            raise DomainError(
                _("Registry %(registry)s is given in both identifiers and external_ids.")
                % {"registry": clash[0]},
                field="identifiers",
            )
        fields["identifiers"] = {**former, **fields["identifiers"]}
        project = services.project_register(actor=request.user, owner=owner, **fields)
        return Response(
            api.ProjectSerializer(self.base_queryset().get(pk=project.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    def _set_status(self, request, new_status: str) -> Response:
        project = self.get_object()
        self.require("project.set_status", project)
        payload = self.validated(api.ReasonSerializer)
        services.project_set_status(
            actor=request.user,
            project=project,
            status=new_status,
            reason=payload["reason"],
        )
        return Response(api.ProjectSerializer(self.base_queryset().get(pk=project.pk)).data)

    @extend_schema(request=api.ReasonSerializer, responses={200: api.ProjectSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, code=None):
        return self._set_status(request, Project.Status.APPROVED)

    @extend_schema(request=api.ReasonSerializer, responses={200: api.ProjectSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, code=None):
        return self._set_status(request, Project.Status.REJECTED)

    @extend_schema(
        request=api.ProjectTransferOwnershipSerializer, responses={200: api.ProjectSerializer}
    )
    @action(detail=True, methods=["post"], url_path="transfer-ownership")
    def transfer_ownership(self, request, code=None):
        project = self.get_object()
        self.require("project.transfer_ownership", project)
        payload = self.validated(api.ProjectTransferOwnershipSerializer)
        services.project_transfer_ownership(
            actor=request.user,
            project=project,
            new_owner=payload["owner"],
            reason=payload["reason"],
        )
        return Response(api.ProjectSerializer(self.base_queryset().get(pk=project.pk)).data)


class StreamViewSet(RegistryReadOnlyViewSet):
    """A project's output of one unit kind (E MWh, C tCO2e, T tce)."""

    resource = "stream"
    queryset = Stream.objects.select_related("project").order_by("id")
    serializer_class = api.StreamSerializer
    filterset_fields = {"unit_kind": ["exact"], "project__code": ["exact"]}


class ProductionRecordFilter(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="stream__project__code")
    unit_kind = django_filters.CharFilter(field_name="stream__unit_kind")

    class Meta:
        model = ProductionRecord
        fields = ["project", "unit_kind", "vintage", "stream"]


def _bulk_row_schema():
    return inline_serializer(
        "ProductionRecordBulkResult",
        fields={
            "count": serializers.IntegerField(),
            "created": serializers.IntegerField(),
            "failed": serializers.IntegerField(),
            "results": serializers.ListField(child=serializers.DictField()),
        },
    )


class ProductionRecordViewSet(
    RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Metered or verified output; each record receives its serial range."""

    resource = "production_record"
    queryset = ProductionRecord.objects.select_related("stream__project").order_by("id")
    serializer_class = api.ProductionRecordSerializer
    filterset_class = ProductionRecordFilter

    def _create_one(self, request, row) -> ProductionRecord:
        fields = self.validated(api.ProductionRecordCreateSerializer, row)
        self.require("production_record.create", fields["project"])
        return services.production_record_create(actor=request.user, **fields)

    @extend_schema(
        request=api.ProductionRecordCreateSerializer,
        responses={201: api.ProductionRecordSerializer},
    )
    def create(self, request):
        record = self._create_one(request, request.data)
        return Response(
            api.ProductionRecordSerializer(self.base_queryset().get(pk=record.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=api.ProductionRecordBulkSerializer,
        responses={200: OpenApiResponse(_bulk_row_schema())},
        description=(
            "Many records in one request, each validated and recorded exactly as a single one, "
            "each in its own transaction; the answer gives every row's status and record or "
            "problem."
        ),
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        self.require("production_record.submit")
        payload = self.validated(api.ProductionRecordBulkSerializer)
        results = []
        for index, row in enumerate(payload["records"]):
            try:
                record = self._create_one(request, row)
            except Exception as error:  # answered per row exactly as a single request would be
                problem = problem_exception_handler(error, {"view": self, "request": request})
                if problem is None:
                    raise
                results.append({"index": index, "status": problem.status_code, **problem.data})
                continue
            results.append(
                {
                    "index": index,
                    "status": 201,
                    "record": api.ProductionRecordSerializer(
                        self.base_queryset().get(pk=record.pk)
                    ).data,
                }
            )
        created = sum(1 for row in results if row["status"] == 201)
        return Response(
            {
                "count": len(results),
                "created": created,
                "failed": len(results) - created,
                "results": results,
            }
        )


class DeclarationViewSet(RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Declarations of no double counting: the exact signed text and its SHA-256."""

    resource = "declaration"
    queryset = Declaration.objects.select_related("project", "stream", "signer").order_by("id")
    serializer_class = api.DeclarationSerializer
    filterset_fields = {"project__code": ["exact"], "stream__unit_kind": ["exact"]}

    @extend_schema(
        request=api.DeclarationSignSerializer, responses={201: api.DeclarationSerializer}
    )
    def create(self, request):
        fields = self.validated(api.DeclarationSignSerializer)
        self.require("declaration.sign", fields["project"])
        declaration = services.declaration_sign(actor=request.user, **fields)
        return Response(
            api.DeclarationSerializer(self.base_queryset().get(pk=declaration.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=api.RequiredReasonSerializer, responses={200: api.DeclarationSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        declaration = self.get_object()
        self.require("declaration.revoke", declaration.project)
        payload = self.validated(api.RequiredReasonSerializer)
        services.declaration_revoke(
            actor=request.user, declaration=declaration, reason=payload["reason"]
        )
        return Response(api.DeclarationSerializer(self.base_queryset().get(pk=pk)).data)


class LedgerEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor__username")
    occurred_after = UtcIsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcIsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    serial = django_filters.CharFilter(method="filter_serial", label="serial")

    class Meta:
        model = LedgerEvent
        fields = ["kind", "actor", "occurred_after", "occurred_before", "serial"]

    def filter_serial(self, queryset, name, value):
        """Events about the claims and blocks that hold the serial (or any unit of a range)."""
        claims = list(
            UnitClaim.objects.filter(serial_range_overlap(value)).values_list("pk", flat=True)
        )
        subjects = [f"claim:{claim_id}" for claim_id in claims]
        if not subjects:
            return queryset.none()
        return queryset.filter(Q(subjects__overlap=subjects))


class LedgerEventViewSet(RegistryReadOnlyViewSet):
    """The append-only ledger: every change and every refused attempt, newest first."""

    resource = "ledger_event"
    queryset = LedgerEvent.objects.select_related("actor")
    serializer_class = api.LedgerEventSerializer
    pagination_class = NewestFirstCursorPagination
    filterset_class = LedgerEventFilter


@extend_schema_view(list=extend_schema(auth=[{}]), retrieve=extend_schema(auth=[{}]))
class CheckpointViewSet(RegistryReadOnlyViewSet):
    """Sealed checkpoints, public: Merkle roots chained to the previous checkpoint, newest
    first, so that anyone can keep copies and compare them later (``ledger_verify --against``).
    """

    # Published for anyone: no login, and a stale token must not turn the list into a 401.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    resource = "checkpoint"
    queryset = Checkpoint.objects.order_by("-sequence")
    serializer_class = api.CheckpointSerializer
    lookup_field = "sequence"
