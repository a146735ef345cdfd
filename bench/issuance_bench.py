"""Benchmark 1: bulk issuance.

One issuance = record a month of a project's electricity (``production_record_create``) and issue
all its whole units as GEC into the owner's account (``unit_claim_issue`` by quantity), as the
issuing body's officer. That is two transactions writing five rows: a production record and a
ledger event, then a unit claim, a block and a ledger event (plus the stream's serial counter).

The raw-SQL baseline writes the same rows in the same two transactions with single-row INSERTs
(no executemany, no COPY), through a plain psycopg connection: lock the stream row, insert the
record, advance the stream, insert the event; then insert the claim, the block and the event.
Both run against the same tables, so the exclusion constraints, triggers and indexes cost both
the same; what the ratio shows is the service layer's own overhead.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from operator import attrgetter

from bench.common import (
    INSERT_EVENT,
    Measurement,
    count_statements,
    event_row,
    raw_connection,
    run_processes,
    split_evenly,
)
from bench.fixtures import Personas, ProjectRef, month_period

ROWS_PER_ISSUANCE = 5  # production record, unit claim, block, two ledger events


def metered_quantity(project_id: int, month: int) -> Decimal:
    """A plausible month of a 50 MW wind farm (100 to 20,000 MWh, three decimals), the same for
    the same project and month on every run."""
    generator = random.Random(project_id * 1000 + month)
    return Decimal(generator.randrange(100_000, 20_000_000)) / 1000


# --------------------------------------------------------------------------------------------
# Through the service layer
# --------------------------------------------------------------------------------------------


def service_worker(
    personas: Personas, projects: list[ProjectRef], months: int, *, ready
) -> list[float]:
    """Issue ``months`` months for each project through the services; returns latencies."""
    from accounts.models import HoldingAccount, User
    from issuance.services import unit_claim_issue
    from registry.models import Mechanism, Project
    from registry.services import production_record_create

    issuer = User.objects.get(pk=personas.issuer_id)
    gec = Mechanism.objects.get(pk=personas.gec_id)
    project_objects = Project.objects.in_bulk([ref.project_id for ref in projects])
    accounts = HoldingAccount.objects.in_bulk({ref.account_id for ref in projects})
    ready()
    latencies = []
    for ref in projects:
        project, account = project_objects[ref.project_id], accounts[ref.account_id]
        for month in range(months):
            start, end = month_period(month)
            began = time.perf_counter()
            record = production_record_create(
                actor=issuer,
                project=project,
                unit_kind="E",
                period_start=start,
                period_end=end,
                quantity=metered_quantity(ref.project_id, month),
            )
            unit_claim_issue(
                actor=issuer,
                mechanism=gec,
                production_record=record,
                account=account,
                quantity=record.units,
            )
            latencies.append(time.perf_counter() - began)
    return latencies


# --------------------------------------------------------------------------------------------
# Raw SQL: the same rows, the same two transactions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GecTerms:
    """What the raw baseline needs to know about the mechanism."""

    mechanism_id: int
    code: str
    validity_months: int | None


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    index = moment.month - 1 + months
    return moment.replace(year=moment.year + index // 12, month=index % 12 + 1)


def vintage(moment: dt.datetime) -> int:
    return moment.year * 100 + moment.month


def raw_issue(
    connection,
    cursor,
    *,
    issuer_id: int,
    gec: GecTerms,
    ref: ProjectRef,
    start: dt.datetime,
    end: dt.datetime,
    quantity: Decimal,
) -> None:
    """One issuance in plain SQL: two transactions, single-row statements."""
    # Transaction 1: the production record, under the stream's row lock.
    cursor.execute(
        "SELECT next_sequence, carried_remainder FROM registry_stream WHERE id = %s FOR UPDATE",
        [ref.stream_id],
    )
    next_sequence, carried_in = cursor.fetchone()
    total = quantity + carried_in
    units = int(total.to_integral_value(rounding=ROUND_DOWN))
    carried_out = total - units
    lower, upper = next_sequence, next_sequence + units
    month = vintage(start)
    cursor.execute(
        "INSERT INTO registry_productionrecord (stream_id, period, quantity, carried_in,"
        " carried_out, units, serials, vintage, source, entered_by_id, created_at)"
        " VALUES (%s, tstzrange(%s, %s, '[)'), %s, %s, %s, %s, int8range(%s, %s), %s,"
        " 'metered', %s, now()) RETURNING id",
        [
            ref.stream_id,
            start,
            end,
            quantity,
            carried_in,
            carried_out,
            units,
            lower,
            upper,
            month,
            issuer_id,
        ],
    )
    record_id = cursor.fetchone()[0]
    cursor.execute(
        "UPDATE registry_stream SET next_sequence = %s, carried_remainder = %s WHERE id = %s",
        [upper, carried_out, ref.stream_id],
    )
    cursor.execute(
        INSERT_EVENT,
        event_row(
            kind="production.recorded",
            actor_id=issuer_id,
            subjects=[
                f"project:{ref.project_id}",
                f"stream:{ref.stream_id}",
                f"record:{record_id}",
            ],
            payload={
                "record": record_id,
                "project": ref.code,
                "stream": ref.stream_id,
                "unit_kind": "E",
                "period": [start, end],
                "quantity": quantity,
                "carried_in": carried_in,
                "carried_out": carried_out,
                "units": units,
                "serials": [lower, upper],
                "vintage": month,
                "source": "metered",
            },
        ),
    )
    connection.commit()

    # Transaction 2: the claim, its block and the issuance event.
    expires_at = add_months(end, gec.validity_months) if gec.validity_months else None
    cursor.execute(
        "INSERT INTO registry_unitclaim (mechanism_id, stream_id, production_record_id, serials,"
        " quantity, vintage, role, conversion_source, account_id, status, expires_at,"
        " issued_by_id, issued_at, revocation_reason)"
        " VALUES (%s, %s, %s, int8range(%s, %s), %s, %s, 'direct', '', %s, 'live', %s, %s,"
        " now(), '') RETURNING id",
        [
            gec.mechanism_id,
            ref.stream_id,
            record_id,
            lower,
            upper,
            units,
            month,
            ref.account_id,
            expires_at,
            issuer_id,
        ],
    )
    claim_id = cursor.fetchone()[0]
    cursor.execute(
        "INSERT INTO tracking_block (claim_id, mechanism_id, stream_id, account_id, serials,"
        " quantity, vintage, status, transfer_count, expires_at)"
        " VALUES (%s, %s, %s, %s, int8range(%s, %s), %s, %s, 'active', 0, %s)",
        [
            claim_id,
            gec.mechanism_id,
            ref.stream_id,
            ref.account_id,
            lower,
            upper,
            units,
            month,
            expires_at,
        ],
    )
    serials = f"{ref.country}-{ref.code}-E-{month:06d}-{lower:012d}-{upper - 1:012d}"
    cursor.execute(
        INSERT_EVENT,
        event_row(
            kind="units.issued",
            actor_id=issuer_id,
            subjects=[
                f"claim:{claim_id}",
                f"account:{ref.account_id}",
                f"project:{ref.project_id}",
                f"record:{record_id}",
            ],
            payload={
                "claim": claim_id,
                "mechanism": gec.code,
                "account": ref.account_number,
                "quantity": units,
                "serials": serials,
                "declaration": None,
            },
        ),
    )
    connection.commit()


def raw_worker(
    personas: Personas, projects: list[ProjectRef], months: int, *, ready
) -> list[float]:
    """Issue ``months`` months for each project with plain SQL; returns latencies."""
    from registry.models import Mechanism

    mechanism = Mechanism.objects.get(pk=personas.gec_id)
    gec = GecTerms(mechanism.pk, mechanism.code, mechanism.validity_months)
    connection = raw_connection()
    cursor = connection.cursor()
    ready()
    latencies = []
    try:
        for ref in projects:
            for month in range(months):
                start, end = month_period(month)
                start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
                began = time.perf_counter()
                raw_issue(
                    connection,
                    cursor,
                    issuer_id=personas.issuer_id,
                    gec=gec,
                    ref=ref,
                    start=start,
                    end=end,
                    quantity=metered_quantity(ref.project_id, month),
                )
                latencies.append(time.perf_counter() - began)
    finally:
        connection.close()
    return latencies


# --------------------------------------------------------------------------------------------
# Set-based SQL: what the hardware allows when a whole batch is one transaction (a ceiling for a
# bulk-issuance path, not the baseline of the ratio)
# --------------------------------------------------------------------------------------------

BATCH_SIZE = 500

BATCH_LOCK_STREAMS = (
    "SELECT id, next_sequence, carried_remainder FROM registry_stream"
    " WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
)
BATCH_RECORDS = """
INSERT INTO registry_productionrecord (stream_id, period, quantity, carried_in, carried_out,
    units, serials, vintage, source, entered_by_id, created_at)
