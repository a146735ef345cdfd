"""The cross-mechanism rule catalogue (DOMAIN.md section 3): what the registry refuses or flags
because it would count one physical output twice.

Each rule has a stable id, the mechanisms it applies to (empty: all), its effect (reject or
flag), a bilingual description, its source, whether it may be switched off, and where it is
enforced. Checks are plain functions over the operation and the registry's state; the services
call them inside the operation's transaction, and a refusal raises ``RuleViolation`` (code
``rule_violation``, the rule id and the facts), which the service records in the ledger as a
refused attempt. Rules enforced by database constraints or elsewhere in the services say so in
``enforced_by``; rules not enforced yet say that too, so the catalogue never claims more than the
code does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from interop.selectors import external_issuances_overlapping
from registry.errors import RuleViolation
from registry.ledger import record_event
from registry.models import LedgerEvent

REJECT = "reject"
FLAG = "flag"


@dataclass(frozen=True)
class Rule:
    """One rule of the catalogue."""

    id: str
    description: Any
    effect: str
    source: str
    mechanisms: tuple[str, ...] = ()
    configurable: bool = False
    enforced_by: str = ""
    issuance_check: Callable[..., None] | None = field(default=None, compare=False)
    transfer_check: Callable[..., None] | None = field(default=None, compare=False)
    retirement_check: Callable[..., None] | None = field(default=None, compare=False)

    @property
    def enabled(self) -> bool:
        if not self.configurable:
            return True
        return self.id not in settings.REGISTRY_DISABLED_RULES

    def applies_to(self, mechanism_code: str) -> bool:
        return not self.mechanisms or mechanism_code in self.mechanisms


def _r3_ccer_inside_ets_boundary(*, mechanism, project, **_context) -> None:
    if project.inside_ets_boundary:
        raise RuleViolation.of(
            "R3",
            _(
                "%(mechanism)s cannot be issued for project %(project)s: it lies inside the "
                "emission boundary of an entity covered by an emissions trading system (R3)."
            )
            % {"mechanism": mechanism.code, "project": project.code},
            field="production_record",
            project=project.code,
            inside_ets_boundary=True,
        )


def _r15_certified_elsewhere(*, mechanism, project, record, actor=None, **_context) -> None:
    """The output this issuance claims (the record's units, and the tonnes a derivation would
    make of them) is already covered by a linked issuance of another registry for an overlapping
    period. Refuses, or only flags for the mechanisms of REGISTRY_EXTERNAL_OVERLAP_FLAG_ONLY."""
    claimed_kinds = {record.stream.unit_kind, mechanism.unit_kind}
    overlapping = external_issuances_overlapping(
        project=project, period=record.period, unit_kinds=claimed_kinds
    )
    external = overlapping.first()
    if external is None:
        return
    facts = {
        "external_record": external.pk,
        "source": external.source,
        "external_id": external.external_id,
        "external_mechanism": external.mechanism_code,
        "period": external.period_text(),
        "project": project.code,
        "record": record.pk,
    }
    message = _(
        "The output of project %(project)s in production record %(record)s is already "
        "certified in another registry: %(source)s record %(external_id)s (%(mechanism)s, "
        "%(period)s) (R15)."
    ) % {
        "project": project.code,
        "record": record.pk,
        "source": external.source,
        "external_id": external.external_id,
        "mechanism": external.mechanism_code,
        "period": external.period_text(),
    }
    if mechanism.code in settings.REGISTRY_EXTERNAL_OVERLAP_FLAG_ONLY:
        flag(
            "R15",
            message,
            actor=actor,
            subjects=[f"project:{project.pk}", f"record:{record.pk}", f"external:{external.pk}"],
            mechanism=mechanism.code,
            **facts,
        )
        return
    raise RuleViolation.of("R15", message, field="production_record", **facts)


CATALOGUE: tuple[Rule, ...] = (
    Rule(
        "R1",
        _("One underlying unit, one instrument, across all mechanisms."),
        REJECT,
        "DOMAIN.md 3; DESIGN.md I3",
        enforced_by="database: exclusion constraint one_live_claim_per_unit (I3), derived units",
    ),
    Rule(
        "R2",
        _("Metering periods of a stream never overlap; issued never exceeds produced."),
        REJECT,
        "DOMAIN.md 3; DESIGN.md I1, I2, I6",
        enforced_by="database: period and serial exclusion constraints, claim_inside_production",
    ),
    Rule(
        "R3",
        _("No CCER for a project inside an ETS-covered entity's emission boundary."),
        REJECT,
        "CCER rules (MEE 2023)",
        mechanisms=("CCER",),
        enforced_by="issuance.rules (unit_claim_issue)",
        issuance_check=_r3_ccer_inside_ets_boundary,
    ),
    Rule(
        "R4",
        _("No CCER and energy-use rights on the same saved energy."),
        REJECT,
        "DOMAIN.md 3",
        mechanisms=("CCER", "EUR"),
        enforced_by="R1 when both claim the same saved tce; project-level check not enforced yet",
    ),
    Rule(
        "R5",
        _("An ETS-covered entity should not also trade energy-use rights."),
        FLAG,
        "DOMAIN.md 3 (policy)",
        configurable=True,
        enforced_by="not enforced yet",
    ),
    Rule(
        "R6",
        _("I-REC and TIGR not for subsidised projects; no I-REC for China after 2024-12-31."),
        REJECT,
        "I-REC Standard; TIGR",
        mechanisms=("IREC", "TIGR"),
        enforced_by="not enforced yet",
    ),
    Rule(
        "R7",
        _("GEC-CCER link: CCER registration freezes untraded GECs; CCER issuance cancels them."),
        REJECT,
        "NDRC/NEA 2025 GEC rules",
        mechanisms=("GEC", "CCER"),
        enforced_by="not enforced yet",
    ),
    Rule(
        "R8",
        _("No local credits for projects in CCER, another scheme, green power trading or GEC."),
        REJECT,
        "local carbon inclusion rules",
        mechanisms=("PHCER",),
        enforced_by="not enforced yet",
    ),
    Rule(
        "R9",
        _("Only held, active units move; a GEC may be traded once."),
        REJECT,
        "DOMAIN.md 3",
        enforced_by="tracking.services (block selection, max_transfers)",
    ),
    Rule(
        "R10",
        _(
            "ETS compliance: CCER at most 5 percent of the obligation, "
            "eligible projects and vintages."
        ),
        REJECT,
        "national ETS rules",
        mechanisms=("CEA", "CCER"),
        configurable=True,
        enforced_by="not enforced yet",
    ),
    Rule(
        "R11",
        _("Event neutrality: credits cancelled within a year after the event."),
        FLAG,
        "large-event neutrality guidance",
        configurable=True,
        enforced_by="not enforced yet",
    ),
    Rule(
        "R12",
        _("Retirement is final: one beneficiary, never moves again."),
        REJECT,
        "DOMAIN.md 3; DESIGN.md I5",
        enforced_by="database: final_blocks_never_change trigger, immutable retirements",
    ),
    Rule(
        "R13",
        _("Issuance needs a valid declaration of no double counting where required."),
        REJECT,
        "DOMAIN.md 3 (policy)",
        configurable=True,
        enforced_by="issuance.services (declaration coverage)",
    ),
    Rule(
        "R14",
        _("Cross-border transfers need a corresponding adjustment."),
        FLAG,
        "Paris Agreement Article 6",
        configurable=True,
        enforced_by="not enforced yet",
    ),
    Rule(
        "R15",
        _("Output already certified in another registry."),
        REJECT,
        "DOMAIN.md 2.1 (double issuance across registries)",
        configurable=True,
        enforced_by=(
            "issuance.rules (unit_claim_issue) against linked external issuances imported by "
            "interop; flag only for REGISTRY_EXTERNAL_OVERLAP_FLAG_ONLY mechanisms; imports "
            "and confirmed matches that duplicate a live issuance are flagged (interop.services)"
        ),
        issuance_check=_r15_certified_elsewhere,
    ),
)

RULES = {rule.id: rule for rule in CATALOGUE}


def _enabled_checks(hook: str, mechanism_code: str):
    for rule in CATALOGUE:
        check = getattr(rule, hook)
        if check is not None and rule.enabled and rule.applies_to(mechanism_code):
            yield check


def check_issuance(*, mechanism, project, record, **context: Any) -> None:
    """Run every enabled issuance rule for the mechanism; the first refusal raises.

    Called inside the issuance's transaction, before any unit is claimed. ``context`` carries
    what the operation knows besides (actor, requested serials, account).
    """
    for check in _enabled_checks("issuance_check", mechanism.code):
        check(mechanism=mechanism, project=project, record=record, **context)


def check_transfer(*, actor, mechanism, source, target, pieces) -> None:
    """Run every enabled transfer rule over the locked pieces about to move."""
    for check in _enabled_checks("transfer_check", mechanism.code):
        check(actor=actor, mechanism=mechanism, source=source, target=target, pieces=pieces)


def check_retirement(*, actor, mechanism, account, pieces, retirement) -> None:
    """Run every enabled retirement rule over the locked pieces and the retirement row (not yet
    saved)."""
    for check in _enabled_checks("retirement_check", mechanism.code):
        check(
            actor=actor, mechanism=mechanism, account=account, pieces=pieces, retirement=retirement
        )


def flag(rule_id: str, message: Any, *, actor, subjects: list[str], **facts: Any) -> LedgerEvent:
    """Record, in the operation's transaction, that a flag-effect rule saw something auditors
    must look at; the operation goes on."""
    return record_event(
        kind=LedgerEvent.Kind.RULE_FLAGGED,
        actor=actor,
        subjects=[f"rule:{rule_id}", *subjects],
        payload={"rule": rule_id, "message": str(message), "facts": facts},
    )


def catalogue_listing() -> list[dict[str, Any]]:
    """The catalogue as the API and the admin show it, with whether each rule is enabled."""
    return [
        {
            "id": rule.id,
            "description": str(rule.description),
            "effect": rule.effect,
            "mechanisms": list(rule.mechanisms),
            "source": rule.source,
            "configurable": rule.configurable,
            "enabled": rule.enabled,
            "enforced_by": rule.enforced_by,
        }
        for rule in CATALOGUE
    ]
