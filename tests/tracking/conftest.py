"""API clients for the tracking tests that go through the REST API (the same token clients as
tests/api use)."""

from __future__ import annotations

import pytest

from accounts.models import User
from tests.api.conftest import client_for
from tests.factories import UserFactory


@pytest.fixture
def api():
    """``api(user)`` is a client holding a fresh token of ``user``; ``api(None)`` is anonymous."""
    return client_for


@pytest.fixture
def superuser(db):
    """A registry administrator with Django's model permissions, as the admin site needs."""
    return UserFactory(
        username="root",
        organisation=None,
        role=User.Role.ADMINISTRATOR,
        is_staff=True,
        is_superuser=True,
    )
