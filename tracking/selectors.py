"""Reads on holdings that more than one caller needs: the public verification of a serial, a
retirement's certificate and a holder's statement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from django.db.backends.postgresql.psycopg_any import NumericRange
from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from accounts.models import HoldingAccount
from registry import serials as serial_numbers
from registry.api.serializers import range_text
from registry.errors import DomainError, NotFound
from registry.models import Checkpoint, LedgerEvent, ProductionRecord, Project, UnitClaim
from tracking.models import Block, Cancellation, CorrespondingAdjustment, Retirement, Transfer

# Ledger kinds that move or end units, with the payload key that lists the ranges touched.
_CUSTODY_KINDS = {
    LedgerEvent.Kind.UNITS_ISSUED,
    LedgerEvent.Kind.UNITS_TRANSFERRED,
    LedgerEvent.Kind.UNITS_RETIRED,
    LedgerEvent.Kind.UNITS_CANCELLED,
    LedgerEvent.Kind.BLOCK_STATUS,
    LedgerEvent.Kind.CLAIM_REVOKED,
    # Allowances: allocated (or taken back by a downward adjustment) and surrendered.
    LedgerEvent.Kind.ALLOWANCES_ALLOCATED,
    LedgerEvent.Kind.UNITS_SURRENDERED,
}


def _touches(event: LedgerEvent, sequence: int) -> bool:
    """Whether a custody event moved the unit (events about other ranges of the claim do not)."""
    payload = event.payload
    ranges = payload.get("ranges")
    if ranges is not None:
        for moved in ranges:
            try:
                parsed = serial_numbers.parse_range(moved["serials"])
            except (KeyError, TypeError, serial_numbers.SerialError):
                continue
            if parsed.serial_range.contains(sequence):
                return True
        return False
    if "range" in payload:
        lower, upper = payload["range"]
        return lower <= sequence < upper
    return True  # issuance and revocation concern the whole claim


def _custody_entry(event: LedgerEvent) -> dict[str, Any]:
    payload = event.payload
    entry = {
        "event": event.pk,
        "kind": event.kind,
        "occurred_at": event.occurred_at,
        "event_hash": event.event_hash,
    }
    for key in ("mechanism", "from", "to", "account", "transfer", "retirement", "cancellation"):
        if key in payload:
            entry[key] = payload[key]
    if event.kind == LedgerEvent.Kind.BLOCK_STATUS:
        entry["status"] = payload.get("to")
    return entry


def _claim_summary(claim: UnitClaim) -> dict[str, Any]:
    return {
        "id": claim.pk,
        "mechanism": claim.mechanism.code,
        "role": claim.role,
        "status": claim.status,
        "vintage": claim.vintage,
        "issued_at": claim.issued_at,
        "expires_at": claim.expires_at,
        "revoked_at": claim.revoked_at,
        "revocation_reason": claim.revocation_reason,
    }


def cancellation_serial_ranges(cancellation: Cancellation) -> list[str]:
    """The serial ranges a cancellation took out of circulation, as text, in project, vintage
    and serial order."""
    prefetched = getattr(cancellation, "_prefetched_objects_cache", {}).get("blocks")
    if prefetched is not None:
        return _serial_ranges(list(prefetched))
    return _serial_ranges(
        list(
            cancellation.blocks.select_related("stream__project").order_by(
                "stream__project__code", "vintage", "serials"
            )
        )
    )


def _cancellations(claims: list[UnitClaim], sequence: int) -> list[dict[str, Any]]:
    """Cancellations of the blocks that held the unit (by its holder, by a revocation, or GECs
    cancelled under R7 when their MWh became CCER): published with their reason and every
    serial range each one cancelled."""
    if not claims:
        return []
    blocks = (
        Block.objects.filter(
            claim__in=claims, serials__contains=sequence, cancellation__isnull=False
        )
        .select_related("cancellation", "mechanism")
        .order_by("cancellation__created_at", "pk")
    )
    return [
        {
            "claim": block.claim_id,
            "mechanism": block.mechanism.code,
            "cancellation": str(block.cancellation.public_id),
            "reason": block.cancellation.reason,
            "cancelled_at": block.cancellation.created_at,
            "quantity": block.cancellation.quantity,
            "serial_ranges": cancellation_serial_ranges(block.cancellation),
        }
        for block in blocks
    ]


def _adjustments_of(stream_id: int, sequence: int) -> list[dict[str, Any]]:
    """The corresponding adjustments (R14) of a unit that left its host country, oldest first."""
    adjustments = CorrespondingAdjustment.objects.filter(
        stream_id=stream_id, serials__contains=sequence
    ).select_related("transfer", "mechanism")
    return [
        {
            "id": adjustment.pk,
            "mechanism": adjustment.mechanism.code,
            "host_country": adjustment.host_country,
            "acquiring_country": adjustment.acquiring_country,
            "status": adjustment.status,
            "transfer": str(adjustment.transfer.public_id),
            "created_at": adjustment.created_at,
            "pending_at": adjustment.pending_at,
            "completed_at": adjustment.completed_at,
        }
        for adjustment in adjustments.order_by("pk")
    ]


def unit_verify(serial_text: str) -> dict[str, Any]:
    """Everything the public may know about one unit: its project and production, the claims on
    it (live and revoked), which mechanism holds it now and in what status, its chain of custody
    from the ledger, its retirement if it was retired (with the neutrality event it served), and
    the corresponding adjustments (R14) if it crossed a border."""
    try:
        serial = serial_numbers.Serial.parse(serial_text)
    except serial_numbers.SerialError as error:
        raise DomainError(error.message, code=error.code, field="serial") from None
    project = Project.objects.filter(code=serial.project_code, country=serial.country).first()
    record = (
        ProductionRecord.objects.filter(
            stream__project=project,
            stream__unit_kind=serial.unit_kind,
            serials__contains=serial.sequence,
        )
        .select_related("stream")
        .first()
        if project is not None
        else None
    )
    if record is None or record.vintage != serial.vintage:
        raise NotFound(
            _("No unit with serial %(serial)s exists.") % {"serial": str(serial)},
            code="not_found",
            field="serial",
        )
    unit = NumericRange(serial.sequence, serial.sequence + 1, "[)")
    claims = list(
        UnitClaim.objects.filter(stream=record.stream, serials__overlap=unit)
        .select_related("mechanism", "derived_claim__mechanism")
        .order_by("issued_at", "pk")
    )
    live = next((claim for claim in claims if claim.status == UnitClaim.Status.LIVE), None)
    result: dict[str, Any] = {
        "serial": str(serial),
        "project": {
            "code": project.code,
            "name": project.name,
            "country": project.country,
            "province": project.province,
            "technology": project.technology,
        },
        "unit_kind": serial.unit_kind,
        "vintage": serial.vintage,
        "production_period": {
            "start": record.period.lower.isoformat(),
            "end": record.period.upper.isoformat(),
        },
        "claimed": live is not None,
        "claim": None,
        "derived_into": None,
        "status": "unclaimed",
        "custody": [],
        "retirement": None,
        "corresponding_adjustments": [],
        "claims_history": [_claim_summary(claim) for claim in claims],
        "cancellations": _cancellations(claims, serial.sequence),
    }
    withdrawal = record.corrections.filter(withdrawn__contains=serial.sequence).first()
    if withdrawal is not None:
        # A downward correction took the unit out of the record's production.
        result["status"] = "withdrawn"
        result["withdrawn_by"] = {
            "correction": withdrawal.pk,
            "reason": withdrawal.reason,
            "corrected_at": withdrawal.created_at,
        }
    if live is None:
        return result
    result["claim"] = _claim_summary(live)
    if live.role == UnitClaim.Role.SOURCE:
        # The unit was consumed by a derivation (MWh -> tonnes): the tonnes carry its life.
        derived = live.derived_claim
        result["derived_into"] = {
            **_claim_summary(derived),
            "conversion_factor": str(derived.conversion_factor),
        }
        result["status"] = "derived"
        return result
    block = (
        Block.objects.filter(claim=live, serials__contains=serial.sequence)
        .select_related("account", "retirement__event", "mechanism")
        .first()
    )
    result["corresponding_adjustments"] = _adjustments_of(record.stream_id, serial.sequence)
    result["status"] = block.status if block is not None else "unknown"
    events = LedgerEvent.objects.filter(
        subjects__contains=[f"claim:{live.pk}"], kind__in=_CUSTODY_KINDS
    ).order_by("id")
    result["custody"] = [
        _custody_entry(event) for event in events.iterator() if _touches(event, serial.sequence)
    ]
    if block is not None and block.retirement is not None:
        retirement = block.retirement
        result["retirement"] = {
            "id": str(retirement.public_id),
            "beneficiary_name": retirement.beneficiary_name,
            "beneficiary_organisation": retirement.beneficiary_organisation,
            "purpose": retirement.purpose,
            "claim_period_start": retirement.claim_period_start,
            "claim_period_end": retirement.claim_period_end,
            "location": retirement.location,
            "reporting_year": retirement.reporting_year,
            "event": (
                {"id": retirement.event.pk, "name": retirement.event.name}
                if retirement.event is not None
                else None
            ),
            "retired_at": retirement.created_at,
        }
    return result


# --- retirement certificates ------------------------------------------------------------------


@dataclass(frozen=True)
class RetirementCertificate:
    """What a retirement certificate states, and the ledger records that prove it.

    ``event_hash`` is the hash of the ``units.retired`` ledger event; ``checkpoint`` the first
    checkpoint whose transaction range holds that event (None while it is not sealed yet).
    """

    retirement: Retirement
    serial_ranges: list[str]
    projects: list[Project]
    claim_ids: list[int]
    event_hash: str | None
    event_id: int | None
    checkpoint: Checkpoint | None


def _retired_blocks(retirement: Retirement) -> list[Block]:
    return list(
        retirement.blocks.select_related("stream__project").order_by(
            "stream__project__code", "vintage", "serials"
        )
    )


def _serial_ranges(blocks: list[Block]) -> list[str]:
    return [
        text
        for block in blocks
        if (
            text := range_text(
                project=block.stream.project,
                unit_kind=block.stream.unit_kind,
                vintage=block.vintage,
                serials=block.serials,
            )
        )
    ]


def retirement_serial_ranges(retirement: Retirement) -> list[str]:
    """The serial ranges a retirement retired, as text, in project, vintage and serial order."""
    return _serial_ranges(_retired_blocks(retirement))


def retirement_certificate(*, public_id: Any) -> RetirementCertificate:
    """The certificate of the retirement ``public_id``; NotFound for an unknown id."""
    retirement = (
        Retirement.objects.select_related("mechanism", "event").filter(public_id=public_id).first()
    )
    if retirement is None:
        raise NotFound(_("No retirement has this id."), code="not_found", field="public_id")
    blocks = _retired_blocks(retirement)
    serial_ranges = _serial_ranges(blocks)
    projects = list({block.stream.project.pk: block.stream.project for block in blocks}.values())
    event = (
        LedgerEvent.objects.filter(
            kind=LedgerEvent.Kind.UNITS_RETIRED, subjects__contains=[f"retirement:{retirement.pk}"]
        )
        .order_by("pk")
        .first()
    )
    checkpoint = None
    if event is not None and event.txid is not None:
        checkpoint = (
            Checkpoint.objects.filter(xid_from__lte=event.txid, xid_to__gt=event.txid)
            .order_by("sequence")
            .first()
        )
    return RetirementCertificate(
        retirement=retirement,
        serial_ranges=serial_ranges,
        projects=projects,
        claim_ids=sorted({block.claim_id for block in blocks}),
        event_hash=event.event_hash if event else None,
        event_id=event.pk if event else None,
        checkpoint=checkpoint,
    )


# --- holders' statements ----------------------------------------------------------------------


class MovementKind(models.TextChoices):
    ISSUED = "issued", _("Issued")
    RECEIVED = "received", _("Received")
    SENT = "sent", _("Sent")
    RETIRED = "retired", _("Retired")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


# Whether a movement adds units to the account (+1) or takes them out (-1).
MOVEMENT_SIGN = {
    MovementKind.ISSUED: 1,
    MovementKind.RECEIVED: 1,
    MovementKind.SENT: -1,
    MovementKind.RETIRED: -1,
    MovementKind.CANCELLED: -1,
    MovementKind.EXPIRED: -1,
}


@dataclass(frozen=True)
class Movement:
    """Units of one mechanism that came into or left the account at one moment."""

    occurred_at: dt.datetime
    kind: str
    mechanism: str
    quantity: int
    reference: str
    counterparty: str = ""

    @property
    def signed_quantity(self) -> int:
        return MOVEMENT_SIGN[self.kind] * self.quantity

    @property
    def kind_label(self) -> str:
        return str(MovementKind(self.kind).label)


@dataclass
class MechanismBalance:
    """Opening balance, movements by kind and closing balance of one mechanism."""

    mechanism: str
    opening: int = 0
    issued: int = 0
    received: int = 0
    sent: int = 0
    retired: int = 0
    cancelled: int = 0
    expired: int = 0

    @property
    def closing(self) -> int:
        return (
            self.opening
            + self.issued
            + self.received
            - self.sent
            - self.retired
            - self.cancelled
            - self.expired
        )


@dataclass(frozen=True)
class Statement:
    """A holder's statement of one account over [period_start, period_end)."""

    account: HoldingAccount
    period_start: dt.datetime
    period_end: dt.datetime
    balances: list[MechanismBalance]
    movements: list[Movement]


