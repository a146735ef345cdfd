"""API clients for the tracking tests that go through the REST API (the same token clients as
tests/api use)."""

from __future__ import annotations

import pytest

from tests.api.conftest import client_for


@pytest.fixture
def api():
    """``api(user)`` is a client holding a fresh token of ``user``; ``api(None)`` is anonymous."""
    return client_for
