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

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.backends.postgresql.psycopg_any import NumericRange
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from registry.errors import RuleViolation
from registry.ledger import record_event
from registry.models import LedgerEvent, Mechanism, UnitKind
from registry.serials import SerialRange
from tracking.models import CorrespondingAdjustment, NeutralityEvent

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


def _is_carbon_credit(mechanism) -> bool:
    """Credits in tonnes (CCER, VCU, VER, PHCER, ...), not allowances or energy attributes."""
    return mechanism.unit_kind == UnitKind.CARBON and mechanism.kind == Mechanism.Kind.CERTIFICATE


def _r11_no_credits_for_event_projects(*, mechanism, project, **_context) -> None:
    if not _is_carbon_credit(mechanism):
        return
    events = list(NeutralityEvent.objects.filter(projects=project).order_by("pk"))
    if events:
        raise RuleViolation.of(
            "R11",
            _(
                "%(mechanism)s cannot be issued for project %(project)s: it was built for the "
                "neutrality of event %(event)s, so its reductions may not be issued as credits "
                "elsewhere (R11)."
            )
            % {"mechanism": mechanism.code, "project": project.code, "event": events[0].name},
            field="production_record",
            project=project.code,
            events=[event.pk for event in events],
        )


def _one_year_after(day: dt.date) -> dt.date:
    """The same date a year later; 29 February becomes 28 February; the calendar's end stays."""
    if day.year >= dt.MAXYEAR:
        return dt.date.max
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def _r11_event_cancellation_deadline(*, actor, mechanism, account, pieces, retirement) -> None:
    event = retirement.event
    if event is None or not _is_carbon_credit(mechanism):
        return
    deadline = _one_year_after(event.end_date)
    today = timezone.localdate()
    if today <= deadline:
        return
    message = _(
        "Credits for event %(event)s had to be retired by %(deadline)s, one year after it "
        "ended (R11)."
    ) % {"event": event.name, "deadline": deadline.isoformat()}
    facts = {
        "event": event.pk,
        "event_end": event.end_date.isoformat(),
        "deadline": deadline.isoformat(),
        "retired_on": today.isoformat(),
    }
    if settings.REGISTRY_R11_LATE_CANCELLATION_EFFECT == REJECT:
        raise RuleViolation.of("R11", message, field="event", **facts)
    flag(
        "R11",
        message,
        actor=actor,
        subjects=[f"event:{event.pk}", f"account:{account.pk}"],
        **facts,
    )


def counts_toward_host_target(mechanism) -> bool:
    """Whether the mechanism's units count toward their host country's target (R14)."""
    return mechanism.code in settings.REGISTRY_HOST_TARGET_MECHANISMS


def _uncovered(take: SerialRange, adjustments) -> bool:
    """Whether some serial of ``take`` lies in none of the adjustments' ranges."""
    position = take.lower
    for adjustment in sorted(adjustments, key=lambda item: item.serials.lower):
        if adjustment.serials.lower > position:
            return True
        position = max(position, adjustment.serials.upper)
        if position >= take.upper:
            return False
    return position < take.upper


def _r14_adjustment_before_retirement_abroad(
    *, actor, mechanism, account, pieces, retirement
) -> None:
    if not counts_toward_host_target(mechanism):
        return
    retiring_country = account.organisation.country
    for piece in pieces:
        project = piece.block.stream.project
        if project.country == retiring_country:
            continue  # retired at home: the host keeps counting it, no adjustment needed
        serials = piece.take.format(
            project.country, project.code, piece.block.stream.unit_kind, piece.block.vintage
        )
        adjustments = list(
            CorrespondingAdjustment.objects.filter(
                stream_id=piece.block.stream_id,
                serials__overlap=NumericRange(piece.take.lower, piece.take.upper, "[)"),
            ).order_by("pk")
        )
        open_adjustment = next(
            (
                item
                for item in adjustments
                if item.status != CorrespondingAdjustment.Status.COMPLETED
            ),
            None,
        )
        facts = {
            "serials": serials,
            "host_country": project.country,
            "retiring_country": retiring_country,
            "account": account.number,
        }
        if open_adjustment is not None:
            message = _(
                "Units %(serials)s count toward %(host)s's target and cannot be retired in "
                "%(country)s until corresponding adjustment %(adjustment)s is completed; it is "
                "%(status)s (R14)."
            ) % {
                "serials": serials,
                "host": project.country,
                "country": retiring_country,
                "adjustment": open_adjustment.pk,
                "status": str(open_adjustment.get_status_display()).lower(),
            }
            facts.update(adjustment=open_adjustment.pk, status=open_adjustment.status)
            if settings.REGISTRY_R14_RETIREMENT_EFFECT == REJECT:
                raise RuleViolation.of("R14", message, field="account", **facts)
            flag(
                "R14",
                message,
                actor=actor,
                subjects=[f"account:{account.pk}", f"adjustment:{open_adjustment.pk}"],
                **facts,
            )
        elif _uncovered(piece.take, adjustments):
            # Units that reached a foreign account without leaving the host through a transfer
            # (issued there directly, or moved before adjustments were tracked): no adjustment
            # exists to wait for, so auditors are told instead.
            flag(
                "R14",
                _(
                    "Units %(serials)s count toward %(host)s's target and are retired in "
                    "%(country)s without a recorded corresponding adjustment (R14)."
                )
                % {"serials": serials, "host": project.country, "country": retiring_country},
                actor=actor,
                subjects=[f"account:{account.pk}"],
                adjustment=None,
                status="missing",
                **facts,
            )


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
        _(
            "Event neutrality: credits retired within a year after the event; no credits for "
            "projects built for the event."
        ),
        REJECT,
        "large-event neutrality guidance",
        configurable=True,
        enforced_by=(
            "issuance.rules (unit_claim_issue: no carbon credits for a project built for a "
            "neutrality event; block_retire: carbon credits for an event retired at most one "
            "year after it ended, reject or flag by REGISTRY_R11_LATE_CANCELLATION_EFFECT); "
            "database: a retirement with purpose event names its event"
        ),
        issuance_check=_r11_no_credits_for_event_projects,
        retirement_check=_r11_event_cancellation_deadline,
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
        enforced_by=(
            "tracking.services (block_transfer: units of REGISTRY_HOST_TARGET_MECHANISMS leaving "
            "their host country open a corresponding adjustment per range and are flagged; "
            "status forward-only by database trigger); issuance.rules (block_retire: retiring "
            "them abroad before the adjustment is completed is refused, or flagged with "
            "REGISTRY_R14_RETIREMENT_EFFECT=flag)"
        ),
        retirement_check=_r14_adjustment_before_retirement_abroad,
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
