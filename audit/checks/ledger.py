"""Ledger integrity (I7): every event's hash recomputed, the checkpoint chain re-derived.

Event hashes are SHA-256 over canonical JSON as Python writes it, which SQL cannot reproduce
byte for byte, so this check streams rows through Python, in one pass over the events in id
order, from server-side cursors read in chunks (a helper thread fetches the next chunk while
this one is hashed). Memory holds a few chunks and, per checkpoint still open in the pass, a
Merkle builder of O(log n) nodes.

Checkpoints are read in the order of their transaction ranges beside the events: the chain
(sequence, previous hash, contiguous ranges, checkpoint hash) is checked as each one is read, and
each one is closed — its event count, last event and Merkle root compared — once the pass is
beyond its last event. Both cursors are opened checkpoints first: every event a checkpoint read
then seals was committed before, so the event cursor sees it.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import json.encoder
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils.translation import gettext_lazy as _

from audit.checks.base import Check
from audit.scope import ReportScope
from registry.ledger import GENESIS_HASH, MerkleBuilder, checkpoint_hash, event_hash

CHUNK_SIZE = 5_000
CHUNKS_AHEAD = 4

# The event's time as registry.ledger.json_default writes it (ISO 8601 in UTC, microseconds),
# and its subjects as JSON text; the payload as stored. Text columns parse fastest.
EVENTS_SQL = """
    SELECT event.id, event.kind, event.actor_id,
           to_char(event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
           to_json(event.subjects)::text, event.payload::text, event.event_hash, event.txid
    FROM registry_ledgerevent AS event
    ORDER BY event.id
"""
CHECKPOINTS_SQL = """
    SELECT checkpoint.sequence, checkpoint.xid_from, checkpoint.xid_to, checkpoint.event_count,
           checkpoint.last_event_id, checkpoint.merkle_root, checkpoint.previous_hash,
           checkpoint.checkpoint_hash, checkpoint.sealed_at,
           max(checkpoint.xid_to) OVER () AS sealed_below
    FROM registry_checkpoint AS checkpoint
    ORDER BY checkpoint.xid_from, checkpoint.sequence
"""


def _finding(
    problem: str,
    *,
    event_id: int | None = None,
    event_kind: str = "",
    checkpoint_sequence: int | None = None,
    stored: Any = None,
    recomputed: Any = None,
) -> dict[str, Any]:
    return {
        "problem": problem,
        "event_id": event_id,
        "event_kind": event_kind,
        "checkpoint_sequence": checkpoint_sequence,
        "stored": None if stored is None else str(stored),
        "recomputed": None if recomputed is None else str(recomputed),
    }


def _rows_read_ahead(sql: str) -> Iterator[tuple]:
    """Rows of a server-side cursor; a helper thread fetches the next chunks while the caller
    works on this one (the connection's lock serialises it with the caller's own queries)."""
    chunks: queue.Queue = queue.Queue(maxsize=CHUNKS_AHEAD)
    stop = threading.Event()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql)

        def fetch() -> None:
            try:
                while not stop.is_set():
                    rows = cursor.fetchmany(CHUNK_SIZE)
                    chunks.put(rows)
                    if not rows:
                        return
            except BaseException as error:  # handed to the caller's thread
                chunks.put(error)

        fetcher = threading.Thread(target=fetch, name="ledger-check-fetch", daemon=True)
        fetcher.start()
        try:
            while True:
                rows = chunks.get()
                if isinstance(rows, BaseException):
                    raise rows
                if not rows:
                    return
                yield from rows
        finally:
            stop.set()
            while fetcher.is_alive():
                with contextlib.suppress(queue.Empty):
                    chunks.get(timeout=0.1)
            fetcher.join()


def _rows(sql: str) -> Iterator[tuple]:
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql)
        while rows := cursor.fetchmany(CHUNK_SIZE):
            yield from rows


DOUBTED_BATCH = 1_000


def _confirmed_mismatches(doubted: list[tuple[int, str]]) -> Iterator[dict[str, Any]]:
    """Findings for the doubted events (id, stored hash) whose hash, recomputed from the row as
    the ORM reads it exactly as ``registry.ledger.verify`` does, differs: the definition
    decides. Read in one query per batch, in id order."""
    from registry.models import LedgerEvent

    stored = dict(doubted)
    events = LedgerEvent.objects.filter(pk__in=stored).order_by("pk")
    for event in events.iterator(chunk_size=DOUBTED_BATCH):
        recomputed = event_hash(
            kind=event.kind,
            actor_id=event.actor_id,
            occurred_at=event.occurred_at,
            subjects=event.subjects,
            payload=event.payload,
        )
        if recomputed != stored[event.pk]:
            yield _finding(
                "event_hash_does_not_match",
                event_id=event.pk,
                event_kind=event.kind,
                stored=stored[event.pk],
                recomputed=recomputed,
            )


@dataclass
class _OpenCheckpoint:
    """A checkpoint read and not yet closed: what the pass has seen of its range so far."""

    header: tuple
    builder: MerkleBuilder = field(default_factory=MerkleBuilder)
    last_event_id: int | None = None

    @property
    def sequence(self) -> int:
        return self.header[0]

    def holds(self, txid: int) -> bool:
        return self.header[1] <= txid < self.header[2]


def _chain_problems(header: tuple, previous: tuple | None) -> Iterator[dict[str, Any]]:
    sequence, xid_from, xid_to, event_count, last_event_id, root, previous_hash, stored_hash = (
        header[:8]
    )
    expected_sequence = previous[0] + 1 if previous else 1
    expected_previous_hash = previous[7] if previous else GENESIS_HASH
    expected_xid_from = previous[2] if previous else 0
    if sequence != expected_sequence:
        yield _finding(
            "checkpoint_out_of_sequence",
            checkpoint_sequence=sequence,
            stored=sequence,
            recomputed=expected_sequence,
        )
    if previous_hash != expected_previous_hash:
        yield _finding(
            "checkpoint_does_not_chain_to_previous",
            checkpoint_sequence=sequence,
            stored=previous_hash,
            recomputed=expected_previous_hash,
        )
    if xid_from != expected_xid_from:
        yield _finding(
            "checkpoint_transaction_range_not_contiguous",
            checkpoint_sequence=sequence,
            stored=xid_from,
            recomputed=expected_xid_from,
        )
    recomputed_hash = checkpoint_hash(
        sequence=sequence,
        xid_from=xid_from,
        xid_to=xid_to,
        event_count=event_count,
        last_event_id=last_event_id,
        merkle_root=root,
        previous_hash=previous_hash,
        sealed_at=header[8],
    )
    if recomputed_hash != stored_hash:
        yield _finding(
            "checkpoint_hash_does_not_match",
            checkpoint_sequence=sequence,
            stored=stored_hash,
            recomputed=recomputed_hash,
        )


def _closing_problems(open_checkpoint: _OpenCheckpoint) -> Iterator[dict[str, Any]]:
    sequence, event_count, last_event_id, root = (
        open_checkpoint.header[0],
        open_checkpoint.header[3],
        open_checkpoint.header[4],
        open_checkpoint.header[5],
    )
    builder = open_checkpoint.builder
    if builder.count != event_count:
        yield _finding(
            "checkpoint_event_count_changed",
            checkpoint_sequence=sequence,
            stored=event_count,
            recomputed=builder.count,
        )
    recomputed_root = builder.root()
    if recomputed_root != root or not builder.valid:
        yield _finding(
            "checkpoint_merkle_root_does_not_match",
            checkpoint_sequence=sequence,
            stored=root,
            recomputed=recomputed_root,
        )
    if open_checkpoint.last_event_id != last_event_id:
        yield _finding(
            "checkpoint_last_event_changed",
            checkpoint_sequence=sequence,
            stored=last_event_id,
            recomputed=open_checkpoint.last_event_id,
        )


class _CheckpointPass:
    """Checkpoints in range order, opened as the events reach their ranges and closed once the
    events are beyond their last one."""

    def __init__(self, counts: dict[str, Any]) -> None:
        self.counts = counts
        self.rows = _rows(CHECKPOINTS_SQL)
        self.upcoming = next(self.rows, None)
        self.sealed_below = self.upcoming[9] if self.upcoming else None
        self.previous: tuple | None = None
        self.open: dict[int, _OpenCheckpoint] = {}
        self.closing_order: list[tuple[int, int]] = []  # (last event id, sequence), a heap
        self.current: _OpenCheckpoint | None = None
        self.read = 0

    def _read_next(self) -> Iterator[dict[str, Any]]:
        header = self.upcoming[:9]
        self.upcoming = next(self.rows, None)
        self.read += 1
        yield from _chain_problems(header, self.previous)
        self.previous = header
        opened = _OpenCheckpoint(header)
        self.open[opened.sequence] = opened
        # Without a last event id nothing says when it is complete: it closes at the end.
        last = header[4] if header[4] is not None else float("inf")
        heapq.heappush(self.closing_order, (last, opened.sequence))

    def _close_before(self, event_id: int | float) -> Iterator[dict[str, Any]]:
        while self.closing_order and self.closing_order[0][0] < event_id:
            _last, sequence = heapq.heappop(self.closing_order)
            closed = self.open.pop(sequence, None)
            if closed is not None:
                if closed is self.current:
                    self.current = None
                yield from _closing_problems(closed)

    def event(self, event_id: int, kind: str, txid: int, stored_hash: str) -> list[dict]:
        """Give a sealed event to the checkpoint whose range holds it; returns the findings
        of checkpoints read or closed on the way (usually none). An event of a transaction
        after the last checkpoint belongs to none."""
        current = self.current
        if (
            current is not None
            and current.header[1] <= txid < current.header[2]
            and (not self.closing_order or self.closing_order[0][0] >= event_id)
            and (self.upcoming is None or self.upcoming[1] > txid)
        ):
            current.builder.add(stored_hash)
            current.last_event_id = event_id
            return []
        found = list(self._close_before(event_id))
        while self.upcoming is not None and self.upcoming[1] <= txid:
            found.extend(self._read_next())
        if self.current is None or not self.current.holds(txid):
            self.current = next((item for item in self.open.values() if item.holds(txid)), None)
        if self.current is not None:
            self.current.builder.add(stored_hash)
            self.current.last_event_id = event_id
        elif self.sealed_below is not None and txid < self.sealed_below:
            # Inside the sealed ranges, yet no open checkpoint holds it: a gap between
            # ranges, or an event beyond the last event its checkpoint recorded.
            found.append(
                _finding("event_outside_its_checkpoint", event_id=event_id, event_kind=kind)
            )
        return found

    def finish(self) -> Iterator[dict[str, Any]]:
        while self.upcoming is not None:
            yield from self._read_next()
        yield from self._close_before(float("inf"))
        last = self.previous
        self.counts["checkpoints_checked"] = self.read
        self.counts["last_checkpoint_sequence"] = last[0] if last else None
        self.counts["last_checkpoint_merkle_root"] = last[5] if last else None
        self.counts["last_checkpoint_hash"] = last[7] if last else None
        self.counts["last_checkpoint_last_event_id"] = last[4] if last else None


def _canonical_encoder():
    """``registry.ledger.canonical_json``'s encoding (sorted keys, no insignificant whitespace,
    UTF-8 text) as one reusable C encoder, for values that are already JSON types."""
    from json.encoder import c_make_encoder, encode_basestring

    if c_make_encoder is None:  # a Python without the _json accelerator
        return json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
    encoder = c_make_encoder(None, None, encode_basestring, None, ":", ",", True, False, True)
    return lambda value: "".join(encoder(value, 0))


def _ledger_stream(scope: ReportScope, counts: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every event in id order, each checkpoint as the events reach and leave its range; the
    scope does not narrow the ledger."""
    checkpoints = _CheckpointPass(counts)
    encode = _canonical_encoder()
    encode_string = json.encoder.encode_basestring
    scan = json.JSONDecoder().scan_once
    sha256 = hashlib.sha256
    events_checked = unsealed = 0
    doubted: list[tuple[int, str]] = []  # (id, stored hash) the fast path could not confirm
    for (
        event_id,
        kind,
        actor_id,
        occurred_at,
        subjects,
        payload,
        stored_hash,
        txid,
    ) in _rows_read_ahead(EVENTS_SQL):
        events_checked += 1
        # The canonical JSON registry.ledger.event_hash hashes, written out key by key in its
        # sorted order: the time already as json_default writes it, the subjects as the
        # database writes a JSON array of text, the payload re-encoded. Every part is valid
        # JSON of the stored value, so a match proves the row is what was hashed; a mismatch
        # is confirmed through the ORM and event_hash itself before it is reported, so how
        # these columns were read can never be what makes an event "bad" (in batches, so that
        # a ledger restored wholesale from a bad copy costs one query per thousand events).
        canonical = "".join(
            (
                '{"actor":',
                "null" if actor_id is None else str(actor_id),
                ',"kind":',
                encode_string(kind),
                ',"occurred_at":"',
                occurred_at,
                '","payload":',
                encode(scan(payload, 0)[0]),
                ',"subjects":',
                subjects,
                "}",
            )
        )
        if sha256(canonical.encode("utf-8")).hexdigest() != stored_hash:
            doubted.append((event_id, stored_hash))
            if len(doubted) >= DOUBTED_BATCH:
                yield from _confirmed_mismatches(doubted)
                doubted = []
        if txid is None:
            yield from _confirmed_mismatches(doubted)
            doubted = []
            yield _finding("event_without_transaction_id", event_id=event_id, event_kind=kind)
            continue
        if checkpoints.sealed_below is None or txid >= checkpoints.sealed_below:
            unsealed += 1
        found = checkpoints.event(event_id, kind, txid, stored_hash)
        if found:
            yield from _confirmed_mismatches(doubted)
            doubted = []
            yield from found
    yield from _confirmed_mismatches(doubted)
    yield from checkpoints.finish()
    counts["examined"] = events_checked
    counts["events_after_last_checkpoint"] = unsealed


LEDGER_CHECKS = [
    Check(
        id="ledger_integrity",
        title=_("The ledger is intact"),
        description=_(
            "Every ledger event's hash is recomputed from its stored kind, actor, time, "
            "subjects and payload, and every event has its transaction id; checkpoints follow "
            "each other without gaps, each chains to the hash of the one before, their "
            "transaction ranges are contiguous, each one's event count, last event, Merkle "
            "root and hash are recomputed from the events in its range. The ledger is global: "
            "a report's scope does not narrow this check. The counts quote the last "
            "checkpoint's sequence and Merkle root."
        ),
        guarantee="I7",
        stream=_ledger_stream,
    ),
]
