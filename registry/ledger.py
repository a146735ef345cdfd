"""The append-only ledger: canonical JSON, event hashes, Merkle checkpoints and verification.

Every service writes exactly one event in its own transaction through :func:`record_event`.
:func:`seal` closes a checkpoint over events of transactions that have all committed, without
making writers wait on a global lock; :func:`verify` recomputes everything from the stored rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from registry.locks import LEDGER_SEAL, try_advisory_xact_lock
from registry.models import Checkpoint, LedgerEvent

GENESIS_HASH = "0" * 64


def json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot put {type(value).__name__} in a ledger payload")


def canonical_json(value: Any) -> str:
    """Sorted keys, no insignificant whitespace, UTF-8 text: one byte string per value."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=json_default
    )


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def event_hash(
    *,
    kind: str,
    actor_id: int | None,
    occurred_at: dt.datetime,
    subjects: list[str],
    payload: Any,
) -> str:
    """SHA-256 of the canonical JSON of everything an event states."""
    return sha256_hex(
        canonical_json(
            {
                "kind": kind,
                "actor": actor_id,
                "occurred_at": occurred_at,
                "subjects": list(subjects),
                "payload": payload,
            }
        )
    )


def record_event(
    *, kind: str, actor, subjects: Iterable[str] = (), payload: dict[str, Any]
) -> LedgerEvent:
    """Append one event; call inside the transaction of the change it records."""
    occurred_at = timezone.now()
    # Normalise once so that what is hashed is exactly what JSONB gives back.
    normalised_payload = json.loads(canonical_json(payload))
    subject_list = list(subjects)
    actor_id = actor.pk if actor is not None else None
    return LedgerEvent.objects.create(
        kind=kind,
        actor_id=actor_id,
        occurred_at=occurred_at,
        subjects=subject_list,
        payload=normalised_payload,
        event_hash=event_hash(
            kind=kind,
            actor_id=actor_id,
            occurred_at=occurred_at,
            subjects=subject_list,
            payload=normalised_payload,
        ),
    )


def record_refusal(*, actor, operation: str, error, attempted: dict[str, Any]) -> LedgerEvent:
    """Write a refused attempt in a transaction of its own, after the refused one rolled back,
    so auditors see who tried what and which claim holds the units."""
    with transaction.atomic():
        return record_event(
            kind=LedgerEvent.Kind.ATTEMPT_REFUSED,
            actor=actor,
            subjects=[f"refused:{error.code}"],
            payload={
                "operation": operation,
                "code": error.code,
                "message": str(error.message),
                "details": error.details,
                "attempted": attempted,
            },
        )


def record_flag(
    rule_id: str, message: Any, *, actor, subjects: list[str], **facts: Any
) -> LedgerEvent:
    """Record, in the current transaction, that a flag-effect rule saw something auditors must
    look at; the operation goes on."""
    return record_event(
        kind=LedgerEvent.Kind.RULE_FLAGGED,
        actor=actor,
        subjects=[f"rule:{rule_id}", *subjects],
        payload={"rule": rule_id, "message": str(message), "facts": facts},
    )


def merkle_root(leaf_hashes: Iterable[str]) -> str:
    """Binary Merkle tree over hex SHA-256 leaves in order; an odd node is promoted unchanged."""
    level = [bytes.fromhex(leaf) for leaf in leaf_hashes]
    if not level:
        return GENESIS_HASH
    while len(level) > 1:
        paired = [
            hashlib.sha256(level[index] + level[index + 1]).digest()
            for index in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0].hex()


