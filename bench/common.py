"""Shared pieces of the benchmarks: the benchmark database, raw connections, worker processes
and statistics.

Nothing here is timed by itself; the benchmark modules decide what goes inside the clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# Tables of the project's own apps that the benchmark empties before it starts. Mechanisms are
# data seeded by a migration and are kept.
BENCH_APPS = ("accounts", "registry", "tracking", "issuance")
KEPT_MODELS = {"registry.mechanism"}


# --------------------------------------------------------------------------------------------
# The benchmark database
# --------------------------------------------------------------------------------------------


def bench_database_name(configured: str) -> str:
    """The database the benchmark may empty: the configured one if its name says it is a
    benchmark database, otherwise a sibling ``<name>_bench`` on the same server."""
    return configured if "bench" in configured else f"{configured}_bench"


def prepare_database(*, truncate: bool = True) -> str:
    """Point Django at the benchmark database (created and migrated if needed) and empty the
    registry's tables there (unless ``truncate`` is False). Returns the database name.

    The developer's database (the embedded default ``registry``) is never touched: its benchmark
    twin ``registry_bench`` is used instead, on the same server.
    """
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    configured = connection.settings_dict["NAME"]
    name = bench_database_name(configured)
    # Created if missing, also when DATABASE_URL names a benchmark database that is not there yet.
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    if name != configured:
        connection.close()
        connection.settings_dict["NAME"] = name
        settings.DATABASES["default"]["NAME"] = name
    call_command("migrate", verbosity=0, interactive=False)
    if truncate:
        truncate_registry_tables()
    return name


def truncate_registry_tables() -> None:
    """Empty every table of the registry's apps except the seeded mechanisms.

    TRUNCATE does not fire the row-level append-only triggers; that is intended here: this is the
    benchmark's own scratch database.
    """
    from django.apps import apps
    from django.db import connection

    tables = []
    for app_label in BENCH_APPS:
        for model in apps.get_app_config(app_label).get_models(include_auto_created=True):
            if model._meta.label_lower not in KEPT_MODELS:
                tables.append(connection.ops.quote_name(model._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(sorted(set(tables)))} RESTART IDENTITY CASCADE")


def analyze() -> None:
    """Refresh planner statistics after a bulk setup so every run plans the same way."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


PAYLOAD_SHAPES = """
SELECT kind, shape, count(*) FROM (
    SELECT kind,
           (SELECT string_agg(key, ',' ORDER BY key) FROM jsonb_object_keys(payload) AS key)
           || coalesce(' ranges:' || (SELECT string_agg(key, ',' ORDER BY key)
                                      FROM jsonb_object_keys(payload -> 'ranges' -> 0) AS key),
                       '') AS shape
    FROM registry_ledgerevent
) AS shapes GROUP BY kind, shape ORDER BY kind, shape
"""


