"""Issuance: a mechanism claims units of a production record and puts them in an account.

``unit_claim_issue`` is the one way units come into existence. The exclusion constraint
``one_live_claim_per_unit`` guarantees that no unit is claimed twice across all mechanisms; this
service explains a refusal by naming the claim that holds the units, and writes the refused
attempt to the ledger in a transaction of its own.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import psycopg.errors
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange, NumericRange
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import HoldingAccount, User
from accounts.selectors import account_resolve
from issuance import rules
from issuance.models import IssuanceRequest, ProductionSubmission, QueueStatus
from registry import serials as serial_numbers
from registry.api.serializers import range_text
from registry.errors import (
    Conflict,
    DomainError,
    DoubleClaim,
    Forbidden,
    RuleViolation,
    UnitsExpired,
)
from registry.ledger import record_event, record_refusal
from registry.locks import STREAM_SERIAL_ALLOCATION, advisory_xact_lock
from registry.models import (
    Declaration,
    LedgerEvent,
    Mechanism,
    MechanismRegistration,
    ProductionRecord,
    Project,
    UnitClaim,
    UnitKind,
)
from registry.permissions import (
    require_issuer_of,
    require_production_corrector,
    require_production_verifier,
    require_project_operator,
)
from registry.roles import Role
from registry.selectors import active_registration, live_claim_overlapping, mechanism_resolve
from registry.services import (
    allocate_production,
    parse_quantity,
    production_payload,
    production_record_create,
    production_validate_recording_refusal,
)
from registry.transactions import retry_transaction
from tracking.models import Block
from tracking.selectors import current_holders
from tracking.services import claim_part_cancel

MAX_CONVERSION_FACTOR = Decimal("10")


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """The same wall-clock moment ``months`` later; the 31st becomes the month's last day."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def expiry_of(mechanism: Mechanism, record: ProductionRecord) -> dt.datetime | None:
    """Units expire ``validity_months`` after the end of their production period (local time)."""
    if not mechanism.validity_months:
        return None
    local_end = record.period.upper.astimezone(ZoneInfo(record.stream.project.time_zone))
    return _add_months(local_end, mechanism.validity_months)


def _refuse_born_expired(
    mechanism: Mechanism, record: ProductionRecord, requested: serial_numbers.SerialRange | None
) -> None:
    """Refuse units whose validity has already ended when the issuance runs (inside its
    transaction): they would be born expired."""
    expires_at = expiry_of(mechanism, record)
    now = timezone.now()
    if expires_at is None or expires_at > now:
        return
    project = record.stream.project
    units = requested if requested is not None else record.serial_range()
    serials = None
    if units is not None:
        serials = units.format(
            project.country, project.code, record.stream.unit_kind, record.vintage
        )
    raise UnitsExpired(
        _(
            "%(mechanism)s units of production record %(record)s expired on %(expires)s "
            "(%(months)s months after the period); they cannot be issued."
        )
        % {
            "mechanism": mechanism.code,
            "record": record.pk,
            "expires": expires_at.isoformat(),
            "months": mechanism.validity_months,
        },
        code="expired_on_issue",
        field="production_record",
        details={
            "record": record.pk,
            "vintage": record.vintage,
            "expires_at": expires_at.isoformat(),
            "checked_at": now.isoformat(),
            "serials": serials,
        },
    )


def _requested_range(
    record: ProductionRecord, *, quantity: Any, serial_range: Any
) -> tuple[int | None, serial_numbers.SerialRange | None]:
    if (quantity is None) == (serial_range is None):
        raise DomainError(
            _("Give either a quantity or a serial range, not both or neither."), field="quantity"
        )
    if quantity is not None:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise DomainError(
                _("Quantity must be a positive whole number of units."), field="quantity"
            )
        return quantity, None
    if isinstance(serial_range, str):
        try:
            parsed = serial_numbers.parse_range(serial_range)
        except serial_numbers.SerialError as error:
            raise DomainError(str(error), code=error.code, field="serial_range") from None
        project = record.stream.project
        if (parsed.country, parsed.project_code, parsed.unit_kind, parsed.vintage) != (
            project.country,
            project.code,
            record.stream.unit_kind,
            record.vintage,
        ):
            raise DomainError(
                _("Serial range %(range)s does not belong to this production record's stream.")
                % {"range": serial_range},
                code="serial_outside_record",
                field="serial_range",
            )
        serial_range = parsed.serial_range
    if not isinstance(serial_range, serial_numbers.SerialRange):
        raise DomainError(
            _("Malformed serial range."), code="malformed_serial", field="serial_range"
        )
    if record.serials is None or not (
        record.serials.lower <= serial_range.lower and serial_range.upper <= record.serials.upper
    ):
        raise DomainError(
            _("The serial range lies outside production record %(record)s.")
            % {"record": record.pk},
            code="serial_outside_record",
            field="serial_range",
        )
    return None, serial_range


def _first_unclaimed(record: ProductionRecord, quantity: int) -> serial_numbers.SerialRange:
    """The first gap of the record's serials, in serial order, that fits ``quantity`` units."""
    if record.serials is None:
        raise Conflict(
            _("The production record has no whole units."),
            code="insufficient_unclaimed_units",
            field="quantity",
        )
    cursor_at = record.serials.lower
    claimed = (
        UnitClaim.objects.filter(
            stream_id=record.stream_id,
            status=UnitClaim.Status.LIVE,
            serials__overlap=record.serials,
        )
        .order_by("serials")
        .values_list("serials", flat=True)
    )
    free = 0
    for claimed_range in claimed:
        if claimed_range.lower - cursor_at >= quantity:
            break
        free += max(0, claimed_range.lower - cursor_at)
        cursor_at = max(cursor_at, claimed_range.upper)
    else:
        if record.serials.upper - cursor_at < quantity:
            free += max(0, record.serials.upper - cursor_at)
            if free == 0:
                # Every unit is held already: this is a second claim on them, name the first.
                holder = live_claim_overlapping(
                    stream_id=record.stream_id,
                    lower=record.serials.lower,
                    upper=record.serials.upper,
                )
                raise _double_claim(holder, record.serials)
            raise Conflict(
                _(
                    "Production record %(record)s has no %(quantity)s contiguous unclaimed units "
                    "(%(free)s unclaimed in all)."
                )
                % {"record": record.pk, "quantity": quantity, "free": free},
                code="insufficient_unclaimed_units",
                field="quantity",
                details={"unclaimed": free},
            )
    return serial_numbers.SerialRange(cursor_at, cursor_at + quantity)


