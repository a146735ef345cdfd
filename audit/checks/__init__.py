"""The checks of a uniqueness report: each re-derives one guarantee from the stored rows.

A check never calls the services that wrote the data and never trusts a constraint to have held:
it reads the tables with its own SQL (window functions over ranges sorted per stream or claim),
so that a row written around the constraints — by a bug, a restore or a hand in psql — is found.

Each SQL check is two queries over the scope:

- ``findings``: one row per offending record (columns become the keys of the finding's JSON),
  inserted by ``INSERT … SELECT`` in the database, so memory stays bounded however many there are;
  ``order_by`` (columns of that row) gives the findings a stable order;
- ``counts``: one row of named counts; ``examined`` says how many records the check looked at.

Overlaps are found in one pass: rows sorted by the start of their range within a stream (or a
claim), a row overlaps an earlier one exactly when it starts before the furthest end reached so
far (a running maximum); only the rows found so are joined back, to name what they overlap.

A check whose ``verdict_from_findings`` is False only lists (refused attempts, for instance): its
verdict is "info". The ledger check streams events through Python because the event hashes are
SHA-256 over canonical JSON, which SQL cannot reproduce byte for byte.

The order of ``CHECKS`` is the order of the report.
"""

from __future__ import annotations

from audit.checks.assets import ASSET_CHECKS
from audit.checks.attempts import ATTEMPT_CHECKS
from audit.checks.base import Check, SqlBuilder
from audit.checks.blocks import BLOCK_CHECKS
from audit.checks.claims import CLAIM_CHECKS
from audit.checks.declarations import DECLARATION_CHECKS
from audit.checks.external import EXTERNAL_CHECKS
from audit.checks.ledger import LEDGER_CHECKS
from audit.checks.production import PRODUCTION_CHECKS
from audit.checks.retirements import RETIREMENT_CHECKS
from audit.checks.state import STATE_CHECKS

CHECKS: list[Check] = [
    *PRODUCTION_CHECKS,
    *CLAIM_CHECKS,
    *BLOCK_CHECKS,
    *RETIREMENT_CHECKS,
    *DECLARATION_CHECKS,
    *EXTERNAL_CHECKS,
    *ASSET_CHECKS,
    *ATTEMPT_CHECKS,
    *LEDGER_CHECKS,
    *STATE_CHECKS,
]

CHECKS_BY_ID = {check.id: check for check in CHECKS}

__all__ = ["CHECKS", "CHECKS_BY_ID", "Check", "SqlBuilder"]
