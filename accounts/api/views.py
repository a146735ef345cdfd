"""API views of authentication, the caller, organisations and holding accounts."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api import serializers as api
from accounts.models import HoldingAccount, Organisation
from accounts.selectors import balances_of
from registry.api.base import IdempotentMixin, RegistryGenericViewSet
from registry.api.serializers import RequiredReasonSerializer
from registry.api.throttles import LoginRateThrottle
from registry.errors import DomainError


class TokenView(APIView):
    """Exchange username and password for an API token (hashed at rest, expiring, revocable).

    No caller is known before the password is checked, so an Idempotency-Key cannot be scoped
    to one: every token request creates a fresh token.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]

    @extend_schema(
        request=api.TokenRequestSerializer, responses={201: api.TokenSerializer}, auth=[]
    )
    def post(self, request):
        credentials = api.TokenRequestSerializer(data=request.data, context={"request": request})
        credentials.is_valid(raise_exception=True)
        user = credentials.validated_data["user"]
        instance, token = AuthToken.objects.create(user=user)
        return Response(
            api.TokenSerializer({"token": token, "expiry": instance.expiry, "user": user}).data,
            status=status.HTTP_201_CREATED,
        )


class LogoutView(IdempotentMixin, APIView):
    """Revoke the token this request was made with (or, with ``all``, every token of the caller)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        if request.auth is not None and hasattr(request.auth, "digest"):
            request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(IdempotentMixin, APIView):
    """Revoke every token of the caller."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        AuthToken.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """The caller: role, organisation and its accounts."""

    @extend_schema(responses={200: api.UserSerializer})
    def get(self, request):
        return Response(api.UserSerializer(request.user).data)


class OrganisationViewSet(RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Organisations: issuing bodies, project owners, traders, auditors, the regulator."""

    resource = "organisation"
    queryset = Organisation.objects.order_by("code")
    serializer_class = api.OrganisationSerializer
    lookup_field = "code"
    filterset_fields = ["kind", "country"]

    @extend_schema(
        request=api.OrganisationCreateSerializer, responses={201: api.OrganisationSerializer}
    )
    def create(self, request):
        self.require("organisation.create")
        payload = self.validated(api.OrganisationCreateSerializer)
        organisation = services.organisation_create(actor=request.user, **payload)
        return Response(
            api.OrganisationSerializer(organisation).data, status=status.HTTP_201_CREATED
        )


class HoldingAccountFilter(django_filters.FilterSet):
    organisation = django_filters.CharFilter(field_name="organisation__code")

    class Meta:
        model = HoldingAccount
        fields = ["status", "organisation"]


class HoldingAccountViewSet(
    RegistryGenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    """Holding accounts with their balances per mechanism and status."""

    resource = "account"
    queryset = HoldingAccount.objects.select_related("organisation").order_by("id")
    serializer_class = api.HoldingAccountSerializer
    lookup_field = "number"
    lookup_value_regex = "[A-Z]{2}-[0-9]{8}"
    filterset_class = HoldingAccountFilter

    def get_serializer(self, *args, **kwargs):
        instance = args[0] if args else None
        if instance is not None:
            accounts = instance if isinstance(instance, list | tuple) else [instance]
            kwargs.setdefault("context", self.get_serializer_context())
            kwargs["context"]["balances"] = balances_of(accounts)
        return super().get_serializer(*args, **kwargs)

    @extend_schema(
        request=api.HoldingAccountOpenSerializer, responses={201: api.HoldingAccountSerializer}
    )
    def create(self, request):
        payload = self.validated(api.HoldingAccountOpenSerializer)
        organisation = payload.get("organisation") or request.user.organisation
        # The matrix first: a caller who may open no account (an outsider, who has no
        # organisation) is refused, not told to name one. Only an administrator passes with None.
        self.require("account.open", organisation)
        if organisation is None:
            raise DomainError("An organisation is required.", field="organisation")
        account = services.holding_account_open(
            actor=request.user, organisation=organisation, name=payload["name"]
        )
        return Response(self.get_serializer(account).data, status=status.HTTP_201_CREATED)

    def _set_status(self, request, new_status: str, permission: str) -> Response:
        account = self.get_object()
        self.require(permission, account)
        payload = self.validated(RequiredReasonSerializer)
        account = services.holding_account_set_status(
            actor=request.user,
            account=account,
            status=new_status,
            reason=payload["reason"],
        )
        return Response(self.get_serializer(account).data)

    @extend_schema(request=RequiredReasonSerializer, responses={200: api.HoldingAccountSerializer})
    @action(detail=True, methods=["post"])
    def freeze(self, request, number=None):
        return self._set_status(request, HoldingAccount.Status.FROZEN, "account.set_status")

    @extend_schema(request=RequiredReasonSerializer, responses={200: api.HoldingAccountSerializer})
    @action(detail=True, methods=["post"])
    def unfreeze(self, request, number=None):
        return self._set_status(request, HoldingAccount.Status.ACTIVE, "account.set_status")

    @extend_schema(request=RequiredReasonSerializer, responses={200: api.HoldingAccountSerializer})
    @action(detail=True, methods=["post"])
    def close(self, request, number=None):
        return self._set_status(request, HoldingAccount.Status.CLOSED, "account.close")
