"""The cross-mechanism rule catalogue (docs/architecture.md, "The rule catalogue"): what the
registry refuses or flags because it would count one physical output twice.

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
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.backends.postgresql.psycopg_any import NumericRange
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from interop.selectors import external_issuances_overlapping
from registry.errors import RuleViolation
from registry.ledger import record_flag
from registry.models import Mechanism, UnitKind
from registry.selectors import active_registration
from registry.serials import SerialRange
from tracking import checks
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
    # What the rule does to each operation it meets, as the code enforces it now (settings
    # such as REGISTRY_R14_RETIREMENT_EFFECT included): operation -> reject or flag.
    effects: Callable[[], dict[str, str]] | None = field(default=None, compare=False)

    @property
    def enabled(self) -> bool:
        return not (self.configurable and checks.switched_off(self.id))

    def enforced_effects(self) -> dict[str, str]:
        """Operation -> effect as enforced with the current settings."""
        return self.effects() if self.effects is not None else {}

    def enforced_effect(self) -> str:
        """``reject`` when the rule refuses some operation as configured now, else ``flag``."""
        effects = self.enforced_effects()
        if not effects:
            return self.effect
        return REJECT if REJECT in effects.values() else FLAG

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


CARBON_CREDITS = ("CCER", "VCU", "VER")
# R8: taking part in any of these (or in green power trading, which sells GEC bundled with the
# power) bars a project from local inclusive-carbon credits.
R8_EXCLUDING_MECHANISMS = ("CCER", "VCU", "VER", "GEC", "IREC", "TIGR")
# Local inclusive-carbon credits (Guangdong-style PHCER, Beijing forestry BFCER, ...): R8 holds
# whichever comes first, so these and the mechanisms above exclude each other.
R8_LOCAL_CREDITS = ("PHCER", "BFCER")
RENEWABLE_TECHNOLOGIES = ("wind", "solar", "hydro", "biomass")


def _live_claims_of(project, mechanism_codes):
    from registry.models import UnitClaim

    return UnitClaim.objects.filter(
        stream__project=project,
        mechanism__code__in=mechanism_codes,
        status=UnitClaim.Status.LIVE,
    )


def _r4_energy_use_rights(*, mechanism, project, record, **_context) -> None:
    if mechanism.code != "CCER" or record.stream.unit_kind != "T":
        return
    eur_claims = list(_live_claims_of(project, ("EUR",)).values_list("pk", flat=True)[:5])
    if project.under_energy_use_rights or eur_claims:
        raise RuleViolation.of(
            "R4",
            _(
                "CCER cannot be issued for the energy savings of project %(project)s: the project "
                "is under energy-use-rights control (R4)."
            )
            % {"project": project.code},
            field="production_record",
            project=project.code,
            under_energy_use_rights=project.under_energy_use_rights,
            energy_use_right_claims=eur_claims,
        )


def _r5_ets_entity_trading_energy_use_rights(*, mechanism, project, actor, **_context) -> None:
    if mechanism.code == "EUR" and project.inside_ets_boundary:
        flag(
            "R5",
            _(
                "Energy-use rights issued for project %(project)s, which lies inside an "
                "ETS-covered entity (R5)."
            )
            % {"project": project.code},
            actor=actor,
            subjects=[f"project:{project.pk}"],
            project=project.code,
            inside_ets_boundary=True,
        )


def _r6_irec_tigr_eligibility(*, mechanism, project, record, **_context) -> None:
    if mechanism.code not in ("IREC", "TIGR"):
        return  # R6 also records GEC subsidy forfeiture, at transfer
    if project.subsidised:
        raise RuleViolation.of(
            "R6",
            _("%(mechanism)s cannot be issued for project %(project)s: it receives a subsidy (R6).")
            % {"mechanism": mechanism.code, "project": project.code},
            field="production_record",
            project=project.code,
            subsidised=True,
        )
    if mechanism.code != "IREC" or project.country != "CN":
        return
    last_day = settings.REGISTRY_IREC_CHINA_LAST_GENERATION_DAY
    local_end = record.period.upper.astimezone(ZoneInfo(project.time_zone))
    # The period is half-open: generation ending at midnight after the last day is still in.
    first_excluded = dt.datetime.combine(
        last_day + dt.timedelta(days=1), dt.time(), tzinfo=local_end.tzinfo
    )
    if local_end > first_excluded:
        raise RuleViolation.of(
            "R6",
            _(
                "I-REC cannot be issued for generation in China after %(day)s; production record "
                "%(record)s ends %(end)s (R6)."
            )
            % {"day": last_day.isoformat(), "record": record.pk, "end": local_end.isoformat()},
            field="production_record",
            project=project.code,
            record=record.pk,
            period_end=local_end.isoformat(),
            last_generation_day=last_day.isoformat(),
        )


def _r6_subsidy_forfeited_on_first_sale(*, actor, mechanism, source, target, pieces) -> None:
    if mechanism.code != "GEC":
        return
    forfeited = [
        piece
        for piece in pieces
        if piece.block.transfer_count == 0 and piece.block.stream.project.subsidised
    ]
    if not forfeited:
        return
    quantity = sum(piece.take.length for piece in forfeited)
    ranges = [
        piece.take.format(
            piece.block.stream.project.country,
            piece.block.stream.project.code,
            piece.block.stream.unit_kind,
            piece.block.vintage,
        )
        for piece in forfeited
    ]
    flag(
        "R6",
        _(
            "GECs of subsidised projects sold from account %(account)s: the subsidy for these "
            "%(quantity)s MWh is forfeited (R6)."
        )
        % {"account": source.number, "quantity": quantity},
        actor=actor,
        subjects=sorted(
            {f"project:{piece.block.stream.project_id}" for piece in forfeited}
            | {f"claim:{piece.block.claim_id}" for piece in forfeited}
        ),
        subsidy_forfeited=ranges,
        quantity=quantity,
    )


def _r7_no_gec_under_ccer_registration(*, mechanism, project, record, **_context) -> None:
    if mechanism.code != "GEC":
        return
    registration = active_registration(
        project_id=project.pk, mechanism_code="CCER", period=record.period
    )
    if registration is not None:
        raise RuleViolation.of(
            "R7",
            _(
                "GEC cannot be issued for project %(project)s in this period: it is registered "
                "for CCER (%(reference)s) and its MWh go to CCER (R7)."
            )
            % {"project": project.code, "reference": registration.reference},
            field="production_record",
            project=project.code,
            registration=registration.pk,
            reference=registration.reference,
        )


def _r8_local_credit_exclusions(*, mechanism, project, **_context) -> None:
    """R8 either way: local credits for a project that takes part in another scheme, and
    another scheme for a project that already has local credits."""
    local = mechanism.code in R8_LOCAL_CREDITS
    others = R8_EXCLUDING_MECHANISMS if local else R8_LOCAL_CREDITS
    taken = {}
    for code, claim_id in (
        _live_claims_of(project, others).order_by("pk").values_list("mechanism__code", "pk")
    ):
        taken.setdefault(code, claim_id)
    if not taken:
        return
    if local:
        message = _(
            "Local credits cannot be issued for project %(project)s: it already takes part "
            "in %(mechanisms)s (R8)."
        )
    else:
        message = _(
            "%(mechanism)s cannot be issued for project %(project)s: it already has local "
            "credits (%(mechanisms)s), which exclude every other scheme on its output (R8)."
        )
    raise RuleViolation.of(
        "R8",
        message
        % {
            "mechanism": mechanism.code,
            "project": project.code,
            "mechanisms": ", ".join(sorted(taken)),
        },
        field="production_record",
        project=project.code,
        mechanisms=sorted(taken),
        claims=taken,
    )


def _r10_compliance_only_by_surrender(*, mechanism, retirement, **_context) -> None:
    # A retirement "for ETS compliance" outside a surrender would skip the CCER share, the
    # project and the vintage checks of R10; compliance.services.units_surrender writes its
    # retirements itself, under those checks.
    if retirement.purpose == "ets_compliance":
        raise RuleViolation.of(
            "R10",
            _(
                "%(mechanism)s is used for ETS compliance only through a surrender, which checks "
                "the CCER limit and eligibility (R10)."
            )
            % {"mechanism": mechanism.code},
            field="purpose",
            reason="compliance_only_by_surrender",
            mechanism=mechanism.code,
            purpose=retirement.purpose,
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


counts_toward_host_target = checks.counts_toward_host_target


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


def _claim_window(vintage: int, months: int) -> tuple[dt.date, dt.date]:
    """The calendar year of a vintage (YYYYMM), widened by ``months`` on each side."""
    year = vintage // 100
    first_month = year * 12 - months  # months since year 0, January = 0
    last_month = year * 12 + 11 + months
    first = dt.date(first_month // 12, first_month % 12 + 1, 1)
    after = last_month + 1
    return first, dt.date(after // 12, after % 12 + 1, 1) - dt.timedelta(days=1)


def _r16_claim_period_fits_production(*, actor, mechanism, account, pieces, retirement) -> None:
    """Every retired unit's production year (its vintage), widened by
    REGISTRY_CLAIM_WINDOW_MONTHS on each side, overlaps the retirement's claim period."""
    months = settings.REGISTRY_CLAIM_WINDOW_MONTHS
    start, end = retirement.claim_period_start, retirement.claim_period_end
    for piece in pieces:
        first, last = _claim_window(piece.block.vintage, months)
        if start <= last and first <= end:
            continue
        project = piece.block.stream.project
        serials = piece.take.format(
            project.country, project.code, piece.block.stream.unit_kind, piece.block.vintage
        )
        raise RuleViolation.of(
            "R16",
            _(
                "Units %(serials)s were produced in %(year)s; a claim period from %(start)s to "
                "%(end)s lies outside %(first)s to %(last)s (R16)."
            )
            % {
                "serials": serials,
                "year": piece.block.vintage // 100,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "first": first.isoformat(),
                "last": last.isoformat(),
            },
            field="claim_period_start",
            reason="claim_period_outside_production",
            serials=serials,
            vintage=piece.block.vintage,
            claim_period=[start.isoformat(), end.isoformat()],
            window=[first.isoformat(), last.isoformat()],
            window_months=months,
        )


