"""The state is what the ledger says: rows re-derived from the ledger, and rows and events paired.

``state_matches_ledger`` folds the ledger from its first event (``audit.checks.fold``) and
compares, stream by stream, every claim (serial range, account, status) and every block (claim,
serial range, account, status, transfer count) with what the fold produced; then, in SQL, the
quantity of every transfer, retirement, cancellation and production record with the quantity its
event recorded. ``rows_have_events`` pairs those rows (and claims) with their events both ways.

Both read the whole registry whatever the report's scope, as the ledger check does: the ledger is
one sequence, and a fold cannot start in the middle of it.

Findings share one shape: ``problem``; ``table`` and ``row_id`` (the row, or ``ledger`` and
none); ``claim_id`` where there is one; ``event_id`` and ``event_kind`` (the event that made or
last changed the row, or that names a missing row); ``stored`` and ``ledger`` (the values each
side holds).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.utils.translation import gettext_lazy as _

from audit.checks.base import Check
from audit.checks.fold import ClaimState, StreamState, fold, steps_sql
from audit.checks.pairing import event_keys_sql, row_keys_sql
from audit.scope import ReportScope

CHUNK_SIZE = 20_000

CLAIMS_SQL = """
    SELECT claim.stream_id, claim.id, lower(claim.serials), upper(claim.serials),
           account.number, claim.status
    FROM registry_unitclaim AS claim
    LEFT JOIN accounts_holdingaccount AS account ON account.id = claim.account_id
    ORDER BY claim.stream_id, claim.id
"""
BLOCKS_SQL = """
    SELECT block.stream_id, block.id, block.claim_id, lower(block.serials), upper(block.serials),
           account.number, block.status, block.transfer_count
    FROM tracking_block AS block
    LEFT JOIN accounts_holdingaccount AS account ON account.id = block.account_id
    ORDER BY block.stream_id, block.claim_id, lower(block.serials)
"""

ROW_KEYS_SQL = row_keys_sql()
EVENT_KEYS_SQL = event_keys_sql()


def _finding(
    problem: str,
    *,
    table: str,
    row_id: int | None = None,
    claim_id: int | None = None,
    event_id: int | None = None,
    event_kind: str | None = None,
    stored: Any = None,
    ledger: Any = None,
) -> dict[str, Any]:
    return {
        "problem": problem,
        "table": table,
        "row_id": row_id,
        "claim_id": claim_id,
        "event_id": event_id,
        "event_kind": event_kind,
        "stored": stored,
        "ledger": ledger,
    }


def _groups(sql: str) -> Iterator[tuple[int, list[tuple]]]:
    """(stream key, its rows, key included) from a server-side cursor sorted by the key."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql)
        key, group = None, []
        while chunk := cursor.fetchmany(CHUNK_SIZE):
            for row in chunk:
                if row[0] != key:
                    if group:
                        yield key, group
                    key, group = row[0], []
                group.append(row)
        if group:
            yield key, group


def _claim_values(claim: ClaimState) -> dict[str, Any]:
    return {
        "serials": [claim.lower, claim.upper],
        "account": claim.account,
        "status": claim.status,
    }


def _compare_claims(state: StreamState, rows: list[tuple]) -> Iterator[dict[str, Any]]:
    seen = set()
    for _stream, claim_id, lower, upper, account, status in rows:
        seen.add(claim_id)
        stored = {"serials": [lower, upper], "account": account, "status": status}
        ledger = state.claims.get(claim_id)
        if ledger is None:
            yield _finding("claim_not_in_ledger", table="claim", row_id=claim_id, stored=stored)
        elif stored != _claim_values(ledger):
            yield _finding(
                "claim_differs_from_ledger",
                table="claim",
                row_id=claim_id,
                claim_id=claim_id,
                event_id=ledger.event_id,
                stored=stored,
                ledger=_claim_values(ledger),
            )
    for claim_id, ledger in state.claims.items():
        if claim_id not in seen:
            yield _finding(
                "ledger_claim_without_row",
                table="claim",
                claim_id=claim_id,
                event_id=ledger.event_id,
                ledger=_claim_values(ledger),
            )


def _compare_blocks(state: StreamState, rows: list[tuple]) -> Iterator[dict[str, Any]]:
    pieces = {
        (claim_id, piece.lower): piece
        for claim_id, claim in state.claims.items()
        for piece in claim.pieces
    }
    for _stream, block_id, claim_id, lower, upper, account, status, transfer_count in rows:
        stored = {
            "serials": [lower, upper],
            "account": account,
            "status": status,
            "transfer_count": transfer_count,
        }
        piece = pieces.pop((claim_id, lower), None)
        if piece is None:
            yield _finding(
                "block_not_in_ledger",
                table="block",
                row_id=block_id,
                claim_id=claim_id,
                stored=stored,
            )
            continue
        ledger = {
            "serials": [piece.lower, piece.upper],
            "account": piece.account,
            "status": piece.status,
            "transfer_count": piece.transfer_count,
        }
        if stored != ledger:
            yield _finding(
                "block_differs_from_ledger",
                table="block",
                row_id=block_id,
                claim_id=claim_id,
                event_id=piece.event_id,
                stored=stored,
                ledger=ledger,
            )
    for (claim_id, _lower), piece in pieces.items():
        yield _finding(
            "ledger_block_without_row",
            table="block",
            claim_id=claim_id,
            event_id=piece.event_id,
            ledger={
                "serials": [piece.lower, piece.upper],
                "account": piece.account,
                "status": piece.status,
                "transfer_count": piece.transfer_count,
            },
        )