def _conversion_factor(value: Any) -> Decimal:
    if isinstance(value, (bool, float)) or value is None:
        raise DomainError(
            _("A derived issuance needs a decimal conversion factor."),
            code="conversion_factor_required",
            field="conversion_factor",
        )
    try:
        factor = Decimal(str(value))
    except InvalidOperation:
        raise DomainError(
            _("The conversion factor is not a number."), field="conversion_factor"
        ) from None
    if not factor.is_finite() or factor <= 0 or factor > MAX_CONVERSION_FACTOR:
        raise DomainError(
            _("The conversion factor must be above 0 and at most 10."), field="conversion_factor"
        )
    return factor


@dataclass
class _ClaimAttempt:
    """The range a claim insert was last attempted on, to name the holder if it is refused."""

    stream_id: int | None = None
    serials: NumericRange | None = None


# A refusal names every overlapping claim up to this many (a range can cross one claim per
# unit); ``claims_total`` says how many there were.
MAX_CLAIMS_NAMED = 1000


def _double_claim(existing: UnitClaim, serials: NumericRange) -> DoubleClaim:
    """The refusal of a claim on ``serials``: every live claim holding any of them (``existing``
    first), each with its overlap and the accounts and organisations holding those units now."""
    overlapping = [existing] + list(
        UnitClaim.objects.filter(
            stream_id=existing.stream_id, status=UnitClaim.Status.LIVE, serials__overlap=serials
        )
        .exclude(pk=existing.pk)
        .select_related("mechanism", "stream__project", "account__organisation")
        .order_by("serials")[: MAX_CLAIMS_NAMED - 1]
    )
    ranges = [
        (
            claim,
            max(claim.serials.lower, serials.lower),
            min(claim.serials.upper, serials.upper),
        )
        for claim in overlapping
    ]
    # The certificates of a source claim (MWh consumed by a derivation) are the derived
    # claim's tonnes: their holders are the derived claim's.
    holders = current_holders(
        [
            (claim.derived_claim.pk, None, None)
            if claim.role == UnitClaim.Role.SOURCE
            else (claim.pk, lower, upper)
            for claim, lower, upper in ranges
        ]
    )
    first, *others = ranges
    refusal = DoubleClaim.naming(*first, others=others, holders=holders)
    refusal.details["claims_total"] = (
        UnitClaim.objects.filter(
            stream_id=existing.stream_id, status=UnitClaim.Status.LIVE, serials__overlap=serials
        ).count()
        if len(overlapping) == MAX_CLAIMS_NAMED
        else len(overlapping)
    )
    return refusal


def _insert_claim(
    *, actor: User, attempt: _ClaimAttempt, check_first: bool, **fields: Any
) -> UnitClaim:
    """Insert a live claim. The exclusion constraint decides; ``check_first`` looks for a holder
    beforehand (for explicit ranges) so that the usual refusal needs no failed insert."""
    attempt.stream_id, attempt.serials = fields["stream"].pk, fields["serials"]
    if check_first:
        existing = live_claim_overlapping(
            stream_id=attempt.stream_id, lower=attempt.serials.lower, upper=attempt.serials.upper
        )
        if existing is not None:
            raise _double_claim(existing, attempt.serials)
    return UnitClaim.objects.create(issued_by=actor, **fields)


def _limit_to_serials_in_force(
    record: ProductionRecord, requested: serial_numbers.SerialRange | None
) -> None:
    """Under the stream lock: the serials a downward correction withdrew are no longer the
    record's to issue. Narrows the (unsaved) record in memory to the serials still in force,
    so the searches below never offer withdrawn ones; an explicit range reaching into them is
    refused with ``serials_withdrawn`` (the claim trigger refuses them in the database)."""
    if record.serials is None or not record.corrections.filter(withdrawn__isnull=False).exists():
        return
    in_force = record.serials_in_force()
    if requested is not None and (
        in_force is None or requested.upper > in_force.upper or requested.lower < in_force.lower
    ):
        raise Conflict(
            _(
                "Serials of production record %(record)s from %(first)s on were withdrawn by a "
                "correction."
            )
            % {"record": record.pk, "first": in_force.upper if in_force else record.serials.lower},
            code="serials_withdrawn",
            field="serial_range",
        )
    record.serials = in_force


def _covering_declaration(record: ProductionRecord) -> Declaration | None:
    return (
        Declaration.objects.filter(
            stream_id=record.stream_id, revoked_at__isnull=True, period__contains=record.period
        )
        .order_by("-signed_at")
        .first()
    )


def _merged(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lower, upper in sorted(intervals):
        if merged and lower <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], upper))
        else:
            merged.append((lower, upper))
    return merged


def _r7_refusal(record: ProductionRecord, blocking: list[Block]) -> RuleViolation:
    return RuleViolation.of(
        "R7",
        _(
            "CCER cannot be issued on MWh of production record %(record)s: %(quantity)s of its "
            "GECs have been traded, retired, cancelled or expired (R7)."
        )
        % {"record": record.pk, "quantity": sum(block.quantity for block in blocking)},
        field="production_record",
        record=record.pk,
        gec_blocks=[
            {
                "block": block.pk,
                "claim": block.claim_id,
                "status": block.status,
                "transfer_count": block.transfer_count,
                "lower": block.serials.lower,
                "upper": block.serials.upper,
            }
            for block in blocking[:20]
        ],
    )


def _r7_range(
    record: ProductionRecord, *, quantity: int | None, requested: serial_numbers.SerialRange | None
) -> serial_numbers.SerialRange:
    """The MWh a CCER issuance under an active CCER registration takes (R7): unclaimed units and
    units of GEC claims that are frozen and were never traded. Called under the stream lock."""
    if record.serials is None:
        return _first_unclaimed(record, quantity or 1)
    window = NumericRange(record.serials.lower, record.serials.upper, "[)")
    if requested is not None:
        window = NumericRange(requested.lower, requested.upper, "[)")
    claims = list(
        UnitClaim.objects.filter(
            stream_id=record.stream_id, status=UnitClaim.Status.LIVE, serials__overlap=window
        )
        .select_related("mechanism", "stream__project", "account__organisation")
        .order_by("serials")
    )
    available: list[tuple[int, int]] = []
    cursor_at = window.lower
    for claim in claims:
        if claim.serials.lower > cursor_at:
            available.append((cursor_at, claim.serials.lower))
        cursor_at = max(cursor_at, claim.serials.upper)
    if cursor_at < window.upper:
        available.append((cursor_at, window.upper))
    gec_claims = [claim for claim in claims if claim.mechanism.code == "GEC"]
    blocking: list[Block] = []
    for block in Block.objects.filter(claim__in=gec_claims, serials__overlap=window).order_by(
        "serials"
    ):
        if block.status == Block.Status.FROZEN and block.transfer_count == 0:
            available.append((block.serials.lower, block.serials.upper))
        else:
            blocking.append(block)
    runs = [
        (max(lower, window.lower), min(upper, window.upper))
        for lower, upper in _merged(available)
        if min(upper, window.upper) > max(lower, window.lower)
    ]
    if requested is not None:
        if any(lower <= requested.lower and requested.upper <= upper for lower, upper in runs):
            return requested
        other = next((claim for claim in claims if claim.mechanism.code != "GEC"), None)
        if other is not None:
            raise _double_claim(other, window)
        raise _r7_refusal(record, blocking)
    for lower, upper in runs:
        if upper - lower >= quantity:
            return serial_numbers.SerialRange(lower, lower + quantity)
    if blocking:
        raise _r7_refusal(record, blocking)
    if runs:
        raise Conflict(
            _(
                "Production record %(record)s has no %(quantity)s contiguous units free or held "
                "by frozen GECs (the longest run is %(longest)s)."
            )
            % {
                "record": record.pk,
                "quantity": quantity,
                "longest": max(upper - lower for lower, upper in runs),
            },
            code="insufficient_unclaimed_units",
            field="quantity",
            details={"runs": [[lower, upper] for lower, upper in runs]},
        )
    return _first_unclaimed(record, quantity)


