"""API views of issuances: issuing bodies create unit claims, administrators revoke them."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from issuance import rules, services
from issuance.api import serializers as api
from issuance.models import IssuanceRequest, ProductionSubmission
from registry import access
from registry.api.base import RegistryGenericViewSet
from registry.api.pagination import NewestFirstCursorPagination
from registry.api.serializers import ProductionRecordSerializer, RequiredReasonSerializer
from registry.models import Declaration, MechanismRegistration, ProductionRecord, UnitClaim
from registry.selectors import mechanism_resolve
from tracking.services import claim_revoke


class IssuanceFilter(django_filters.FilterSet):
    mechanism = django_filters.CharFilter(field_name="mechanism__code")
    project = django_filters.CharFilter(field_name="stream__project__code")
    account = django_filters.CharFilter(field_name="account__number")

    class Meta:
        model = UnitClaim
        fields = ["mechanism", "project", "account", "status", "role", "vintage", "declaration"]


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

    @extend_schema(request=api.RevocationSerializer, responses={200: api.IssuanceSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        claim = self.get_object()
        self.require("issuance.revoke", claim)
        payload = self.validated(api.RevocationSerializer)
        claim_revoke(
            actor=request.user,
            claim=claim,
            reason=payload["reason"],
            cancel_held_units=payload["cancel_held_units"],
        )
        return Response(api.IssuanceSerializer(self.base_queryset().get(pk=claim.pk)).data)


class RuleCatalogueView(APIView):
    """Public: the cross-mechanism rule catalogue (R1-R14 and more) and which rules are enabled.

    A refused operation answers ``rule_violation`` naming one of these ids."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: api.RuleSerializer(many=True)}, auth=[{}])
    def get(self, request):
        return Response(api.RuleSerializer(rules.catalogue_listing(), many=True).data)


