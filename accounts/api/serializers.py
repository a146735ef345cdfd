"""Serializers of organisations, users, holding accounts and API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import HoldingAccount, Organisation, User
from registry.api.problems import ApiProblem


class OrganisationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["code", "name", "kind", "country", "created_at"]


class OrganisationCreateSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=32)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Organisation.Kind.choices)
    country = serializers.RegexField(r"^[A-Z]{2}$", required=False, default="CN")


class BalanceSerializer(serializers.Serializer):
    mechanism = serializers.CharField()
    active = serializers.IntegerField()
    frozen = serializers.IntegerField()
    retired = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    expired = serializers.IntegerField()
    exported = serializers.IntegerField()


class HoldingAccountSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="code", read_only=True)
    balances = serializers.SerializerMethodField()

    class Meta:
        model = HoldingAccount
        fields = ["number", "name", "organisation", "status", "created_at", "balances"]

    @extend_schema_field(BalanceSerializer(many=True))
    def get_balances(self, account: HoldingAccount) -> list[dict]:
        """Units per mechanism and status, computed for the whole page in one query."""
        return self.context.get("balances", {}).get(account.pk, [])


class HoldingAccountOpenSerializer(serializers.Serializer):
    organisation = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Organisation.objects.all(),
        required=False,
        help_text="Organisation code; defaults to the caller's organisation.",
    )
    name = serializers.CharField(max_length=200)


class UserSerializer(serializers.ModelSerializer):
    organisation = OrganisationSerializer(read_only=True, allow_null=True)
    accounts = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "username",
            "first_name",
            "last_name",
            "email",
            "role",
            "organisation",
            "accounts",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_accounts(self, user: User) -> list[str]:
        if user.organisation_id is None:
            return []
        return list(
            HoldingAccount.objects.filter(organisation_id=user.organisation_id)
            .order_by("number")
            .values_list("number", flat=True)
        )


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, style={"input_type": "password"})

    def validate(self, attrs):
        request = self.context.get("request")
        user = authenticate(request=request, username=attrs["username"], password=attrs["password"])
        # django-axes marks the request when this username and address are locked out (this
        # failure reached the limit, or an earlier one did and even the right password is refused
        # now). Its middleware answers 429 only for the plain Django request, not for the DRF
        # request it was given here, so the lockout is answered as an API problem instead.
        if user is None and getattr(request, "axes_locked_out", False):
            raise ApiProblem(
                _("Too many failed log-ins for this username from this address; try again later."),
                code="locked_out",
                status_code=429,
                retry_after=round(settings.AXES_COOLOFF_TIME * 3600),
            )
        if user is None or not user.is_active:
            raise serializers.ValidationError(
                _("Unable to log in with these credentials."), code="invalid_credentials"
            )
        attrs["user"] = user
        return attrs


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    expiry = serializers.DateTimeField(allow_null=True)
    user = UserSerializer()