def _r7_cancel_frozen_gecs(
    *,
    actor: User,
    record: ProductionRecord,
    taken: serial_numbers.SerialRange,
    registration: MechanismRegistration,
) -> list[tuple[UnitClaim, UnitClaim, Any]]:
    """Cancel the frozen GECs on the MWh a CCER issuance takes (R7); (original, cancelled
    part, cancellation) per GEC claim touched."""
    gec_claims = (
        UnitClaim.objects.filter(
            stream_id=record.stream_id,
            status=UnitClaim.Status.LIVE,
            mechanism__code="GEC",
            serials__overlap=NumericRange(taken.lower, taken.upper, "[)"),
        )
        .select_related("mechanism")
        .order_by("pk")
    )
    cancelled = []
    for gec_claim in gec_claims:
        released, cancellation = claim_part_cancel(
            actor=actor,
            claim=gec_claim,
            serials=taken,
            reason=str(
                _(
                    "R7: the MWh were issued as CCER under registration %(reference)s; the "
                    "frozen GECs on them are cancelled."
                )
                % {"reference": registration.reference}
            ),
        )
        cancelled.append((gec_claim, released, cancellation))
    return cancelled


def _r7_split_payload(original: UnitClaim, released: UnitClaim) -> dict[str, Any]:
    """What an R7 cancellation left of the GEC claim, so the ledger alone describes the claims:
    the range the original keeps (none when it was cancelled whole) and the live claim that took
    the other side, if any (split from the original, adjacent to the cancelled part)."""
    if released.pk == original.pk:
        return {"kept": None, "moved": None}
    kept = UnitClaim.objects.get(pk=original.pk).serials
    moved = UnitClaim.objects.filter(
        split_from_id=original.pk,
        status=UnitClaim.Status.LIVE,
        serials__adjacent_to=released.serials,
    ).first()
    return {
        "kept": [kept.lower, kept.upper],
        "moved": [moved.pk, moved.serials.lower, moved.serials.upper] if moved else None,
    }


@retry_transaction()
def unit_claim_issue(
    *,
    actor: User,
    mechanism: Mechanism | str,
    production_record: ProductionRecord,
    account: HoldingAccount | str,
    quantity: int | None = None,
    serial_range: serial_numbers.SerialRange | str | None = None,
    conversion_factor: Decimal | str | None = None,
    conversion_source: str = "",
    origin: dict[str, Any] | None = None,
    on_issued: Callable[[UnitClaim], None] | None = None,
) -> UnitClaim:
    """Issue a mechanism's units from a production record into an account.

    By quantity (the first contiguous unclaimed serials of the record) or by explicit range.
    When the mechanism's unit kind differs from the stream's (CCER tonnes from MWh or from saved
    tce), the source units are claimed too and the tonnes are allocated on the project's carbon
    stream with the factor recorded, rounding down and carrying the remainder.

    Guarantees: all or nothing; no unit of any stream ends up in two live claims (database);
    a refused double claim raises ``DoubleClaim`` naming the existing claim and leaves one
    refused-attempt event in the ledger, nothing else.

    ``origin`` (e.g. the issuance request approved) is kept in the issuance's ledger event and in
    a refused attempt's; ``on_issued`` runs inside the issuance's transaction, so whatever it
    writes commits with the claim or not at all.
    """
    mechanism = mechanism_resolve(mechanism)
    account = account_resolve(account, field="account")
    require_issuer_of(actor, mechanism)
    record = ProductionRecord.objects.select_related("stream__project").get(pk=production_record.pk)
    attempted = {
        "mechanism": mechanism.code,
        "record": record.pk,
        "account": account.number,
        "quantity": quantity,
        "serial_range": str(serial_range) if serial_range is not None else None,
        **({"origin": origin} if origin else {}),
    }
    try:
        # One transaction around the rule checks and the claim: a rule.flagged event written by
        # a flag-effect rule commits only with the issuance it flags.
        with transaction.atomic():
            claim = _issue(
                actor=actor,
                mechanism=mechanism,
                record=record,
                account=account,
                quantity=quantity,
                serial_range=serial_range,
                conversion_factor=conversion_factor,
                conversion_source=conversion_source,
                origin=origin,
            )
            if on_issued is not None:
                on_issued(claim)
            return claim
    except (DoubleClaim, RuleViolation, UnitsExpired) as refusal:
        record_refusal(
            actor=actor, operation="unit_claim_issue", error=refusal, attempted=attempted
        )
        raise


