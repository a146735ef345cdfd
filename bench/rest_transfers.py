"""Benchmark 4: transfers through the REST API (POST /api/v1/transfers/) served by gunicorn,
beside pgbench's TPC-B-like transactions on the same PostgreSQL in the same run.

    .venv/bin/python bench/rest_transfers.py [options of bench/run.py]

is ``bench/run.py --only rest``; ``make bench`` runs it after the other benchmarks.

Each client thread has its own holder, knox token, source account (one large GEC block issued
through the services during set-up, by ``transfer_bench.create_lanes``) and target account; it
sends POST /api/v1/transfers/ of 1 unit by quantity with a fresh ``Idempotency-Key`` each, over
one keep-alive connection (``http.client``; gunicorn's sync workers close it after every
answer and it is reopened), as fast as the server answers. gunicorn serves the project's WSGI
application from the benchmark database with ``DEBUG=false``, ``CONN_MAX_AGE`` as chosen and
the write rate limit raised (``API_WRITE_RATE``), so that the run measures transfers, not the
throttle (whose Redis round trips it still pays).

The baseline is pgbench's built-in TPC-B-like script (``pgbench -c 8 -j 2``) on a database of
its own (``<benchmark database>_pgbench``) on the same server: what this PostgreSQL and this
machine do with 8 clients and short write transactions, without Python. pgbench rounds and REST
rounds take turns. Every 201 must have written one transfer, one ledger event and one stored
response, and replays nothing; the run says so.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":
    # Run as a script, Python puts bench/ first on the path; the project root must come first.
    sys.path[:] = [str(ROOT)] + [
        entry for entry in sys.path if Path(entry or ".").resolve() != ROOT / "bench"
    ]

from bench.common import Measurement  # noqa: E402
from bench.fixtures import Personas  # noqa: E402
from bench.transfer_bench import Lane, create_lanes  # noqa: E402

TRANSFERS_PATH = "/api/v1/transfers/"
QUANTITY = 1
UNITS_PER_LANE = 300_000  # one block per source account, more units than any run moves
# The write limit for the benchmark's server: per token, the same per-minute window as the
# default (3000/minute), so the throttle keeps a realistic history per token.
BENCH_WRITE_RATE = "1000000/minute"
WARM_UP_REQUESTS = 5  # untimed, before each in-process probe
APPLICATION_NAME = "rest-bench-server"  # the server's database connections, for their CPU time


# --------------------------------------------------------------------------------------------
# Set-up: holders with tokens, accounts and GEC blocks (through the services)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiClient:
    """One client of the benchmark: its lane (holder, source and target account) and token."""

    lane: Lane
    token: str

    def body(self) -> bytes:
        return json.dumps(
            {
                "mechanism": "GEC",
                "source_account": self.lane.source_number,
                "target_account": self.lane.target_number,
                "quantity": QUANTITY,
            }
        ).encode()

    def headers(self, key: str) -> dict[str, str]:
        return {
            "Authorization": f"Token {self.token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": key,
        }


def create_clients(personas: Personas, count: int) -> list[ApiClient]:
    """``count`` lanes (as in the transfer benchmark) and a knox token for each lane's holder."""
    from knox.models import AuthToken

    from accounts.models import User

    lanes = create_lanes(personas, count, UNITS_PER_LANE, QUANTITY, "API")
    clients = []
    for lane in lanes:
        _instance, token = AuthToken.objects.create(user=User.objects.get(pk=lane.actor_id))
        clients.append(ApiClient(lane, token))
    return clients


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


def database_url() -> str:
    """DATABASE_URL of the benchmark database, for the server's processes."""
    from django.db import connection

    settings_dict = connection.settings_dict
    credentials = quote(settings_dict.get("USER") or "", safe="")
    if settings_dict.get("PASSWORD"):
        credentials += ":" + quote(settings_dict["PASSWORD"], safe="")
    host = quote(settings_dict.get("HOST") or "", safe="")  # a socket directory becomes %2F...
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return (
        f"postgres://{credentials}@{host}{port}/{settings_dict['NAME']}"
        f"?application_name={APPLICATION_NAME}"
    )


