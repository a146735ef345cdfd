"""The shape of a check and the SQL pieces the checks share.

Conventions of every finding, so that an auditor reads them the same way in every check:

- ``stream`` is written ``<project code>-<unit kind>`` (``PABCDE-E``) beside ``stream_id``;
- a serial range is a two-element array ``[lower, upper]`` read as the half-open ``[lower,
  upper)`` (the database's own form), a period is its start and end;
- ``mechanism`` is the mechanism's code;
- a finding about two rows names the second one with the prefix ``other_`` (or ``overlaps_``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise

from audit.scope import ReportScope

SqlBuilder = Callable[[ReportScope], tuple[str, list[Any]]]


@dataclass(frozen=True)
class Check:
    """One independent check. ``guarantee`` names the invariant or rule it re-derives."""

    id: str
    title: Promise
    description: Promise
    guarantee: str
    counts: SqlBuilder | None = None
    findings: SqlBuilder | None = None
    order_by: str = ""
    verdict_from_findings: bool = True
    # SQL condition on a stored finding (``record``, its JSON) for the findings that fail the
    # check; the others are warnings listed for the auditor. Empty: every finding fails.
    fails_when: str = ""
    # For a check that cannot be SQL: called with the scope and the counts dict (which it fills,
    # "examined" included), yields finding records lazily; see the ledger check.
    stream: Callable[[ReportScope, dict[str, Any]], Iterator[dict[str, Any]]] | None = None


def stream_label(stream: str, project: str) -> str:
    """SQL for the ``PABCDE-E`` label of a stream joined as ``stream`` with its ``project``."""
    return f"({project}.code || '-' || {stream}.unit_kind)"


def serial_pair(serials: str) -> str:
    """SQL for a serial range as ``[lower, upper]`` (half-open), NULL for no range."""
    return (
        f"CASE WHEN {serials} IS NULL THEN NULL ELSE ARRAY[lower({serials}), upper({serials})] END"
    )


def range_length(serials: str) -> str:
    """SQL for the number of serials of a range (0 for none or an empty range)."""
    return (
        f"CASE WHEN {serials} IS NULL OR isempty({serials}) THEN 0 "
        f"ELSE upper({serials}) - lower({serials}) END"
    )
