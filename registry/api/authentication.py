"""Token authentication: knox, with headers that are not valid tokens refused as 401."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's hashed, expiring tokens. A header whose token is not ASCII cannot be a token, so it
    is refused (401) instead of reaching knox's UTF-8 decoding."""

    def authenticate_credentials(self, token: bytes):
        try:
            token.decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        return super().authenticate_credentials(token)


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme of these tokens (``Authorization: Token <token>``)."""

    target_class = "registry.api.authentication.TokenAuthentication"