SELECT stream_id, tstzrange(start_at, end_at, '[)'), quantity, carried_in, carried_out, units,
       int8range(lower_serial, upper_serial), vintage, 'metered', %s, now()
FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::numeric[], %s::numeric[],
            %s::numeric[], %s::bigint[], %s::bigint[], %s::bigint[], %s::int[])
     AS batch(stream_id, start_at, end_at, quantity, carried_in, carried_out, units,
              lower_serial, upper_serial, vintage)
RETURNING id, stream_id, lower(serials)
"""
BATCH_STREAMS = """
UPDATE registry_stream AS stream SET next_sequence = batch.next_sequence,
       carried_remainder = batch.carried_remainder
FROM unnest(%s::bigint[], %s::bigint[], %s::numeric[])
     AS batch(id, next_sequence, carried_remainder)
WHERE stream.id = batch.id
"""
BATCH_CLAIMS = """
INSERT INTO registry_unitclaim (mechanism_id, stream_id, production_record_id, serials, quantity,
    vintage, role, conversion_source, account_id, status, expires_at, issued_by_id, issued_at,
    revocation_reason)
SELECT %s, stream_id, record_id, int8range(lower_serial, upper_serial), units, vintage, 'direct',
       '', account_id, 'live', expires_at, %s, now(), ''
FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::int[],
            %s::bigint[], %s::timestamptz[])
     AS batch(stream_id, record_id, lower_serial, upper_serial, units, vintage, account_id,
              expires_at)
RETURNING id, production_record_id
"""
BATCH_BLOCKS = """
INSERT INTO tracking_block (claim_id, mechanism_id, stream_id, account_id, serials, quantity,
    vintage, status, transfer_count, expires_at)
SELECT claim_id, %s, stream_id, account_id, int8range(lower_serial, upper_serial), units, vintage,
       'active', 0, expires_at
FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],
            %s::int[], %s::timestamptz[])
     AS batch(claim_id, stream_id, account_id, lower_serial, upper_serial, units, vintage,
              expires_at)
"""
BATCH_EVENTS = """
INSERT INTO registry_ledgerevent (kind, actor_id, occurred_at, subjects, payload, event_hash)
SELECT kind, actor_id, occurred_at, string_to_array(subjects, ' '), payload::jsonb, event_hash
FROM unnest(%s::text[], %s::bigint[], %s::timestamptz[], %s::text[], %s::text[], %s::text[])
     AS batch(kind, actor_id, occurred_at, subjects, payload, event_hash)
"""


def insert_events(cursor, events: list[tuple]) -> None:
    """Many ledger events in one statement (subjects travel space-separated)."""
    columns = [list(column) for column in zip(*events, strict=True)]
    columns[3] = [" ".join(subjects) for subjects in columns[3]]
    cursor.execute(BATCH_EVENTS, columns)


@dataclass
class PlannedIssuance:
    """One issuance of a batch, its serials worked out in Python under the stream locks."""

    ref: ProjectRef
    start: dt.datetime
    end: dt.datetime
    quantity: Decimal
    carried_in: Decimal
    carried_out: Decimal
    units: int
    lower: int
    upper: int
    vintage: int
    expires_at: dt.datetime | None
    record_id: int = 0
    claim_id: int = 0


def columns(items: list[PlannedIssuance], *names: str) -> list[list]:
    """The batch as columns for ``unnest``: one list per (dotted) attribute name."""
    return [[attrgetter(name)(item) for item in items] for name in names]


def raw_issue_batch(
    connection, cursor, *, issuer_id: int, gec: GecTerms, batch: list[tuple[ProjectRef, int]]
) -> None:
    """Issue a batch of (project, month) in ONE transaction with set-based statements: the same
    rows as ``raw_issue`` (records, claims, blocks, two ledger events per issuance)."""
    cursor.execute(BATCH_LOCK_STREAMS, [sorted({ref.stream_id for ref, _month in batch})])
    streams = {stream_id: (next_sequence, carried) for stream_id, next_sequence, carried in cursor}
    planned = []
    for ref, month in batch:
        start, end = (moment.astimezone(dt.UTC) for moment in month_period(month))
        quantity = metered_quantity(ref.project_id, month)
        next_sequence, carried_in = streams[ref.stream_id]
        total = quantity + carried_in
        units = int(total.to_integral_value(rounding=ROUND_DOWN))
        streams[ref.stream_id] = (next_sequence + units, total - units)
        planned.append(
            PlannedIssuance(
                ref,
                start,
                end,
                quantity,
                carried_in,
                total - units,
                units,
                next_sequence,
                next_sequence + units,
                vintage(start),
                add_months(end, gec.validity_months) if gec.validity_months else None,
            )
        )

    cursor.execute(
        BATCH_RECORDS,
        [
            issuer_id,
            *columns(
                planned,
                "ref.stream_id",
                "start",
                "end",
                "quantity",
                "carried_in",
                "carried_out",
                "units",
                "lower",
                "upper",
                "vintage",
            ),
        ],
    )
    record_ids = {(stream_id, lower): record_id for record_id, stream_id, lower in cursor}
    for item in planned:
        item.record_id = record_ids[(item.ref.stream_id, item.lower)]
    cursor.execute(
        BATCH_STREAMS,
        [
            list(streams),
            [value[0] for value in streams.values()],
            [value[1] for value in streams.values()],
        ],
    )
    insert_events(cursor, [production_event(issuer_id, item) for item in planned])

    cursor.execute(
        BATCH_CLAIMS,
        [
            gec.mechanism_id,
            issuer_id,
            *columns(
                planned,
                "ref.stream_id",
                "record_id",
                "lower",
                "upper",
                "units",
                "vintage",
                "ref.account_id",
                "expires_at",
            ),
        ],
    )
    claim_ids = {record_id: claim_id for claim_id, record_id in cursor}
    for item in planned:
        item.claim_id = claim_ids[item.record_id]
    cursor.execute(
        BATCH_BLOCKS,
        [
            gec.mechanism_id,
            *columns(
                planned,
                "claim_id",
                "ref.stream_id",
                "ref.account_id",
                "lower",
                "upper",
                "units",
                "vintage",
                "expires_at",
            ),
        ],
    )
    insert_events(cursor, [issuance_event(issuer_id, gec, item) for item in planned])
    connection.commit()


def production_event(issuer_id: int, item: PlannedIssuance) -> tuple:
    """The ``production.recorded`` event of a planned issuance, as ``raw_issue`` writes it."""
    ref = item.ref
    return event_row(
        kind="production.recorded",
        actor_id=issuer_id,
        subjects=[
            f"project:{ref.project_id}",
            f"stream:{ref.stream_id}",
            f"record:{item.record_id}",
        ],
        payload={
            "record": item.record_id,
            "project": ref.code,
            "stream": ref.stream_id,
            "unit_kind": "E",
            "period": [item.start, item.end],
            "quantity": item.quantity,
            "carried_in": item.carried_in,
            "carried_out": item.carried_out,
            "units": item.units,
            "serials": [item.lower, item.upper],
            "vintage": item.vintage,
            "source": "metered",
        },
    )


def issuance_event(issuer_id: int, gec: GecTerms, item: PlannedIssuance) -> tuple:
    """The ``units.issued`` event of a planned issuance, as ``raw_issue`` writes it."""
    ref = item.ref
    serials = (
        f"{ref.country}-{ref.code}-E-{item.vintage:06d}-{item.lower:012d}-{item.upper - 1:012d}"
    )
    return event_row(
        kind="units.issued",
        actor_id=issuer_id,
        subjects=[
            f"claim:{item.claim_id}",
            f"account:{ref.account_id}",
            f"project:{ref.project_id}",
            f"record:{item.record_id}",
        ],
        payload={
            "claim": item.claim_id,
            "mechanism": gec.code,
            "account": ref.account_number,
            "quantity": item.units,
            "serials": serials,
            "declaration": None,
        },
    )


def raw_batched_worker(
    personas: Personas, projects: list[ProjectRef], months: int, *, ready
) -> list[float]:
    """Issue in batches of ``BATCH_SIZE``; each issuance is given its batch's time divided by
    the batch size as its latency, so the count and the rate are per issuance."""
    from registry.models import Mechanism

    mechanism = Mechanism.objects.get(pk=personas.gec_id)
    gec = GecTerms(mechanism.pk, mechanism.code, mechanism.validity_months)
    work = [(ref, month) for ref in projects for month in range(months)]
    connection = raw_connection()
    cursor = connection.cursor()
    ready()
    latencies: list[float] = []
    try:
        for first in range(0, len(work), BATCH_SIZE):
            batch = work[first : first + BATCH_SIZE]
            began = time.perf_counter()
            raw_issue_batch(connection, cursor, issuer_id=personas.issuer_id, gec=gec, batch=batch)
            latencies.extend([(time.perf_counter() - began) / len(batch)] * len(batch))
    finally:
        connection.close()
    return latencies


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def measure(
    worker, personas: Personas, projects: list[ProjectRef], months: int, processes: int
) -> Measurement:
    """Run ``worker`` over the projects split across ``processes`` processes."""
    slices = split_evenly(projects, processes)
    return Measurement.of(run_processes(worker, [(personas, part, months) for part in slices]))


def statements_per_issuance(personas: Personas, ref: ProjectRef, month: int) -> int:
    """SQL statements the services send for one issuance (BEGIN and COMMIT not counted)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import HoldingAccount, User
    from issuance.services import unit_claim_issue
    from registry.models import Mechanism, Project
    from registry.services import production_record_create

    issuer = User.objects.get(pk=personas.issuer_id)
    gec = Mechanism.objects.get(pk=personas.gec_id)
    project = Project.objects.get(pk=ref.project_id)
    account = HoldingAccount.objects.get(pk=ref.account_id)
    start, end = month_period(month)
    with CaptureQueriesContext(connection) as captured:
        record = production_record_create(
            actor=issuer,
            project=project,
            unit_kind="E",
            period_start=start,
            period_end=end,
            quantity=metered_quantity(ref.project_id, month),
        )
        unit_claim_issue(
            actor=issuer,
            mechanism=gec,
            production_record=record,
            account=account,
            quantity=record.units,
        )
    return count_statements(captured.captured_queries)


RAW_STATEMENTS_PER_ISSUANCE = 7
