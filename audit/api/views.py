"""Requesting a uniqueness report and following its progress."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from audit import selectors, services
from audit.api import serializers as api
from audit.models import ReportCheck
from registry.api.base import RegistryGenericViewSet


class UniquenessReportViewSet(
    RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Uniqueness reports: administrators and auditors request them and see every one.

    A request answers 202 at once with the queued report; the worker runs it, and
    ``GET /reports/{id}/`` shows its phase, its progress (done / total) and each check's verdict
    as it completes. Requesting a report writes nothing to the registry (no ledger event).
    """

    resource = "uniqueness_report"
    serializer_class = api.UniquenessReportSerializer
    filterset_fields = ["status"]

    def get_queryset(self):
        return selectors.reports_visible_to(self.request.user).prefetch_related(
            Prefetch("checks", queryset=ReportCheck.objects.order_by("position"))
        )

    @extend_schema(
        request=api.ReportScopeSerializer,
        responses={
            202: api.UniquenessReportSerializer,
            503: OpenApiResponse(
                description="broker_unavailable: the task queue cannot take the report now; "
                "nothing was stored. Retry later."
            ),
        },
        description=(
            "Request a uniqueness report over a scope (every field optional; none: the whole "
            "registry). Answers 202 with the queued report; follow it at /reports/{id}/ and "
            "download its content from the links once it has finished. A bad scope answers 400 "
            "(reason invalid_scope, the field named in errors)."
        ),
    )
    def create(self, request):
        self.require("uniqueness_report.request")
        scope = self.validated(api.ReportScopeSerializer)
        if isinstance(request.data, dict):
            # Unknown fields are passed on, so that the scope refuses them by name instead of
            # a misspelt filter silently widening the report to the whole registry.
            scope = {**request.data, **scope}
        report = services.uniqueness_report_request(actor=request.user, scope=scope)
        return Response(
            self.get_serializer(self.get_queryset().get(pk=report.pk)).data,
            status=status.HTTP_202_ACCEPTED,
        )


router = SimpleRouter()
router.register("reports", UniquenessReportViewSet, basename="uniqueness-report")

urlpatterns = router.urls
