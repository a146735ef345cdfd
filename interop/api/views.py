"""API views of imports from other registries and of this registry's issuance export."""

from __future__ import annotations

import json

import django_filters
from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, renderers, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from interop import formats, selectors, services
from interop.api import serializers as api
from interop.models import ExternalRecord, ImportBatch, ImportRow
from registry.api.base import RegistryGenericViewSet
from registry.api.pagination import PagePagination
from registry.api.problems import ApiProblem


class ImportBatchViewSet(RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Imports of other registries' records: a file, its progress and the result of each row."""

    resource = "import_batch"
    queryset = ImportBatch.objects.select_related("created_by").defer("content").order_by("-id")
    serializer_class = api.ImportBatchSerializer
    filterset_fields = ["status", "layout"]

    @extend_schema(
        request=api.ImportCreateSerializer,
        responses={202: api.ImportBatchSerializer},
        description=(
            "Queue an import: the file as text (`content`, CSV or JSON) or the records as JSON "
            "objects (`rows`), in the canonical layout or a source registry's (docs/interop.md). "
            "Answers 202 with the batch; follow its progress at /imports/{id}/ and the result "
            "of each row at /imports/{id}/rows/."
        ),
    )
    def create(self, request):
        self.require("import_batch.create")
        fields = self.validated(api.ImportCreateSerializer)
        if "rows" in fields:
            file_format, content = "json", json.dumps(fields["rows"], ensure_ascii=False)
        else:
            file_format, content = fields.get("format", "csv"), fields["content"]
        batch = services.import_batch_create(
            actor=request.user,
            layout=fields["layout"],
            file_format=file_format,
            content=content,
            filename=fields.get("filename", ""),
        )
        return Response(
            api.ImportBatchSerializer(self.base_queryset().get(pk=batch.pk)).data,
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        responses={200: api.ImportRowSerializer(many=True)},
        parameters=[
            OpenApiParameter(
                "outcome", str, enum=ImportRow.Outcome.values, description="Only these rows."
            )
        ],
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=PagePagination)
    def rows(self, request, pk=None):
        batch = self.get_object()
        rows = batch.rows.order_by("row_number")
        outcome = request.query_params.get("outcome")
        if outcome is not None:
            if outcome not in ImportRow.Outcome.values:
                raise ApiProblem(
                    _("Unknown outcome."),
                    code="validation_error",
                    status_code=400,
                    errors={
                        "outcome": [
                            {"message": str(_("Unknown outcome.")), "code": "invalid_choice"}
                        ]
                    },
                )
            rows = rows.filter(outcome=outcome)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(api.ImportRowSerializer(page, many=True).data)


class ExternalRecordFilter(django_filters.FilterSet):
    mechanism = django_filters.CharFilter(field_name="mechanism_code")
    project = django_filters.CharFilter(field_name="project__code")
    linked = django_filters.BooleanFilter(
        field_name="project", lookup_expr="isnull", exclude=True, label="linked"
    )

    class Meta:
        model = ExternalRecord
        fields = [
            "source",
            "external_id",
            "kind",
            "mechanism",
            "unit_kind",
            "project",
            "linked",
            "link_method",
            "batch",
        ]


class ExternalRecordViewSet(
    RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Issuances and retirements of other registries; unlinked ones (linked=false) await an
    administrator's confirmation of a suggested project."""

    resource = "external_record"
    queryset = (
        ExternalRecord.objects.select_related("project", "linked_by")
        .prefetch_related("suggestions__project", "suggestions__decided_by")
        .order_by("id")
    )
    serializer_class = api.ExternalRecordSerializer
    filterset_class = ExternalRecordFilter

    @extend_schema(
        request=api.MatchDecisionSerializer, responses={200: api.ExternalRecordSerializer}
    )
    @action(detail=True, methods=["post"], url_path="confirm-match")
    def confirm_match(self, request, pk=None):
        record = self.get_object()
        self.require("external_record.match", record)
        fields = self.validated(api.MatchDecisionSerializer)
        services.external_record_confirm_match(
            actor=request.user, record=record, project=fields["project"]
        )
        return Response(api.ExternalRecordSerializer(self.base_queryset().get(pk=record.pk)).data)

    @extend_schema(
        request=api.MatchDecisionSerializer, responses={200: api.ExternalRecordSerializer}
    )
    @action(detail=True, methods=["post"], url_path="reject-match")
    def reject_match(self, request, pk=None):
        record = self.get_object()
        self.require("external_record.match", record)
        fields = self.validated(api.MatchDecisionSerializer)
        services.external_record_reject_match(
            actor=request.user, record=record, project=fields["project"]
        )
        return Response(api.ExternalRecordSerializer(self.base_queryset().get(pk=record.pk)).data)


class CanonicalCSVRenderer(renderers.BaseRenderer):
    """Selected by ?format=csv. The export itself streams; only problems come through here."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data, ensure_ascii=False).encode("utf-8")


class IssuanceExportView(APIView):
    """This registry's live issuances in the canonical interchange format, for other registries
    to check against (docs/interop.md). Public unless REGISTRY_INTEROP_PUBLIC_EXPORT is off:
    issuance records are public in most registries; the export names no account or holder."""

    renderer_classes = [renderers.JSONRenderer, CanonicalCSVRenderer]

    def get_authenticators(self):
        if settings.REGISTRY_INTEROP_PUBLIC_EXPORT:
            return []
        return super().get_authenticators()

    def get_permissions(self):
        if settings.REGISTRY_INTEROP_PUBLIC_EXPORT:
            return [AllowAny()]
        return [IsAuthenticated()]

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["csv", "json"], description="Default json."),
            api.ExportQuerySerializer,
        ],
        responses={
            (200, "application/json"): OpenApiResponse(
                api.ExportRowSerializer(many=True), description="A JSON list of canonical rows."
            ),
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="CSV with the canonical header."
            ),
        },
        auth=[{}],
    )
    def get(self, request):
        query = api.ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        claims = selectors.issuances_for_export(**query.validated_data)
        rows = selectors.export_rows(claims, source=settings.REGISTRY_INTEROP_SOURCE)
        if request.accepted_renderer.format == "csv":
            response = StreamingHttpResponse(
                _csv_lines(rows), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = 'attachment; filename="issuances.csv"'
            return response
        return StreamingHttpResponse(_json_chunks(rows), content_type="application/json")


def _csv_lines(rows):
    yield formats.csv_header()
    for row in rows:
        yield formats.write_csv_line(row)


def _json_chunks(rows):
    yield "["
    separator = ""
    for row in rows:
        yield separator + json.dumps(row, ensure_ascii=False)
        separator = ",\n"
    yield "]\n"
