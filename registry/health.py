"""Health checks served at /health/: database, Redis and a Celery worker answering a ping.

The page answers 200 only when all three answer; otherwise 500 with the failing check named.
``?format=json`` (or ``Accept: application/json``) gives a machine-readable result.
"""

from django.conf import settings
from health_check.contrib.celery import Ping
from health_check.contrib.redis import Redis
from health_check.views import HealthCheckView
from redis.asyncio import Redis as AsyncRedisClient


def redis_client() -> AsyncRedisClient:
    """An asyncio client for the registry's Redis, embedded (unix socket) or configured (URL).

    The Redis check awaits ``ping()`` and ``aclose()``, so it needs the asyncio client; a new
    client is made for every check and closed by it.
    """
    url = settings.REDIS_URL
    if url.startswith("redis+socket://"):
        return AsyncRedisClient(
            unix_socket_path=url.removeprefix("redis+socket://"), socket_timeout=2
        )
    return AsyncRedisClient.from_url(url, socket_timeout=2)


def health_view():
    return HealthCheckView.as_view(
        checks=(
            "health_check.checks.Database",
            (Redis, {"client_factory": redis_client}),
            # Return as soon as one worker answers instead of waiting out the whole timeout.
            (Ping, {"limit": 1}),
        )
    )
