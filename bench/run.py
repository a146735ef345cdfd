"""Benchmarks of the registry: bulk issuance, concurrent transfers, bytes per block, transfers
through the REST API, a uniqueness report over a large registry.

    .venv/bin/python bench/run.py [--issuances N] [--transfers N] [--workers N]
                                  [--issuance-processes 1,2] [--holder-blocks N]
                                  [--rest-seconds S] [--rest-clients N] [--server-workers N]
                                  [--report-blocks N] [--report-reuse]
                                  [--only issuance,transfers,storage,holding,rest,report]

Every figure of the project is printed beside a raw-SQL baseline doing the same work, measured in
the same run on the same database, and their ratio; the REST API's transfers are printed beside
pgbench's TPC-B-like transactions on the same server, the uniqueness report beside
``SELECT count(*)`` over the tables it reads. Nothing is asserted on time.

Database: with ``DATABASE_URL`` set, its database is used if its name contains "bench",
otherwise a sibling ``<name>_bench`` on the same server; without it, the embedded PostgreSQL is
started as usual and ``registry_bench`` is used. The benchmark empties the registry's tables of
that database (never of the development database) and migrates it first; ``--only report
--report-reuse`` keeps a registry the report benchmark generated before.

Results and their interpretation are kept in docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ first on the path; the project root must come first so
# that the project's apps (and the ``bench`` package) are imported from there.
sys.path[:] = [str(ROOT)] + [
    entry for entry in sys.path if Path(entry or ".").resolve() != ROOT / "bench"
]
os.environ["DJANGO_SETTINGS_MODULE"] = "registry.settings"
# Measure what production runs: DEBUG off (DEBUG=true makes Django log every statement).
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from bench import (  # noqa: E402
    common,
    fixtures,
    issuance_bench,
    report_bench,
    rest_transfers,
    storage_bench,
    transfer_bench,
)
from bench.common import Measurement, ms  # noqa: E402

# About 689,000 projects were issued GECs in one month of 2025 (docs/domain.md, scale).
CHINA_PROJECTS = 700_000
TARGET_RATIO = 0.25
TARGET_MONTH_MINUTES = 15.0
TARGET_BYTES_PER_BLOCK = 1024
TARGET_REST_RATE = 400.0
TARGET_REST_PGBENCH_RATIO = 0.12
TARGET_REPORT_SECONDS = 60.0
TARGET_REPORT_PEAK_MB = 500.0


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--issuances",
        type=int,
        default=3000,
        help="issuances per configuration (service and raw SQL, per process count); default 3000",
    )
    parser.add_argument(
        "--issuance-processes",
        default="1,2",
        help="comma-separated process counts for the issuance benchmark; default 1,2",
    )
    parser.add_argument(
        "--months-per-project",
        type=int,
        default=1,
        help="consecutive monthly issuances per project; default 1 (one "
        "issuance per project, as in a month at China scale)",
    )
    parser.add_argument(
        "--transfers",
        type=int,
        default=4000,
        help="transfers in all, shared by the workers; default 4000",
    )
    parser.add_argument(
        "--workers", type=int, default=8, help="concurrent transfer workers (processes); default 8"
    )
    parser.add_argument(
        "--transfer-quantity",
        type=int,
        default=10,
        help="units moved by each transfer (each splits a block); default 10",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds in which raw SQL and the services take turns (their ratio then holds "
        "when other work loads the machine); default 3",
    )
    parser.add_argument(
        "--holder-blocks",
        type=int,
        default=20000,
        help="blocks held by the source account of the large-holding probe; default 20000",
    )
    parser.add_argument(
        "--rest-seconds",
        type=int,
        default=30,
        help="seconds of REST transfers in all, shared by the rounds; pgbench runs as long; "
        "default 30",
    )
    parser.add_argument(
        "--rest-clients",
        type=int,
        default=8,
        help="concurrent REST clients (threads, one keep-alive connection each) and pgbench "
        "clients; default 8",
    )
    parser.add_argument(
        "--server-workers",
        type=int,
        default=(os.cpu_count() or 1) + 1,
        help="gunicorn worker processes; default cores + 1 (on 2 cores, 3 sync workers used "
        "less CPU per transfer than 5 or gthread: docs/performance.md)",
    )
    parser.add_argument(
        "--worker-class",
        choices=["sync", "gthread"],
        default="sync",
        help="gunicorn worker class; default sync",
    )
    parser.add_argument(
        "--server-threads",
        type=int,
        default=2,
        help="threads per gunicorn worker with --worker-class gthread; default 2",
    )
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=600,
        help="CONN_MAX_AGE of the server (0: a new database connection per request); default 600",
    )
    parser.add_argument(
        "--pgbench-scale",
        type=int,
        default=8,
        help="pgbench scale factor (branches), at least the client count; default 8",
    )
    parser.add_argument(
        "--replays",
        type=int,
        default=300,
        help="requests replayed under one used Idempotency-Key, and fresh transfers of one "
        "client alone, for their latencies; default 300",
    )
    parser.add_argument(
        "--report-blocks",
        type=int,
        default=1_000_000,
        help="blocks of the registry the uniqueness report runs over (generated with set-based "
        "SQL, with its claims, records, retirements and ledger events); default 1000000",
    )
    parser.add_argument(
        "--report-reuse",
        action="store_true",
        help="with --only report: keep the registry a previous run generated if it has "
        "--report-blocks blocks (generation takes minutes at 1,000,000)",
    )
    parser.add_argument(
        "--only",
        default="issuance,transfers,storage,holding,rest,report",
        help="which benchmarks to run (issuance, transfers, storage, holding, rest, report); "
        "default all",
    )
    return parser.parse_args(argv)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def say(text: str = "") -> None:
    print(text, flush=True)


def load_average() -> str:
    """The machine's load: the benchmark shares 2 cores with whatever else runs."""
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "?"


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def describe_machine(database: str) -> None:
    """Where and on what the figures were measured."""
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
        cursor.execute("SHOW synchronous_commit")
        synchronous_commit = cursor.fetchone()[0]
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0]
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = "?"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    settings_dict = connection.settings_dict
    say(f"date        {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit}")
    say(
        f"machine     {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"Django {django.get_version()}"
    )
    say(
        f"database    PostgreSQL {server_version} at {settings_dict.get('HOST') or 'local'}:"
        f"{settings_dict.get('PORT') or ''}/{database} "
        f"({'embedded' if settings.EMBEDDED_DATABASE else 'DATABASE_URL'}), "
        f"shared_buffers={shared_buffers}, synchronous_commit={synchronous_commit}, "
        f"autovacuum={autovacuum}"
    )
    if autovacuum != "on":
        say(
            "            autovacuum is off on this server: the benchmark vacuums and analyses "
            "the hot tables while it measures, as autovacuum would"
        )
    say(f"settings    DEBUG={settings.DEBUG}, CONN_MAX_AGE={settings_dict.get('CONN_MAX_AGE')}")
    say(f"command     {' '.join([Path(sys.executable).name, *sys.argv])}")
    say(
        f"load        {load_average()} (1, 5, 15 min) at the start; other work on the machine "
        f"shows here"
    )


