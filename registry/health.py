"""Health checks served at /health/: database, Redis and a Celery worker answering a ping."""

from django.conf import settings
from health_check.contrib.celery import Ping
from health_check.contrib.redis import Redis
from health_check.views import HealthCheckView
from redis import Redis as RedisClient


def redis_client() -> RedisClient:
    """A client for the broker Redis, whether embedded (unix socket) or configured (URL)."""
    url = settings.REDIS_URL
    if url.startswith("redis+socket://"):
        return RedisClient(unix_socket_path=url.removeprefix("redis+socket://"), socket_timeout=2)
    return RedisClient.from_url(url, socket_timeout=2)


def health_view():
    return HealthCheckView.as_view(
        checks=(
            "health_check.checks.Database",
            (Redis, {"client_factory": redis_client}),
            (Ping, {}),
        )
    )