def _issue(
    *,
    actor: User,
    mechanism: Mechanism,
    record: ProductionRecord,
    account: HoldingAccount,
    quantity: int | None,
    serial_range: Any,
    conversion_factor: Any,
    conversion_source: str,
    origin: dict[str, Any] | None,
) -> UnitClaim:
    stream = record.stream
    project = stream.project
    if mechanism.kind != Mechanism.Kind.CERTIFICATE:
        raise DomainError(
            _("Allowances are allocated, not issued from production."),
            code="mechanism_not_issuable",
            field="mechanism",
        )
    if project.status != Project.Status.APPROVED:
        raise Conflict(
            _("Project %(project)s is not approved.") % {"project": project.code},
            code="project_not_approved",
            field="production_record",
        )
    rules.check_issuance(
        mechanism=mechanism, project=project, record=record, actor=actor, account=account
    )
    if account.status != HoldingAccount.Status.ACTIVE:
        raise Conflict(
            _("Account %(account)s is %(status)s.")
            % {"account": account.number, "status": account.get_status_display()},
            code="account_not_active",
            field="account",
        )
    derived = stream.unit_kind != mechanism.unit_kind
    if derived:
        if not (
            mechanism.accepts_derived_units
            and mechanism.unit_kind == UnitKind.CARBON
            and stream.unit_kind in (UnitKind.ELECTRICITY, UnitKind.ENERGY_SAVED)
        ):
            raise DomainError(
                _("%(mechanism)s cannot be issued from units of kind %(kind)s.")
                % {"mechanism": mechanism.code, "kind": stream.unit_kind},
                code="unit_kind_mismatch",
                field="mechanism",
            )
        factor = _conversion_factor(conversion_factor)
    elif conversion_factor is not None:
        raise DomainError(
            _("A conversion factor applies only to derived units."), field="conversion_factor"
        )
    quantity, requested = _requested_range(record, quantity=quantity, serial_range=serial_range)
    declaration = None
    if mechanism.requires_declaration:
        declaration = _covering_declaration(record)
        if declaration is None and rules.RULES["R13"].enabled:
            revoked = (
                Declaration.objects.filter(
                    stream_id=record.stream_id,
                    revoked_at__isnull=False,
                    period__contains=record.period,
                )
                .order_by("-revoked_at")
                .values_list("pk", flat=True)
                .first()
            )
            raise RuleViolation.of(
                "R13",
                _(
                    "%(mechanism)s requires a valid declaration of no double counting covering "
                    "production record %(record)s (R13)."
                )
                % {"mechanism": mechanism.code, "record": record.pk},
                field="production_record",
                reason="declaration_missing",
                record=record.pk,
                period=[record.period.lower.isoformat(), record.period.upper.isoformat()],
                revoked_declaration=revoked,
            )
    _refuse_born_expired(mechanism, record, requested)
    attempt = _ClaimAttempt()
    try:
        with transaction.atomic():
            # Serialises "find the next unclaimed serials -> claim them" per stream (NetBox-style).
            advisory_xact_lock(STREAM_SERIAL_ALLOCATION, stream.pk)
            _limit_to_serials_in_force(record, requested)
            # A range found free under the stream lock needs no second look before the insert.
            explicit = requested is not None
            registration = None
            if derived and mechanism.code == "CCER" and stream.unit_kind == UnitKind.ELECTRICITY:
                registration = active_registration(
                    project_id=project.pk, mechanism_code="CCER", period=record.period
                )
            cancelled_gecs = []
            if registration is not None:
                requested = _r7_range(record, quantity=quantity, requested=requested)
                cancelled_gecs = _r7_cancel_frozen_gecs(
                    actor=actor, record=record, taken=requested, registration=registration
                )
            elif requested is None:
                requested = _first_unclaimed(record, quantity)
            claim_fields = {
                "mechanism": mechanism,
                "stream": stream,
                "production_record": record,
                "serials": NumericRange(requested.lower, requested.upper, "[)"),
                "quantity": requested.length,
                "vintage": record.vintage,
                "account": account,
                "expires_at": expiry_of(mechanism, record),
                "declaration": declaration,
            }
            if not derived:
                claim = _insert_claim(
                    actor=actor,
                    attempt=attempt,
                    check_first=explicit,
                    role=UnitClaim.Role.DIRECT,
                    **claim_fields,
                )
                source_claim = None
            else:
                source_claim = _insert_claim(
                    actor=actor,
                    attempt=attempt,
                    check_first=explicit,
                    role=UnitClaim.Role.SOURCE,
                    **claim_fields,
                )
                derived_record = allocate_production(
                    actor=actor,
                    project=project,
                    unit_kind=UnitKind.CARBON,
                    period=record.period,
                    quantity=(Decimal(requested.length) * factor).quantize(
                        Decimal("0.000001"), rounding=ROUND_DOWN
                    ),
                    source=ProductionRecord.Source.DERIVED,
                )
                if derived_record.serials is None:
                    raise DomainError(
                        _("%(units)s units at factor %(factor)s give less than one whole tonne.")
                        % {"units": requested.length, "factor": factor},
                        code="derived_quantity_zero",
                        field="quantity",
                    )
                claim = _insert_claim(
                    actor=actor,
                    attempt=attempt,
                    check_first=False,  # tonnes just allocated: nobody can hold them yet
                    mechanism=mechanism,
                    stream=derived_record.stream,
                    production_record=derived_record,
                    serials=derived_record.serials,
                    quantity=derived_record.units,
                    vintage=derived_record.vintage,
                    account=account,
                    expires_at=expiry_of(mechanism, derived_record),
                    declaration=declaration,
                    role=UnitClaim.Role.DERIVED,
                    source_claim=source_claim,
                    conversion_factor=factor,
                    conversion_source=conversion_source,
                )
            Block.objects.create(
                claim=claim,
                mechanism=mechanism,
                stream=claim.stream,
                account=account,
                serials=claim.serials,
                quantity=claim.quantity,
                vintage=claim.vintage,
                expires_at=claim.expires_at,
            )
            record_event(
                kind=LedgerEvent.Kind.UNITS_ISSUED,
                actor=actor,
                subjects=[
                    f"claim:{claim.pk}",
                    f"account:{account.pk}",
                    f"project:{project.pk}",
                    f"record:{record.pk}",
                ],
                payload={
                    **issuance_payload(claim, source_claim, declaration),
                    **({"origin": origin} if origin else {}),
                },
            )
            for original, released, cancellation in cancelled_gecs:
                record_event(
                    kind=LedgerEvent.Kind.UNITS_CANCELLED,
                    actor=actor,
                    subjects=[
                        f"cancellation:{cancellation.pk}",
                        f"claim:{original.pk}",
                        f"claim:{released.pk}",
                        f"claim:{claim.pk}",
                        f"project:{project.pk}",
                        "rule:R7",
                    ],
                    payload={
                        "rule": "R7",
                        "cancellation": str(cancellation.public_id),
                        "mechanism": "GEC",
                        "claim": original.pk,
                        "cancelled_claim": released.pk,
                        "quantity": cancellation.quantity,
                        "reason": cancellation.reason,
                        "registration": registration.reference,
                        "for_claim": claim.pk,
                        "split": _r7_split_payload(original, released),
                        "ranges": [
                            {
                                "serials": released.serial_range().format(
                                    project.country,
                                    project.code,
                                    stream.unit_kind,
                                    released.vintage,
                                )
                            }
                        ],
                    },
                )
    except IntegrityError as error:
        violation = error.__cause__
        if not (
            isinstance(violation, psycopg.errors.ExclusionViolation)
            and violation.diag.constraint_name == "one_live_claim_per_unit"
        ):
            raise
        # A concurrent claim committed between our look and our insert; the transaction has
        # rolled back, so the holder can be read and named.
        existing = live_claim_overlapping(
            stream_id=attempt.stream_id, lower=attempt.serials.lower, upper=attempt.serials.upper
        )
        if existing is None:
            raise
        raise _double_claim(existing, attempt.serials) from error
    return claim


