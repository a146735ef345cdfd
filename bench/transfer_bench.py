"""Benchmark 2: concurrent transfers that split blocks.

Each worker process has its own holder, its own source account holding one large GEC block
(issued through the services during set-up) and its own target account. Every transfer moves a
small quantity by quantity, so ``block_transfer`` takes the first units of the block in serial
order and splits it: the block shrinks and the moved part becomes a new block in the target.

The raw-SQL baseline does the same lock-shrink-insert in one transaction through a plain psycopg
connection: SELECT ... FOR UPDATE the account's first transferable block, UPDATE it to shrink its
range, INSERT the moved part, INSERT the transfer row, INSERT the ledger event with its SHA-256.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

from bench.common import (
    INSERT_EVENT,
    Measurement,
    count_statements,
    event_row,
    raw_connection,
    run_processes,
)
from bench.fixtures import Personas, create_account, create_holder, create_projects, month_period


@dataclass(frozen=True)
class Lane:
    """One worker's accounts: who moves units, from where, to where, and whose serials."""

    actor_id: int
    source_id: int
    source_number: str
    target_id: int
    target_number: str
    project_code: str
    country: str


def create_lanes(
    personas: Personas, workers: int, transfers_per_worker: int, quantity: int, label: str
) -> list[Lane]:
    """Per worker: a holder organisation with a source and a target account, and one GEC block
    in the source large enough for every transfer to split it (issued through the services)."""
    from accounts.models import HoldingAccount, User
    from issuance.services import unit_claim_issue
    from registry.models import Mechanism, Project
    from registry.services import production_record_create

    issuer = User.objects.get(pk=personas.issuer_id)
    gec = Mechanism.objects.get(pk=personas.gec_id)
    units = (transfers_per_worker + 10) * quantity  # every transfer splits, with spare units
    start, end = month_period(0)
    capacity = Decimal(units // 600 + 1)  # a 744-hour month at this capacity holds the units
    lanes = []
    for ref in create_projects(workers, capacity_mw=capacity):
        actor_id, organisation_id = create_holder(label)
        source_id, source_number = create_account(organisation_id, f"{label}-SRC")
        target_id, target_number = create_account(organisation_id, f"{label}-DST")
        record = production_record_create(
            actor=issuer,
            project=Project.objects.get(pk=ref.project_id),
            unit_kind="E",
            period_start=start,
            period_end=end,
            quantity=units,
        )
        unit_claim_issue(
            actor=issuer,
            mechanism=gec,
            production_record=record,
            account=HoldingAccount.objects.get(pk=source_id),
            quantity=units,
        )
        lanes.append(
            Lane(
                actor_id, source_id, source_number, target_id, target_number, ref.code, ref.country
            )
        )
    return lanes


def service_worker(lane: Lane, gec_id: int, count: int, quantity: int, *, ready) -> list[float]:
    """``count`` transfers of ``quantity`` units through ``block_transfer``; returns latencies."""
    from accounts.models import HoldingAccount, User
    from registry.models import Mechanism
    from tracking.services import block_transfer

    actor = User.objects.get(pk=lane.actor_id)
    gec = Mechanism.objects.get(pk=gec_id)
    source = HoldingAccount.objects.get(pk=lane.source_id)
    target = HoldingAccount.objects.get(pk=lane.target_id)
    ready()
    latencies = []
    for _ in range(count):
        began = time.perf_counter()
        block_transfer(
            actor=actor,
            source_account=source,
            target_account=target,
            mechanism=gec,
            quantity=quantity,
        )
        latencies.append(time.perf_counter() - began)
    return latencies


SELECT_BLOCK = (
    "SELECT id, claim_id, stream_id, lower(serials), upper(serials), vintage, transfer_count,"
    " expires_at FROM tracking_block"
    " WHERE account_id = %s AND mechanism_id = %s AND status = 'active' AND transfer_count < %s"
    " AND (expires_at IS NULL OR expires_at > now())"  # valid at the transaction's time
    " ORDER BY stream_id, serials LIMIT 1 FOR UPDATE"
)


def raw_transfer(
    connection, cursor, *, lane: Lane, gec_id: int, gec_code: str, max_transfers: int, quantity: int
) -> None:
    """One transfer in plain SQL: lock the block, shrink it, insert the moved part (or move the
    whole block if it holds exactly ``quantity``), insert the transfer and the ledger event,
    commit."""
    cursor.execute(SELECT_BLOCK, [lane.source_id, gec_id, max_transfers])
    (block_id, claim_id, stream_id, lower, upper, vintage, transfer_count, expires_at) = (
        cursor.fetchone()
    )
    if upper - lower < quantity:
        raise RuntimeError("the raw baseline moves units of one block only")
    if upper - lower == quantity:
        # The whole block moves: no split, as in the service.
        cursor.execute(
            "UPDATE tracking_block SET account_id = %s, transfer_count = %s WHERE id = %s",
            [lane.target_id, transfer_count + 1, block_id],
        )
    else:
        cursor.execute(
            "UPDATE tracking_block SET serials = int8range(%s, %s), quantity = %s WHERE id = %s",
            [lower + quantity, upper, upper - lower - quantity, block_id],
        )
        cursor.execute(
            "INSERT INTO tracking_block (claim_id, mechanism_id, stream_id, account_id, serials,"
            " quantity, vintage, status, transfer_count, expires_at)"
            " VALUES (%s, %s, %s, %s, int8range(%s, %s), %s, %s, 'active', %s, %s)",
            [
                claim_id,
                gec_id,
                stream_id,
                lane.target_id,
                lower,
                lower + quantity,
                quantity,
                vintage,
                transfer_count + 1,
                expires_at,
            ],
        )
    public_id = uuid.uuid4()
    cursor.execute(
        "INSERT INTO tracking_transfer (public_id, mechanism_id, source_account_id,"
        " target_account_id, quantity, serial_ranges, actor_id, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, now()) RETURNING id",
        [
            public_id,
            gec_id,
            lane.source_id,
            lane.target_id,
            quantity,
            f"[[{stream_id}, {lower}, {lower + quantity}]]",
            lane.actor_id,
        ],
    )
    transfer_id = cursor.fetchone()[0]
    serials = (
        f"{lane.country}-{lane.project_code}-E-{vintage:06d}-{lower:012d}-"
        f"{lower + quantity - 1:012d}"
    )
    cursor.execute(
        INSERT_EVENT,
        event_row(
            kind="units.transferred",
            actor_id=lane.actor_id,
            subjects=[
                f"transfer:{transfer_id}",
                f"account:{lane.source_id}",
                f"account:{lane.target_id}",
            ],
            payload={
                "transfer": str(public_id),
                "mechanism": gec_code,
                "from": lane.source_number,
                "to": lane.target_number,
                "quantity": quantity,
                "ranges": [
                    {
                        "block": block_id,
                        "claim": claim_id,
                        "serials": serials,
                    }
                ],
            },
        ),
    )
    connection.commit()


def raw_worker(lane: Lane, gec_id: int, count: int, quantity: int, *, ready) -> list[float]:
    """``count`` raw-SQL transfers of ``quantity`` units; returns latencies."""
    from registry.models import Mechanism

    gec = Mechanism.objects.get(pk=gec_id)
    connection = raw_connection()
    cursor = connection.cursor()
    ready()
    latencies = []
    try:
        for _ in range(count):
            began = time.perf_counter()
            raw_transfer(
                connection,
                cursor,
                lane=lane,
                gec_id=gec.pk,
                gec_code=gec.code,
                max_transfers=gec.max_transfers or 2**31 - 1,
                quantity=quantity,
            )
            latencies.append(time.perf_counter() - began)
    finally:
        connection.close()
    return latencies


def measure(
    worker, lanes: list[Lane], gec_id: int, count_per_worker: int, quantity: int
) -> Measurement:
    """All lanes at once, one process each."""
    return Measurement.of(
        run_processes(worker, [(lane, gec_id, count_per_worker, quantity) for lane in lanes])
    )


def statements_per_transfer(lane: Lane, gec_id: int, quantity: int) -> int:
    """SQL statements ``block_transfer`` sends for one transfer (BEGIN and COMMIT not counted)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import HoldingAccount, User
    from registry.models import Mechanism
    from tracking.services import block_transfer

    actor = User.objects.get(pk=lane.actor_id)
    source = HoldingAccount.objects.get(pk=lane.source_id)
    target = HoldingAccount.objects.get(pk=lane.target_id)
    gec = Mechanism.objects.get(pk=gec_id)
    with CaptureQueriesContext(connection) as captured:
        block_transfer(
            actor=actor,
            source_account=source,
            target_account=target,
            mechanism=gec,
            quantity=quantity,
        )
    return count_statements(captured.captured_queries)


RAW_STATEMENTS_PER_TRANSFER = 5


# --------------------------------------------------------------------------------------------
# A large holding: does the cost of a transfer grow with the blocks the account holds?
# --------------------------------------------------------------------------------------------

LARGE_HOLDING_RECORD_UNITS = 40  # each block: 40 units, so a transfer of 10 splits it

FILL_RECORDS = """
INSERT INTO registry_productionrecord (stream_id, period, quantity, carried_in, carried_out,
    units, serials, vintage, source, entered_by_id, created_at)
SELECT %(stream)s,
       tstzrange(%(start)s::timestamptz + i * interval '15 minutes',
                 %(start)s::timestamptz + (i + 1) * interval '15 minutes', '[)'),
       %(units)s, 0, 0, %(units)s,
       int8range(1 + %(units)s * i, 1 + %(units)s * (i + 1)),
       to_char((%(start)s::timestamptz + i * interval '15 minutes')
               AT TIME ZONE 'Asia/Shanghai', 'YYYYMM')::int,
       'metered', %(issuer)s, now()
FROM generate_series(0, %(blocks)s - 1) AS i
"""
FILL_CLAIMS = """
INSERT INTO registry_unitclaim (mechanism_id, stream_id, production_record_id, serials, quantity,
    vintage, role, conversion_source, account_id, status, expires_at, issued_by_id, issued_at,
    revocation_reason)
SELECT %(mechanism)s, stream_id, id, serials, units, vintage, 'direct', '', %(account)s, 'live',
       upper(period) + interval '24 months', %(issuer)s, now(), ''
FROM registry_productionrecord WHERE stream_id = %(stream)s
"""
FILL_BLOCKS = """
INSERT INTO tracking_block (claim_id, mechanism_id, stream_id, account_id, serials, quantity,
    vintage, status, transfer_count, expires_at)
SELECT id, mechanism_id, stream_id, account_id, serials, quantity, vintage, 'active', 0,
       expires_at
FROM registry_unitclaim WHERE stream_id = %(stream)s
"""


def create_large_holding(personas: Personas, blocks: int) -> Lane:
    """A source account holding ``blocks`` active GEC blocks of one project, each from its own
    quarter-hour production record.

    Filled with set-based SQL (not measured; no ledger events are written for the fill, so run
    the storage benchmark before this one).
    """
    from django.db import connection

    actor_id, organisation_id = create_holder("BIG")
    source_id, source_number = create_account(organisation_id, "BIG-SRC")
    target_id, target_number = create_account(organisation_id, "BIG-DST")
    ref = create_projects(1)[0]
    values = {
        "stream": ref.stream_id,
        # Quarter hours from the benchmarks' first month: 20,000 of them end within the year.
        "start": month_period(0)[0],
        "units": LARGE_HOLDING_RECORD_UNITS,
        "issuer": personas.issuer_id,
        "blocks": blocks,
        "mechanism": personas.gec_id,
        "account": source_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(FILL_RECORDS, values)
        # Statistics that still describe a near-empty table make the claim trigger's lookup of
        # its production record scan the whole stream for every claim inserted.
        cursor.execute("ANALYZE registry_productionrecord")
        cursor.execute(
            "UPDATE registry_stream SET next_sequence = %s WHERE id = %s",
            [1 + LARGE_HOLDING_RECORD_UNITS * blocks, ref.stream_id],
        )
        cursor.execute(FILL_CLAIMS, values)
        cursor.execute(FILL_BLOCKS, values)
    return Lane(actor_id, source_id, source_number, target_id, target_number, ref.code, ref.country)


def sequential_latencies(worker, lane: Lane, gec_id: int, count: int, quantity: int) -> Measurement:
    """One worker alone (no concurrency), so the latencies show the cost of one transfer."""
    return Measurement.of(run_processes(worker, [(lane, gec_id, count, quantity)]))
