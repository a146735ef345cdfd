"""Rate limits on writes, counted per API token in the shared Redis cache.

Every gunicorn worker and every machine counts against the same bucket, because the counter
lives in Redis, not in process memory. Reads are not limited here.
"""

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import SimpleRateThrottle


class WriteRateThrottle(SimpleRateThrottle):
    scope = "writes"

    def get_cache_key(self, request, view):
        if request.method in SAFE_METHODS:
            return None
        token_key = getattr(request.auth, "token_key", None)
        if token_key:
            ident = f"token:{token_key}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"address:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginRateThrottle(SimpleRateThrottle):
    """Password guesses against ``auth/token/``, counted per client address and username."""

    scope = "login"

    def get_rate(self):
        rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
        return rates.get(self.scope, "30/minute")

    def get_cache_key(self, request, view):
        # The body may be any JSON (a list, a string): only an object has a username.
        data = getattr(request, "data", None)
        username = str(data.get("username", ""))[:150] if isinstance(data, dict) else ""
        ident = f"{self.get_ident(request)}:{username.lower()}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