def server_backends() -> list[int]:
    """Process ids of the PostgreSQL backends serving the benchmark's server."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = %s",
            [APPLICATION_NAME, connection.settings_dict["NAME"]],
        )
        return [row[0] for row in cursor.fetchall()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ServerOptions:
    workers: int
    worker_class: str  # "sync" or "gthread"
    threads: int
    conn_max_age: int

    def describe(self) -> str:
        threads = f" x {self.threads} threads" if self.worker_class == "gthread" else ""
        return (
            f"gunicorn, {self.workers} {self.worker_class} workers{threads}, "
            f"CONN_MAX_AGE={self.conn_max_age}"
        )


class Gunicorn:
    """gunicorn serving ``registry.wsgi`` on a free local port, from the benchmark database.

    Started and stopped by the benchmark (SIGTERM to the master, which stops its workers);
    its error log goes to a temporary file that is printed if it fails.
    """

    def __init__(self, options: ServerOptions, *, cache_prefix: str) -> None:
        from django.conf import settings

        self.options = options
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="rest-bench-gunicorn-", suffix=".log", delete=False
        )
        self.environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "registry.settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CACHE_KEY_PREFIX": cache_prefix,
            "DEBUG": "false",
            "CONN_MAX_AGE": str(options.conn_max_age),
            "API_WRITE_RATE": BENCH_WRITE_RATE,
        }
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "registry.wsgi:application",
            "--chdir",
            str(ROOT),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.options.workers),
            "--worker-class",
            self.options.worker_class,
            "--log-level",
            "warning",
            "--error-logfile",
            self.log.name,
            "--keep-alive",
            "30",
            # No control socket: its default path (~/.gunicorn/) is shared by every checkout.
            "--no-control-socket",
        ]
        if self.options.worker_class == "gthread":
            command += ["--threads", str(self.options.threads)]
        return command

    def __enter__(self) -> Gunicorn:
        self.process = subprocess.Popen(
            self.command(),
            env=self.environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_tail()
                self.stop(keep_log=True)
                raise RuntimeError(f"gunicorn exited at start:\n{tail}")
            try:
                connection = http.client.HTTPConnection(*self.address, timeout=5)
                connection.request("GET", TRANSFERS_PATH)  # 401 without a token: it answers
                connection.getresponse().read()
                connection.close()
                return self
            except OSError:
                time.sleep(0.2)
        self.stop(keep_log=True)
        raise RuntimeError(f"gunicorn did not answer within 60 s:\n{self.log_tail()}")

    def __exit__(self, exc_type, *exc_info) -> None:
        self.stop(keep_log=exc_type is not None)

    def stop(self, *, keep_log: bool = False) -> None:
        """Stop the master (and so its workers); the log is deleted unless something failed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.log.close()
        if keep_log:
            print(f"gunicorn's log is kept in {self.log.name}", file=sys.stderr)
        else:
            Path(self.log.name).unlink(missing_ok=True)

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def worker_pids(self) -> list[int]:
        """The worker processes (children of the master), for profiling their CPU time."""
        if self.process is None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


class MachineTimes:
    """The whole machine's CPU time (/proc/stat) over the measured intervals: how busy the
    cores were, with the benchmark and whatever else ran, and time stolen by the hypervisor."""

    FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")

    def __init__(self) -> None:
        self.totals = dict.fromkeys(self.FIELDS, 0)
        self._started: dict[str, int] | None = None

    @classmethod
    def read(cls) -> dict[str, int]:
        try:
            values = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
        except OSError:
            return dict.fromkeys(cls.FIELDS, 0)
        return dict(zip(cls.FIELDS, map(int, values), strict=True))

    def start(self) -> None:
        self._started = self.read()

    def stop(self) -> None:
        now = self.read()
        for name in self.FIELDS:
            self.totals[name] += now[name] - self._started[name]

    def describe(self) -> str:
        total = sum(self.totals.values()) or 1
        idle = self.totals["idle"] + self.totals["iowait"]
        return (
            f"cores {100 * (total - idle - self.totals['steal']) / total:.0f} % busy, "
            f"{100 * idle / total:.0f} % idle, {100 * self.totals['steal'] / total:.0f} % "
            f"stolen by the hypervisor"
        )


# --------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------


@dataclass
class HttpRound:
    """What the clients saw in one measured round: 2xx latencies, other statuses, wall time."""

    measurement: Measurement
    errors: Counter = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    keys: list[tuple[ApiClient, str]] = field(default_factory=list)


