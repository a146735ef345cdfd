"""Token authentication: knox, with headers that are not valid tokens refused as 401."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.signals import token_expired
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

    def _cleanup_token(self, auth_token) -> bool:
        """Refuse (and delete) the presented token if it has expired.

        knox also loads every other token of the caller on every request, to delete the expired
        ones: a query per request whose cost grows with the caller's live tokens (one per login;
        1.26 ms of CPU per request with 1 token, 6.39 ms with 200; 0.74 to 0.78 ms here, see
        docs/performance.md). Those rows can never authenticate; they are deleted when
        presented, by ``LogoutAll``, or by the hourly ``token_purge_task``.
        """
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


def purge_expired_tokens() -> int:
    """Delete every expired token; returns how many."""
    from knox.models import AuthToken

    deleted, _by_model = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
    return deleted


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme of these tokens (``Authorization: Token <token>``)."""

    target_class = "registry.api.authentication.TokenAuthentication"