def issuance_payload(
    claim: UnitClaim, source_claim: UnitClaim | None, declaration: Declaration | None
) -> dict[str, Any]:
    project = claim.stream.project
    payload: dict[str, Any] = {
        "claim": claim.pk,
        "mechanism": claim.mechanism.code,
        "account": claim.account.number,
        "quantity": claim.quantity,
        "serials": serial_numbers.SerialRange(claim.serials.lower, claim.serials.upper).format(
            project.country, project.code, claim.stream.unit_kind, claim.vintage
        ),
        "declaration": declaration.pk if declaration else None,
    }
    if source_claim is not None:
        payload["derived_from"] = {
            "claim": source_claim.pk,
            "serials": serial_numbers.SerialRange(
                source_claim.serials.lower, source_claim.serials.upper
            ).format(
                project.country, project.code, source_claim.stream.unit_kind, source_claim.vintage
            ),
            "factor": claim.conversion_factor,
            "factor_source": claim.conversion_source,
        }
    return payload


RENEWABLE_TECHNOLOGIES = (
    Project.Technology.WIND,
    Project.Technology.SOLAR,
    Project.Technology.HYDRO,
    Project.Technology.BIOMASS,
)


# Crediting periods of the mechanisms recorded here start after 2000 (the CDM's first) and run
# at most a few decades; anything else is a typing error.
CREDITING_YEARS = (2000, 2100)


def _crediting_period(start: Any, end: Any) -> DateTimeTZRange:
    for field, moment in (("crediting_start", start), ("crediting_end", end)):
        if moment is None and field == "crediting_end":
            continue
        if not isinstance(moment, dt.datetime) or moment.tzinfo is None:
            raise DomainError(
                _("Give the crediting period as time-zone aware date-times."), field=field
            )
        if not CREDITING_YEARS[0] <= moment.astimezone(dt.UTC).year <= CREDITING_YEARS[1]:
            raise DomainError(
                _("A crediting period lies between the years %(first)s and %(last)s.")
                % {"first": CREDITING_YEARS[0], "last": CREDITING_YEARS[1]},
                code="implausible_period",
                field=field,
            )
    if end is not None and end <= start:
        raise DomainError(
            _("The crediting period must end after it starts."),
            code="invalid_period",
            field="crediting_end",
        )
    return DateTimeTZRange(start, end, "[)")


@retry_transaction()
def project_mechanism_register(
    *,
    actor: User,
    project: Project,
    mechanism: Mechanism | str,
    reference: str,
    crediting_start: dt.datetime,
    crediting_end: dt.datetime | None = None,
) -> MechanismRegistration:
    """Register a project under a mechanism for a crediting period (issuers of the mechanism and
    administrators).

    Guarantees: at most one active registration per project, mechanism and moment (database).
    For a renewable project registering for CCER (R7), every GEC of its MWh in the crediting
    period that was never traded is frozen in the same transaction, and the registration event
    lists them; traded GECs stay as they are and will make CCER issuance on their MWh fail.
    """
    mechanism = mechanism_resolve(mechanism)
    require_issuer_of(actor, mechanism)
    reference = (reference or "").strip() if isinstance(reference, str) else ""
    if not reference:
        raise DomainError(_("A registration reference is required."), field="reference")
    period = _crediting_period(crediting_start, crediting_end)
    if project.status != Project.Status.APPROVED:
        raise Conflict(
            _("Project %(project)s is not approved.") % {"project": project.code},
            code="project_not_approved",
            field="project",
        )
    try:
        with transaction.atomic():
            registration = MechanismRegistration.objects.create(
                project=project,
                mechanism=mechanism,
                reference=reference,
                crediting_period=period,
                registered_by=actor,
            )
            frozen: list[Block] = []
            if mechanism.code == "CCER" and project.technology in RENEWABLE_TECHNOLOGIES:
                frozen = list(
                    Block.objects.select_for_update(of=("self",))
                    .filter(
                        stream__project=project,
                        stream__unit_kind=UnitKind.ELECTRICITY,
                        mechanism__code="GEC",
                        status=Block.Status.ACTIVE,
                        transfer_count=0,
                        claim__status=UnitClaim.Status.LIVE,
                        claim__production_record__period__overlap=period,
                    )
                    .order_by("pk")
                )
                Block.objects.filter(pk__in=[block.pk for block in frozen]).update(
                    status=Block.Status.FROZEN
                )
            record_event(
                kind=LedgerEvent.Kind.PROJECT_MECHANISM_REGISTERED,
                actor=actor,
                subjects=[
                    f"project:{project.pk}",
                    f"registration:{registration.pk}",
                    *sorted({f"claim:{block.claim_id}" for block in frozen}),
                ],
                payload={
                    "registration": registration.pk,
                    "project": project.code,
                    "mechanism": mechanism.code,
                    "reference": reference,
                    "crediting_period": [period.lower, period.upper],
                    "rule": "R7" if frozen else None,
                    "frozen_quantity": sum(block.quantity for block in frozen),
                    "ranges": [
                        {
                            "claim": block.claim_id,
                            "account": block.account_id,
                            "serials": block.serial_range().format(
                                project.country, project.code, UnitKind.ELECTRICITY, block.vintage
                            ),
                        }
                        for block in frozen
                    ],
                },
            )
    except IntegrityError as error:
        violation = error.__cause__
        if not (
            isinstance(violation, psycopg.errors.ExclusionViolation)
            and violation.diag.constraint_name == "one_active_registration_per_period"
        ):
            raise
        raise Conflict(
            _(
                "Project %(project)s already has an active %(mechanism)s registration for part "
                "of that crediting period."
            )
            % {"project": project.code, "mechanism": mechanism.code},
            code="registration_overlap",
            field="crediting_start",
        ) from error
    return registration


# --- the queues: production awaiting verification, issuance awaiting approval ----------------


def _submission_payload(submission: ProductionSubmission) -> dict[str, Any]:
    return {
        "submission": submission.pk,
        "project": submission.project.code,
        "unit_kind": submission.unit_kind,
        "period_start": submission.period.lower.isoformat(),
        "period_end": submission.period.upper.isoformat(),
        "quantity": str(submission.quantity),
        "evidence": submission.evidence,
    }