def _account_movements(account: HoldingAccount, *, before: dt.datetime) -> Iterator[Movement]:
    """Every movement of ``account`` before ``before``, reconstructed from the holding tables.

    Blocks are split and moved, so no block row says what an account held at a past moment;
    the movements do: claims issued into the account (a claim split later keeps its issuance
    time and account in every part; a source claim consumed by a derived one never held
    units), transfers in and out, retirements from the account, and the account's cancelled and
    expired blocks (final blocks never change, so their account is where the units ended).
    Expired units left the account at their expiry time.
    """
    claims = (
        UnitClaim.objects.filter(account=account, issued_at__lt=before)
        .exclude(role=UnitClaim.Role.SOURCE)
        .values_list("pk", "issued_at", "mechanism__code", "quantity")
    )
    for pk, issued_at, mechanism, quantity in claims:
        yield Movement(issued_at, MovementKind.ISSUED, mechanism, quantity, f"claim:{pk}")
    received = Transfer.objects.filter(target_account=account, created_at__lt=before).values_list(
        "public_id", "created_at", "mechanism__code", "quantity", "source_account__number"
    )
    for public_id, created_at, mechanism, quantity, other in received:
        yield Movement(
            created_at, MovementKind.RECEIVED, mechanism, quantity, str(public_id), other
        )
    sent = Transfer.objects.filter(source_account=account, created_at__lt=before).values_list(
        "public_id", "created_at", "mechanism__code", "quantity", "target_account__number"
    )
    for public_id, created_at, mechanism, quantity, other in sent:
        yield Movement(created_at, MovementKind.SENT, mechanism, quantity, str(public_id), other)
    retired = Retirement.objects.filter(account=account, created_at__lt=before).values_list(
        "public_id", "created_at", "mechanism__code", "quantity", "beneficiary_name"
    )
    for public_id, created_at, mechanism, quantity, beneficiary in retired:
        yield Movement(
            created_at, MovementKind.RETIRED, mechanism, quantity, str(public_id), beneficiary
        )
    cancelled = (
        Block.objects.filter(
            account=account,
            cancellation__isnull=False,
            cancellation__created_at__lt=before,
        )
        .values_list("cancellation__public_id", "cancellation__created_at", "mechanism__code")
        .annotate(units=Sum("quantity"))
        .order_by()
    )
    for public_id, created_at, mechanism, quantity in cancelled:
        yield Movement(created_at, MovementKind.CANCELLED, mechanism, quantity, str(public_id))
    expired = (
        Block.objects.filter(account=account, status=Block.Status.EXPIRED, expires_at__lt=before)
        .values_list("expires_at", "mechanism__code")
        .annotate(units=Sum("quantity"))
        .order_by()
    )
    for expires_at, mechanism, quantity in expired:
        yield Movement(expires_at, MovementKind.EXPIRED, mechanism, quantity, "")