def payload_shape_drift() -> dict[str, list[tuple[str, int]]]:
    """Ledger event kinds whose payloads come in more than one shape (set of keys).

    Every event in the benchmark database was written either by the services or by the raw
    baseline; two shapes for one kind mean the baseline no longer writes what the services
    write, and its figures would compare different work.
    """
    from django.db import connection

    shapes: dict[str, list[tuple[str, int]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(PAYLOAD_SHAPES)
        for kind, shape, count in cursor.fetchall():
            shapes.setdefault(kind, []).append((shape, count))
    return {kind: found for kind, found in shapes.items() if len(found) > 1}


def raw_connection():
    """A plain psycopg connection to the benchmark database (no ORM), in UTC."""
    import psycopg
    from django.db import connection

    settings_dict = connection.settings_dict
    params: dict[str, Any] = {"dbname": settings_dict["NAME"]}
    for key, name in (
        ("USER", "user"),
        ("PASSWORD", "password"),
        ("HOST", "host"),
        ("PORT", "port"),
    ):
        if settings_dict.get(key):
            params[name] = settings_dict[key]
    for key, value in settings_dict.get("OPTIONS", {}).items():
        if key not in {
            "pool",
            "server_side_binding",
            "isolation_level",
            "assume_role",
            "cursor_factory",
            "context",
        }:
            params[key] = value
    raw = psycopg.connect(**params, autocommit=False)
    raw.execute("SET TIME ZONE 'UTC'")
    raw.commit()
    return raw


# --------------------------------------------------------------------------------------------
# The ledger hash, computed the same way as registry.ledger (sorted-key canonical JSON, SHA-256)
# --------------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return str(value)


def canonical(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


def event_row(
    *, kind: str, actor_id: int, subjects: list[str], payload: dict[str, Any]
) -> tuple[str, int, dt.datetime, list[str], str, str]:
    """Values for one ``registry_ledgerevent`` INSERT: kind, actor, time, subjects, the
    canonical payload and the SHA-256 over everything the event states."""
    occurred_at = dt.datetime.now(dt.UTC)
    payload_text = canonical(payload)
    digest = hashlib.sha256(
        canonical(
            {
                "kind": kind,
                "actor": actor_id,
                "occurred_at": occurred_at,
                "subjects": subjects,
                "payload": json.loads(payload_text),
            }
        ).encode()
    ).hexdigest()
    return kind, actor_id, occurred_at, subjects, payload_text, digest


INSERT_EVENT = (
    "INSERT INTO registry_ledgerevent (kind, actor_id, occurred_at, subjects, payload, event_hash)"
    " VALUES (%s, %s, %s, %s, %s::jsonb, %s)"
)


# --------------------------------------------------------------------------------------------
# Housekeeping: what autovacuum would do, when the server has it turned off
# --------------------------------------------------------------------------------------------

UPDATED_TABLES = ("registry_stream", "tracking_block", "accounts_holdingaccount")
APPENDED_TABLES = (
    "registry_productionrecord",
    "registry_unitclaim",
    "registry_ledgerevent",
    "tracking_transfer",
)


def autovacuum_enabled() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        return cursor.fetchone()[0] == "on"


def _housekeep(stop, interval: float) -> None:
    """VACUUM ANALYZE the tables the benchmarks update and ANALYZE the ones they append to,
    after 2, 4, 8 ... seconds and then every ``interval`` seconds, until ``stop`` is set (soon
    at first: the tables grow fastest from empty)."""
    connection = raw_connection()
    connection.autocommit = True
    delay = 2.0
    try:
        while not stop.wait(delay):
            for table in UPDATED_TABLES:
                connection.execute(f"VACUUM (ANALYZE) {table}")
            for table in APPENDED_TABLES:
                connection.execute(f"ANALYZE {table}")
            delay = min(interval, delay * 2)
    finally:
        connection.close()


class Housekeeping:
    """Stands in for autovacuum while measurements run, if the server has autovacuum off.

    Without it the planner keeps the statistics of the set-up (empty production and claim
    tables) and picks plans that get slower with every row the benchmark adds, and shrunk
    blocks leave dead row versions that nobody clears. A live registry has autovacuum on; so
    the benchmark vacuums and analyses the hot tables every ``interval`` seconds, in a process
    of its own that competes for the same cores.
    """

    def __init__(self, interval: float = 15.0) -> None:
        self.interval = interval
        self.active = not autovacuum_enabled()
        self._stop = None
        self._process = None

    def __enter__(self) -> Housekeeping:
        if self.active:
            from django.db import connections

            connections.close_all()
            context = multiprocessing.get_context("fork")
            self._stop = context.Event()
            self._process = context.Process(target=_housekeep, args=(self._stop, self.interval))
            self._process.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._process is not None:
            self._stop.set()
            self._process.join()
            self._process = None


# --------------------------------------------------------------------------------------------
# Worker processes
# --------------------------------------------------------------------------------------------


@dataclass
class WorkerResult:
    """What one worker reports: its clock at start and end and each operation's latency."""

    started: float
    finished: float
    latencies: list[float] = field(default_factory=list)
    error: str | None = None


def _child(target: Callable[..., list[float]], args: tuple, barrier, queue) -> None:
    from django.db import connections

    clock: dict[str, float] = {}

    def ready() -> None:
        """Called by the worker once it is prepared: wait for the others, start the clock."""
        barrier.wait()
        clock["started"] = time.monotonic()

    try:
        latencies = target(*args, ready=ready)
        finished = time.monotonic()
        queue.put(WorkerResult(clock["started"], finished, latencies))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises
        barrier.abort()
        queue.put(WorkerResult(0.0, 0.0, [], traceback.format_exc()))
    finally:
        connections.close_all()


def run_processes(
    target: Callable[..., list[float]], argument_lists: Sequence[tuple]
) -> list[WorkerResult]:
    """Run ``target(*args, ready=...)`` in one forked process per argument tuple.

    Each worker prepares itself (connects, loads what it needs), then calls ``ready()``, which
    waits until every worker is prepared and starts its clock; it returns the latencies
    (seconds) of the operations it timed. Django connections are closed before forking, so
    every process opens its own.
    """
    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(argument_lists))
    queue = context.Queue()
    processes = [
        context.Process(target=_child, args=(target, args, barrier, queue))
        for args in argument_lists
    ]
    for process in processes:
        process.start()
    results = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    errors = [result.error for result in results if result.error]
    if errors:
        raise RuntimeError("a benchmark worker failed:\n" + errors[0])
    return results


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


@dataclass
class Measurement:
    """Operations done by a set of workers, with their wall-clock span and latencies."""

    operations: int
    seconds: float
    latencies: list[float]

    @classmethod
    def of(cls, results: Sequence[WorkerResult]) -> Measurement:
        latencies = [latency for result in results for latency in result.latencies]
        span = max(result.finished for result in results) - min(
            result.started for result in results
        )
        return cls(len(latencies), span, latencies)

    @classmethod
    def combine(cls, parts: Sequence[Measurement]) -> Measurement:
        """Several rounds of the same measurement: operations and seconds add up."""
        return cls(
            sum(part.operations for part in parts),
            sum(part.seconds for part in parts),
            [latency for part in parts for latency in part.latencies],
        )

    @property
    def rate(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies, in seconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
        return ordered[rank - 1]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies) if self.latencies else 0.0


def count_statements(captured_queries: Sequence[dict[str, Any]]) -> int:
    """Statements in a ``CaptureQueriesContext`` list, transaction control (BEGIN, COMMIT,
    ROLLBACK) left out; savepoints are counted: they are round trips too."""
    return sum(
        1
        for query in captured_queries
        if query["sql"].strip().upper() not in {"BEGIN", "COMMIT", "ROLLBACK"}
    )


def interleaved(
    rounds: int, runs: dict[str, Callable[[int], Measurement]]
) -> dict[str, Measurement]:
    """Run every measurement ``rounds`` times, taking turns (round 0 of each, then round 1 ...),
    and combine each one's rounds. Load from elsewhere on the machine then falls on all of them
    alike, so their ratios hold even when the absolute figures wander."""
    parts: dict[str, list[Measurement]] = {name: [] for name in runs}
    for round_index in range(rounds):
        for name, run in runs.items():
            parts[name].append(run(round_index))
    return {name: Measurement.combine(measured) for name, measured in parts.items()}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def split_evenly(items: Sequence[Any], parts: int) -> list[list[Any]]:
    """``parts`` interleaved slices of ``items`` (item i goes to slice i mod parts)."""
    return [list(items[index::parts]) for index in range(parts)]
