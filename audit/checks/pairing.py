"""Rows and the ledger events that created them, keyed alike so that SQL can pair them.

Three registries, so that a new table or event kind is a few lines:

- ``ROW_TABLES``: per table, the SQL giving each row's key (as its event names it), id and
  quantity (none where the quantity is compared by the fold instead);
- ``ONE_KEY_EVENTS``: per event kind naming one row, the table, the payload key naming it and the
  quantity it recorded. These are the bulk of the ledger; they are read in one pass with CASE;
- ``SEVERAL_KEY_EVENTS``: per event kind naming several rows (a surrender's retirements, the
  claims an issuance creates), a lateral subquery of the event row giving ``(table, key,
  quantity, issued_claim)``; ``issued_claim`` names a claim whose production record is the row
  (derived and allocated records are named through the claim their event issued).

Keys compare byte-wise (``COLLATE "C"``): they are identifiers, and a collation would only slow
the joins down.
"""

from __future__ import annotations

from registry.models import LedgerEvent

Kind = LedgerEvent.Kind

ROW_TABLES: dict[str, str] = {
    "transfer": """
        SELECT transfer.public_id::text, transfer.id, transfer.quantity::numeric
        FROM tracking_transfer AS transfer""",
    "retirement": """
        SELECT retirement.public_id::text, retirement.id, retirement.quantity::numeric
        FROM tracking_retirement AS retirement""",
    "cancellation": """
        SELECT cancellation.public_id::text, cancellation.id, cancellation.quantity::numeric
        FROM tracking_cancellation AS cancellation""",
    # Metered records and corrections are compared on their quantity, derived and allocated
    # ones on their units (the units their issuing event recorded).
    "production_record": """
        SELECT record.id::text, record.id,
               CASE WHEN record.source IN ('metered', 'correction') THEN record.quantity
                    ELSE record.units END
        FROM registry_productionrecord AS record""",
    "claim": """
        SELECT claim.id::text, claim.id, NULL::numeric FROM registry_unitclaim AS claim""",
}

# kind: (table, payload key naming the row, quantity the event recorded)
ONE_KEY_EVENTS: dict[str, tuple[str, str, str]] = {
    Kind.UNITS_TRANSFERRED: ("transfer", "transfer", "(event.payload->>'quantity')::numeric"),
    Kind.UNITS_RETIRED: ("retirement", "retirement", "(event.payload->>'quantity')::numeric"),
    Kind.PRODUCTION_RECORDED: (
        "production_record",
        "record",
        "(event.payload->>'quantity')::numeric",
    ),
    # A correction is a production record of its own (the corrected one never changes).
    Kind.PRODUCTION_CORRECTED: (
        "production_record",
        "record",
        "(event.payload->>'quantity')::numeric",
    ),
    Kind.UNITS_CANCELLED: ("cancellation", "cancellation", "(event.payload->>'quantity')::numeric"),
    # The revocation's own cancellation holds the issue account's units; units other holders
    # had are their own cancellations (``held_quantity``), each with its units.cancelled event.
    Kind.CLAIM_REVOKED: (
        "cancellation",
        "cancellation",
        "(event.payload->>'cancelled_quantity')::numeric"
        " - coalesce((event.payload->>'held_quantity')::numeric, 0)",
    ),
    # A reduction of an allocation cancels allowances (negative quantity); an allocation
    # names no cancellation and is paired below.
    Kind.ALLOWANCES_ALLOCATED: (
        "cancellation",
        "cancellation",
        "-(event.payload->>'quantity')::numeric",
    ),
}

SEVERAL_KEY_EVENTS: dict[str, str] = {
    Kind.UNITS_SURRENDERED: """
        SELECT 'retirement', retired.value,
               (event.payload->>CASE WHEN retired.key = 'CEA' THEN 'allowance_quantity'
                                     ELSE 'ccer_quantity' END)::numeric, NULL::bigint
        FROM jsonb_each_text(event.payload->'retirements') AS retired""",
    Kind.UNITS_ISSUED: """
        SELECT 'claim', event.payload->>'claim', NULL::numeric, NULL::bigint
        UNION ALL
        SELECT 'claim', event.payload#>>'{derived_from,claim}', NULL, NULL
        WHERE event.payload ? 'derived_from'
        UNION ALL
        SELECT 'production_record', NULL, (event.payload->>'quantity')::numeric,
               (event.payload->>'claim')::bigint
        WHERE event.payload ? 'derived_from'""",
    Kind.ALLOWANCES_ALLOCATED: """
        SELECT 'claim', event.payload#>>'{ranges,0,claim}', NULL::numeric, NULL::bigint
        WHERE (event.payload->>'quantity')::bigint > 0
        UNION ALL
        SELECT 'production_record', NULL, (event.payload->>'quantity')::numeric,
               (event.payload#>>'{ranges,0,claim}')::bigint
        WHERE (event.payload->>'quantity')::bigint > 0""",
    # R7: the cancelled part became a claim of its own, and another may have taken one side.
    Kind.UNITS_CANCELLED: """
        SELECT 'claim', event.payload->>'cancelled_claim', NULL::numeric, NULL::bigint
        WHERE event.payload->>'cancelled_claim' <> event.payload->>'claim'
        UNION ALL
        SELECT 'claim', event.payload#>>'{split,moved,0}', NULL, NULL
        WHERE event.payload#>>'{split,moved,0}' IS NOT NULL""",
}


def _kinds(kinds) -> str:
    return ", ".join(f"'{kind}'" for kind in kinds)


def row_keys_sql() -> str:
    """``(row_table, key, row_id, quantity)`` of every row of ``ROW_TABLES``."""
    return "\nUNION ALL\n".join(
        f'SELECT \'{table}\' COLLATE "C", row.key COLLATE "C", row.row_id, row.quantity '
        f"FROM ({sql}) AS row (key, row_id, quantity)"
        for table, sql in ROW_TABLES.items()
    ).join(("SELECT * FROM (", ") AS row_key (row_table, key, row_id, quantity)"))


def event_keys_sql() -> str:
    """``(row_table, key, event_id, kind, quantity)`` of every row an event names."""

    def case(position: int) -> str:
        return "CASE event.kind {} END".format(
            " ".join(
                f"WHEN '{kind}' THEN {entry[position] if position == 2 else repr(entry[position])}"
                for kind, entry in ONE_KEY_EVENTS.items()
            )
        )

    several = "\nUNION ALL\n".join(
        f"(SELECT * FROM ({sql}) AS keys_of_kind WHERE event.kind = '{kind}')"
        for kind, sql in SEVERAL_KEY_EVENTS.items()
    )
    return f"""
        SELECT ({case(0)}) COLLATE "C" AS row_table,
               (event.payload->>{case(1)}) COLLATE "C" AS key,
               event.id AS event_id, event.kind, {case(2)} AS quantity
        FROM registry_ledgerevent AS event
        WHERE event.kind IN ({_kinds(ONE_KEY_EVENTS)})
          AND event.payload->>{case(1)} IS NOT NULL
        UNION ALL
        SELECT keyed.row_table COLLATE "C",
               coalesce(claim.production_record_id::text, keyed.key) COLLATE "C",
               event.id, event.kind, keyed.quantity
        FROM registry_ledgerevent AS event
        CROSS JOIN LATERAL ({several}) AS keyed (row_table, key, quantity, issued_claim)
        LEFT JOIN registry_unitclaim AS claim ON claim.id = keyed.issued_claim
        WHERE event.kind IN ({_kinds(SEVERAL_KEY_EVENTS)})
    """