class MerkleBuilder:
    """The Merkle root of :func:`merkle_root`, built one leaf at a time in O(log n) memory.

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
        subtrees = self._subtrees
        while subtrees and subtrees[-1][0] == height:
            node = hashlib.sha256(subtrees.pop()[1] + node).digest()
            height += 1
        subtrees.append((height, node))

    def root(self) -> str:
        if not self._subtrees:
            return GENESIS_HASH
        node = self._subtrees[-1][1]
        for _height, left in reversed(self._subtrees[:-1]):
            node = hashlib.sha256(left + node).digest()
        return node.hex()


def checkpoint_hash(
    *,
    sequence: int,
    xid_from: int,
    xid_to: int,
    event_count: int,
    last_event_id: int | None,
    merkle_root: str,
    previous_hash: str,
    sealed_at: dt.datetime,
) -> str:
    return sha256_hex(
        canonical_json(
            {
                "sequence": sequence,
                "xid_from": xid_from,
                "xid_to": xid_to,
                "event_count": event_count,
                "last_event_id": last_event_id,
                "merkle_root": merkle_root,
                "previous_hash": previous_hash,
                "sealed_at": sealed_at,
            }
        )
    )


def _event_hashes_between(xid_from: int, xid_to: int) -> Iterator[tuple[int, str]]:
    return (
        LedgerEvent.objects.filter(txid__gte=xid_from, txid__lt=xid_to)
        .order_by("id")
        .values_list("id", "event_hash")
        .iterator(chunk_size=20_000)
    )


def seal(*, actor=None) -> Checkpoint | None:
    """Seal every event of transactions that committed since the last checkpoint.

    The boundary is the snapshot's xmin: every transaction with a smaller id has ended, so no
    event below it can still appear. Returns None when there is nothing new or another sealer
    holds the lock.

    With ``actor`` (a person sealing by hand, from the admin) a ``ledger.sealed`` event naming
    them and the checkpoint is written in the same transaction; the next checkpoint seals it.
    The periodic and command-line seals (no actor) write none: a seal that wrote an event would
    always leave the next seal something to do, so the ledger would grow by one event a minute.
    """
    with transaction.atomic():
        if not try_advisory_xact_lock(LEDGER_SEAL, 0):
            return None
        previous = Checkpoint.objects.order_by("-sequence").first()
        xid_from = previous.xid_to if previous else 0
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            xid_to = cursor.fetchone()[0]
        ids_and_hashes = list(_event_hashes_between(xid_from, xid_to))
        if not ids_and_hashes:
            return None
        sequence = previous.sequence + 1 if previous else 1
        previous_hash = previous.checkpoint_hash if previous else GENESIS_HASH
        root = merkle_root(event_hash for _, event_hash in ids_and_hashes)
        last_event_id = max(event_id for event_id, _ in ids_and_hashes)
        sealed_at = timezone.now()
        checkpoint = Checkpoint.objects.create(
            sequence=sequence,
            xid_from=xid_from,
            xid_to=xid_to,
            event_count=len(ids_and_hashes),
            last_event_id=last_event_id,
            merkle_root=root,
            previous_hash=previous_hash,
            checkpoint_hash=checkpoint_hash(
                sequence=sequence,
                xid_from=xid_from,
                xid_to=xid_to,
                event_count=len(ids_and_hashes),
                last_event_id=last_event_id,
                merkle_root=root,
                previous_hash=previous_hash,
                sealed_at=sealed_at,
            ),
            sealed_at=sealed_at,
        )
        if actor is not None:
            record_event(
                kind=LedgerEvent.Kind.LEDGER_SEALED,
                actor=actor,
                subjects=[f"checkpoint:{checkpoint.sequence}"],
                payload={
                    "sequence": checkpoint.sequence,
                    "checkpoint_hash": checkpoint.checkpoint_hash,
                    "event_count": checkpoint.event_count,
                },
            )
        return checkpoint


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of :func:`verify`: ``problem`` names the first bad event or checkpoint."""

    ok: bool
    events_checked: int
    checkpoints_checked: int
    problem: str | None = None