def _merged_streams() -> Iterator[tuple[StreamState, list[tuple], list[tuple]]]:
    """Per stream key, in order: the folded ledger, the claim rows and the block rows."""
    steps, claims, blocks = _groups(steps_sql()), _groups(CLAIMS_SQL), _groups(BLOCKS_SQL)
    step_head, claim_head, block_head = next(steps, None), next(claims, None), next(blocks, None)
    while step_head or claim_head or block_head:
        key = min(head[0] for head in (step_head, claim_head, block_head) if head)
        # Each group is consumed before its source moves on (groupby shares one cursor).
        state, claim_rows, block_rows = StreamState(), [], []
        if step_head and step_head[0] == key:
            state = fold(step_head[1])
            step_head = next(steps, None)
        if claim_head and claim_head[0] == key:
            claim_rows = claim_head[1]
            claim_head = next(claims, None)
        if block_head and block_head[0] == key:
            block_rows = block_head[1]
            block_head = next(blocks, None)
        yield state, claim_rows, block_rows


QUANTITIES_SQL = f"""
    SELECT row_key.row_table, row_key.row_id, event_key.event_id, event_key.kind,
           row_key.quantity, event_key.quantity
    FROM ({ROW_KEYS_SQL}) AS row_key
    JOIN ({EVENT_KEYS_SQL}) AS event_key
      ON event_key.row_table = row_key.row_table AND event_key.key = row_key.key
    WHERE row_key.quantity IS DISTINCT FROM event_key.quantity AND row_key.row_table <> 'claim'
    ORDER BY row_key.row_table, row_key.row_id
"""


def _state_stream(scope: ReportScope, counts: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Fold the ledger stream by stream and compare; then compare quantities in SQL."""
    streams = claims = blocks = 0
    for state, claim_rows, block_rows in _merged_streams():
        streams += 1
        claims += len(claim_rows)
        blocks += len(block_rows)
        yield from state.problems
        yield from _compare_claims(state, claim_rows)
        yield from _compare_blocks(state, block_rows)
    for table, row_id, event_id, kind, stored, ledger in _joined_rows(QUANTITIES_SQL):
        yield _finding(
            "quantity_differs_from_ledger",
            table=table,
            row_id=row_id,
            event_id=event_id,
            event_kind=kind,
            stored=str(stored),
            ledger=str(ledger),
        )
    counts["examined"] = claims + blocks
    counts["streams"] = streams
    counts["claims"] = claims
    counts["blocks"] = blocks


def _joined_rows(sql: str) -> Iterator[tuple]:
    """Rows of a join of whole tables with the ledger's keys, from a server-side cursor.

    The keys are expressions over JSON, of which the planner knows no statistics: it then
    prices a hash join as if a few keys repeated a million times and sorts both sides for a
    merge join instead, twice as slow here. Hash joins are what these joins are; the setting
    lasts until the check's transaction ends.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_mergejoin = off")
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql)
        while chunk := cursor.fetchmany(CHUNK_SIZE):
            yield from chunk


ROWS_AND_EVENTS_SQL = f"""
    SELECT CASE WHEN event_key.event_id IS NULL THEN 'row_without_event'
                ELSE 'event_without_row' END,
           coalesce(row_key.row_table, event_key.row_table), row_key.row_id,
           event_key.event_id, event_key.kind, coalesce(row_key.key, event_key.key)
    FROM ({ROW_KEYS_SQL}) AS row_key
    FULL JOIN ({EVENT_KEYS_SQL}) AS event_key
      ON event_key.row_table = row_key.row_table AND event_key.key = row_key.key
    WHERE row_key.row_id IS NULL OR event_key.event_id IS NULL
    ORDER BY 2, 3 NULLS LAST, 4 NULLS LAST, 6
"""
ROWS_EXAMINED_SQL = """
    SELECT (SELECT count(*) FROM tracking_transfer) + (SELECT count(*) FROM tracking_retirement)
           + (SELECT count(*) FROM tracking_cancellation)
           + (SELECT count(*) FROM registry_productionrecord)
           + (SELECT count(*) FROM registry_unitclaim)
"""


def _rows_have_events_stream(
    scope: ReportScope, counts: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Rows without their event and events without their row, in one full join."""
    for problem, table, row_id, event_id, kind, key in _joined_rows(ROWS_AND_EVENTS_SQL):
        finding = _finding(problem, table=table, row_id=row_id, event_id=event_id)
        yield {**finding, "event_kind": kind, "key": key}
    with connection.cursor() as cursor:
        cursor.execute(ROWS_EXAMINED_SQL)
        counts["examined"] = cursor.fetchone()[0]


STATE_CHECKS = [
    Check(
        id="state_matches_ledger",
        title=_("The state is what the ledger says"),
        description=_(
            "The ledger is folded from its first event, one handler per event kind, stream by "
            "stream: every claim's serial range, account and status, and every block's claim, "
            "serial range, account, status and transfer count must be what the events made "
            "them; every transfer, retirement, cancellation and production record must have "
            "the quantity its event recorded. A finding names the row and the event. The "
            "ledger is one sequence: a report's scope does not narrow this check."
        ),
        guarantee="I7",
        stream=_state_stream,
    ),
    Check(
        id="rows_have_events",
        title=_("Every row has its ledger event and every event its row"),
        description=_(
            "Every claim, transfer, retirement, cancellation and production record is named by "
            "the ledger event that created it, and every such event names an existing row (a "
            "block is checked against the ledger by the state check). A report's scope does "
            "not narrow this check."
        ),
        guarantee="I7",
        stream=_rows_have_events_stream,
    ),
]
