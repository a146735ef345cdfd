"""Helpers of the uniqueness report tests: a task queue of the test's own, a broker that is
down, and defects planted in the database behind the constraints' back."""

from __future__ import annotations

import datetime as dt
import functools
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest
from django.db import connection


@contextmanager
def isolated_report_queue() -> Iterator[str]:
    """Send uniqueness report tasks to a queue of their own (yielded) and delete it afterwards.

    Tests that publish without a worker would otherwise leave messages in the shared queue for
    a later test's worker to pick up, naming reports of another test (or another run)."""
    from audit.tasks import uniqueness_report_task
    from registry.celery import app

    name = f"test-reports-{uuid.uuid4().hex}"
    task = uniqueness_report_task._get_current_object()
    task.apply_async = functools.partial(type(task).apply_async, task, queue=name)
    try:
        yield name
    finally:
        del task.apply_async
        queues = app.amqp.queues
        queues.pop(name, None)
        if queues._consume_from is not None and name in queues._consume_from:
            queues._consume_from = None  # a worker of this process consumed from it
        with suppress(Exception), app.connection_for_write() as broker:
            forget_queue(broker.default_channel.client, name)


def forget_queue(client, name: str) -> None:
    """Delete a test queue from Redis: its list, its bindings, and any message of it that a
    killed worker left unacknowledged (which another worker would otherwise restore later)."""
    for key in client.scan_iter(match=f"*{name}*"):
        client.delete(key)
    for tag, payload in client.hgetall("unacked").items():
        if name.encode() in payload:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def broker_down() -> Iterator[None]:
    """Point the Celery app at a port where nothing listens: publishing fails as it does when
    Redis is down. Kombu retries connecting for broker_connection_timeout; a short one keeps
    the test quick, the failure is the same."""
    from registry.celery import app

    saved = {
        "broker_url": app.conf.broker_url,
        "broker_connection_timeout": app.conf.broker_connection_timeout,
    }

    def forget_connections() -> None:
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.broker_url = f"redis://127.0.0.1:{closed_port()}/0"
    app.conf.broker_connection_timeout = 0.5
    forget_connections()
    try:
        yield
    finally:
        for key, value in saved.items():
            setattr(app.conf, key, value)
        forget_connections()


def plant_overlapping_production(record, *, hours: int = 24):
    """A second metered record over the last ``hours`` of ``record``'s period, inserted with
    the exclusion constraint dropped (the test's transaction restores it when it rolls back)."""
    from registry.models import ProductionRecord

    with connection.cursor() as cursor:
        # Deferred foreign-key checks of rows written earlier in the test would block ALTER.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE registry_productionrecord DROP CONSTRAINT production_periods_never_overlap"
        )
    start = record.period.upper - dt.timedelta(hours=hours)
    return ProductionRecord.objects.create(
        stream=record.stream,
        period=(start, record.period.upper),
        quantity=10,
        units=10,
        vintage=record.vintage,
        source=ProductionRecord.Source.METERED,
        entered_by=record.entered_by,
    )


def require_system_package(present: bool, *, what: str, package: str) -> None:
    """Tests that need a system package (.ci/system-packages installs them) skip without it,
    saying which, except under CI, where its absence is a failure."""
    if present:
        return
    reason = f"{what} is missing (Debian package {package})"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: .ci/system-packages installs it in CI")
    pytest.skip(f"{reason}; install it with apt-get install {package} to run this test")


def cjk_font_installed() -> bool:
    """Whether fontconfig knows the font the report PDF embeds for Chinese."""
    try:
        listed = subprocess.run(
            ["fc-list", ":family=Noto Sans CJK SC", "family"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except OSError:
        return False
    return bool(listed.strip())


def broker_redis():
    """A redis-py client on the Celery broker (kombu spells the embedded Redis's unix socket
    redis+socket://, redis-py unix://)."""
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.CELERY_BROKER_URL.replace("redis+socket://", "unix://", 1))
