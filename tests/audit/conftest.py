"""Fixtures of the uniqueness report tests."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import client_for
from tests.audit.support import broker_down, isolated_report_queue


@pytest.fixture(autouse=True)
def report_queue():
    """Every audit test publishes report tasks to a queue of its own (its name)."""
    with isolated_report_queue() as name:
        yield name


@pytest.fixture
def unreachable_broker():
    with broker_down():
        yield


@pytest.fixture
def api(settings):
    """``api(user)``: a client with a fresh token of ``user``; writes counted from zero in the
    shared Redis cache, as tests/api does."""
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }
    return client_for