def account_statement(
    *, account: HoldingAccount, period_start: dt.datetime, period_end: dt.datetime
) -> Statement:
    """Every movement of ``account`` in [period_start, period_end) with opening and closing
    balances per mechanism.

    The opening balance is what the account held (active or frozen units) at ``period_start``,
    the sum of all its earlier movements; closing = opening + issued + received − sent −
    retired − cancelled − expired. A closing balance at the present equals the account's
    active and frozen blocks.
    """
    if period_end <= period_start:
        raise DomainError(
            _("The period must end after it starts."), code="empty_period", field="to"
        )
    balances: dict[str, MechanismBalance] = {}
    movements: list[Movement] = []
    for movement in _account_movements(account, before=period_end):
        balance = balances.setdefault(movement.mechanism, MechanismBalance(movement.mechanism))
        if movement.occurred_at < period_start:
            balance.opening += movement.signed_quantity
        else:
            setattr(balance, movement.kind, getattr(balance, movement.kind) + movement.quantity)
            movements.append(movement)
    movements.sort(key=lambda movement: (movement.occurred_at, movement.kind, movement.reference))
    return Statement(
        account=account,
        period_start=period_start,
        period_end=period_end,
        balances=[balances[code] for code in sorted(balances)],
        movements=movements,
    )


def current_holders(
    wanted: list[tuple[int, int | None, int | None]],
) -> dict[int, list[dict[str, Any]]]:
    """Who holds units of claims now: for each ``(claim id, lower, upper)`` (``None`` bounds:
    the whole claim), the accounts whose blocks hold units of that range, with the account's
    organisation, the blocks' status and the quantity, largest first. One grouped query per
    claim, so a claim split into a million blocks costs one scan of its index, not a million
    rows in memory."""
    from accounts.models import Organisation

    found: dict[int, list[dict[str, Any]]] = {}
    sql = f"""
        SELECT account.number, organisation.code, organisation.name, block.status,
               SUM(upper(block.serials * %(range)s) - lower(block.serials * %(range)s))
          FROM {Block._meta.db_table} AS block
          JOIN {HoldingAccount._meta.db_table} AS account ON account.id = block.account_id
          JOIN {Organisation._meta.db_table} AS organisation
            ON organisation.id = account.organisation_id
         WHERE block.claim_id = %(claim)s AND block.serials && %(range)s
         GROUP BY account.number, organisation.code, organisation.name, block.status
         ORDER BY 5 DESC, account.number, block.status
    """
    with connection.cursor() as cursor:
        for claim_id, lower, upper in wanted:
            cursor.execute(sql, {"claim": claim_id, "range": NumericRange(lower, upper, "[)")})
            found[claim_id] = [
                {
                    "account": number,
                    "organisation": code,
                    "organisation_name": name,
                    "status": status,
                    "quantity": int(quantity),
                }
                for number, code, name, status, quantity in cursor.fetchall()
            ]
    return found