def _already_decided(row: ProductionSubmission | IssuanceRequest) -> Conflict:
    return Conflict(
        _("%(item)s was already decided: %(status)s.")
        % {"item": row._meta.verbose_name, "status": row.get_status_display()},
        code="already_decided",
        field="status",
        details={"status": row.status},
    )


def _decision_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A reason is required."), code="reason_required", field="reason")
    return reason


@retry_transaction()
def production_submit(
    *,
    actor: User,
    project: Project,
    unit_kind: str,
    period_start: dt.datetime,
    period_end: dt.datetime,
    quantity: Decimal | int | str,
    evidence: str = "",
) -> ProductionSubmission:
    """Put a project's reported output in the verification queue.

    Passes the checks a production record passes (``production_validate``) and refuses a period
    that a recorded production record or another pending submission of the stream already
    covers, naming it. Allocates no serial: that happens when it is verified.
    """
    require_project_operator(actor, project)
    amount, period = production_validate_recording_refusal(
        actor=actor,
        operation="production_submit",
        project=project,
        unit_kind=unit_kind,
        period_start=period_start,
        period_end=period_end,
        quantity=quantity,
    )
    recorded = (
        ProductionRecord.objects.filter(
            stream__project=project,
            stream__unit_kind=unit_kind,
            source=ProductionRecord.Source.METERED,
            period__overlap=period,
        )
        .order_by("pk")
        .first()
    )
    if recorded is not None:
        raise Conflict(
            _("The period overlaps production record %(record)s of the same stream.")
            % {"record": recorded.pk},
            code="period_overlap",
            field="period_start",
            details={"rule": "R2", "existing_record": recorded.pk},
        )
    try:
        with transaction.atomic():
            submission = ProductionSubmission.objects.create(
                project=project,
                unit_kind=unit_kind,
                period=period,
                quantity=amount,
                evidence=evidence,
                submitted_by=actor,
            )
            record_event(
                kind=LedgerEvent.Kind.PRODUCTION_SUBMITTED,
                actor=actor,
                subjects=[f"project:{project.pk}", f"submission:{submission.pk}"],
                payload=_submission_payload(submission),
            )
    except IntegrityError as error:
        pending = (
            ProductionSubmission.objects.filter(
                project=project,
                unit_kind=unit_kind,
                status=QueueStatus.PENDING,
                period__overlap=period,
            )
            .order_by("pk")
            .first()
        )
        if pending is None:
            raise
        raise Conflict(
            _("The period overlaps submission %(submission)s, still waiting for verification.")
            % {"submission": pending.pk},
            code="period_overlap",
            field="period_start",
            details={"rule": "R2", "existing_submission": pending.pk},
        ) from error
    return submission


def production_submission_verify(
    *, actor: User, submission: ProductionSubmission
) -> ProductionRecord:
    """Verify a pending submission: record it as a production record (serials allocated by
    ``production_record_create``, whose ledger event names the submission) and mark it approved,
    in one transaction. Refuses a decided submission; a record that cannot be made (e.g. a period
    recorded meanwhile) leaves the submission pending."""
    require_production_verifier(actor)
    with transaction.atomic():
        locked = (
            ProductionSubmission.objects.select_for_update(of=("self",))
            .select_related("project", "submitted_by")
            .get(pk=submission.pk)
        )
        if locked.status != QueueStatus.PENDING:
            raise _already_decided(locked)
        record = production_record_create(
            actor=actor,
            project=locked.project,
            unit_kind=locked.unit_kind,
            period_start=locked.period.lower,
            period_end=locked.period.upper,
            quantity=locked.quantity,
            origin={
                "submission": locked.pk,
                "submitted_by": locked.submitted_by.username,
                "evidence": locked.evidence,
            },
        )
        ProductionSubmission.objects.filter(pk=locked.pk).update(
            status=QueueStatus.APPROVED,
            decided_by=actor,
            decided_at=timezone.now(),
            production_record=record,
        )
    return record


def production_submission_reject(
    *, actor: User, submission: ProductionSubmission, reason: str
) -> ProductionSubmission:
    """Reject a pending submission with a reason (in the ledger); nothing is recorded and the
    period is free for a corrected submission."""
    require_production_verifier(actor)
    reason = _decision_reason(reason)
    with transaction.atomic():
        changed = ProductionSubmission.objects.filter(
            pk=submission.pk, status=QueueStatus.PENDING
        ).update(
            status=QueueStatus.REJECTED,
            decided_by=actor,
            decided_at=timezone.now(),
            decision_reason=reason,
        )
        rejected = ProductionSubmission.objects.select_related("project").get(pk=submission.pk)
        if not changed:
            raise _already_decided(rejected)
        record_event(
            kind=LedgerEvent.Kind.PRODUCTION_REJECTED,
            actor=actor,
            subjects=[f"project:{rejected.project_id}", f"submission:{rejected.pk}"],
            payload={**_submission_payload(rejected), "reason": reason},
        )
    return rejected


def _request_payload(issuance_request: IssuanceRequest) -> dict[str, Any]:
    return {
        "issuance_request": issuance_request.pk,
        "mechanism": issuance_request.mechanism.code,
        "record": issuance_request.production_record_id,
        "account": issuance_request.account.number,
        "quantity": issuance_request.quantity,
        "conversion_factor": (
            str(issuance_request.conversion_factor)
            if issuance_request.conversion_factor is not None
            else None
        ),
        "conversion_source": issuance_request.conversion_source,
    }


def issuance_request_create(
    *,
    actor: User,
    mechanism: Mechanism | str,
    production_record: ProductionRecord,
    account: HoldingAccount | str,
    quantity: int,
    conversion_factor: Decimal | str | None = None,
    conversion_source: str = "",
) -> IssuanceRequest:
    """Ask that ``mechanism`` issue ``quantity`` units of a production record into an account.

    The project's owner asks for its own accounts; issuing bodies and administrators for any.
    Nothing is claimed until an issuing body of the mechanism approves; the rules and the
    uniqueness of every unit are checked then, when the claim is made.
    """
    mechanism = mechanism_resolve(mechanism)
    account = account_resolve(account, field="account")
    record = ProductionRecord.objects.select_related("stream__project").get(pk=production_record.pk)
    project = record.stream.project
    require_project_operator(actor, project)
    if actor.role == Role.PROJECT_OWNER and account.organisation_id != actor.organisation_id:
        raise Forbidden(
            _("You may request issuance only into your own organisation's accounts."),
            field="account",
        )
    if mechanism.kind != Mechanism.Kind.CERTIFICATE:
        raise DomainError(
            _("Allowances are allocated, not issued from production."),
            code="mechanism_not_issuable",
            field="mechanism",
        )
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise DomainError(
            _("The quantity must be a positive whole number of units."),
            code="invalid_quantity",
            field="quantity",
        )
    factor = _conversion_factor(conversion_factor) if conversion_factor is not None else None
    with transaction.atomic():
        issuance_request = IssuanceRequest.objects.create(
            mechanism=mechanism,
            production_record=record,
            account=account,
            quantity=quantity,
            conversion_factor=factor,
            conversion_source=conversion_source,
            requested_by=actor,
        )
        record_event(
            kind=LedgerEvent.Kind.ISSUANCE_REQUESTED,
            actor=actor,
            subjects=[
                f"issuance_request:{issuance_request.pk}",
                f"project:{project.pk}",
                f"record:{record.pk}",
                f"account:{account.pk}",
            ],
            payload=_request_payload(issuance_request),
        )
    return issuance_request


def issuance_request_approve(*, actor: User, issuance_request: IssuanceRequest) -> UnitClaim:
    """Approve a pending request: issue through ``unit_claim_issue`` and mark the request
    approved in the same transaction. A refusal (a rule, or units already claimed, naming the
    claim that holds them) leaves the request pending, with the refused attempt in the ledger.
    Two approvals of one request at once: the second waits for the first and is refused."""
    current = IssuanceRequest.objects.select_related(
        "mechanism", "production_record", "account", "requested_by"
    ).get(pk=issuance_request.pk)
    require_issuer_of(actor, current.mechanism)
    if current.status != QueueStatus.PENDING:
        raise _already_decided(current)

    def mark_approved(claim: UnitClaim) -> None:
        # Compare-and-set under the row lock: of two approvals racing, one changes the row and
        # the other rolls its claim back.
        changed = IssuanceRequest.objects.filter(pk=current.pk, status=QueueStatus.PENDING).update(
            status=QueueStatus.APPROVED,
            decided_by=actor,
            decided_at=timezone.now(),
            unit_claim=claim,
        )
        if not changed:
            raise _already_decided(IssuanceRequest.objects.get(pk=current.pk))

    return unit_claim_issue(
        actor=actor,
        mechanism=current.mechanism,
        production_record=current.production_record,
        account=current.account,
        quantity=current.quantity,
        conversion_factor=current.conversion_factor,
        conversion_source=current.conversion_source,
        origin={"issuance_request": current.pk, "requested_by": current.requested_by.username},
        on_issued=mark_approved,
    )


def issuance_request_reject(
    *, actor: User, issuance_request: IssuanceRequest, reason: str
) -> IssuanceRequest:
    """Reject a pending request with a reason (in the ledger); nothing is issued."""
    current = IssuanceRequest.objects.select_related("mechanism").get(pk=issuance_request.pk)
    require_issuer_of(actor, current.mechanism)
    reason = _decision_reason(reason)
    with transaction.atomic():
        changed = IssuanceRequest.objects.filter(pk=current.pk, status=QueueStatus.PENDING).update(
            status=QueueStatus.REJECTED,
            decided_by=actor,
            decided_at=timezone.now(),
            decision_reason=reason,
        )
        rejected = IssuanceRequest.objects.select_related(
            "mechanism", "account", "production_record__stream__project"
        ).get(pk=current.pk)
        if not changed:
            raise _already_decided(rejected)
        record_event(
            kind=LedgerEvent.Kind.ISSUANCE_REJECTED,
            actor=actor,
            subjects=[
                f"issuance_request:{rejected.pk}",
                f"project:{rejected.production_record.stream.project_id}",
                f"record:{rejected.production_record_id}",
            ],
            payload={**_request_payload(rejected), "reason": reason},
        )
    return rejected


# --- corrections of production by compensating entry ------------------------------------------

CORRECTION_DIRECTIONS = ("up", "down")


def _correction_input(
    record: ProductionRecord, *, direction: str, quantity: Any, reason: str, evidence: str
) -> tuple[Decimal, str, str]:
    """The checks a correction passes before anything is locked; writes nothing."""
    if record.source != ProductionRecord.Source.METERED:
        raise Conflict(
            _(
                "Production record %(record)s is %(source)s: only metered or verified records "
                "are corrected (a correction is corrected by another correction of the record)."
            )
            % {"record": record.pk, "source": record.get_source_display()},
            code="not_correctable",
            field="production_record",
        )
    if direction not in CORRECTION_DIRECTIONS:
        raise DomainError(
            _("The direction is up or down."), code="invalid_direction", field="direction"
        )
    amount = parse_quantity(quantity, field="quantity")
    if amount <= 0:
        raise DomainError(
            _("A correction changes the quantity by more than zero."),
            code="correction_zero",
            field="quantity",
        )
    for field, text in (("reason", reason), ("evidence", evidence)):
        if not (text or "").strip():
            raise DomainError(
                _("A correction needs a %(field)s.") % {"field": field},
                code=f"{field}_required",
                field=field,
            )
    return amount, reason.strip(), evidence.strip()


def _corrected_total(record: ProductionRecord) -> Decimal:
    """The record's quantity with every correction so far (downward ones are negative)."""
    return record.quantity + sum(
        record.corrections.values_list("quantity", flat=True), start=Decimal(0)
    )


def _check_plausible_upward(record: ProductionRecord, amount: Decimal) -> None:
    project = record.stream.project
    if record.stream.unit_kind != UnitKind.ELECTRICITY or project.capacity_mw is None:
        return
    hours = Decimal((record.period.upper - record.period.lower).total_seconds()) / Decimal(3600)
    ceiling = project.capacity_mw * hours * Decimal(str(settings.REGISTRY_CAPACITY_MARGIN))
    if _corrected_total(record) + amount > ceiling:
        raise DomainError(
            _(
                "Corrected, the record would hold more than %(capacity)s MW can produce in its "
                "period (at most %(ceiling)s MWh)."
            )
            % {"capacity": project.capacity_mw, "ceiling": ceiling.quantize(Decimal("0.001"))},
            code="implausible_quantity",
            field="quantity",
        )


