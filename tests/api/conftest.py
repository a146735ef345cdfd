"""API clients for the personas, authenticated with real API tokens (not force_authenticate),
so every test goes through the same authentication as a client would."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    client.default_format = "json"  # the API parses JSON only
    if user is not None:
        _instance, token = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def api() -> Callable[[User | None], APIClient]:
    """``api(user)`` is a client holding a fresh token of ``user``; ``api(None)`` is anonymous."""
    return client_for


@pytest.fixture(autouse=True)
def _fresh_rate_limit_counters(settings):
    """Each test counts its writes and log-in attempts from zero: a key prefix of its own in the
    shared Redis cache (other runs on the same Redis keep their own counters)."""
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }
