"""The life of certificate blocks: transfer, retirement, cancellation, freezing, revocation and
expiry.

Every service locks the rows it changes in primary-key order (accounts, then blocks), re-checks
their state under the lock, splits blocks at the serials it moves, and writes one ledger event,
all in one transaction. The block exclusion constraint (I4) and the final-status trigger (I5)
remain the guarantee underneath.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.backends.postgresql.psycopg_any import NumericRange
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import HoldingAccount, Organisation, User
from accounts.selectors import account_resolve, organisation_resolve
from registry import serials as serial_numbers
from registry.errors import Conflict, DomainError, NotFound, RuleViolation
from registry.ledger import record_event, record_flag, record_refusal
from registry.models import (
    LedgerEvent,
    Mechanism,
    Project,
    Stream,
    UnitClaim,
)
from registry.permissions import require_account_operator, require_administrator
from registry.selectors import active_registration, mechanism_resolve
from registry.services import validate_subdivision
from registry.transactions import retry_transaction
from tracking import checks
from tracking.models import (
    ADJUSTMENT_STEPS,
    FINAL_STATUSES,
    Block,
    Cancellation,
    CorrespondingAdjustment,
    NeutralityEvent,
    Retirement,
    RetirementAllocation,
    Transfer,
)

SELECTION_PAGE_LIMIT = 512


@dataclass(frozen=True)
class Piece:
    """Part of a locked block that an operation takes."""

    block: Block
    take: serial_numbers.SerialRange


def _lock_accounts(*accounts: HoldingAccount) -> dict[int, HoldingAccount]:
    ids = sorted({account.pk for account in accounts})
    locked = HoldingAccount.objects.select_for_update(of=("self",)).filter(pk__in=ids)
    return {account.pk: account for account in locked.order_by("pk")}


def _require_active(account: HoldingAccount, *, field: str) -> None:
    if account.status != HoldingAccount.Status.ACTIVE:
        raise Conflict(
            _("Account %(account)s is %(status)s.")
            % {"account": account.number, "status": account.get_status_display()},
            code="account_not_active",
            field=field,
        )


def _transferable(mechanism: Mechanism, block: Block) -> bool:
    return mechanism.max_transfers is None or block.transfer_count < mechanism.max_transfers


def _quantity(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DomainError(_("Quantity must be a positive whole number of units."), field="quantity")
    return value


def _parse_range(text: Any) -> tuple[Stream, serial_numbers.ParsedRange]:
    if not isinstance(text, str):
        raise DomainError(
            _("Give the serial range as text."), code="malformed_serial", field="serial_range"
        )
    try:
        parsed = serial_numbers.parse_range(text)
    except serial_numbers.SerialError as error:
        raise DomainError(str(error), code=error.code, field="serial_range") from None
    stream = (
        Stream.objects.select_related("project")
        .filter(
            project__code=parsed.project_code,
            unit_kind=parsed.unit_kind,
            project__country=parsed.country,
        )
        .first()
    )
    if stream is None:
        raise NotFound(
            _("No project stream has serials %(range)s.") % {"range": text},
            code="unknown_serial",
            field="serial_range",
        )
    return stream, parsed


def _pieces_by_quantity(
    *,
    account: HoldingAccount,
    mechanism: Mechanism,
    quantity: int,
    for_transfer: bool,
    narrow: Q | None = None,
) -> list[Piece]:
    """Lock enough active blocks, taken in serial order, to cover ``quantity`` units.

    The caller holds the account's row lock, and every service that moves an account's units
    takes it first, so the blocks can be locked as they are read, in serial order, in growing
    pages from the ``block_holding`` index: a holder with a million blocks pays for the first
    few. Services that lock blocks without the account (revocation, freezing, expiry) may meet
    these locks in another order; PostgreSQL then aborts one side and it runs again whole.
    Under READ COMMITTED a block changed meanwhile is re-read and dropped if no longer active.
    ``narrow`` restricts the candidates further (e.g. allowances of one compliance year).
    """
    candidates = Block.objects.filter(
        account=account, mechanism=mechanism, status=Block.Status.ACTIVE
    )
    if narrow is not None:
        candidates = candidates.filter(narrow)
    if for_transfer and mechanism.max_transfers is not None:
        candidates = candidates.filter(transfer_count__lt=mechanism.max_transfers)
    ordered = (
        candidates.select_for_update(of=("self",))
        .select_related("stream__project")
        .order_by("stream_id", "serials")
    )
    pieces: list[Piece] = []
    remaining = quantity
    offset = 0
    # One block nearly always suffices: start with a page of one and grow it eightfold, so a
    # transfer locks only about as many blocks as it needs.
    page_size = 1
    while remaining:
        page = list(ordered[offset : offset + page_size])
        for block in page:
            take = min(remaining, block.quantity)
            pieces.append(
                Piece(
                    block,
                    serial_numbers.SerialRange(block.serials.lower, block.serials.lower + take),
                )
            )
            remaining -= take
            if not remaining:
                break
        if len(page) < page_size:
            break
        offset += page_size
        page_size = min(page_size * 8, SELECTION_PAGE_LIMIT)
    if remaining:
        _refuse_insufficient(
            account=account,
            mechanism=mechanism,
            quantity=quantity,
            available=quantity - remaining,
            for_transfer=for_transfer,
            narrow=narrow,
        )
    return pieces


def _refuse_insufficient(
    *,
    account: HoldingAccount,
    mechanism: Mechanism,
    quantity: int,
    available: int,
    for_transfer: bool,
    narrow: Q | None = None,
) -> None:
    if for_transfer and mechanism.max_transfers is not None:
        past_limit = Block.objects.filter(
            account=account,
            mechanism=mechanism,
            status=Block.Status.ACTIVE,
            transfer_count__gte=mechanism.max_transfers,
        )
        if narrow is not None:
            past_limit = past_limit.filter(narrow)
        traded = past_limit.aggregate(total=Sum("quantity"))["total"] or 0
        if available + traded >= quantity:
            raise RuleViolation.of(
                "R9",
                _(
                    "%(mechanism)s may be transferred %(limit)s time(s); %(traded)s of the units "
                    "in account %(account)s have reached that limit (R9)."
                )
                % {
                    "mechanism": mechanism.code,
                    "limit": mechanism.max_transfers,
                    "traded": traded,
                    "account": account.number,
                },
                field="quantity",
                reason="transfer_limit_reached",
                account=account.number,
                transfer_limit=mechanism.max_transfers,
                transferable=available,
                past_limit=traded,
            )
    raise Conflict(
        _(
            "Account %(account)s holds %(available)s active %(mechanism)s units; %(quantity)s "
            "requested."
        )
        % {
            "account": account.number,
            "available": available,
            "mechanism": mechanism.code,
            "quantity": quantity,
        },
        code="insufficient_units",
        field="quantity",
        details={"available": available, "requested": quantity},
    )


def _pieces_by_range(
    *,
    account: HoldingAccount,
    mechanism: Mechanism,
    serial_range: str,
    for_transfer: bool,
    project: Project | None = None,
    vintage: int | None = None,
) -> list[Piece]:
    """Lock the account's blocks covering exactly the given serial range, all active; with
    ``project`` or ``vintage``, the range must be of that project and vintage."""
    stream, parsed = _parse_range(serial_range)
    if (project is not None and stream.project_id != project.pk) or (
        vintage is not None and parsed.vintage != vintage
    ):
        raise Conflict(
            _("Serials %(range)s are not units of the project and vintage asked for.")
            % {"range": serial_range},
            code="units_not_held",
            field="serial_range",
        )
    wanted = parsed.serial_range
    locked = list(
        Block.objects.select_for_update(of=("self",))
        .filter(stream=stream, serials__overlap=NumericRange(wanted.lower, wanted.upper, "[)"))
        .filter(claim__status=UnitClaim.Status.LIVE)
        .select_related("stream__project")
        .order_by("pk")
    )
    covered = 0
    pieces = []
    for block in sorted(locked, key=lambda block: block.serials.lower):
        if block.account_id != account.pk or block.mechanism_id != mechanism.pk:
            raise Conflict(
                _("Serials %(range)s are not all %(mechanism)s units held in account %(account)s.")
                % {"range": serial_range, "mechanism": mechanism.code, "account": account.number},
                code="units_not_held",
                field="serial_range",
            )
        if block.vintage != parsed.vintage:
            # The vintage is part of a serial's identity: a mismatch is a mistyped serial.
            raise DomainError(
                _("Serials %(range)s are of vintage %(vintage)s, not %(given)s.")
                % {"range": serial_range, "vintage": block.vintage, "given": parsed.vintage},
                code="serial_vintage_mismatch",
                field="serial_range",
            )
        if block.status != Block.Status.ACTIVE:
            # R12 for retired units (final), R9 for anything else that may not move.
            raise RuleViolation.of(
                "R12" if block.status == Block.Status.RETIRED else "R9",
                _("Units %(range)s are %(status)s and cannot move.")
                % {"range": serial_range, "status": str(block.get_status_display()).lower()},
                field="serial_range",
                reason="units_not_transferable",
                block=block.pk,
                status=block.status,
            )
        if for_transfer and not _transferable(mechanism, block):
            raise RuleViolation.of(
                "R9",
                _("%(mechanism)s may be transferred %(limit)s time(s); these units have been (R9).")
                % {"mechanism": mechanism.code, "limit": mechanism.max_transfers},
                field="serial_range",
                reason="transfer_limit_reached",
                block=block.pk,
                transfer_count=block.transfer_count,
                transfer_limit=mechanism.max_transfers,
            )
        take = serial_numbers.SerialRange(block.serials.lower, block.serials.upper).intersection(
            wanted
        )
        covered += take.length
        pieces.append(Piece(block, take))
    if covered != wanted.length:
        raise Conflict(
            _("Account %(account)s does not hold all of %(range)s.")
            % {"account": account.number, "range": serial_range},
            code="units_not_held",
            field="serial_range",
        )
    return pieces


def _select(
    *,
    account: HoldingAccount,
    mechanism: Mechanism,
    quantity: Any,
    serial_range: Any,
    for_transfer: bool,
    project: Project | None = None,
    vintage: int | None = None,
) -> list[Piece]:
    """The pieces an operation takes, by quantity (serial order) or by range; ``project`` and
    ``vintage``, when given, restrict the units to those of that project and vintage."""
    if (quantity is None) == (serial_range is None):
        raise DomainError(
            _("Give either a quantity or a serial range, not both or neither."), field="quantity"
        )
    if quantity is not None:
        narrow = None
        if project is not None or vintage is not None:
            narrow = Q()
            if project is not None:
                narrow &= Q(stream__project=project)
            if vintage is not None:
                narrow &= Q(vintage=vintage)
        return _pieces_by_quantity(
            account=account,
            mechanism=mechanism,
            quantity=_quantity(quantity),
            for_transfer=for_transfer,
            narrow=narrow,
        )
    return _pieces_by_range(
        account=account,
        mechanism=mechanism,
        serial_range=serial_range,
        for_transfer=for_transfer,
        project=project,
        vintage=vintage,
    )


_COPIED_FIELDS = (
    "claim_id",
    "mechanism_id",
    "stream_id",
    "account_id",
    "vintage",
    "status",
    "transfer_count",
    "expires_at",
    "retirement_id",
    "cancellation_id",
)


def _carve(block: Block, take: serial_numbers.SerialRange, **changes: Any) -> Block:
    """Apply ``changes`` to the units ``take`` of a locked block, splitting it if needed.

    The original row keeps the first remaining part; other parts become new rows. Ranges never
    overlap at any moment, so the exclusion constraint holds throughout.
    """
    whole = serial_numbers.SerialRange(block.serials.lower, block.serials.upper)
    if take == whole:
        for name, value in changes.items():
            setattr(block, name, value)
        block.save(update_fields=[name.removesuffix("_id") for name in changes])
        return block
    remainders = [
        part
        for part in (
            serial_numbers.SerialRange(whole.lower, take.lower)
            if take.lower > whole.lower
            else None,
            serial_numbers.SerialRange(take.upper, whole.upper)
            if take.upper < whole.upper
            else None,
        )
        if part is not None
    ]
    attributes = {name: getattr(block, name) for name in _COPIED_FIELDS}
    block.serials = NumericRange(remainders[0].lower, remainders[0].upper, "[)")
    block.quantity = remainders[0].length
    block.save(update_fields=["serials", "quantity"])
    new_blocks = [
        Block(
            **attributes, serials=NumericRange(part.lower, part.upper, "[)"), quantity=part.length
        )
        for part in remainders[1:]
    ]
    moved = Block(
        **{**attributes, **changes},
        serials=NumericRange(take.lower, take.upper, "[)"),
        quantity=take.length,
    )
    Block.objects.bulk_create([*new_blocks, moved])
    return moved


def _claim_subjects(pieces: Sequence[Piece]) -> list[str]:
    """The claims whose units moved, so a serial's history is found from its claim."""
    return [f"claim:{claim_id}" for claim_id in sorted({piece.block.claim_id for piece in pieces})]


def _ranges_payload(pieces: Sequence[Piece]) -> list[dict[str, Any]]:
    described = []
    for piece in pieces:
        project = piece.block.stream.project
        described.append(
            {
                "block": piece.block.pk,
                "claim": piece.block.claim_id,
                "serials": piece.take.format(
                    project.country, project.code, piece.block.stream.unit_kind, piece.block.vintage
                ),
            }
        )
    return described


def _open_corresponding_adjustments(
    *,
    actor: User,
    mechanism: Mechanism,
    source: HoldingAccount,
    target: HoldingAccount,
    transfer: Transfer,
    pieces: Sequence[Piece],
) -> list[CorrespondingAdjustment]:
    """R14, inside the transfer's transaction: units that count toward their host country's
    target and leave it for an account of another country get one not-started corresponding
    adjustment per moved range, and one rule.flagged event names them all.

    Units already abroad that move on (another country to a third) open none: the host's
    adjustment of their first departure covers them.
    """
    if not checks.host_adjustments_enabled() or not checks.counts_toward_host_target(mechanism):
        return []
    source_country = source.organisation.country
    target_country = target.organisation.country
    adjustments = []
    for piece in pieces:
        host_country = piece.block.stream.project.country
        if source_country != host_country or target_country == host_country:
            continue
        adjustments.append(
            CorrespondingAdjustment(
                transfer=transfer,
                mechanism=mechanism,
                stream_id=piece.block.stream_id,
                serials=NumericRange(piece.take.lower, piece.take.upper, "[)"),
                vintage=piece.block.vintage,
                quantity=piece.take.length,
                host_country=host_country,
                acquiring_country=target_country,
            )
        )
    if not adjustments:
        return []
    CorrespondingAdjustment.objects.bulk_create(adjustments)
    streams = {piece.block.stream_id: piece.block.stream for piece in pieces}
    described = [
        {
            "adjustment": adjustment.pk,
            "serials": adjustment.serial_range().format(
                adjustment.host_country,
                streams[adjustment.stream_id].project.code,
                streams[adjustment.stream_id].unit_kind,
                adjustment.vintage,
            ),
            "host_country": adjustment.host_country,
            "acquiring_country": adjustment.acquiring_country,
            "status": adjustment.status,
        }
        for adjustment in adjustments
    ]
    record_flag(
        "R14",
        _(
            "%(quantity)s %(mechanism)s units counting toward a host country's target moved to "
            "%(country)s: the host must make a corresponding adjustment (R14)."
        )
        % {
            "quantity": sum(adjustment.quantity for adjustment in adjustments),
            "mechanism": mechanism.code,
            "country": target_country,
        },
        actor=actor,
        subjects=[
            f"transfer:{transfer.pk}",
            *(f"adjustment:{adjustment.pk}" for adjustment in adjustments),
        ],
        transfer=str(transfer.public_id),
        adjustments=described,
    )
    return adjustments


@retry_transaction()
def block_transfer(
    *,
    actor: User,
    source_account: HoldingAccount | str,
    target_account: HoldingAccount | str,
    mechanism: Mechanism | str,
    quantity: int | None = None,
    serial_range: str | None = None,
    idempotency_key: str | None = None,
    project: Project | None = None,
    vintage: int | None = None,
) -> Transfer:
    """Move units of one mechanism between two accounts, by quantity (serial order) or range.

    Refuses: another organisation's account, frozen or closed accounts on either side, fewer
    active units than asked, retired / cancelled / expired / frozen units, and units that have
    reached the mechanism's transfer limit (a GEC may be traded once). All or nothing.
    A repeated ``idempotency_key`` of the same actor returns the first transfer unchanged.
    ``project`` and ``vintage`` restrict the units moved to those of one project and vintage
    (YYYYMM), as green power settlement needs: fewer such units than asked is refused.
    """
    mechanism = mechanism_resolve(mechanism)
    source = account_resolve(source_account, field="source_account")
    target = account_resolve(target_account, field="target_account")
    require_account_operator(actor, source)
    if source.pk == target.pk:
        raise DomainError(
            _("Source and target accounts are the same."),
            code="same_account",
            field="target_account",
        )
    if idempotency_key:
        earlier = Transfer.objects.filter(actor=actor, idempotency_key=idempotency_key).first()
        if earlier is not None:
            return earlier
    try:
        with transaction.atomic():
            locked_accounts = _lock_accounts(source, target)
            _require_active(locked_accounts[source.pk], field="source_account")
            _require_active(locked_accounts[target.pk], field="target_account")
            pieces = _select(
                account=source,
                mechanism=mechanism,
                quantity=quantity,
                serial_range=serial_range,
                for_transfer=True,
                project=project,
                vintage=vintage,
            )
            checks.run_transfer_checks(
                actor=actor, mechanism=mechanism, source=source, target=target, pieces=pieces
            )
            moved_quantity = sum(piece.take.length for piece in pieces)
            ranges = _ranges_payload(pieces)
            moved_ranges = [
                [piece.block.stream_id, piece.take.lower, piece.take.upper] for piece in pieces
            ]
            transfer = Transfer.objects.create(
                mechanism=mechanism,
                source_account=source,
                target_account=target,
                quantity=moved_quantity,
                serial_ranges=moved_ranges,
                actor=actor,
                idempotency_key=idempotency_key or None,
            )
            for piece in pieces:
                _carve(
                    piece.block,
                    piece.take,
                    account_id=target.pk,
                    transfer_count=piece.block.transfer_count + 1,
                )
            _open_corresponding_adjustments(
                actor=actor,
                mechanism=mechanism,
                source=source,
                target=target,
                transfer=transfer,
                pieces=pieces,
            )
            record_event(
                kind=LedgerEvent.Kind.UNITS_TRANSFERRED,
                actor=actor,
                subjects=[
                    f"transfer:{transfer.pk}",
                    f"account:{source.pk}",
                    f"account:{target.pk}",
                    *_claim_subjects(pieces),
                ],
                payload={
                    "transfer": str(transfer.public_id),
                    "mechanism": mechanism.code,
                    "from": source.number,
                    "to": target.number,
                    "quantity": moved_quantity,
                    "ranges": ranges,
                },
            )
    except RuleViolation as refusal:
        record_refusal(
            actor=actor,
            operation="block_transfer",
            error=refusal,
            attempted={
                "mechanism": mechanism.code,
                "from": source.number,
                "to": target.number,
                "quantity": quantity,
                "serial_range": serial_range,
                **({"project": project.code} if project is not None else {}),
                **({"vintage": vintage} if vintage is not None else {}),
            },
        )
        raise
    except IntegrityError:
        if idempotency_key:
            earlier = Transfer.objects.filter(actor=actor, idempotency_key=idempotency_key).first()
            if earlier is not None:
                return earlier
        raise
    return transfer


RETIREMENT_PURPOSES = Retirement.Purpose.values


def _retirement_event(*, purpose: str, event: Any) -> NeutralityEvent | None:
    """The event a retirement names: required for purpose "event", refused for any other."""
    if event is None:
        if purpose == Retirement.Purpose.EVENT:
            raise DomainError(
                _("A retirement for an event must name the event."),
                code="event_required",
                field="event",
            )
        return None
    if purpose != Retirement.Purpose.EVENT:
        raise DomainError(
            _("Only a retirement with purpose event names an event."),
            code="event_not_expected",
            field="event",
        )
    if isinstance(event, NeutralityEvent):
        return event
    if isinstance(event, bool) or not isinstance(event, int):
        raise DomainError(_("Give the event by its id."), field="event")
    found = NeutralityEvent.objects.filter(pk=event).first()
    if found is None:
        raise NotFound(
            _("Unknown event %(event)s.") % {"event": event}, code="unknown_event", field="event"
        )
    return found


@retry_transaction()
def block_retire(
    *,
    actor: User,
    account: HoldingAccount | str,
    mechanism: Mechanism | str,
    beneficiary_name: str,
    purpose: str,
    claim_period_start: dt.date,
    claim_period_end: dt.date,
    location: str,
    reporting_year: int,
    quantity: int | None = None,
    serial_range: str | None = None,
    beneficiary_organisation: str = "",
    event: NeutralityEvent | int | None = None,
) -> Retirement:
    """Retire units for one beneficiary, purpose, claim period and location; final (R12).

    Retired blocks can never change again (trigger); the retirement row itself is immutable.
    A retirement with purpose "event" names its neutrality event, and only such a retirement
    does (database check); the rule catalogue's retirement checks (R11 deadline, R14 units
    abroad) run under the locks, and a refusal is recorded as a refused attempt.
    """
    mechanism = mechanism_resolve(mechanism)
    account = account_resolve(account, field="account")
    require_account_operator(actor, account)
    if not (beneficiary_name or "").strip():
        raise DomainError(_("A retirement needs a beneficiary."), field="beneficiary_name")
    if purpose not in RETIREMENT_PURPOSES:
        raise DomainError(_("Unknown purpose %(purpose)s.") % {"purpose": purpose}, field="purpose")
    for field, day in (
        ("claim_period_start", claim_period_start),
        ("claim_period_end", claim_period_end),
    ):
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            raise DomainError(_("Give the claim period as dates."), field=field)
    if claim_period_end < claim_period_start:
        raise DomainError(
            _("The claim period must not end before it starts."),
            code="invalid_period",
            field="claim_period_end",
        )
    event = _retirement_event(purpose=purpose, event=event)
    location = validate_subdivision(location, field="location")
    this_year = timezone.now().year
    if (
        isinstance(reporting_year, bool)
        or not isinstance(reporting_year, int)
        or not (2000 <= reporting_year <= this_year + 1)
    ):
        raise DomainError(
            _("Reporting year %(year)s is not plausible.") % {"year": reporting_year},
            field="reporting_year",
        )
    try:
        with transaction.atomic():
            locked_accounts = _lock_accounts(account)
            _require_active(locked_accounts[account.pk], field="account")
            pieces = _select(
                account=account,
                mechanism=mechanism,
                quantity=quantity,
                serial_range=serial_range,
                for_transfer=False,
            )
            retired_quantity = sum(piece.take.length for piece in pieces)
            retirement = Retirement(
                mechanism=mechanism,
                account=account,
                quantity=retired_quantity,
                beneficiary_name=beneficiary_name.strip(),
                beneficiary_organisation=beneficiary_organisation.strip(),
                purpose=purpose,
                claim_period_start=claim_period_start,
                claim_period_end=claim_period_end,
                location=location,
                reporting_year=reporting_year,
                event=event,
                actor=actor,
            )
            checks.run_retirement_checks(
                actor=actor,
                mechanism=mechanism,
                account=account,
                pieces=pieces,
                retirement=retirement,
            )
            retirement.save()
            for piece in pieces:
                _carve(
                    piece.block,
                    piece.take,
                    status=Block.Status.RETIRED,
                    retirement_id=retirement.pk,
                )
            record_event(
                kind=LedgerEvent.Kind.UNITS_RETIRED,
                actor=actor,
                subjects=[
                    f"retirement:{retirement.pk}",
                    f"account:{account.pk}",
                    *_claim_subjects(pieces),
                ],
                payload={
                    "retirement": str(retirement.public_id),
                    "mechanism": mechanism.code,
                    "account": account.number,
                    "quantity": retired_quantity,
                    "beneficiary": retirement.beneficiary_name,
                    "beneficiary_organisation": retirement.beneficiary_organisation,
                    "purpose": purpose,
                    "claim_period": [claim_period_start, claim_period_end],
                    "location": location,
                    "reporting_year": reporting_year,
                    **({"event": event.pk} if event is not None else {}),
                    "ranges": _ranges_payload(pieces),
                },
            )
    except RuleViolation as refusal:
        record_refusal(
            actor=actor,
            operation="block_retire",
            error=refusal,
            attempted={
                "mechanism": mechanism.code,
                "account": account.number,
                "quantity": quantity,
                "serial_range": serial_range,
                "purpose": purpose,
                "beneficiary": beneficiary_name,
                "event": event.pk if event is not None else None,
            },
        )
        raise
    return retirement


@retry_transaction()
def retirement_allocate(
    *,
    actor: User,
    retirement: Retirement | int,
    quantity: int,
    claimant: str,
    reference: str,
) -> RetirementAllocation:
    """Allocate part of a retirement to a product batch, an event or a report.

    Guarantees: the allocations of one retirement never exceed what it retired and one reference
    is allocated once — the database's trigger and unique constraint hold that even under
    concurrency; this function explains a refusal (409 ``allocation_exceeds_retirement`` or
    ``allocation_reference_taken``, with the figures) and writes one ledger event.
    """
    quantity = _quantity(quantity)
    claimant = (claimant or "").strip()
    reference = (reference or "").strip()
    if not claimant:
        raise DomainError(_("Name who claims the allocated units."), field="claimant")
    if not reference:
        raise DomainError(_("Name what the units are allocated to."), field="reference")
    if len(claimant) > 200 or len(reference) > 200:
        field = "claimant" if len(claimant) > 200 else "reference"
        raise DomainError(_("At most 200 characters."), field=field)
    retirement_id = retirement.pk if isinstance(retirement, Retirement) else retirement
    with transaction.atomic():
        # The lock the trigger would take anyway, taken first so the explanation below reads
        # the same sum the trigger will.
        locked = (
            Retirement.objects.select_for_update(of=("self",))
            .select_related("account")
            .filter(pk=retirement_id)
            .first()
        )
        if locked is None:
            raise NotFound(
                _("No retirement %(retirement)s.") % {"retirement": retirement_id},
                field="retirement",
            )
        require_account_operator(actor, locked.account)
        if locked.allocations.filter(reference=reference).exists():
            raise Conflict(
                _("Retirement %(retirement)s is already allocated to %(reference)s.")
                % {"retirement": locked.pk, "reference": reference},
                code="allocation_reference_taken",
                field="reference",
            )
        allocated = locked.allocations.aggregate(total=Sum("quantity"))["total"] or 0
        if allocated + quantity > locked.quantity:
            raise Conflict(
                _(
                    "Retirement %(retirement)s retired %(retired)s units, %(allocated)s of "
                    "which are allocated already; %(quantity)s more would exceed it."
                )
                % {
                    "retirement": locked.pk,
                    "retired": locked.quantity,
                    "allocated": allocated,
                    "quantity": quantity,
                },
                code="allocation_exceeds_retirement",
                field="quantity",
                details={
                    "retired": locked.quantity,
                    "allocated": allocated,
                    "available": locked.quantity - allocated,
                },
            )
        allocation = RetirementAllocation.objects.create(
            retirement=locked,
            quantity=quantity,
            claimant=claimant,
            reference=reference,
            actor=actor,
        )
        record_event(
            kind=LedgerEvent.Kind.RETIREMENT_ALLOCATED,
            actor=actor,
            subjects=[f"retirement:{locked.pk}", f"account:{locked.account_id}"],
            payload={
                "retirement": str(locked.public_id),
                "allocation": allocation.pk,
                "quantity": quantity,
                "claimant": claimant,
                "reference": reference,
                "allocated_after": allocated + quantity,
                "retired": locked.quantity,
            },
        )
    return allocation


@retry_transaction()
def block_cancel(
    *,
    actor: User,
    account: HoldingAccount | str,
    mechanism: Mechanism | str,
    reason: str,
    quantity: int | None = None,
    serial_range: str | None = None,
) -> Cancellation:
    """Take active units out of circulation without a beneficiary; final."""
    mechanism = mechanism_resolve(mechanism)
    account = account_resolve(account, field="account")
    require_account_operator(actor, account)
    if not (reason or "").strip():
        raise DomainError(_("A reason is required."), code="reason_required", field="reason")
    with transaction.atomic():
        locked_accounts = _lock_accounts(account)
        _require_active(locked_accounts[account.pk], field="account")
        pieces = _select(
            account=account,
            mechanism=mechanism,
            quantity=quantity,
            serial_range=serial_range,
            for_transfer=False,
        )
        cancelled_quantity = sum(piece.take.length for piece in pieces)
        cancellation = Cancellation.objects.create(
            mechanism=mechanism,
            account=account,
            quantity=cancelled_quantity,
            reason=reason.strip(),
            actor=actor,
        )
        for piece in pieces:
            _carve(
                piece.block,
                piece.take,
                status=Block.Status.CANCELLED,
                cancellation_id=cancellation.pk,
            )
        record_event(
            kind=LedgerEvent.Kind.UNITS_CANCELLED,
            actor=actor,
            subjects=[
                f"cancellation:{cancellation.pk}",
                f"account:{account.pk}",
                *_claim_subjects(pieces),
            ],
            payload={
                "cancellation": str(cancellation.public_id),
                "mechanism": mechanism.code,
                "account": account.number,
                "quantity": cancelled_quantity,
                "reason": cancellation.reason,
                "ranges": _ranges_payload(pieces),
            },
        )
    return cancellation


_BLOCK_TRANSITIONS = {("active", "frozen"), ("frozen", "active")}


@retry_transaction()
def _refuse_unfreezing_under_ccer_registration(block: Block) -> None:
    """R7: GECs frozen because their project registered for CCER stay frozen while it is."""
    if block.mechanism.code != "GEC":
        return
    claim = UnitClaim.objects.select_related("production_record", "stream").get(pk=block.claim_id)
    registration = active_registration(
        project_id=claim.stream.project_id,
        mechanism_code="CCER",
        period=claim.production_record.period,
    )
    if registration is not None:
        raise RuleViolation.of(
            "R7",
            _(
                "Block %(block)s stays frozen: its project is registered for CCER "
                "(%(reference)s) for these MWh (R7)."
            )
            % {"block": block.pk, "reference": registration.reference},
            field="status",
            block=block.pk,
            registration=registration.pk,
            reference=registration.reference,
        )


def block_set_status(*, actor: User, block: Block, status: str, reason: str) -> Block:
    """Freeze or unfreeze a whole block (administrators), as a compare-and-set update."""
    require_administrator(actor, _("freeze or unfreeze units"))
    if status not in (Block.Status.ACTIVE, Block.Status.FROZEN):
        raise DomainError(
            _("Unknown block status %(status)s.") % {"status": status}, field="status"
        )
    if not (reason or "").strip():
        raise DomainError(_("A reason is required."), code="reason_required", field="reason")
    with transaction.atomic():
        current = Block.objects.select_for_update(of=("self",)).get(pk=block.pk)
        if (current.status, status) not in _BLOCK_TRANSITIONS:
            raise Conflict(
                _("Block %(block)s is %(current)s and cannot become %(status)s.")
                % {
                    "block": current.pk,
                    "current": current.get_status_display(),
                    "status": Block.Status(status).label,
                },
                code="invalid_status_change",
                field="status",
            )
        if status == Block.Status.ACTIVE:
            _refuse_unfreezing_under_ccer_registration(current)
        Block.objects.filter(pk=current.pk, status=current.status).update(status=status)
        record_event(
            kind=LedgerEvent.Kind.BLOCK_STATUS,
            actor=actor,
            subjects=[
                f"block:{current.pk}",
                f"claim:{current.claim_id}",
                f"account:{current.account_id}",
            ],
            payload={
                "block": current.pk,
                "range": [current.serials.lower, current.serials.upper],
                "from": current.status,
                "to": status,
                "reason": reason,
            },
        )
    block.refresh_from_db()
    return block


@retry_transaction()
def claim_revoke(*, actor: User, claim: UnitClaim, reason: str) -> UnitClaim:
    """Revoke a claim (administrators, with a reason): all its units are cancelled and its
    serials become free for a correct claim.

    Refused if any of its units are retired: a retirement is final. A derived claim and the
    source claim it consumed are revoked together.
    """
    require_administrator(actor, _("revoke issuances"))
    if not (reason or "").strip():
        raise DomainError(_("A reason is required."), code="reason_required", field="reason")
    with transaction.atomic():
        bearing = UnitClaim.objects.select_related("source_claim").get(pk=claim.pk)
        if bearing.role == UnitClaim.Role.SOURCE:
            bearing = bearing.derived_claim
        claims = [bearing] + ([bearing.source_claim] if bearing.source_claim_id else [])
        locked_claims = list(
            UnitClaim.objects.select_for_update(of=("self",))
            .filter(pk__in=[item.pk for item in claims])
            .order_by("pk")
        )
        if any(item.status != UnitClaim.Status.LIVE for item in locked_claims):
            raise Conflict(
                _("Claim %(claim)s is already revoked.") % {"claim": bearing.pk},
                code="already_revoked",
                field="claim",
            )
        blocks = list(
            Block.objects.select_for_update(of=("self",)).filter(claim=bearing).order_by("pk")
        )
        retired = [block for block in blocks if block.status == Block.Status.RETIRED]
        if retired:
            raise Conflict(
                _("Claim %(claim)s cannot be revoked: %(count)s of its units are retired.")
                % {"claim": bearing.pk, "count": sum(block.quantity for block in retired)},
                code="units_retired",
                field="claim",
                details={"retired_blocks": [block.pk for block in retired]},
            )
        live_blocks = [
            block for block in blocks if block.status in (Block.Status.ACTIVE, Block.Status.FROZEN)
        ]
        cancellation = None
        if live_blocks:
            cancellation = Cancellation.objects.create(
                mechanism_id=bearing.mechanism_id,
                claim=bearing,
                quantity=sum(block.quantity for block in live_blocks),
                reason=reason.strip(),
                actor=actor,
            )
            Block.objects.filter(pk__in=[block.pk for block in live_blocks]).update(
                status=Block.Status.CANCELLED, cancellation=cancellation
            )
        now = timezone.now()
        UnitClaim.objects.filter(pk__in=[item.pk for item in claims]).update(
            status=UnitClaim.Status.REVOKED, revoked_at=now, revocation_reason=reason.strip()
        )
        record_event(
            kind=LedgerEvent.Kind.CLAIM_REVOKED,
            actor=actor,
            subjects=[f"claim:{item.pk}" for item in claims],
            payload={
                "claim": bearing.pk,
                "claims": [item.pk for item in claims],
                "mechanism": bearing.mechanism.code,
                "reason": reason.strip(),
                "cancelled_quantity": cancellation.quantity if cancellation else 0,
                "cancellation": str(cancellation.public_id) if cancellation else None,
            },
        )
    bearing.refresh_from_db()
    return bearing


def _final(blocks: Sequence[Block]) -> bool:
    return any(block.status in FINAL_STATUSES for block in blocks)


def claim_part_cancel(
    *, actor: User, claim: UnitClaim, serials: serial_numbers.SerialRange, reason: str
) -> tuple[UnitClaim, Cancellation]:
    """Cancel the units ``serials`` of a live direct claim and free them for another claim.

    A building block of a larger operation (R7: CCER issuance cancelling frozen GECs): it runs
    inside the caller's transaction, which writes the ledger event. Every unit in ``serials``
    must be frozen and never transferred (checked again under the lock). The cancelled part
    becomes a revoked claim of its own (``split_from`` the original) holding the cancelled
    blocks; the original keeps one side of the rest and, when the cancelled part lies inside
    it, a new live claim takes the other side. Blocks always add up to their claim.
    """
    locked = UnitClaim.objects.select_for_update(of=("self",)).get(pk=claim.pk)
    whole = serial_numbers.SerialRange(locked.serials.lower, locked.serials.upper)
    take = whole.intersection(serials)
    if locked.status != UnitClaim.Status.LIVE or locked.role != UnitClaim.Role.DIRECT or not take:
        raise Conflict(
            _("Claim %(claim)s has no live units in that range to cancel.") % {"claim": locked.pk},
            code="nothing_to_cancel",
            field="serial_range",
        )
    blocks = list(Block.objects.select_for_update(of=("self",)).filter(claim=locked).order_by("pk"))
    inside, lower_side, upper_side = [], [], []
    for block in blocks:
        block_range = serial_numbers.SerialRange(block.serials.lower, block.serials.upper)
        overlap = block_range.intersection(take)
        if overlap:
            if block.status != Block.Status.FROZEN or block.transfer_count != 0:
                raise RuleViolation.of(
                    "R7",
                    _(
                        "%(mechanism)s units of claim %(claim)s in that range are %(status)s "
                        "and have been transferred %(count)s time(s): only frozen, untraded units "
                        "can be cancelled for another mechanism (R7)."
                    )
                    % {
                        "mechanism": locked.mechanism.code,
                        "claim": locked.pk,
                        "status": block.status,
                        "count": block.transfer_count,
                    },
                    field="serial_range",
                    claim=locked.pk,
                    block=block.pk,
                    status=block.status,
                    transfer_count=block.transfer_count,
                )
            block = _carve(block, overlap)  # split at the boundaries, nothing changed yet
            inside.append(block)
            if block_range.lower < take.lower:
                lower_side.append(Block.objects.get(claim=locked, serials__contains=take.lower - 1))
            if take.upper < block_range.upper:
                upper_side.append(Block.objects.get(claim=locked, serials__contains=take.upper))
        elif block_range.upper <= take.lower:
            lower_side.append(block)
        else:
            upper_side.append(block)
    lower = (
        serial_numbers.SerialRange(whole.lower, take.lower) if whole.lower < take.lower else None
    )
    upper = (
        serial_numbers.SerialRange(take.upper, whole.upper) if take.upper < whole.upper else None
    )
    # The original claim keeps a side whose blocks cannot move (final blocks never change).
    if lower and upper:
        if not _final(upper_side):
            kept, moved, moved_blocks = lower, upper, upper_side
        elif not _final(lower_side):
            kept, moved, moved_blocks = upper, lower, lower_side
        else:
            raise RuleViolation.of(
                "R7",
                _(
                    "Claim %(claim)s has retired, cancelled or expired units on both sides of "
                    "the range: cancel a range that starts or ends at the claim's edge."
                )
                % {"claim": locked.pk},
                field="serial_range",
                claim=locked.pk,
            )
    else:
        kept, moved, moved_blocks = lower or upper, None, []

    def part_claim(part: serial_numbers.SerialRange, **fields: Any) -> UnitClaim:
        created = UnitClaim.objects.create(
            mechanism_id=locked.mechanism_id,
            stream_id=locked.stream_id,
            production_record_id=locked.production_record_id,
            serials=NumericRange(part.lower, part.upper, "[)"),
            quantity=part.length,
            vintage=locked.vintage,
            role=locked.role,
            account_id=locked.account_id,
            expires_at=locked.expires_at,
            declaration_id=locked.declaration_id,
            issued_by_id=locked.issued_by_id,
            split_from=locked,
            **fields,
        )
        UnitClaim.objects.filter(pk=created.pk).update(issued_at=locked.issued_at)
        return created

    now = timezone.now()
    if kept is not None:
        UnitClaim.objects.filter(pk=locked.pk).update(
            serials=NumericRange(kept.lower, kept.upper, "[)"), quantity=kept.length
        )
        if moved is not None:
            other = part_claim(moved)
            Block.objects.filter(pk__in=[block.pk for block in moved_blocks]).update(claim=other)
        released = part_claim(
            take, status=UnitClaim.Status.REVOKED, revoked_at=now, revocation_reason=reason
        )
        Block.objects.filter(pk__in=[block.pk for block in inside]).update(claim=released)
    else:
        UnitClaim.objects.filter(pk=locked.pk).update(
            status=UnitClaim.Status.REVOKED, revoked_at=now, revocation_reason=reason
        )
        released = locked
    cancellation = Cancellation.objects.create(
        mechanism_id=locked.mechanism_id,
        account_id=inside[0].account_id if len({b.account_id for b in inside}) == 1 else None,
        claim=released,
        quantity=take.length,
        reason=reason,
        actor=actor,
    )
    Block.objects.filter(pk__in=[block.pk for block in inside]).update(
        status=Block.Status.CANCELLED, cancellation=cancellation
    )
    released.refresh_from_db()
    return released, cancellation


def units_expire(*, now: dt.datetime | None = None, batch_size: int = 10_000) -> int:
    """Expire active and frozen units past their mechanism's validity; returns the count.

    Runs in batches, each one transaction with one ledger event; idempotent (a second run finds
    nothing), so the periodic task can be killed and re-run without harm.
    """
    moment = now or timezone.now()
    expired_units = 0
    while True:
        with transaction.atomic():
            due = list(
                Block.objects.select_for_update(of=("self",), skip_locked=True)
                .filter(
                    status__in=(Block.Status.ACTIVE, Block.Status.FROZEN), expires_at__lte=moment
                )
                .order_by("pk")
                .values_list("pk", "quantity")[:batch_size]
            )
            if not due:
                return expired_units
            block_ids = [block_id for block_id, _quantity in due]
            Block.objects.filter(pk__in=block_ids).update(status=Block.Status.EXPIRED)
            batch_units = sum(quantity for _block_id, quantity in due)
            expired_units += batch_units
            record_event(
                kind=LedgerEvent.Kind.UNITS_EXPIRED,
                actor=None,
                subjects=[f"block:{block_id}" for block_id in block_ids[:1000]],
                payload={"as_of": moment, "blocks": block_ids, "quantity": batch_units},
            )


@retry_transaction()
def corresponding_adjustment_set_status(
    *,
    actor: User,
    adjustment: CorrespondingAdjustment,
    status: str,
    reference: str,
) -> CorrespondingAdjustment:
    """Move a corresponding adjustment one step forward (administrators): not started ->
    pending -> completed, as a compare-and-set update, with the host country's reference (its
    authorisation or report) in the ledger.

    Backward or skipped steps are refused here (409 ``invalid_status_change``) and by the
    database trigger underneath; once completed, units of the range may be retired abroad (R14).
    """
    require_administrator(actor, _("change the status of corresponding adjustments"))
    if status not in CorrespondingAdjustment.Status.values:
        raise DomainError(
            _("Unknown adjustment status %(status)s.") % {"status": status}, field="status"
        )
    if not (reference or "").strip():
        raise DomainError(
            _("A reference to the host country's authorisation or report is required."),
            code="reference_required",
            field="reference",
        )
    with transaction.atomic():
        current = CorrespondingAdjustment.objects.select_for_update(of=("self",)).get(
            pk=adjustment.pk
        )
        if ADJUSTMENT_STEPS.get(current.status) != status:
            raise Conflict(
                _(
                    "Corresponding adjustment %(adjustment)s is %(current)s and cannot become "
                    "%(status)s: it moves only forward, one step at a time."
                )
                % {
                    "adjustment": current.pk,
                    "current": str(current.get_status_display()).lower(),
                    "status": str(CorrespondingAdjustment.Status(status).label).lower(),
                },
                code="invalid_status_change",
                field="status",
                details={"current": current.status, "requested": status},
            )
        now = timezone.now()
        times = {"pending_at": now} if status == "pending" else {"completed_at": now}
        changed = CorrespondingAdjustment.objects.filter(
            pk=current.pk, status=current.status
        ).update(status=status, **times)
        assert changed == 1  # the row is locked: nobody changed it since it was read
        record_event(
            kind=LedgerEvent.Kind.ADJUSTMENT_STATUS,
            actor=actor,
            subjects=[f"adjustment:{current.pk}", f"transfer:{current.transfer_id}"],
            payload={
                "adjustment": current.pk,
                "mechanism_id": current.mechanism_id,
                "stream": current.stream_id,
                "range": [current.serials.lower, current.serials.upper],
                "host_country": current.host_country,
                "acquiring_country": current.acquiring_country,
                "from": current.status,
                "to": status,
                "reference": reference.strip(),
            },
        )
    adjustment.refresh_from_db()
    return adjustment


def _projects_resolve(projects: Sequence[Project | str]) -> list[Project]:
    codes = [project.code if isinstance(project, Project) else str(project) for project in projects]
    found = {project.code: project for project in Project.objects.filter(code__in=codes)}
    missing = [code for code in codes if code not in found]
    if missing:
        raise NotFound(
            _("Unknown project %(project)s.") % {"project": missing[0]},
            code="unknown_project",
            field="projects",
        )
    return sorted(found.values(), key=lambda project: project.pk)


def neutrality_event_create(
    *,
    actor: User,
    name: str,
    organiser: Organisation | str,
    start_date: dt.date,
    end_date: dt.date,
    location: str,
    projects: Sequence[Project | str] = (),
) -> NeutralityEvent:
    """Record a large event that claims neutrality, with the projects built for it
    (administrators).

    From then on retirements with purpose "event" may name it, carbon credits retired for it
    more than a year after it ends are refused (R11), and no carbon credits may be issued for
    its projects (R11). There is no ledger kind for events yet, so the creation is written as
    an R11 rule.flagged event naming the event and its projects, which is what auditors need
    to see: from now on these projects are barred from credit issuance.
    """
    require_administrator(actor, _("record neutrality events"))
    if not (name or "").strip():
        raise DomainError(_("An event needs a name."), field="name")
    for field, day in (("start_date", start_date), ("end_date", end_date)):
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            raise DomainError(_("Give the event's dates as dates."), field=field)
    if end_date < start_date:
        raise DomainError(
            _("The event must not end before it starts."),
            code="invalid_period",
            field="end_date",
        )
    location = validate_subdivision(location, field="location")
    organiser = organisation_resolve(organiser, field="organiser")
    built_for_it = _projects_resolve(projects)
    with transaction.atomic():
        event = NeutralityEvent.objects.create(
            name=name.strip(),
            organiser=organiser,
            start_date=start_date,
            end_date=end_date,
            location=location,
            actor=actor,
        )
        event.projects.set(built_for_it)
        record_event(
            kind=LedgerEvent.Kind.NEUTRALITY_EVENT_CREATED,
            actor=actor,
            subjects=[
                f"event:{event.pk}",
                *(f"project:{project.pk}" for project in built_for_it),
            ],
            payload={
                "event": event.pk,
                "name": event.name,
                "organiser": organiser.code,
                "start_date": start_date,
                "end_date": end_date,
                "location": location,
                # R11: no carbon credits may be issued for these projects.
                "projects_built_for_it": [project.code for project in built_for_it],
            },
        )
    return event
