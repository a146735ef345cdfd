"""Ledger integrity (I7): every event's hash recomputed, the checkpoint chain re-derived.

Event hashes are SHA-256 over canonical JSON as Python writes it, which SQL cannot reproduce
byte for byte, so this check streams rows through Python in chunks from server-side cursors:
memory holds one chunk of events and, per checkpoint, a Merkle builder of O(log n) nodes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import connection
from django.utils.translation import gettext_lazy as _

from audit.checks.base import Check
from audit.scope import ReportScope
from registry.ledger import GENESIS_HASH, checkpoint_hash, event_hash

CHUNK_SIZE = 5_000


class MerkleBuilder:
    """The Merkle root of ``registry.ledger.merkle_root``, built one leaf at a time.

    A stack of complete subtrees of strictly decreasing height: adding a leaf merges equal
    heights as a binary counter carries. The level-by-level definition promotes an odd last
    node unchanged, which is the same as folding the remaining subtrees from the right.
    """

    def __init__(self) -> None:
        self._subtrees: list[tuple[int, bytes]] = []
        self.count = 0
        self.valid = True

    def add(self, leaf_hex: str) -> None:
        self.count += 1
        try:
            node = bytes.fromhex(leaf_hex)
        except (TypeError, ValueError):
            # Not a hash at all: the root cannot be what was sealed over hashes.
            self.valid = False
            node = hashlib.sha256(str(leaf_hex).encode("utf-8")).digest()
        height = 0
        while self._subtrees and self._subtrees[-1][0] == height:
            _height, left = self._subtrees.pop()
            node = hashlib.sha256(left + node).digest()
            height += 1
        self._subtrees.append((height, node))

    def root(self) -> str:
        if not self._subtrees:
            return GENESIS_HASH
        node = self._subtrees[-1][1]
        for _height, left in reversed(self._subtrees[:-1]):
            node = hashlib.sha256(left + node).digest()
        return node.hex()


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


def _server_side_rows(sql: str, params: list[Any]) -> Iterator[tuple]:
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK_SIZE):
            yield from rows


def _events(counts: dict[str, Any], sealed_below_xid: int | None) -> Iterator[dict[str, Any]]:
    events_checked = unsealed = 0
    rows = _server_side_rows(
        "SELECT id, kind, actor_id, occurred_at, subjects, payload, event_hash, txid "
        "FROM registry_ledgerevent ORDER BY id",
        [],
    )
    for event_id, kind, actor_id, occurred_at, subjects, payload, stored_hash, txid in rows:
        events_checked += 1
        if isinstance(payload, str):  # jsonb comes back as text through a raw cursor
            payload = json.loads(payload)
        recomputed = event_hash(
            kind=kind,
            actor_id=actor_id,
            occurred_at=occurred_at,
            subjects=subjects,
            payload=payload,
        )
        if recomputed != stored_hash:
            yield _finding(
                "event_hash_does_not_match",
                event_id=event_id,
                event_kind=kind,
                stored=stored_hash,
                recomputed=recomputed,
            )
        if txid is None:
            yield _finding("event_without_transaction_id", event_id=event_id, event_kind=kind)
        elif sealed_below_xid is None or txid >= sealed_below_xid:
            unsealed += 1
    counts["examined"] = events_checked
    counts["events_after_last_checkpoint"] = unsealed


def _checkpoint_rows() -> Iterable[tuple]:
    # Each checkpoint with the events of its transaction range in id order (the order seal()
    # hashed them in); a checkpoint whose range holds no event comes once with NULLs.
    return _server_side_rows(
        """
        SELECT checkpoint.sequence, checkpoint.xid_from, checkpoint.xid_to,
               checkpoint.event_count, checkpoint.last_event_id, checkpoint.merkle_root,
               checkpoint.previous_hash, checkpoint.checkpoint_hash, checkpoint.sealed_at,
               sealed.id, sealed.event_hash
        FROM registry_checkpoint AS checkpoint
        LEFT JOIN LATERAL (
            SELECT event.id, event.event_hash FROM registry_ledgerevent AS event
            WHERE event.txid >= checkpoint.xid_from AND event.txid < checkpoint.xid_to
        ) AS sealed ON TRUE
        ORDER BY checkpoint.sequence, sealed.id
        """,
        [],
    )


def _checkpoint_problems(
    header: tuple, builder: MerkleBuilder, last_event_id: int | None, previous: tuple | None
) -> Iterator[dict[str, Any]]:
    (
        sequence,
        xid_from,
        xid_to,
        event_count,
        stored_last_event_id,
        merkle_root,
        previous_hash,
        stored_hash,
        sealed_at,
    ) = header
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
    root = builder.root()
    if builder.count != event_count:
        yield _finding(
            "checkpoint_event_count_changed",
            checkpoint_sequence=sequence,
            stored=event_count,
            recomputed=builder.count,
        )
    if root != merkle_root or not builder.valid:
        yield _finding(
            "checkpoint_merkle_root_does_not_match",
            checkpoint_sequence=sequence,
            stored=merkle_root,
            recomputed=root,
        )
    if last_event_id != stored_last_event_id:
        yield _finding(
            "checkpoint_last_event_changed",
            checkpoint_sequence=sequence,
            stored=stored_last_event_id,
            recomputed=last_event_id,
        )
    recomputed_hash = checkpoint_hash(
        sequence=sequence,
        xid_from=xid_from,
        xid_to=xid_to,
        event_count=event_count,
        last_event_id=stored_last_event_id,
        merkle_root=merkle_root,
        previous_hash=previous_hash,
        sealed_at=sealed_at,
    )
    if recomputed_hash != stored_hash:
        yield _finding(
            "checkpoint_hash_does_not_match",
            checkpoint_sequence=sequence,
            stored=stored_hash,
            recomputed=recomputed_hash,
        )


def _checkpoints(counts: dict[str, Any]) -> Iterator[dict[str, Any]]:
    checkpoints_checked = 0
    previous: tuple | None = None
    header: tuple | None = None
    builder = MerkleBuilder()
    last_event_id: int | None = None
    for row in _checkpoint_rows():
        row_header, event_id, stored_event_hash = row[:9], row[9], row[10]
        if header is None or row_header[0] != header[0]:
            if header is not None:
                yield from _checkpoint_problems(header, builder, last_event_id, previous)
                previous = header
            checkpoints_checked += 1
            header, builder, last_event_id = row_header, MerkleBuilder(), None
        if event_id is not None:
            builder.add(stored_event_hash)
            last_event_id = event_id
    if header is not None:
        yield from _checkpoint_problems(header, builder, last_event_id, previous)
    counts["checkpoints_checked"] = checkpoints_checked
    counts["last_checkpoint_sequence"] = header[0] if header else None
    counts["last_checkpoint_merkle_root"] = header[5] if header else None
    counts["last_checkpoint_hash"] = header[7] if header else None
    counts["last_checkpoint_last_event_id"] = header[4] if header else None


def _ledger_stream(scope: ReportScope, counts: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every event, then every checkpoint; the scope does not narrow the ledger."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT xid_to FROM registry_checkpoint ORDER BY sequence DESC LIMIT 1")
        last = cursor.fetchone()
    yield from _events(counts, last[0] if last else None)
    yield from _checkpoints(counts)


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
