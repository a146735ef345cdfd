"""Writes of ETS compliance: schemes, covered entities, verified emissions, allowance
allocation and surrender (rule R10).

Allowances are serialised like every other unit: an allocation allocates serials on the
scheme's budget stream (under the stream's advisory lock, as issuance does) and the CEA
mechanism claims them at once into the entity's compliance account, so balances, transfers,
verification and the ledger treat them as any unit. Every service that touches an entity's
compliance year locks the entity's compliance account first (surrenders, allocations, verified
figures), so they queue per entity and never see each other half done.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from accounts.models import HoldingAccount, Organisation, User
from accounts.services import holding_account_open
from compliance import rules as compliance_rules
from compliance.models import (
    Allocation,
    ComplianceScheme,
    CoveredEntity,
    Surrender,
    VerifiedEmission,
)
from compliance.selectors import (
    Surrendered,
    allowance_vintage,
    budget_stream,
    compliance_year_period,
    current_verified_emission,
    surrendered_for,
)
from registry import serials as serial_numbers
from registry.errors import Conflict, DomainError, RuleViolation
from registry.ledger import record_event, record_refusal
from registry.locks import STREAM_SERIAL_ALLOCATION, advisory_xact_lock
from registry.models import LedgerEvent, Mechanism, ProductionRecord, Project, UnitClaim, UnitKind
from registry.permissions import require_account_operator, require_administrator
from registry.selectors import mechanism_resolve
from registry.services import allocate_production, project_register, validate_subdivision
from registry.transactions import retry_transaction
from tracking.models import Block, Cancellation, Retirement
from tracking.services import (
    Piece,
    _carve,
    _claim_subjects,
    _lock_accounts,
    _pieces_by_quantity,
    _ranges_payload,
    _require_active,
    _select,
)

NATIONAL_CCER_LIMIT = Decimal("5")
PILOT_CCER_LIMITS = (Decimal("5"), Decimal("10"))


# --- input ------------------------------------------------------------------------------------


def _year(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 2005 <= value <= 2100:
        raise DomainError(
            _("Compliance year %(year)s is not plausible.") % {"year": value},
            field="compliance_year",
        )
    return value


def _whole(value: Any, *, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DomainError(
            _("Give %(field)s as a whole number of at least %(minimum)s.")
            % {"field": field, "minimum": minimum},
            field=field,
        )
    return value


def _percent(value: Any) -> Decimal:
    if isinstance(value, (bool, float)):
        raise DomainError(_("Give the CCER limit as a decimal."), field="ccer_limit_percent")
    try:
        percent = Decimal(str(value))
    except InvalidOperation:
        raise DomainError(
            _("The CCER limit is not a number."), field="ccer_limit_percent"
        ) from None
    if not percent.is_finite():
        raise DomainError(_("The CCER limit is not a number."), field="ccer_limit_percent")
    return percent


def _lock_entity_account(entity: CoveredEntity) -> HoldingAccount:
    """Lock the entity's compliance account (the lock every compliance write of the entity
    takes first) and require it active."""
    account = _lock_accounts(entity.account)[entity.account_id]
    _require_active(account, field="entity")
    return account


# --- schemes and entities ---------------------------------------------------------------------


def compliance_scheme_create(
    *,
    actor: User,
    code: str,
    name: str,
    kind: str,
    province: str,
    authority: Organisation,
    ccer_limit_percent: Decimal | str | int | None = None,
    old_ccer_issued_before: dt.date | None = None,
    old_ccer_unusable_from: dt.date | None = None,
) -> ComplianceScheme:
    """Create an emissions trading scheme with its allowance budget project (administrators).

    The national ETS admits CCER for 5 % of an obligation, a pilot for 5 to 10 % (default 5);
    the check constraint ``scheme_ccer_limit_by_kind`` is the guarantee. The budget project is
    registered for the authority in ``province`` (the scheme's seat); its carbon stream carries
    every allowance's serials. One ledger event: the budget project's registration.
    """
    require_administrator(actor, _("create compliance schemes"))
    code = (code or "").strip()
    if not code or slugify(code) != code:
        raise DomainError(
            _("A scheme code is lower-case letters, digits and dashes."), field="code"
        )
    if not (name or "").strip():
        raise DomainError(_("A scheme needs a name."), field="name")
    if kind not in ComplianceScheme.Kind.values:
        raise DomainError(_("Unknown scheme kind %(kind)s.") % {"kind": kind}, field="kind")
    percent = _percent(NATIONAL_CCER_LIMIT if ccer_limit_percent is None else ccer_limit_percent)
    if percent != percent.quantize(Decimal("0.01")):
        raise DomainError(
            _("Give the CCER limit with at most two decimals."), field="ccer_limit_percent"
        )
    percent = percent.quantize(Decimal("0.01"))  # as stored, so facts read the same everywhere
    low, high = PILOT_CCER_LIMITS
    if (kind == ComplianceScheme.Kind.NATIONAL and percent != NATIONAL_CCER_LIMIT) or (
        kind == ComplianceScheme.Kind.PILOT and not low <= percent <= high
    ):
        raise DomainError(
            _(
                "The national ETS admits CCER for 5 percent of an obligation, pilots for 5 to "
                "10 percent; %(percent)s was given."
            )
            % {"percent": percent},
            code="invalid_ccer_limit",
            field="ccer_limit_percent",
        )
    issued_before = (
        old_ccer_issued_before
        or ComplianceScheme._meta.get_field("old_ccer_issued_before").get_default()
    )
    unusable_from = (
        old_ccer_unusable_from
        or ComplianceScheme._meta.get_field("old_ccer_unusable_from").get_default()
    )
    if unusable_from < issued_before:
        raise DomainError(
            _("Old CCER cannot become unusable before the day that makes them old."),
            code="invalid_period",
            field="old_ccer_unusable_from",
        )
    province = validate_subdivision(province, field="province")
    if ComplianceScheme.objects.filter(code=code).exists():
        raise Conflict(
            _("Scheme code %(code)s is taken.") % {"code": code},
            code="duplicate_code",
            field="code",
        )
    with transaction.atomic():
        project = project_register(
            actor=actor,
            owner=authority,
            name=f"Allowance budget: {name.strip()}",
            province=province,
            technology=Project.Technology.OTHER,
        )
        return ComplianceScheme.objects.create(
            code=code,
            name=name.strip(),
            kind=kind,
            ccer_limit_percent=percent,
            old_ccer_issued_before=issued_before,
            old_ccer_unusable_from=unusable_from,
            authority=authority,
            budget_project=project,
        )


def covered_entity_register(
    *, actor: User, scheme: ComplianceScheme, organisation: Organisation
) -> CoveredEntity:
    """Cover an organisation by a scheme and open its compliance account (administrators).

    One entry per organisation and scheme (unique constraint). One ledger event: the opening of
    the compliance account.
    """
    require_administrator(actor, _("register covered entities"))
    if CoveredEntity.objects.filter(scheme=scheme, organisation=organisation).exists():
        raise Conflict(
            _("%(organisation)s is already covered by %(scheme)s.")
            % {"organisation": organisation.code, "scheme": scheme.code},
            code="already_covered",
            field="organisation",
        )
    try:
        with transaction.atomic():
            account = holding_account_open(
                actor=actor, organisation=organisation, name=f"{scheme.code} compliance account"
            )
            return CoveredEntity.objects.create(
                scheme=scheme, organisation=organisation, account=account, registered_by=actor
            )
    except IntegrityError as error:  # a concurrent registration of the same pair won
        raise Conflict(
            _("%(organisation)s is already covered by %(scheme)s.")
            % {"organisation": organisation.code, "scheme": scheme.code},
            code="already_covered",
            field="organisation",
        ) from error


# --- verified emissions -----------------------------------------------------------------------


@retry_transaction()
def verified_emissions_record(
    *,
    actor: User,
    entity: CoveredEntity,
    compliance_year: int,
    quantity: int,
    verifier: str = "",
) -> VerifiedEmission:
    """Record an entity's verified emissions for a year (its obligation), administrators only.

    A second figure for the same year supersedes the first (a correction); it is refused below
    what the entity already surrendered for the year, and (R10, unless disabled) below what
    keeps the CCER already surrendered within the scheme's share.

    Writes an ``emissions.verified`` ledger event; the rows are never deleted and a superseded
    figure never changes.
    """
    require_administrator(actor, _("record verified emissions"))
    year = _year(compliance_year)
    quantity = _whole(quantity, field="quantity", minimum=0)
    try:
        with transaction.atomic():
            _lock_entity_account(entity)
            current = (
                VerifiedEmission.objects.select_for_update(of=("self",))
                .filter(entity=entity, compliance_year=year, superseded_at__isnull=True)
                .first()
            )
            surrendered = surrendered_for(entity=entity, compliance_year=year)
            if surrendered.total > quantity:
                raise Conflict(
                    _(
                        "The entity has already surrendered %(surrendered)s t for %(year)s; the "
                        "verified figure cannot be %(quantity)s t."
                    )
                    % {"surrendered": surrendered.total, "year": year, "quantity": quantity},
                    code="below_surrendered",
                    field="quantity",
                    details={"surrendered": surrendered.total},
                )
            if surrendered.ccer and compliance_rules.r10_enabled():
                compliance_rules.check_ccer_share(
                    scheme=entity.scheme,
                    obligation=quantity,
                    already_surrendered=surrendered.ccer,
                    requested=0,
                )
            if current is not None:
                VerifiedEmission.objects.filter(pk=current.pk).update(superseded_at=timezone.now())
            verified = VerifiedEmission.objects.create(
                entity=entity,
                compliance_year=year,
                quantity=quantity,
                verifier=(verifier or "").strip(),
                supersedes=current,
                recorded_by=actor,
            )
            record_event(
                kind=LedgerEvent.Kind.EMISSIONS_VERIFIED,
                actor=actor,
                subjects=[
                    f"organisation:{entity.organisation_id}",
                    f"account:{entity.account_id}",
                ],
                payload={
                    "verified_emission": verified.pk,
                    "entity": entity.pk,
                    "compliance_year": year,
                    "quantity": quantity,
                    "verifier": verified.verifier,
                    "supersedes": current.pk if current is not None else None,
                },
            )
            return verified
    except RuleViolation as refusal:
        record_refusal(
            actor=actor,
            operation="verified_emissions_record",
            error=refusal,
            attempted={"entity": entity.pk, "compliance_year": year, "quantity": quantity},
        )
        raise


# --- allocation -------------------------------------------------------------------------------


def _preallocation_quantity(entity: CoveredEntity, year: int) -> int:
    """The configured percent (70 by default) of last year's verified emissions, rounded down."""
    last_year = current_verified_emission(entity=entity, compliance_year=year - 1)
    if last_year is None:
        raise Conflict(
            _("No verified emissions of %(year)s to pre-allocate from; give the quantity.")
            % {"year": year - 1},
            code="no_verified_emissions",
            field="quantity",
        )
    share = Decimal(settings.REGISTRY_ETS_PREALLOCATION_PERCENT) / 100
    return int((last_year.quantity * share).to_integral_value(rounding=ROUND_DOWN))


def _allowances_of_year(
    *, account: HoldingAccount, cea: Mechanism, scheme: ComplianceScheme, year: int, quantity: int
) -> list[Piece]:
    """Lock the account's active allowances of the scheme and compliance year, serial order."""
    try:
        return _pieces_by_quantity(
            account=account,
            mechanism=cea,
            quantity=quantity,
            for_transfer=False,
            narrow=Q(stream=budget_stream(scheme), vintage=allowance_vintage(year)),
        )
    except Conflict as shortfall:
        if shortfall.code != "insufficient_units":
            raise
        available = shortfall.details.get("available", 0)
        raise Conflict(
            _(
                "Account %(account)s holds %(available)s allowances of %(scheme)s for compliance "
                "year %(year)s; %(quantity)s are needed."
            )
            % {
                "account": account.number,
                "available": available,
                "scheme": scheme.code,
                "year": year,
                "quantity": quantity,
            },
            code="insufficient_allowances",
            field="quantity",
            details={"available": available, "requested": quantity},
        ) from None


def _allocate_units(
    *,
    actor: User,
    entity: CoveredEntity,
    account: HoldingAccount,
    cea: Mechanism,
    year: int,
    quantity: int,
) -> UnitClaim:
    """New serials on the budget stream for the year, claimed as CEA into the account."""
    scheme = entity.scheme
    stream = budget_stream(scheme)
    # As issuance: "allocate serials -> claim them" runs under the stream's advisory lock.
    advisory_xact_lock(STREAM_SERIAL_ALLOCATION, stream.pk)
    # Allowance records of a year share its period: ``allocated`` records may (several records
    # per period, none of another source); see docs/architecture.md.
    record = allocate_production(
        actor=actor,
        project=scheme.budget_project,
        unit_kind=UnitKind.CARBON,
        period=compliance_year_period(year),
        quantity=Decimal(quantity),
        source=ProductionRecord.Source.ALLOCATED,
    )
    claim = UnitClaim.objects.create(
        mechanism=cea,
        stream=record.stream,
        production_record=record,
        serials=record.serials,
        quantity=record.units,
        vintage=record.vintage,
        role=UnitClaim.Role.DIRECT,
        account=account,
        issued_by=actor,
    )
    Block.objects.create(
        claim=claim,
        mechanism=cea,
        stream=record.stream,
        account=account,
        serials=claim.serials,
        quantity=claim.quantity,
        vintage=claim.vintage,
    )
    return claim


@retry_transaction()
def allowances_allocate(
    *,
    actor: User,
    entity: CoveredEntity,
    compliance_year: int,
    kind: str,
    quantity: int | None = None,
    basis: str = "",
) -> Allocation:
    """Allocate allowances of a compliance year to a covered entity (administrators).

    A pre-allocation (once per entity and year; without a quantity: the configured percent of
    the entity's verified emissions of the year before) or a final adjustment after
    verification: upwards it allocates more, downwards it takes allowances of that year back
    from the entity's account (cancelled), refused with ``insufficient_allowances`` (409) when the
    account no longer holds enough. One ledger event (``allowances.allocated``).
    """
    require_administrator(actor, _("allocate allowances"))
    year = _year(compliance_year)
    if kind not in Allocation.Kind.values:
        raise DomainError(_("Unknown allocation kind %(kind)s.") % {"kind": kind}, field="kind")
    pre = kind == Allocation.Kind.PRE_ALLOCATION
    if quantity is None and pre:
        quantity = _preallocation_quantity(entity, year)
        basis = basis or (
            f"{settings.REGISTRY_ETS_PREALLOCATION_PERCENT} % of verified emissions of {year - 1}"
        )
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity == 0:
        raise DomainError(_("Give the quantity as a whole number, not zero."), field="quantity")
    if pre and quantity < 0:
        raise DomainError(
            _("A pre-allocation gives allowances; it cannot be negative."), field="quantity"
        )
    scheme = entity.scheme
    cea = mechanism_resolve("CEA")
    with transaction.atomic():
        account = _lock_entity_account(entity)
        if (
            pre
            and Allocation.objects.filter(
                entity=entity, compliance_year=year, kind=Allocation.Kind.PRE_ALLOCATION
            ).exists()
        ):
            raise Conflict(
                _("The entity already has its pre-allocation for %(year)s.") % {"year": year},
                code="already_pre_allocated",
                field="kind",
            )
        if not pre and current_verified_emission(entity=entity, compliance_year=year) is None:
            raise Conflict(
                _("A final adjustment follows verification; %(year)s has no verified figure.")
                % {"year": year},
                code="no_verified_emissions",
                field="compliance_year",
            )
        claim = cancellation = None
        pieces: list[Piece] = []
        if quantity > 0:
            claim = _allocate_units(
                actor=actor, entity=entity, account=account, cea=cea, year=year, quantity=quantity
            )
        else:
            pieces = _allowances_of_year(
                account=account, cea=cea, scheme=scheme, year=year, quantity=-quantity
            )
            cancellation = Cancellation.objects.create(
                mechanism=cea,
                account=account,
                quantity=-quantity,
                reason=f"Final adjustment of {scheme.code} allocation for {year}",
                actor=actor,
            )
            for piece in pieces:
                _carve(
                    piece.block,
                    piece.take,
                    status=Block.Status.CANCELLED,
                    cancellation_id=cancellation.pk,
                )
        allocation = Allocation.objects.create(
            entity=entity,
            compliance_year=year,
            kind=kind,
            quantity=quantity,
            claim=claim,
            cancellation=cancellation,
            basis=(basis or "").strip()[:500],
            actor=actor,
        )
        if claim is not None:
            project = scheme.budget_project
            ranges = [
                {
                    "claim": claim.pk,
                    "serials": serial_numbers.SerialRange(
                        claim.serials.lower, claim.serials.upper
                    ).format(project.country, project.code, UnitKind.CARBON, claim.vintage),
                }
            ]
            claim_subjects = [f"claim:{claim.pk}"]
        else:
            ranges = _ranges_payload(pieces)
            claim_subjects = _claim_subjects(pieces)
        record_event(
            kind=LedgerEvent.Kind.ALLOWANCES_ALLOCATED,
            actor=actor,
            subjects=[
                f"allocation:{allocation.pk}",
                f"covered_entity:{entity.pk}",
                f"account:{account.pk}",
                *claim_subjects,
            ],
            payload={
                "allocation": allocation.pk,
                "scheme": scheme.code,
                "organisation": entity.organisation.code,
                "account": account.number,
                "compliance_year": year,
                "kind": kind,
                "quantity": quantity,
                "basis": allocation.basis,
                "cancellation": str(cancellation.public_id) if cancellation else None,
                "ranges": ranges,
            },
        )
    return allocation


# --- surrender --------------------------------------------------------------------------------


def _retire_for_compliance(
    *,
    actor: User,
    entity: CoveredEntity,
    account: HoldingAccount,
    mechanism: Mechanism,
    year: int,
    pieces: list[Piece],
) -> Retirement:
    """One retirement of purpose ``ets_compliance`` over the pieces; final, as any retirement."""
    retirement = Retirement.objects.create(
        mechanism=mechanism,
        account=account,
        quantity=sum(piece.take.length for piece in pieces),
        beneficiary_name=entity.organisation.name,
        beneficiary_organisation=entity.organisation.code,
        purpose=Retirement.Purpose.ETS,
        claim_period_start=dt.date(year, 1, 1),
        claim_period_end=dt.date(year, 12, 31),
        location=entity.scheme.budget_project.province,
        reporting_year=year,
        actor=actor,
    )
    for piece in pieces:
        _carve(piece.block, piece.take, status=Block.Status.RETIRED, retirement_id=retirement.pk)
    return retirement


def _require_within_obligation(
    figure: VerifiedEmission, before: Surrendered, requested: int
) -> None:
    remaining = figure.quantity - before.total
    if requested > remaining:
        raise Conflict(
            _(
                "%(requested)s t exceed what remains of the %(year)s obligation: "
                "%(remaining)s t of %(obligation)s t."
            )
            % {
                "requested": requested,
                "year": figure.compliance_year,
                "remaining": remaining,
                "obligation": figure.quantity,
            },
            code="exceeds_obligation",
            field="allowance_quantity",
            details={"obligation": figure.quantity, "remaining": remaining},
        )


@retry_transaction()
def units_surrender(
    *,
    actor: User,
    entity: CoveredEntity,
    compliance_year: int,
    allowance_quantity: int,
    ccer_quantity: int = 0,
    ccer_serial_range: str | None = None,
    now: dt.datetime | None = None,
) -> Surrender:
    """Surrender allowances and CCERs from the entity's compliance account for a year.

    Allowances are those of the scheme and of that compliance year only (banking is not
    modelled), taken in serial order; CCERs by quantity (serial order) or by one serial range.
    Refused: no verified figure (``no_verified_emissions``), more than the remaining obligation
    (``exceeds_obligation``), fewer units held than asked; and, under R10 unless it is disabled,
    CCER beyond the scheme's percent of the obligation (cumulative over the year's surrenders;
    exactly at the limit is accepted), CCER from a project under allowance management, CCER
    issued before the scheme's cut-off used on or after its not-usable-from day. An R10 refusal
    leaves one refused-attempt event and nothing else. Success retires the units (one retirement
    per mechanism, purpose ``ets_compliance``) and writes one ``units.surrendered`` event.

    ``now`` is the moment the cut-off is judged at (tests, replays); the API never passes it.
    """
    require_account_operator(actor, entity.account)
    year = _year(compliance_year)
    allowance_quantity = _whole(allowance_quantity, field="allowance_quantity", minimum=0)
    ccer_quantity = _whole(ccer_quantity or 0, field="ccer_quantity", minimum=0)
    ccer_serial_range = ccer_serial_range or None
    if ccer_serial_range is not None and ccer_quantity:
        raise DomainError(
            _("Give either a CCER quantity or a CCER serial range, not both."),
            field="ccer_quantity",
        )
    if not allowance_quantity and not ccer_quantity and ccer_serial_range is None:
        raise DomainError(
            _("A surrender needs allowances or CCERs."),
            code="nothing_to_surrender",
            field="allowance_quantity",
        )
    moment = now or timezone.now()
    scheme = entity.scheme
    attempted = {
        "entity": entity.pk,
        "scheme": scheme.code,
        "account": entity.account.number,
        "compliance_year": year,
        "allowance_quantity": allowance_quantity,
        "ccer_quantity": ccer_quantity,
        "ccer_serial_range": ccer_serial_range,
    }
    try:
        with transaction.atomic():
            account = _lock_entity_account(entity)
            figure = current_verified_emission(entity=entity, compliance_year=year)
            if figure is None:
                raise Conflict(
                    _("%(year)s has no verified emissions to surrender for.") % {"year": year},
                    code="no_verified_emissions",
                    field="compliance_year",
                )
            before = surrendered_for(entity=entity, compliance_year=year)
            # Before any block is locked, so a late surrender hears about the obligation.
            _require_within_obligation(figure, before, allowance_quantity + ccer_quantity)
            cea_pieces: list[Piece] = []
            if allowance_quantity:
                cea_pieces = _allowances_of_year(
                    account=account,
                    cea=mechanism_resolve("CEA"),
                    scheme=scheme,
                    year=year,
                    quantity=allowance_quantity,
                )
            ccer = mechanism_resolve("CCER")
            ccer_pieces: list[Piece] = []
            if ccer_quantity or ccer_serial_range is not None:
                ccer_pieces = _select(
                    account=account,
                    mechanism=ccer,
                    quantity=ccer_quantity or None,
                    serial_range=ccer_serial_range,
                    for_transfer=False,
                )
            ccer_taken = sum(piece.take.length for piece in ccer_pieces)
            # Again with the CCER of a serial range, now that their number is known.
            _require_within_obligation(figure, before, allowance_quantity + ccer_taken)
            if ccer_pieces and compliance_rules.r10_enabled():
                compliance_rules.check_ccer_share(
                    scheme=scheme,
                    obligation=figure.quantity,
                    already_surrendered=before.ccer,
                    requested=ccer_taken,
                )
                compliance_rules.check_ccer_units(scheme=scheme, pieces=ccer_pieces, moment=moment)
            retirements = {}
            for mechanism_code, pieces in (("CEA", cea_pieces), ("CCER", ccer_pieces)):
                if pieces:
                    retirements[mechanism_code] = _retire_for_compliance(
                        actor=actor,
                        entity=entity,
                        account=account,
                        mechanism=mechanism_resolve(mechanism_code),
                        year=year,
                        pieces=pieces,
                    )
            surrender = Surrender.objects.create(
                entity=entity,
                compliance_year=year,
                verified_emission=figure,
                obligation=figure.quantity,
                ccer_limit_percent=scheme.ccer_limit_percent,
                allowance_quantity=allowance_quantity,
                ccer_quantity=ccer_taken,
                allowance_retirement=retirements.get("CEA"),
                ccer_retirement=retirements.get("CCER"),
                actor=actor,
            )
            all_pieces = [*cea_pieces, *ccer_pieces]
            record_event(
                kind=LedgerEvent.Kind.UNITS_SURRENDERED,
                actor=actor,
                subjects=[
                    f"surrender:{surrender.pk}",
                    f"covered_entity:{entity.pk}",
                    f"account:{account.pk}",
                    *(f"retirement:{item.pk}" for item in retirements.values()),
                    *_claim_subjects(all_pieces),
                ],
                payload={
                    "surrender": str(surrender.public_id),
                    "scheme": scheme.code,
                    "organisation": entity.organisation.code,
                    "account": account.number,
                    "compliance_year": year,
                    "obligation": figure.quantity,
                    "allowance_quantity": allowance_quantity,
                    "ccer_quantity": ccer_taken,
                    "ccer_limit_percent": scheme.ccer_limit_percent,
                    "surrendered_for_year": before.total + allowance_quantity + ccer_taken,
                    "retirements": {
                        code: str(item.public_id) for code, item in retirements.items()
                    },
                    "ranges": _ranges_payload(all_pieces),
                },
            )
    except RuleViolation as refusal:
        record_refusal(actor=actor, operation="units_surrender", error=refusal, attempted=attempted)
        raise
    return surrender
