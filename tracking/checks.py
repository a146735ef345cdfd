"""Where rules of upper layers plug into transfers and retirements.

Imports point one way (registry <- accounts <- tracking <- issuance), yet the rule catalogue in
``issuance.rules`` must see every transfer and retirement. Tracking therefore exposes these hook
lists; ``issuance``'s app config registers the catalogue's checks at start-up. The services call
them inside their transaction, with the rows already locked, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings

TRANSFER_CHECKS: list[Callable[..., None]] = []
RETIREMENT_CHECKS: list[Callable[..., None]] = []


def run_transfer_checks(**operation: Any) -> None:
    """actor, mechanism, source, target, pieces: a refusal raises ``RuleViolation``."""
    for check in TRANSFER_CHECKS:
        check(**operation)


def run_retirement_checks(**operation: Any) -> None:
    """actor, mechanism, account, pieces, retirement (unsaved): a refusal raises."""
    for check in RETIREMENT_CHECKS:
        check(**operation)


def counts_toward_host_target(mechanism) -> bool:
    """Whether the mechanism's units count toward their host country's target (R14)."""
    return mechanism.code in settings.REGISTRY_HOST_TARGET_MECHANISMS


def switched_off(rule_id: str) -> bool:
    """Whether a configurable rule of the catalogue is switched off here (the one reading of
    REGISTRY_DISABLED_RULES; ``issuance.rules.Rule.enabled`` uses it too)."""
    return rule_id in settings.REGISTRY_DISABLED_RULES


def host_adjustments_enabled() -> bool:
    """R14 (configurable): switched off, transfers abroad open no corresponding adjustment."""
    return not switched_off("R14")