CATALOGUE: tuple[Rule, ...] = (
    Rule(
        "R1",
        _("One underlying unit, one instrument, across all mechanisms."),
        REJECT,
        "registry rule catalogue; invariant I3 (docs/architecture.md)",
        enforced_by="database: exclusion constraint one_live_claim_per_unit (I3), derived units",
        effects=lambda: {"issuance": REJECT},
    ),
    Rule(
        "R2",
        _("Metering periods of a stream never overlap; issued never exceeds produced."),
        REJECT,
        "registry rule catalogue; invariants I1, I2, I6 (docs/architecture.md)",
        enforced_by="database: period and serial exclusion constraints, claim_inside_production",
        effects=lambda: {"production": REJECT, "issuance": REJECT},
    ),
    Rule(
        "R3",
        _("No CCER for a project inside an ETS-covered entity's emission boundary."),
        REJECT,
        "CCER rules (MEE 2023)",
        mechanisms=("CCER",),
        enforced_by="issuance.rules (unit_claim_issue)",
        issuance_check=_r3_ccer_inside_ets_boundary,
        effects=lambda: {"issuance": REJECT},
    ),
    Rule(
        "R4",
        _("No CCER and energy-use rights on the same saved energy."),
        REJECT,
        "registry rule catalogue",
        mechanisms=("CCER", "EUR"),
        enforced_by="R1 when both claim the same saved tce; issuance.rules refuses CCER from the "
        "savings of a project under energy-use-rights control or holding energy-use rights",
        issuance_check=_r4_energy_use_rights,
        effects=lambda: {"issuance": REJECT},
    ),
    Rule(
        "R5",
        _("An ETS-covered entity should not also trade energy-use rights."),
        FLAG,
        "registry rule catalogue (policy proposal)",
        mechanisms=("EUR",),
        configurable=True,
        enforced_by="issuance.rules flags energy-use rights issued inside an ETS boundary",
        issuance_check=_r5_ets_entity_trading_energy_use_rights,
        effects=lambda: {"issuance": FLAG},
    ),
    Rule(
        "R6",
        _("I-REC and TIGR not for subsidised projects; no I-REC for China after 2024-12-31."),
        REJECT,
        "I-REC Standard; TIGR",
        mechanisms=("IREC", "TIGR", "GEC"),
        enforced_by="issuance.rules refuses I-REC/TIGR for subsidised projects and I-REC for "
        "Chinese generation after the cut-off; a subsidised project's first GEC sale is flagged "
        "as forfeiting the subsidy",
        issuance_check=_r6_irec_tigr_eligibility,
        transfer_check=_r6_subsidy_forfeited_on_first_sale,
        effects=lambda: {"issuance": REJECT, "transfer": FLAG},
    ),
    Rule(
        "R7",
        _("GEC-CCER link: CCER registration freezes untraded GECs; CCER issuance cancels them."),
        REJECT,
        "NDRC/NEA 2025 GEC rules",
        mechanisms=("GEC", "CCER"),
        enforced_by="issuance.services: project_mechanism_register freezes untraded GECs, CCER "
        "issuance cancels the frozen GECs on its MWh (tracking.services.claim_part_cancel) and "
        "fails on traded or retired ones; issuance.rules refuses GEC during a CCER registration; "
        "tracking.services refuses unfreezing them",
        issuance_check=_r7_no_gec_under_ccer_registration,
        effects=lambda: {"issuance": REJECT, "unfreeze": REJECT},
    ),
    Rule(
        "R8",
        _(
            "Local credits and CCER, other voluntary schemes, green power trading or GEC exclude "
            "each other on a project's output, whichever comes first."
        ),
        REJECT,
        "local carbon inclusion rules",
        mechanisms=R8_LOCAL_CREDITS + R8_EXCLUDING_MECHANISMS,
        enforced_by="issuance.rules, both ways: local credits (PHCER, BFCER) refused for a "
        "project with live CCER, VCU, VER, GEC, I-REC or TIGR claims, and those refused for a "
        "project with live local credits",
        issuance_check=_r8_local_credit_exclusions,
        effects=lambda: {"issuance": REJECT},
    ),
    Rule(
        "R9",
        _("Only held, active units move; a GEC may be traded once."),
        REJECT,
        "registry rule catalogue",
        enforced_by="tracking.services (block selection, max_transfers; units past their "
        "expiry at the transaction's time never move: units_expired)",
        effects=lambda: {"transfer": REJECT},
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
        enforced_by=(
            "compliance.rules in units_surrender (CCER share per scheme, projects under "
            "allowance management, CCER issued before the cut-off); retirement check (no "
            "ets_compliance retirement outside a surrender); over-surrender refused always "
            "(service and database trigger)"
        ),
        retirement_check=_r10_compliance_only_by_surrender,
        effects=lambda: {"surrender": REJECT, "retirement": REJECT},
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
        effects=lambda: {
            "issuance": REJECT,
            "retirement": settings.REGISTRY_R11_LATE_CANCELLATION_EFFECT,
        },
    ),
    Rule(
        "R12",
        _("Retirement is final: one beneficiary, never moves again."),
        REJECT,
        "registry rule catalogue; invariant I5 (docs/architecture.md)",
        enforced_by="database: final_blocks_never_change trigger, immutable retirements",
        effects=lambda: {"transfer": REJECT, "retirement": REJECT},
    ),
    Rule(
        "R13",
        _("Issuance needs a valid declaration of no double counting where required."),
        REJECT,
        "registry rule catalogue (policy proposal)",
        configurable=True,
        enforced_by="issuance.services (declaration coverage)",
        effects=lambda: {"issuance": REJECT},
    ),
    Rule(
        "R14",
        _(
            "Cross-border transfers need a corresponding adjustment: transfers abroad are "
            "flagged, retirement abroad before the adjustment is completed is refused."
        ),
        REJECT,
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
        effects=lambda: {
            "transfer": FLAG,
            "retirement": settings.REGISTRY_R14_RETIREMENT_EFFECT,
            "retirement_without_adjustment": FLAG,
        },
    ),
    Rule(
        "R15",
        _("Output already certified in another registry."),
        REJECT,
        "double issuance across registries",
        configurable=True,
        enforced_by=(
            "issuance.rules (unit_claim_issue) against linked external issuances imported by "
            "interop; flag only for REGISTRY_EXTERNAL_OVERLAP_FLAG_ONLY mechanisms; imports "
            "and confirmed matches that duplicate a live issuance are flagged (interop.services)"
        ),
        issuance_check=_r15_certified_elsewhere,
        effects=lambda: {
            "issuance": REJECT,
            **{
                f"issuance:{code}": FLAG
                for code in sorted(settings.REGISTRY_EXTERNAL_OVERLAP_FLAG_ONLY)
            },
            "import": FLAG,
        },
    ),
    Rule(
        "R16",
        _(
            "A retirement's claim period fits the units' production: it overlaps their "
            "production year, widened by the configured months on each side."
        ),
        REJECT,
        "double claiming across periods",
        configurable=True,
        enforced_by=(
            "issuance.rules (block_retire: code rule_violation, rule R16, reason "
            "claim_period_outside_production; the window is the vintage's calendar year "
            "widened by REGISTRY_CLAIM_WINDOW_MONTHS, default 3, on each side)"
        ),
        retirement_check=_r16_claim_period_fits_production,
        effects=lambda: {"retirement": REJECT},
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


# Flags are ledger events; services below issuance record them through registry.ledger too.
flag = record_flag


def catalogue_listing() -> list[dict[str, Any]]:
    """The catalogue as the API and the admin show it, with whether each rule is enabled."""
    return [
        {
            "id": rule.id,
            "description": str(rule.description),
            "effect": rule.enforced_effect(),
            "effects": rule.enforced_effects(),
            "mechanisms": list(rule.mechanisms),
            "source": rule.source,
            "configurable": rule.configurable,
            "enabled": rule.enabled,
            "enforced_by": rule.enforced_by,
        }
        for rule in CATALOGUE
    ]