class MechanismRegistrationViewSet(
    RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Projects registered under a mechanism for a crediting period (e.g. CCER); a renewable
    project's CCER registration freezes its untraded GECs (R7)."""

    resource = "registration"
    queryset = MechanismRegistration.objects.select_related(
        "project", "mechanism", "registered_by"
    ).order_by("id")
    serializer_class = api.MechanismRegistrationSerializer
    filterset_fields = {
        "project__code": ["exact"],
        "mechanism__code": ["exact"],
        "status": ["exact"],
    }

    @extend_schema(
        request=api.MechanismRegistrationCreateSerializer,
        responses={201: api.MechanismRegistrationSerializer},
    )
    def create(self, request):
        fields = self.validated(api.MechanismRegistrationCreateSerializer)
        mechanism = mechanism_resolve(fields["mechanism"])
        self.require("registration.create", mechanism)
        registration = services.project_mechanism_register(
            actor=request.user,
            project=fields["project"],
            mechanism=mechanism,
            reference=fields["reference"],
            crediting_start=fields["crediting_start"],
            crediting_end=fields.get("crediting_end"),
        )
        return Response(
            api.MechanismRegistrationSerializer(self.base_queryset().get(pk=registration.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class DeclarationUnitsViewSet(RegistryGenericViewSet, mixins.ListModelMixin):
    """The units issued under one declaration of no double counting (R13), for auditors and
    everyone who may see the declaration."""

    resource = "issuance"
    queryset = UnitClaim.objects.select_related(
        "mechanism", "stream__project", "account", "issued_by"
    )
    serializer_class = api.IssuanceSerializer
    pagination_class = NewestFirstCursorPagination

    def get_queryset(self):
        declarations = access.visible(self.request.user, "declaration", Declaration.objects.all())
        declaration = get_object_or_404(declarations, pk=self.kwargs["declaration_pk"])
        return super().get_queryset().filter(declaration=declaration)


class ProductionSubmissionViewSet(
    RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Production reported by project owners, waiting for an issuing body or an administrator
    to verify it (which records it and allocates its serials) or reject it with a reason."""

    resource = "production_submission"
    queryset = ProductionSubmission.objects.select_related(
        "project", "submitted_by", "decided_by"
    ).order_by("id")
    serializer_class = api.ProductionSubmissionSerializer
    filterset_fields = {"project__code": ["exact"], "status": ["exact"], "unit_kind": ["exact"]}

    def _answer(self, submission, status_code=status.HTTP_200_OK):
        return Response(
            api.ProductionSubmissionSerializer(self.base_queryset().get(pk=submission.pk)).data,
            status=status_code,
        )

    @extend_schema(
        request=api.ProductionSubmissionCreateSerializer,
        responses={201: api.ProductionSubmissionSerializer},
    )
    def create(self, request):
        fields = self.validated(api.ProductionSubmissionCreateSerializer)
        self.require("production_submission.create", fields["project"])
        submission = services.production_submit(actor=request.user, **fields)
        return self._answer(submission, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: api.ProductionSubmissionSerializer})
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        submission = self.get_object()
        self.require("production_submission.decide", submission)
        services.production_submission_verify(actor=request.user, submission=submission)
        return self._answer(submission)

    @extend_schema(
        request=RequiredReasonSerializer, responses={200: api.ProductionSubmissionSerializer}
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        submission = self.get_object()
        self.require("production_submission.decide", submission)
        payload = self.validated(RequiredReasonSerializer)
        services.production_submission_reject(
            actor=request.user, submission=submission, reason=payload["reason"]
        )
        return self._answer(submission)


class IssuanceRequestViewSet(
    RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Requests that a mechanism issue units into an account, waiting for an issuing body of the
    mechanism (or an administrator). Approval issues; a request whose units are already claimed
    is refused naming the claim that holds them, and stays pending."""

    resource = "issuance_request"
    queryset = IssuanceRequest.objects.select_related(
        "mechanism", "production_record__stream__project", "account", "requested_by", "decided_by"
    ).order_by("id")
    serializer_class = api.IssuanceRequestSerializer
    filterset_fields = {
        "status": ["exact"],
        "mechanism__code": ["exact"],
        "production_record__stream__project__code": ["exact"],
    }

    def _answer(self, issuance_request, status_code=status.HTTP_200_OK):
        return Response(
            api.IssuanceRequestSerializer(self.base_queryset().get(pk=issuance_request.pk)).data,
            status=status_code,
        )

    @extend_schema(
        request=api.IssuanceRequestCreateSerializer,
        responses={201: api.IssuanceRequestSerializer},
    )
    def create(self, request):
        fields = self.validated(api.IssuanceRequestCreateSerializer)
        self.require("issuance_request.create", fields["production_record"].stream.project)
        issuance_request = services.issuance_request_create(
            actor=request.user,
            mechanism=fields["mechanism"],
            production_record=fields["production_record"],
            account=fields["account"],
            quantity=fields["quantity"],
            conversion_factor=fields.get("conversion_factor"),
            conversion_source=fields.get("conversion_source", ""),
        )
        return self._answer(issuance_request, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: api.IssuanceRequestSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        issuance_request = self.get_object()
        self.require("issuance_request.decide", issuance_request.mechanism)
        services.issuance_request_approve(actor=request.user, issuance_request=issuance_request)
        return self._answer(issuance_request)

    @extend_schema(request=RequiredReasonSerializer, responses={200: api.IssuanceRequestSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        issuance_request = self.get_object()
        self.require("issuance_request.decide", issuance_request.mechanism)
        payload = self.validated(RequiredReasonSerializer)
        services.issuance_request_reject(
            actor=request.user, issuance_request=issuance_request, reason=payload["reason"]
        )
        return self._answer(issuance_request)


class ProductionCorrectionViewSet(RegistryGenericViewSet, mixins.ListModelMixin):
    """Corrections of one production record (compensating entries; the record never changes):
    listed for whoever may see the record, made by administrators and issuing bodies of a
    mechanism issued from its units."""

    resource = "production_record"
    queryset = ProductionRecord.objects.select_related("stream__project", "corrects").order_by("id")
    serializer_class = ProductionRecordSerializer

    def _record(self) -> ProductionRecord:
        records = access.visible(self.request.user, "production_record", ProductionRecord.objects)
        return get_object_or_404(records, pk=self.kwargs["record_pk"])

    def get_queryset(self):
        return super().get_queryset().filter(corrects=self._record())

    @extend_schema(
        request=api.ProductionCorrectionSerializer, responses={201: ProductionRecordSerializer}
    )
    def create(self, request, record_pk=None):
        record = self._record()
        self.require("production_record.correct", record)
        fields = self.validated(api.ProductionCorrectionSerializer)
        correction = services.production_record_correct(
            actor=request.user, production_record=record, **fields
        )
        return Response(
            ProductionRecordSerializer(self.base_queryset().get(pk=correction.pk)).data,
            status=status.HTTP_201_CREATED,
        )