def post_transfer(
    connection: http.client.HTTPConnection, client: ApiClient, key: str
) -> tuple[int, float, http.client.HTTPResponse, bytes]:
    """One POST; returns status, latency (s), the response and its body.

    A server that closes the connection (gunicorn's sync workers do after every response) is
    reconnected to by http.client on the next request; a connection that broke while idle is
    retried once, on a new connection, before the clock starts again.
    """
    body = client.body()
    headers = client.headers(key)
    began = time.perf_counter()
    try:
        connection.request("POST", TRANSFERS_PATH, body=body, headers=headers)
        response = connection.getresponse()
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        connection.close()
        began = time.perf_counter()
        connection.request("POST", TRANSFERS_PATH, body=body, headers=headers)
        response = connection.getresponse()
    data = response.read()
    return response.status, time.perf_counter() - began, response, data


def _client_loop(
    server: Gunicorn, client: ApiClient, deadline_after: float, start, outcome: dict
) -> None:
    connection = http.client.HTTPConnection(*server.address, timeout=60)
    latencies: list[float] = []
    errors: Counter = Counter()
    samples: list[str] = []
    keys: list[tuple[ApiClient, str]] = []
    try:
        start.wait()
        began = time.monotonic()
        deadline = began + deadline_after
        while time.monotonic() < deadline:
            key = str(uuid.uuid4())
            status, latency, _response, data = post_transfer(connection, client, key)
            if 200 <= status < 300:
                latencies.append(latency)
                keys.append((client, key))
            else:
                errors[status] += 1
                if len(samples) < 3:
                    samples.append(f"{status}: {data[:300].decode(errors='replace')}")
        outcome.update(
            began=began,
            ended=time.monotonic(),
            latencies=latencies,
            errors=errors,
            samples=samples,
            keys=keys,
        )
    except BaseException as error:  # noqa: BLE001 - reported by the caller
        outcome["failure"] = repr(error)
    finally:
        connection.close()