def verify() -> VerificationResult:
    """Recompute every event hash, every Merkle root and the checkpoint chain from stored rows."""
    events_checked = 0
    rows = (
        LedgerEvent.objects.order_by("id")
        .values_list(
            "id", "kind", "actor_id", "occurred_at", "subjects", "payload", "event_hash", "txid"
        )
        .iterator(chunk_size=20_000)
    )
    for event_id, kind, actor_id, occurred_at, subjects, payload, stored_hash, txid in rows:
        events_checked += 1
        recomputed = event_hash(
            kind=kind,
            actor_id=actor_id,
            occurred_at=occurred_at,
            subjects=subjects,
            payload=payload,
        )
        if recomputed != stored_hash:
            return VerificationResult(
                False,
                events_checked,
                0,
                f"ledger event {event_id} was altered: stored hash {stored_hash}, "
                f"recomputed {recomputed}",
            )
        if txid is None:
            return VerificationResult(
                False, events_checked, 0, f"ledger event {event_id} has no transaction id"
            )
    checkpoints_checked = 0
    expected_previous = GENESIS_HASH
    expected_xid_from = 0
    for checkpoint in Checkpoint.objects.order_by("sequence").iterator():
        checkpoints_checked += 1
        label = f"checkpoint {checkpoint.sequence}"
        if checkpoint.sequence != checkpoints_checked:
            return VerificationResult(
                False, events_checked, checkpoints_checked, f"{label} is out of sequence"
            )
        if checkpoint.previous_hash != expected_previous:
            return VerificationResult(
                False,
                events_checked,
                checkpoints_checked,
                f"{label} does not chain to the checkpoint before it",
            )
        if checkpoint.xid_from != expected_xid_from:
            return VerificationResult(
                False,
                events_checked,
                checkpoints_checked,
                f"{label} leaves a gap in the transactions it seals",
            )
        # Folded as the hashes stream by: a checkpoint of millions of events costs O(log n).
        builder = MerkleBuilder()
        for _event_id, leaf_hash in _event_hashes_between(checkpoint.xid_from, checkpoint.xid_to):
            builder.add(leaf_hash)
        if builder.count != checkpoint.event_count or builder.root() != checkpoint.merkle_root:
            return VerificationResult(
                False,
                events_checked,
                checkpoints_checked,
                f"{label}: its events no longer match its Merkle root "
                f"({builder.count} events now, {checkpoint.event_count} sealed)",
            )
        recomputed = checkpoint_hash(
            sequence=checkpoint.sequence,
            xid_from=checkpoint.xid_from,
            xid_to=checkpoint.xid_to,
            event_count=checkpoint.event_count,
            last_event_id=checkpoint.last_event_id,
            merkle_root=checkpoint.merkle_root,
            previous_hash=checkpoint.previous_hash,
            sealed_at=checkpoint.sealed_at,
        )
        if recomputed != checkpoint.checkpoint_hash:
            return VerificationResult(
                False, events_checked, checkpoints_checked, f"{label} hash was altered"
            )
        expected_previous = checkpoint.checkpoint_hash
        expected_xid_from = checkpoint.xid_to
    return VerificationResult(True, events_checked, checkpoints_checked)


# --- published checkpoints -----------------------------------------------------------------------

# What the public list of checkpoints shows of each one (API, public page, its JSON download),
# and what ``verify_against`` compares with a copy of that list kept elsewhere.
PUBLISHED_FIELDS = (
    "sequence",
    "checkpoint_hash",
    "merkle_root",
    "previous_hash",
    "event_count",
    "last_event_id",
    "sealed_at",
)
COMPARED_FIELDS = ("checkpoint_hash", "merkle_root", "previous_hash", "event_count")


def published_checkpoints() -> Iterator[dict[str, Any]]:
    """Every checkpoint as the public list shows it, oldest first (streamed)."""
    rows = Checkpoint.objects.order_by("sequence").values_list(*PUBLISHED_FIELDS)
    for row in rows.iterator(chunk_size=5_000):
        published = dict(zip(PUBLISHED_FIELDS, row, strict=True))
        published["sealed_at"] = json_default(published["sealed_at"])
        yield published


def verify_against(saved: Iterable[dict[str, Any]]) -> VerificationResult:
    """Compare the database's checkpoints with a copy of the published list kept elsewhere.

    Every checkpoint of the copy must still be in the database with the same hash, Merkle root,
    previous hash and event count: a deleted checkpoint (the newest one included, which the
    chain alone cannot reveal) or a rewritten one is named. Checkpoints sealed after the copy
    was taken are not a problem.
    """
    compared = 0
    stored = published_checkpoints()  # oldest first, as the saved list is read below
    found = next(stored, None)
    for entry in sorted(saved, key=lambda item: _sequence_of(item) or 0):
        sequence = _sequence_of(entry)
        if sequence is None:
            return VerificationResult(
                False, 0, compared, f"saved entry without a sequence: {entry}"
            )
        compared += 1
        while found is not None and found["sequence"] < sequence:
            found = next(stored, None)
        if found is None or found["sequence"] != sequence:
            return VerificationResult(
                False, 0, compared, f"checkpoint {sequence} of the saved list is missing"
            )
        for name in COMPARED_FIELDS:
            if name in entry and entry[name] != found[name]:
                return VerificationResult(
                    False,
                    0,
                    compared,
                    f"checkpoint {sequence} differs from the saved list: {name} is "
                    f"{found[name]}, saved {entry[name]}",
                )
    return VerificationResult(True, 0, compared)


def _sequence_of(entry: Any) -> int | None:
    sequence = entry.get("sequence") if isinstance(entry, dict) else None
    return sequence if isinstance(sequence, int) and not isinstance(sequence, bool) else None