def _correction_below_issued(
    record: ProductionRecord, withdrawn: NumericRange, claims: list[UnitClaim]
) -> Conflict:
    ranges = [
        (
            claim,
            max(claim.serials.lower, withdrawn.lower),
            min(claim.serials.upper, withdrawn.upper),
        )
        for claim in claims
    ]
    holders = current_holders(
        [
            (claim.derived_claim.pk, None, None)
            if claim.role == UnitClaim.Role.SOURCE
            else (claim.pk, lower, upper)
            for claim, lower, upper in ranges
        ]
    )
    described = [
        DoubleClaim.describe_claim(claim, lower, upper, holders) for claim, lower, upper in ranges
    ]
    return Conflict(
        _(
            "Production record %(record)s cannot be corrected down by that much: its serials "
            "%(serials)s would be withdrawn, and %(count)s live claims hold some of them "
            "(%(claims)s). Revoke those claims first."
        )
        % {
            "record": record.pk,
            "serials": range_text(
                project=record.stream.project,
                unit_kind=record.stream.unit_kind,
                vintage=record.vintage,
                serials=withdrawn,
            ),
            "count": len(described),
            "claims": ", ".join(f"{item['mechanism']} {item['id']}" for item in described),
        },
        code="correction_below_issued",
        field="quantity",
        details={
            "record": record.pk,
            "withdrawn": [withdrawn.lower, withdrawn.upper],
            "claims": described,
        },
    )


def _units_to_withdraw(
    record: ProductionRecord, amount: Decimal
) -> tuple[NumericRange | None, int]:
    """The record's serials in force and how many of its highest a downward correction by
    ``amount`` withdraws: the total corrected down, rounded up, less what was withdrawn
    already. Refused beyond the units left (``correction_exceeds_record``)."""
    in_force = record.serials_in_force()
    produced = (record.serials.upper - record.serials.lower) if record.serials else 0
    available = (in_force.upper - in_force.lower) if in_force else 0
    corrected_down = amount - sum(
        record.corrections.filter(quantity__lt=0).values_list("quantity", flat=True),
        start=Decimal(0),
    )
    count = int(corrected_down.to_integral_value(rounding=ROUND_CEILING)) - (produced - available)
    if count > available:
        raise Conflict(
            _(
                "Production record %(record)s has %(available)s whole units left; a correction "
                "down by %(quantity)s would withdraw %(count)s."
            )
            % {"record": record.pk, "available": available, "quantity": amount, "count": count},
            code="correction_exceeds_record",
            field="quantity",
            details={"available": available, "withdrawn": count},
        )
    return in_force, count


def _withdraw(
    *, actor: User, record: ProductionRecord, amount: Decimal, reason: str, evidence: str
) -> ProductionRecord:
    """A downward correction, under the stream's allocation lock (no claim can be made on the
    record meanwhile): withdraw the record's highest serials that the corrected quantity no
    longer covers, rounding the whole units down (a fraction already carried on is not
    recovered), and refuse if a live claim holds any of them."""
    stream = record.stream
    advisory_xact_lock(STREAM_SERIAL_ALLOCATION, stream.pk)
    locked_stream = type(stream).objects.select_for_update(of=("self",)).get(pk=stream.pk)
    in_force, count = _units_to_withdraw(record, amount)
    withdrawn = NumericRange(in_force.upper - count, in_force.upper, "[)") if count else None
    if withdrawn is not None:
        holders = list(
            UnitClaim.objects.filter(
                stream_id=stream.pk, status=UnitClaim.Status.LIVE, serials__overlap=withdrawn
            )
            .select_related("mechanism", "stream__project", "account__organisation")
            .order_by("serials")[:MAX_CLAIMS_NAMED]
        )
        if holders:
            raise _correction_below_issued(record, withdrawn, holders)
    return ProductionRecord.objects.create(
        stream=stream,
        period=record.period,
        quantity=-amount,
        # A withdrawal allocates nothing: the fraction carried passes through unchanged, so
        # the chain of fractions from record to record stays whole.
        carried_in=locked_stream.carried_remainder,
        carried_out=locked_stream.carried_remainder,
        units=0,
        serials=None,
        vintage=record.vintage,
        source=ProductionRecord.Source.CORRECTION,
        corrects=record,
        withdrawn=withdrawn,
        reason=reason,
        evidence=evidence,
        entered_by=actor,
    )


@retry_transaction()
def production_record_correct(
    *,
    actor: User,
    production_record: ProductionRecord,
    direction: str,
    quantity: Decimal | int | str,
    reason: str,
    evidence: str,
) -> ProductionRecord:
    """Correct a metered record by a compensating entry: a correction record linked to it,
    with its reason and evidence and a ``production.corrected`` ledger event; the corrected
    record never changes.

    Upward, the correction receives whole-unit serials after the stream's existing ones (under
    the stream's allocation lock, carrying fractions as any record), and issuance claims them
    from the correction record. Downward, it withdraws the record's highest serials; refused
    with ``correction_below_issued`` (naming the claims and who holds their units now, and
    written to the ledger as a refused attempt) when a live claim holds any of them.
    Administrators and issuing bodies of a mechanism issued from the record's units only.
    """
    record = ProductionRecord.objects.select_related("stream__project").get(pk=production_record.pk)
    require_production_corrector(actor, record)
    amount, reason, evidence = _correction_input(
        record, direction=direction, quantity=quantity, reason=reason, evidence=evidence
    )
    attempted = {"record": record.pk, "direction": direction, "quantity": amount}
    try:
        with transaction.atomic():
            if direction == "up":
                _check_plausible_upward(record, amount)
                correction = allocate_production(
                    actor=actor,
                    project=record.stream.project,
                    unit_kind=record.stream.unit_kind,
                    period=record.period,
                    quantity=amount,
                    source=ProductionRecord.Source.CORRECTION,
                    corrects=record,
                    reason=reason,
                    evidence=evidence,
                )
            else:
                correction = _withdraw(
                    actor=actor, record=record, amount=amount, reason=reason, evidence=evidence
                )
            _record_correction_event(actor=actor, record=record, correction=correction)
    except Conflict as refusal:
        if refusal.code == "correction_below_issued":
            record_refusal(
                actor=actor,
                operation="production_record_correct",
                error=refusal,
                attempted=attempted,
            )
        raise
    return correction


def _record_correction_event(
    *, actor: User, record: ProductionRecord, correction: ProductionRecord
) -> None:
    project = record.stream.project
    correction.stream = record.stream
    record_event(
        kind=LedgerEvent.Kind.PRODUCTION_CORRECTED,
        actor=actor,
        subjects=[
            f"project:{project.pk}",
            f"stream:{record.stream_id}",
            f"record:{correction.pk}",
            f"record:{record.pk}",
        ],
        payload={
            **production_payload(correction, project),
            "direction": "up" if correction.quantity > 0 else "down",
            "corrected_quantity": _corrected_total(record),
            "serial_range": range_text(
                project=project,
                unit_kind=record.stream.unit_kind,
                vintage=record.vintage,
                serials=correction.serials or correction.withdrawn,
            ),
        },
    )
