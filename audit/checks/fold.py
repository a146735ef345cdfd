"""The ledger folded into the state it describes: claims and blocks, stream by stream.

Each ledger event kind that changes claims or blocks has one ``Handler``: an SQL fragment that
turns the kind's events into *steps* (one row per claim and serial range the event touches:
``event_id, ordinal, kind, claim_id, lower, upper, account, data``) and a Python function that
applies one step to the state of the claim's stream. Kinds that change none of them are listed
in ``IGNORED_KINDS``; a test requires every kind of ``LedgerEvent.Kind`` to be in exactly one of
the two, so a new kind is classified when it is added (a handler is a few lines: its SQL and its
``apply``).

The steps of all events are sorted by stream in the database and read through a server-side
cursor, beside the claims and the blocks sorted the same way: the fold holds one stream's claims
and blocks at a time, so memory depends on the largest stream, not on the registry. A stream is
the unit because serials are allocated per stream and an R7 cancellation moves blocks between
claims of one stream.

Serial ranges come from the payloads as they are hashed: a range's text (``CN-…-first-last``,
both inclusive) is parsed from its two trailing numbers; accounts are the numbers the payloads
name (claims and blocks are read with their account's number); ``units.expired`` names blocks
by id only, so its steps take the blocks' claim and range from the block table (an expired
block never changes again, so that is the range it expired with).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from registry.models import LedgerEvent

Kind = LedgerEvent.Kind


def _first(serials: str) -> str:
    # The text ends "-first-last" (both inclusive); split_part with a negative position counts
    # from the end (PostgreSQL 14 and later) and is far cheaper than a regular expression.
    return f"split_part({serials}, '-', -2)::bigint"


def _end(serials: str) -> str:
    return f"(split_part({serials}, '-', -1)::bigint + 1)"


def _ranges_steps(kind: str, *, account: str = "NULL", data: str = "NULL::jsonb") -> str:
    """Steps of an event whose payload lists ``ranges`` of ``{claim, serials}``."""
    return f"""
        SELECT item.ordinal::integer, (item.value->>'claim')::bigint,
               {_first("item.value->>'serials'")}, {_end("item.value->>'serials'")},
               {account}, {data}
        FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(event.payload->'ranges') = 'array'
                 THEN event.payload->'ranges' ELSE '[]'::jsonb END
        ) WITH ORDINALITY AS item (value, ordinal)
        WHERE event.kind = '{kind}'
    """


# --- the state of one stream -------------------------------------------------------------------


@dataclass(slots=True)
class Piece:
    """Units of one claim with one holder and status, as the ledger has them."""

    lower: int
    upper: int
    account: int | None
    status: str
    transfer_count: int
    event_id: int  # the last event that made or changed it

    def part(self, lower: int, upper: int) -> Piece:
        return Piece(lower, upper, self.account, self.status, self.transfer_count, self.event_id)


@dataclass(slots=True)
class ClaimState:
    lower: int
    upper: int
    account: int | None
    status: str
    event_id: int
    pieces: list[Piece] = field(default_factory=list)


class Step(NamedTuple):
    stream: int
    event_id: int
    ordinal: int
    kind: str
    claim_id: int
    lower: int | None
    upper: int | None
    account: int | None
    data: dict[str, Any] | None


class StreamState:
    """The claims of one stream as the ledger describes them, with what went wrong applying it."""

    def __init__(self) -> None:
        self.claims: dict[int, ClaimState] = {}
        self.problems: list[dict[str, Any]] = []

    def problem(self, problem: str, step: Step, **details: Any) -> None:
        self.problems.append(
            {
                "problem": problem,
                "table": "ledger",
                "row_id": None,
                "claim_id": step.claim_id,
                "event_id": step.event_id,
                "event_kind": step.kind,
                "stored": None,
                "ledger": details or None,
            }
        )

    def create_claim(self, step: Step, *, with_block: bool, status: str = "live") -> None:
        if step.claim_id in self.claims or step.lower is None:
            self.problem("claim_created_twice_or_without_range", step)
            return
        claim = ClaimState(step.lower, step.upper, step.account, status, step.event_id)
        if with_block:
            claim.pieces.append(
                Piece(step.lower, step.upper, step.account, "active", 0, step.event_id)
            )
        self.claims[step.claim_id] = claim

    def take(self, step: Step) -> list[Piece]:
        """The pieces exactly covering the step's range, split at its ends; none (and a
        problem) if the ledger never gave the claim those units."""
        claim = self.claims.get(step.claim_id)
        lower, upper = step.lower, step.upper
        if claim is None or lower is None or upper is None:
            self.problem("event_names_unknown_claim_or_range", step)
            return []
        taken, kept, split = [], [], False
        for piece in claim.pieces:
            if piece.upper <= lower or piece.lower >= upper:
                kept.append(piece)
                continue
            if piece.lower < lower:
                kept.append(piece.part(piece.lower, lower))
                piece.lower, split = lower, True
            if upper < piece.upper:
                kept.append(piece.part(upper, piece.upper))
                piece.upper, split = upper, True
            piece.event_id = step.event_id
            taken.append(piece)
            kept.append(piece)
        if sum(piece.upper - piece.lower for piece in taken) != upper - lower:
            self.problem("event_moves_units_the_ledger_does_not_hold", step)
        if split:
            kept.sort(key=lambda piece: piece.lower)
            claim.pieces = kept
        return taken

    def set_status(self, step: Step, status: str) -> None:
        for piece in self.take(step):
            piece.status = status


# --- one handler per event kind ------------------------------------------------------------------


@dataclass(frozen=True)
class Handler:
    """How the fold reads one event kind: its steps (SQL) and how each step changes a stream."""

    kind: str
    steps_sql: str
    apply: Callable[[StreamState, Step], None]


def _issued(state: StreamState, step: Step) -> None:
    # Ordinal 0 is the claim that carries the units (and its one block); 1 the source claim
    # a derived claim consumed (it holds no block).
    state.create_claim(step, with_block=step.ordinal == 0)


def _transferred(state: StreamState, step: Step) -> None:
    for piece in state.take(step):
        piece.account = step.account
        piece.transfer_count += 1


def _cancelled(state: StreamState, step: Step) -> None:
    if step.data and step.data.get("cancelled_claim") is not None:
        _split_for_r7(state, step)
    else:
        state.set_status(step, "cancelled")


def _split_for_r7(state: StreamState, step: Step) -> None:
    """R7: the range becomes a revoked claim of its own holding its (cancelled) blocks; the
    original keeps one side, a new claim may take the other (payload ``split``)."""
    original = state.claims.get(step.claim_id)
    taken = state.take(step)
    if original is None:
        return
    for piece in taken:
        piece.status = "cancelled"
    released = ClaimState(step.lower, step.upper, original.account, "revoked", step.event_id)
    state.claims[int(step.data["cancelled_claim"])] = released
    split = step.data.get("split") or {}
    parts = [(int(step.data["cancelled_claim"]), step.lower, step.upper)]
    kept = split.get("kept")
    if kept:
        original.lower, original.upper = kept
    moved = split.get("moved")
    if moved:
        claim_id, lower, upper = moved
        state.claims[claim_id] = ClaimState(lower, upper, original.account, "live", step.event_id)
        parts.append((claim_id, lower, upper))
    for claim_id, lower, upper in parts:
        target = state.claims[claim_id]
        target.pieces = [p for p in original.pieces if lower <= p.lower and p.upper <= upper]
        original.pieces = [p for p in original.pieces if not (lower <= p.lower < upper)]


def _allocated(state: StreamState, step: Step) -> None:
    if step.data and step.data.get("creates"):
        state.create_claim(step, with_block=True)
    else:
        state.set_status(step, "cancelled")


def _revoked(state: StreamState, step: Step) -> None:
    claim = state.claims.get(step.claim_id)
    if claim is None:
        state.problem("event_names_unknown_claim_or_range", step)
        return
    claim.status = "revoked"
    claim.event_id = step.event_id
    if step.data and step.data.get("bearing"):
        for piece in claim.pieces:
            if piece.status in ("active", "frozen"):
                piece.status = "cancelled"
                piece.event_id = step.event_id


def _account(key: str) -> str:
    """The account number a payload names (claims and blocks are compared by account number)."""
    return f"event.payload->>'{key}'"


HANDLERS: dict[str, Handler] = {
    handler.kind: handler
    for handler in (
        Handler(
            Kind.UNITS_ISSUED,
            f"""
            SELECT 0, (event.payload->>'claim')::bigint,
                   {_first("event.payload->>'serials'")}, {_end("event.payload->>'serials'")},
                   {_account("account")}, NULL::jsonb
            WHERE event.kind = 'units.issued'
            UNION ALL
            SELECT 1, (event.payload#>>'{{derived_from,claim}}')::bigint,
                   {_first("event.payload#>>'{derived_from,serials}'")},
                   {_end("event.payload#>>'{derived_from,serials}'")},
                   {_account("account")}, NULL::jsonb
            WHERE event.kind = 'units.issued' AND event.payload ? 'derived_from'
            """,
            _issued,
        ),
        Handler(
            Kind.UNITS_TRANSFERRED,
            _ranges_steps(Kind.UNITS_TRANSFERRED, account=_account("to")),
            _transferred,
        ),
        Handler(
            Kind.UNITS_RETIRED,
            _ranges_steps(Kind.UNITS_RETIRED),
            lambda state, step: state.set_status(step, "retired"),
        ),
        Handler(
            Kind.UNITS_SURRENDERED,
            _ranges_steps(Kind.UNITS_SURRENDERED),
            lambda state, step: state.set_status(step, "retired"),
        ),
        Handler(
            Kind.UNITS_CANCELLED,
            f"""
            SELECT item.ordinal::integer,
                   coalesce((event.payload->>'claim')::bigint, (item.value->>'claim')::bigint),
                   {_first("item.value->>'serials'")}, {_end("item.value->>'serials'")}, NULL,
                   CASE WHEN event.payload ? 'cancelled_claim' THEN
                       jsonb_build_object('cancelled_claim', event.payload->'cancelled_claim',
                                          'split', event.payload->'split')
                   END
            FROM jsonb_array_elements(event.payload->'ranges')
                WITH ORDINALITY AS item (value, ordinal)
            WHERE event.kind = 'units.cancelled'
            """,
            _cancelled,
        ),
        Handler(
            Kind.BLOCK_STATUS,
            """
            SELECT 0,
                   (SELECT substr(subject, 7)::bigint FROM unnest(event.subjects) AS subject
                    WHERE left(subject, 6) = 'claim:' LIMIT 1),
                   (event.payload#>>'{range,0}')::bigint, (event.payload#>>'{range,1}')::bigint,
                   NULL, jsonb_build_object('to', event.payload->'to')
            WHERE event.kind = 'block.status'
            """,
            lambda state, step: state.set_status(step, step.data["to"]),
        ),
        Handler(
            Kind.UNITS_EXPIRED,
            """
            SELECT item.ordinal::integer, block.claim_id, lower(block.serials),
                   upper(block.serials), NULL, NULL::jsonb
            FROM jsonb_array_elements_text(event.payload->'blocks')
                WITH ORDINALITY AS item (value, ordinal)
            JOIN tracking_block AS block ON block.id = item.value::bigint
            WHERE event.kind = 'units.expired'
            """,
            lambda state, step: state.set_status(step, "expired"),
        ),
        Handler(
            Kind.CLAIM_REVOKED,
            """
            SELECT item.ordinal::integer, item.value::bigint, NULL::bigint, NULL::bigint, NULL,
                   jsonb_build_object('bearing', item.value::bigint
                                                 = (event.payload->>'claim')::bigint)
            FROM jsonb_array_elements_text(event.payload->'claims')
                WITH ORDINALITY AS item (value, ordinal)
            WHERE event.kind = 'claim.revoked'
            """,
            _revoked,
        ),
        Handler(
            Kind.ALLOWANCES_ALLOCATED,
            _ranges_steps(
                Kind.ALLOWANCES_ALLOCATED,
                account=_account("account"),
                data="jsonb_build_object('creates', (event.payload->>'quantity')::bigint > 0)",
            ),
            _allocated,
        ),
        Handler(
            Kind.PROJECT_MECHANISM_REGISTERED,
            _ranges_steps(Kind.PROJECT_MECHANISM_REGISTERED),
            lambda state, step: state.set_status(step, "frozen"),
        ),
    )
}

# Kinds that change no claim or block (their rows, if any, are checked elsewhere or not at all).
IGNORED_KINDS: frozenset[str] = frozenset(
    {
        Kind.ORGANISATION_CREATED,
        Kind.ACCOUNT_OPENED,
        Kind.ACCOUNT_STATUS,
        Kind.PROJECT_REGISTERED,
        Kind.PROJECT_STATUS,
        Kind.PROJECT_OWNERSHIP_TRANSFERRED,  # the asset changes hands; its claims do not
        Kind.PRODUCTION_SUBMITTED,
        Kind.PRODUCTION_REJECTED,
        Kind.PRODUCTION_RECORDED,  # a record, no claim: its quantities are compared in SQL
        Kind.PRODUCTION_CORRECTED,  # a record of its own, no claim: compared in SQL too
        Kind.DECLARATION_SIGNED,
        Kind.DECLARATION_REVOKED,
        Kind.ISSUANCE_REQUESTED,
        Kind.ISSUANCE_REJECTED,
        Kind.ATTEMPT_REFUSED,
        Kind.RULE_FLAGGED,
        Kind.UNITS_FROZEN,  # declared, never written: R7 freezes through mechanism_registered
        Kind.ADJUSTMENT_STATUS,
        Kind.EXTERNAL_IMPORTED,
        Kind.EXTERNAL_MATCHED,
        Kind.EMISSIONS_VERIFIED,
        Kind.NEUTRALITY_EVENT_CREATED,
        Kind.RETIREMENT_ALLOCATED,
        Kind.MECHANISM_CREATED,
        Kind.GRID_REGION_CREATED,
        Kind.GRID_REGION_UPDATED,
        Kind.GRID_DATA_IMPORTED,
        Kind.SCOPE2_REPORTED,
        Kind.LEDGER_SEALED,
        Kind.GREEN_POWER_CONTRACT_CREATED,
        Kind.CONSUMPTION_RECORDED,
        Kind.GREEN_POWER_SETTLED,
        Kind.GREEN_POWER_CONFIRMED,
    }
)


def steps_sql() -> str:
    """Every step of every handled event, with the stream it belongs to, sorted by stream,
    then event, then its place in the event. One pass over the ledger: each handler's SQL is a
    lateral subquery of the event row, gated by its kind. A step whose claim has no row is put
    in a stream of its own (``-claim id``), where it is reported."""
    parts = "\nUNION ALL\n".join(
        f"(SELECT * FROM ({handler.steps_sql}) AS steps_of_kind)" for handler in HANDLERS.values()
    )
    kinds = ", ".join(f"'{kind}'" for kind in HANDLERS)
    return f"""
        SELECT coalesce(claim.stream_id, -step.claim_id) AS stream_key, event.id, step.ordinal,
               event.kind, step.claim_id, step.lower, step.upper, step.account, step.data
        FROM registry_ledgerevent AS event
        CROSS JOIN LATERAL ({parts}) AS step (ordinal, claim_id, lower, upper, account, data)
        LEFT JOIN registry_unitclaim AS claim ON claim.id = step.claim_id
        WHERE event.kind IN ({kinds})
        ORDER BY 1, 2, 3
    """


def fold(rows: Iterable[tuple]) -> StreamState:
    """Apply one stream's steps (rows of ``steps_sql``), in order."""
    state = StreamState()
    loads = json.loads
    make = Step._make
    for row in rows:
        step = make(row)
        if step.data.__class__ is str:  # Django reads jsonb as text
            step = step._replace(data=loads(step.data))
        HANDLERS[step.kind].apply(state, step)
    return state