def http_round(server: Gunicorn, clients: list[ApiClient], seconds: float) -> HttpRound:
    """Every client at once, one thread each, for ``seconds``: transfers of 1 unit by quantity,
    each under a fresh Idempotency-Key."""
    start = threading.Barrier(len(clients))
    outcomes: list[dict] = [{} for _ in clients]
    threads = [
        threading.Thread(target=_client_loop, args=(server, client, seconds, start, outcome))
        for client, outcome in zip(clients, outcomes, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [outcome["failure"] for outcome in outcomes if "failure" in outcome]
    if failures:
        raise RuntimeError(f"a benchmark client failed: {failures[0]}\n{server.log_tail()}")
    latencies = [latency for outcome in outcomes for latency in outcome["latencies"]]
    span = max(outcome["ended"] for outcome in outcomes) - min(
        outcome["began"] for outcome in outcomes
    )
    result = HttpRound(Measurement(len(latencies), span, latencies))
    for outcome in outcomes:
        result.errors.update(outcome["errors"])
        result.error_samples.extend(outcome["samples"])
        result.keys.extend(outcome["keys"])
    return result


def combine_rounds(rounds: list[HttpRound]) -> HttpRound:
    combined = HttpRound(Measurement.combine([part.measurement for part in rounds]))
    for part in rounds:
        combined.errors.update(part.errors)
        combined.error_samples.extend(part.error_samples)
        combined.keys.extend(part.keys)
    return combined


@dataclass
class Sequential:
    """One client alone: latencies, whether every answer was what was expected, and the CPU
    time per request of the Python process(es) and PostgreSQL backend(s) that served it (ms;
    None where it could not be measured). CPU time moves less than latency when other work
    loads the machine."""

    measurement: Measurement
    unexpected: list[str] = field(default_factory=list)
    python_cpu: float | None = None
    database_cpu: float | None = None


class CpuClock:
    """CPU seconds of some processes, read before and after: per request, in ms."""

    def __init__(self, pids: list[int], *, this_process: bool = False) -> None:
        self.pids = pids
        self.this_process = this_process
        self._started = 0.0

    def _read(self) -> float:
        return time.process_time() if self.this_process else cpu_seconds(self.pids)

    def __enter__(self) -> CpuClock:
        self._started = self._read()
        return self

    def __exit__(self, *exc_info) -> None:
        self.seconds = self._read() - self._started

    def per_request(self, count: int) -> float | None:
        return 1000 * self.seconds / count if count and (self.pids or self.this_process) else None


def own_backend() -> list[int]:
    """The PostgreSQL backend of this process's Django connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return [cursor.fetchone()[0]]


def sequential_transfers(server: Gunicorn, client: ApiClient, count: int) -> Sequential:
    """``count`` transfers one after the other, each with a fresh key: the latency of a
    transfer when nothing else runs."""
    connection = http.client.HTTPConnection(*server.address, timeout=60)
    latencies, unexpected = [], []
    began = time.monotonic()
    try:
        for _ in range(count):
            status, latency, _response, data = post_transfer(connection, client, str(uuid.uuid4()))
            latencies.append(latency)
            if status != 201:
                unexpected.append(f"{status}: {data[:300].decode(errors='replace')}")
    finally:
        connection.close()
    return Sequential(Measurement(count, time.monotonic() - began, latencies), unexpected)


def replays(server: Gunicorn, client: ApiClient, key: str, count: int) -> Sequential:
    """The same request under an already-used key, ``count`` times: each answer must be the
    stored 201 with ``Idempotent-Replayed: true`` and the first transfer's body."""
    connection = http.client.HTTPConnection(*server.address, timeout=60)
    latencies, unexpected = [], []
    first_body = None
    began = time.monotonic()
    try:
        for _ in range(count):
            status, latency, response, data = post_transfer(connection, client, key)
            latencies.append(latency)
            replayed = response.getheader("Idempotent-Replayed") == "true"
            if first_body is None:
                first_body = data
            if status != 201 or not replayed or data != first_body:
                unexpected.append(f"{status} replayed={replayed}: {data[:200].decode()}")
    finally:
        connection.close()
    return Sequential(Measurement(count, time.monotonic() - began, latencies), unexpected)


# --------------------------------------------------------------------------------------------
# Where a request's time goes: the service alone, the Django stack in process, one statement
# count
# --------------------------------------------------------------------------------------------


def service_alone(client: ApiClient, count: int) -> Sequential:
    """``block_transfer`` called in this process as the view calls it (source account as an
    instance, target and mechanism as given, a fresh idempotency key): the service's share."""
    from accounts.models import User
    from accounts.selectors import account_resolve
    from tracking.services import block_transfer

    actor = User.objects.get(pk=client.lane.actor_id)

    def transfer():
        block_transfer(
            actor=actor,
            source_account=account_resolve(client.lane.source_number, field="source_account"),
            target_account=client.lane.target_number,
            mechanism="GEC",
            quantity=QUANTITY,
            idempotency_key=str(uuid.uuid4()),
        )

    for _ in range(WARM_UP_REQUESTS):
        transfer()
    latencies = []
    began = time.monotonic()
    with CpuClock([], this_process=True) as python, CpuClock(own_backend()) as database:
        for _ in range(count):
            start = time.perf_counter()
            transfer()
            latencies.append(time.perf_counter() - start)
    return Sequential(
        Measurement(count, time.monotonic() - began, latencies),
        python_cpu=python.per_request(count),
        database_cpu=database.per_request(count),
    )


def _in_process_client(client: ApiClient):
    from django.test import Client

    # CSRF is not enforced on token-authenticated requests. The test client leaves the
    # database connection open between requests, as the server does with CONN_MAX_AGE > 0.
    return Client(HTTP_AUTHORIZATION=f"Token {client.token}", HTTP_ACCEPT="application/json")


def django_stack(client: ApiClient, count: int) -> Sequential:
    """The whole Django stack (middleware, DRF, token, throttle, idempotency, view, service,
    serializer) in this process through Django's test client: no HTTP, no gunicorn."""
    test_client = _in_process_client(client)
    body = client.body()

    def post():
        response = test_client.post(
            TRANSFERS_PATH,
            body,
            content_type="application/json",
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if response.status_code != 201:
            raise RuntimeError(f"in-process transfer answered {response.status_code}")

    for _ in range(WARM_UP_REQUESTS):  # the first requests of a process import and compile
        post()
    latencies = []
    began = time.monotonic()
    with CpuClock([], this_process=True) as python, CpuClock(own_backend()) as database:
        for _ in range(count):
            start = time.perf_counter()
            post()
            latencies.append(time.perf_counter() - start)
    return Sequential(
        Measurement(count, time.monotonic() - began, latencies),
        python_cpu=python.per_request(count),
        database_cpu=database.per_request(count),
    )


def statements_per_request(client: ApiClient) -> tuple[int, int]:
    """SQL statements (BEGIN and COMMIT not counted) of one REST transfer and of one replay."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.common import count_statements

    test_client = _in_process_client(client)
    key = str(uuid.uuid4())
    counts = []
    for _ in range(2):  # the first use of the key, then its replay
        with CaptureQueriesContext(connection) as captured:
            test_client.post(
                TRANSFERS_PATH,
                client.body(),
                content_type="application/json",
                headers={"Idempotency-Key": key},
            )
        counts.append(count_statements(captured.captured_queries))
    return counts[0], counts[1]


# --------------------------------------------------------------------------------------------
# pgbench: the TPC-B-like baseline on a database of its own on the same server
# --------------------------------------------------------------------------------------------


class PgBench:
    """pgbench against ``<benchmark database>_pgbench`` on the benchmark's server."""

    def __init__(self, scale: int) -> None:
        from django.db import connection

        self.executable = shutil.which("pgbench")
        settings_dict = connection.settings_dict
        self.database = f"{settings_dict['NAME']}_pgbench"
        self.scale = scale
        self.connection_arguments = ["-U", settings_dict.get("USER") or "postgres"]
        if settings_dict.get("HOST"):
            self.connection_arguments += ["-h", settings_dict["HOST"]]
        if settings_dict.get("PORT"):
            self.connection_arguments += ["-p", str(settings_dict["PORT"])]
        self.environment = dict(os.environ)
        if settings_dict.get("PASSWORD"):
            self.environment["PGPASSWORD"] = settings_dict["PASSWORD"]
        self.log_directory = tempfile.mkdtemp(prefix="rest-bench-pgbench-")

    @property
    def available(self) -> bool:
        return self.executable is not None

    def initialise(self) -> None:
        """Create the database if needed and (re)load pgbench's tables at ``scale``."""
        from django.db import connection

        with connection._nodb_cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{self.database}"')
        subprocess.run(
            [self.executable, "-i", "-q", "-s", str(self.scale), *self.connection_arguments]
            + [self.database],
            env=self.environment,
            check=True,
            capture_output=True,
            text=True,
        )

    def run(self, *, clients: int, threads: int, seconds: int) -> Measurement:
        """One pgbench run (TPC-B-like, the default script); every transaction's latency is
        read back from pgbench's per-transaction log."""
        for old in Path(self.log_directory).iterdir():
            old.unlink()
        prefix = str(Path(self.log_directory) / "pgbench")
        finished = subprocess.run(
            [
                self.executable,
                "-c",
                str(clients),
                "-j",
                str(threads),
                "-T",
                str(seconds),
                "-l",
                "--log-prefix",
                prefix,
                *self.connection_arguments,
                self.database,
            ],
            env=self.environment,
            check=True,
            capture_output=True,
            text=True,
        )
        output = finished.stdout
        processed = int(re.search(r"transactions actually processed: (\d+)", output).group(1))
        tps = float(re.search(r"tps = ([\d.]+)", output).group(1))
        latencies = []
        for log in Path(self.log_directory).iterdir():
            for line in log.read_text().splitlines():
                # client_id transaction_no time_us script_no time_epoch time_us_fraction
                latencies.append(int(line.split()[2]) / 1e6)
        return Measurement(processed, processed / tps if tps else 0.0, latencies)

    def clean_up(self) -> None:
        shutil.rmtree(self.log_directory, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The same work: every 201 is one transfer, one ledger event, one stored idempotent response
# --------------------------------------------------------------------------------------------


@dataclass
class Written:
    transfers: int
    transfer_events: int
    idempotency_records: int
    stored_responses: int


def written(clients: list[ApiClient]) -> Written:
    """What the benchmark's holders wrote: transfers, their ledger events, idempotency rows."""
    from registry.models import IdempotencyRecord, LedgerEvent
    from tracking.models import Transfer

    actors = [client.lane.actor_id for client in clients]
    return Written(
        transfers=Transfer.objects.filter(actor_id__in=actors).count(),
        transfer_events=LedgerEvent.objects.filter(
            kind=LedgerEvent.Kind.UNITS_TRANSFERRED, actor_id__in=actors
        ).count(),
        idempotency_records=IdempotencyRecord.objects.filter(user_id__in=actors).count(),
        stored_responses=IdempotencyRecord.objects.filter(
            user_id__in=actors, status_code=201
        ).count(),
    )


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


@dataclass
class Results:
    """Everything benchmark 4 measured, for bench/run.py to print."""

    rest: HttpRound  # the measured rounds together
    rest_rounds: list[HttpRound]
    pgbench_rounds: list[Measurement]
    warm_up: HttpRound
    worker_cpu: float  # seconds, over the measured REST rounds
    backend_cpu: float
    client_cpu: float
    machine: MachineTimes
    written: Written  # after the measured rounds
    written_after_replays: Written
    alone: Sequential
    replayed: Sequential

    @property
    def errors(self) -> int:
        return sum(self.rest.errors.values()) + sum(self.warm_up.errors.values())

    @property
    def same_work(self) -> bool:
        """One transfer, one ledger event and one stored response per 201; none per replay."""
        answered = self.rest.measurement.operations + self.warm_up.measurement.operations
        written = self.written
        return (
            written.transfers == written.transfer_events == written.stored_responses == answered
            and written.idempotency_records == answered
            and self.written_after_replays.transfers
            == written.transfers + self.alone.measurement.operations
        )


def measure(
    options: ServerOptions,
    clients: list[ApiClient],
    pgbench: PgBench,
    *,
    rounds: int,
    seconds: int,
    sequential: int,
    cache_prefix: str,
) -> Results:
    """Start gunicorn, warm it up, then ``rounds`` times: pgbench for ``seconds``, the REST
    clients for ``seconds``; then one client alone: ``sequential`` fresh transfers and as many
    replays of a used key."""
    from bench.common import Housekeeping

    rest_rounds: list[HttpRound] = []
    pgbench_rounds: list[Measurement] = []
    machine = MachineTimes()
    worker_cpu = backend_cpu = client_cpu = 0.0
    with Gunicorn(options, cache_prefix=cache_prefix) as server:
        warm_up = http_round(server, clients, 3.0)  # every worker imports and connects
        backends = server_backends()
        workers = server.worker_pids()
        with Housekeeping():
            for _round in range(rounds):
                if pgbench.available:
                    pgbench_rounds.append(
                        pgbench.run(clients=len(clients), threads=2, seconds=seconds)
                    )
                before = cpu_seconds(workers), cpu_seconds(backends), time.process_time()
                machine.start()
                rest_rounds.append(http_round(server, clients, seconds))
                machine.stop()
                worker_cpu += cpu_seconds(workers) - before[0]
                backend_cpu += cpu_seconds(backends) - before[1]
                client_cpu += time.process_time() - before[2]
        rest = combine_rounds(rest_rounds)
        written_before = written(clients)
        with CpuClock(workers) as python, CpuClock(backends) as database:
            alone = sequential_transfers(server, clients[0], sequential)
        alone.python_cpu = python.per_request(sequential)
        alone.database_cpu = database.per_request(sequential) if options.conn_max_age else None
        used_key = next(key for client, key in rest.keys if client is clients[0])
        with CpuClock(workers) as python, CpuClock(backends) as database:
            replayed = replays(server, clients[0], used_key, sequential)
        replayed.python_cpu = python.per_request(sequential)
        replayed.database_cpu = database.per_request(sequential) if options.conn_max_age else None
        written_after = written(clients)
    return Results(
        rest=rest,
        rest_rounds=rest_rounds,
        pgbench_rounds=pgbench_rounds,
        warm_up=warm_up,
        worker_cpu=worker_cpu,
        backend_cpu=backend_cpu,
        client_cpu=client_cpu,
        machine=machine,
        written=written_before,
        written_after_replays=written_after,
        alone=alone,
        replayed=replayed,
    )


if __name__ == "__main__":
    from bench import run

    run.main(["--only", "rest", *sys.argv[1:]])