def compare(label: str, service: Measurement, raw: Measurement, unit: str) -> float:
    """Print the service figure, the raw figure and their ratio; return the ratio."""
    ratio = service.rate / raw.rate if raw.rate else 0.0
    say(f"  {label}")
    say(
        f"    service layer  {service.rate:9.1f} {unit}/s   ({service.operations} in "
        f"{service.seconds:.1f} s)   median {ms(service.median)}   p99 "
        f"{ms(service.percentile(0.99))}"
    )
    say(
        f"    raw SQL        {raw.rate:9.1f} {unit}/s   ({raw.operations} in {raw.seconds:.1f} s)"
        f"   median {ms(raw.median)}   p99 {ms(raw.percentile(0.99))}"
    )
    say(
        f"    ratio          {ratio:9.2f}   "
        f"(target >= {TARGET_RATIO}: {verdict(ratio >= TARGET_RATIO)})"
    )
    return ratio


# --------------------------------------------------------------------------------------------
# Benchmarks
# --------------------------------------------------------------------------------------------


def issuance_benchmark(arguments: argparse.Namespace, personas: fixtures.Personas) -> None:
    """Benchmark 1, once per process count: raw SQL, the services and set-based SQL take turns
    in ``--rounds`` rounds, each on projects of its own (raw SQL goes first in every round, so
    the baseline never meets larger tables than the services)."""
    months = arguments.months_per_project
    project_count = -(-arguments.issuances // months)
    say(
        f"\n1. Bulk issuance: production_record_create + unit_claim_issue (GEC, by quantity), "
        f"{project_count * months} issuances = {project_count} projects x {months} month(s); "
        f"{issuance_bench.ROWS_PER_ISSUANCE} rows each in 2 transactions"
    )
    rounds = arguments.rounds
    for processes in [int(part) for part in arguments.issuance_processes.split(",") if part]:
        began = time.monotonic()
        raw_projects = fixtures.create_projects(project_count)
        service_projects = fixtures.create_projects(project_count)
        batch_projects = fixtures.create_projects(project_count)
        common.analyze()
        say(
            f"  [{processes} process(es); set-up of {3 * project_count} projects took "
            f"{time.monotonic() - began:.0f} s, not measured]"
        )

        def issuance_run(worker, projects, processes=processes):
            return lambda round_index: issuance_bench.measure(
                worker, personas, projects[round_index::rounds], months, processes
            )

        with common.Housekeeping():
            measured = common.interleaved(
                rounds,
                {
                    "raw": issuance_run(issuance_bench.raw_worker, raw_projects),
                    "service": issuance_run(issuance_bench.service_worker, service_projects),
                    "batched": issuance_run(issuance_bench.raw_batched_worker, batch_projects),
                },
            )
        raw, service, batched = measured["raw"], measured["service"], measured["batched"]
        compare(f"{processes} process(es)", service, raw, "issuances")
        say(
            f"    rows written   service {service.rate * issuance_bench.ROWS_PER_ISSUANCE:.0f} "
            f"rows/s, raw {raw.rate * issuance_bench.ROWS_PER_ISSUANCE:.0f} rows/s"
        )
        say(
            f"    set-based SQL  {batched.rate:9.1f} issuances/s   ({batched.operations} in "
            f"{batched.seconds:.1f} s, {issuance_bench.BATCH_SIZE} issuances per transaction; "
            f"a ceiling for a bulk path, not the ratio's baseline)"
        )
        for name, measured in (
            ("service layer", service),
            ("raw SQL", raw),
            ("set-based SQL", batched),
        ):
            minutes = CHINA_PROJECTS / measured.rate / 60 if measured.rate else float("inf")
            say(
                f"    China month    {name}: {CHINA_PROJECTS:,} issuances in {minutes:.1f} min "
                f"(target <= {TARGET_MONTH_MINUTES:.0f} min: "
                f"{verdict(minutes <= TARGET_MONTH_MINUTES)})"
            )
    probe = fixtures.create_projects(1)[0]
    statements = issuance_bench.statements_per_issuance(personas, probe, 0)
    say(
        f"  SQL statements per issuance (BEGIN and COMMIT not counted): service {statements}, "
        f"raw {issuance_bench.RAW_STATEMENTS_PER_ISSUANCE}"
    )


def transfer_benchmark(arguments: argparse.Namespace, personas: fixtures.Personas) -> None:
    """Benchmark 2: ``workers`` processes at once; raw SQL and the services take turns in
    ``--rounds`` rounds, each on accounts of its own."""
    workers = arguments.workers
    per_worker = max(1, arguments.transfers // workers)
    quantity = arguments.transfer_quantity
    say(
        f"\n2. Transfers: {workers} concurrent workers (processes, one connection each), "
        f"{per_worker} transfers each of {quantity} GEC by quantity, each splitting a block"
    )
    began = time.monotonic()
    raw_lanes = transfer_bench.create_lanes(personas, workers, per_worker, quantity, "RAW")
    service_lanes = transfer_bench.create_lanes(personas, workers, per_worker, quantity, "SVC")
    common.analyze()
    say(
        f"  [set-up of {2 * workers} source blocks took {time.monotonic() - began:.0f} s, "
        f"not measured]"
    )
    rounds = arguments.rounds
    per_round = [len(part) for part in common.split_evenly(range(per_worker), rounds)]

    def transfer_run(worker, lanes):
        return lambda round_index: transfer_bench.measure(
            worker, lanes, personas.gec_id, per_round[round_index], quantity
        )

    with common.Housekeeping():
        measured = common.interleaved(
            rounds,
            {
                "raw": transfer_run(transfer_bench.raw_worker, raw_lanes),
                "service": transfer_run(transfer_bench.service_worker, service_lanes),
            },
        )
    raw, service = measured["raw"], measured["service"]
    compare(f"{workers} workers", service, raw, "transfers")
    statements = transfer_bench.statements_per_transfer(service_lanes[0], personas.gec_id, quantity)
    say(
        f"  SQL statements per transfer (BEGIN and COMMIT not counted): service {statements}, "
        f"raw {transfer_bench.RAW_STATEMENTS_PER_TRANSFER}"
    )


def storage_benchmark() -> None:
    """Benchmark 3: bytes per block, as left by the other benchmarks and compacted."""
    say("\n3. Storage: pg_total_relation_size (table + TOAST + indexes) per row")
    for label, compact in (("as left by the run", False), ("after VACUUM FULL", True)):
        figures = storage_bench.measure(compact=compact)
        say(f"  {label}")
        for size in (figures.block, figures.ledger):
            say(
                f"    {size.table:22s} {size.rows:9d} rows  {size.total_bytes / 2**20:8.1f} MiB"
                f"  {size.bytes_per_row:7.0f} B/row"
            )
        per_block = figures.bytes_per_block
        events_per_block = figures.ledger.rows / max(1, figures.block.rows)
        met = verdict(per_block <= TARGET_BYTES_PER_BLOCK)
        say(
            f"    per block with its ledger share ({events_per_block:.2f} events per block): "
            f"{per_block:.0f} B (target <= {TARGET_BYTES_PER_BLOCK} B: {met})"
        )


def large_holding_probe(arguments: argparse.Namespace, personas: fixtures.Personas) -> None:
    """Benchmark 2b: one worker alone, transfers from an account with one block and from an
    account with ``--holder-blocks`` blocks; the raw SQL selects with ORDER BY ... LIMIT."""
    quantity, count = arguments.transfer_quantity, 200
    say(
        f"\n2b. Transfer cost against the size of the holding: one worker, {count} transfers of "
        f"{quantity} GEC each, from an account holding 1 block and one holding "
        f"{arguments.holder_blocks} blocks"
    )
    began = time.monotonic()
    small = transfer_bench.create_lanes(personas, 1, 2 * count, quantity, "ONE")[0]
    large = transfer_bench.create_large_holding(personas, arguments.holder_blocks)
    common.analyze()
    say(f"  [set-up took {time.monotonic() - began:.0f} s, not measured]")
    for label, lane in (("1 block", small), (f"{arguments.holder_blocks} blocks", large)):
        with common.Housekeeping():
            service = transfer_bench.sequential_latencies(
                transfer_bench.service_worker, lane, personas.gec_id, count, quantity
            )
            raw = transfer_bench.sequential_latencies(
                transfer_bench.raw_worker, lane, personas.gec_id, count, quantity
            )
        say(
            f"  {label:>14s}: service median {ms(service.median)} p99 "
            f"{ms(service.percentile(0.99))};  raw median {ms(raw.median)} p99 "
            f"{ms(raw.percentile(0.99))}"
        )


def rest_benchmark(arguments: argparse.Namespace, personas: fixtures.Personas, database: str):
    """Benchmark 4: POST /api/v1/transfers/ through gunicorn, ``--rest-clients`` clients at
    once; pgbench's TPC-B-like script and the REST clients take turns in ``--rounds`` rounds.
    Then, one client alone: fresh transfers, replays of a used Idempotency-Key, and where a
    request's time goes (the service alone, the Django stack in process)."""
    clients_count = arguments.rest_clients
    rounds = arguments.rounds
    seconds = max(1, round(arguments.rest_seconds / rounds))
    options = rest_transfers.ServerOptions(
        workers=arguments.server_workers,
        worker_class=arguments.worker_class,
        threads=arguments.server_threads,
        conn_max_age=arguments.conn_max_age,
    )
    say(
        f"\n4. REST transfers: POST {rest_transfers.TRANSFERS_PATH} of "
        f"{rest_transfers.QUANTITY} GEC by quantity (each splitting a block), a fresh "
        f"Idempotency-Key each; {clients_count} clients (threads, keep-alive http.client); "
        f"{options.describe()}; {rounds} rounds of {seconds} s, taking turns with pgbench "
        f"-c {clients_count} -j 2 -T {seconds} (TPC-B-like, scale {arguments.pgbench_scale})"
    )
    began = time.monotonic()
    clients = rest_transfers.create_clients(personas, clients_count)
    common.analyze()
    pgbench = rest_transfers.PgBench(arguments.pgbench_scale)
    if pgbench.available:
        pgbench.initialise()
    else:
        say("  pgbench is not installed: the REST figures are printed without their baseline")
    say(
        f"  [set-up of {clients_count} holders, tokens and blocks and of pgbench took "
        f"{time.monotonic() - began:.0f} s, not measured]"
    )
    try:
        results = rest_transfers.measure(
            options,
            clients,
            pgbench,
            rounds=rounds,
            seconds=seconds,
            sequential=arguments.replays,
            cache_prefix=f"{database}-rest",
        )
    finally:
        pgbench.clean_up()
    measured = results.rest.measurement
    say(
        f"  REST           {measured.rate:9.1f} transfers/s   ({measured.operations} in "
        f"{measured.seconds:.1f} s)   median {ms(measured.median)}   p99 "
        f"{ms(measured.percentile(0.99))}   non-2xx: {results.errors}"
    )
    for sample in (results.warm_up.error_samples + results.rest.error_samples)[:5]:
        say(f"                 {sample}")
    say(
        f"  target         >= {TARGET_REST_RATE:.0f} transfers/s: "
        f"{verdict(measured.rate >= TARGET_REST_RATE and results.errors == 0)}"
    )
    if results.pgbench_rounds:
        baseline = Measurement.combine(results.pgbench_rounds)
        ratio = measured.rate / baseline.rate if baseline.rate else 0.0
        say(
            f"  pgbench        {baseline.rate:9.1f} TPS           ({baseline.operations} in "
            f"{baseline.seconds:.1f} s)   median {ms(baseline.median)}   p99 "
            f"{ms(baseline.percentile(0.99))}"
        )
        say(
            f"  ratio          {ratio:9.3f}   (REST transfers/s / pgbench TPS; target >= "
            f"{TARGET_REST_PGBENCH_RATIO}: {verdict(ratio >= TARGET_REST_PGBENCH_RATIO)})"
        )
        say(
            "  per round      REST "
            + " / ".join(f"{part.measurement.rate:.0f}" for part in results.rest_rounds)
            + " transfers/s; pgbench "
            + " / ".join(f"{part.rate:.0f}" for part in results.pgbench_rounds)
            + " TPS"
        )
    if measured.operations:
        per_transfer = 1000 / measured.operations
        backend_text = (
            f"{results.backend_cpu * per_transfer:.2f} ms"
            if options.conn_max_age
            else "n/a (a new connection per request)"
        )
        server_cpu = (results.worker_cpu + results.backend_cpu) * per_transfer
        cores = os.cpu_count() or 1
        say(
            f"  CPU per transfer: gunicorn workers {results.worker_cpu * per_transfer:.2f} ms, "
            f"PostgreSQL backends {backend_text}, clients "
            f"{results.client_cpu * per_transfer:.2f} ms (server alone on {cores} cores: "
            f"{1000 * cores / (server_cpu or 1):.0f} transfers/s)"
        )
        say(f"  machine during the REST rounds: {results.machine.describe()}")
    written, after = results.written, results.written_after_replays
    alone, replayed = results.alone, results.replayed
    say(
        f"  same work      {written.transfers} transfers, {written.transfer_events} ledger "
        f"events, {written.stored_responses} stored responses for "
        f"{measured.operations + results.warm_up.measurement.operations} answers 201; "
        f"replays added {after.transfers - written.transfers - alone.measurement.operations} "
        f"transfers: {'OK' if results.same_work else 'MISMATCH'}"
    )
    say(
        f"  one client alone, fresh keys: median {ms(alone.measurement.median)}   p99 "
        f"{ms(alone.measurement.percentile(0.99))}   ({alone.measurement.operations} "
        f"transfers, {len(alone.unexpected)} not 201)"
    )
    say(
        f"  idempotent replay (same key, same request): median "
        f"{ms(replayed.measurement.median)}   p99 {ms(replayed.measurement.percentile(0.99))}   "
        f"({replayed.measurement.operations} replays, {len(replayed.unexpected)} not the "
        f"stored 201)"
    )
    for sample in (alone.unexpected + replayed.unexpected)[:5]:
        say(f"                 {sample}")
    service = rest_transfers.service_alone(clients[-1], arguments.replays)
    stack = rest_transfers.django_stack(clients[-1], arguments.replays)
    statements, replay_statements = rest_transfers.statements_per_request(clients[-1])
    say("  where the time goes, one client alone (per transfer):")
    for label, probe in (
        ("the service call in process", service),
        ("the whole Django stack in process", stack),
        ("HTTP through gunicorn", alone),
        ("a replay through gunicorn", replayed),
    ):
        database_cpu = "n/a" if probe.database_cpu is None else f"{probe.database_cpu:.2f} ms"
        say(
            f"    {label:34s} median {ms(probe.measurement.median):>9s}   CPU: Python "
            f"{probe.python_cpu:.2f} ms, PostgreSQL {database_cpu}"
        )
    core = transfer_bench.statements_per_transfer(clients[-1].lane, personas.gec_id, 1)
    say(
        f"  SQL statements per REST transfer (BEGIN and COMMIT not counted): {statements}, of "
        f"which {core} are the transfer's own (as in benchmark 2); per replay: "
        f"{replay_statements}"
    )


def report_benchmark(arguments: argparse.Namespace, database: str) -> None:
    """Benchmark 5: a whole-registry uniqueness report over ``--report-blocks`` blocks, in a
    process of its own, beside ``SELECT count(*)`` over the tables it reads."""
    from audit.checks import CHECKS

    blocks = arguments.report_blocks
    say(
        f"\n5. Uniqueness report over {blocks:,} blocks: uniqueness_report_request + "
        f"uniqueness_report_run (whole registry, {len(CHECKS)} check(s) in audit.checks.CHECKS) "
        f"in a child process, beside SELECT count(*) over {len(report_bench.BASELINE_TABLES)} "
        f"tables"
    )
    existing = report_bench.generated_blocks() if arguments.report_reuse else None
    if existing == blocks:
        say(f"  [reusing the registry of {existing:,} blocks generated by an earlier run]")
    else:
        if arguments.report_reuse:
            say("  [no registry of that size to reuse: generating one]")
        common.truncate_registry_tables()
        generation = report_bench.generate(blocks, say)
        say(
            f"  [generation took {generation.seconds:.0f} s, not measured: "
            f"{generation.events:,} ledger events, {generation.checkpoints} checkpoint(s)]"
        )
    before = report_bench.count_baseline()
    child = report_bench.run_report_process(database)
    after = report_bench.count_baseline()
    say("  tables (rows; SELECT count(*) before and after the report):")
    for first, second in zip(before, after, strict=True):
        say(
            f"    {first.table:26s} {second.rows:12,d} rows   {first.seconds:6.2f} s  "
            f"{second.seconds:6.2f} s"
        )
    baseline = min(sum(item.seconds for item in before), sum(item.seconds for item in after))
    if child.exit_status != 0 or child.report_id is None:
        say(f"  the report process failed (exit status {child.exit_status}):")
        for line in child.output.splitlines()[-20:]:
            say(f"    {line}")
        return
    peak_mb = child.peak_rss_bytes / 2**20
    ratio = child.wall_seconds / baseline if baseline else 0.0
    say(
        f"  {'blocks':>10s} {'report wall s':>14s} {'report peak MB':>15s} {'count(*) s':>11s} "
        f"{'ratio':>8s}"
    )
    say(
        f"  {after[0].rows:10,d} {child.wall_seconds:14.1f} {peak_mb:15.0f} {baseline:11.2f} "
        f"{ratio:8.1f}"
    )
    say(
        f"  report wall time is the child process from spawn to exit (Python and Django start "
        f"included); request to finish inside it: {child.run_seconds:.1f} s. count(*) s is the "
        f"faster of the two baseline passes."
    )
    if child.backend_peak_rss is not None:
        say(
            f"  PostgreSQL backend serving the report, sampled every 50 ms: peak RSS "
            f"{child.backend_peak_rss / 2**20:.0f} MB, of which not shared "
            f"{child.backend_peak_private / 2**20:.0f} MB (parallel workers not counted)"
        )
    else:
        say("  PostgreSQL backend memory: not readable from this process")
    say(
        f"  target         <= {TARGET_REPORT_SECONDS:.0f} s: "
        f"{verdict(child.wall_seconds <= TARGET_REPORT_SECONDS)};  <= "
        f"{TARGET_REPORT_PEAK_MB:.0f} MB peak: {verdict(peak_mb <= TARGET_REPORT_PEAK_MB)}  "
        f"(on {os.cpu_count()} cores, with the {len(CHECKS)} check(s) of this tree)"
    )
    outcomes, tail = report_bench.report_outcomes(child.report_id)
    say(f"  report {child.report_id}: {child.status}")
    for outcome in outcomes:
        say(
            f"    {outcome.check_id:42s} {outcome.verdict:5s} examined {outcome.examined:>11,d}"
            f"  offending {outcome.offending:>9,d}  {outcome.seconds:7.1f} s"
        )
        if outcome.verdict == "fail":
            for record in outcome.sample:
                say(f"      {record}")
    say(f"    {'statistics, JSON document and its hash':42s} {'':5s} {'':30s}  {tail:7.1f} s")
    failed = [outcome.check_id for outcome in outcomes if outcome.verdict == "fail"]
    if failed:
        say(f"  WARNING: on this consistent registry these checks failed: {', '.join(failed)}")
    elif len(outcomes) == len(CHECKS):
        say(f"  every check passed or informed ({len(outcomes)} of {len(CHECKS)})")


def check_same_work() -> None:
    """Say whether the raw baseline's ledger payloads still have the services' shape."""
    drift = common.payload_shape_drift()
    if not drift:
        say("\nsame work: every ledger event kind has one payload shape (raw SQL = services)")
        return
    say("\nWARNING: the raw baseline's ledger payloads differ from the services' payloads:")
    for kind, shapes in drift.items():
        for shape, count in shapes:
            say(f"  {kind}: {count} events with keys {shape}")


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    chosen = {part.strip() for part in arguments.only.split(",")}
    unknown = chosen - {"issuance", "transfers", "storage", "holding", "rest", "report"}
    if unknown:
        raise SystemExit(f"unknown benchmarks in --only: {', '.join(sorted(unknown))}")
    # Only the report benchmark, told to reuse its registry, keeps the tables as they are.
    database = common.prepare_database(
        truncate=not (arguments.report_reuse and chosen == {"report"})
    )
    describe_machine(database)
    if chosen & {"issuance", "transfers", "holding", "rest"}:
        personas = fixtures.create_personas()
    if "issuance" in chosen:
        issuance_benchmark(arguments, personas)
    if "transfers" in chosen:
        transfer_benchmark(arguments, personas)
    if chosen & {"issuance", "transfers"}:
        check_same_work()
    if "storage" in chosen:
        storage_benchmark()
    if "holding" in chosen:  # its set-up writes blocks without ledger events
        large_holding_probe(arguments, personas)
    if "rest" in chosen:  # after storage: its many small transfers would change the mix
        rest_benchmark(arguments, personas, database)
    if "report" in chosen:  # last: it empties the tables and generates a registry of its own
        report_benchmark(arguments, database)
    say(f"\nload average at the end (1, 5, 15 min): {load_average()}")


if __name__ == "__main__":
    main()
