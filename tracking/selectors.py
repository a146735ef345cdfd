"""Reads on holdings that more than one caller needs: the public verification of a serial."""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql.psycopg_any import NumericRange
from django.utils.translation import gettext_lazy as _

from registry import serials as serial_numbers
from registry.errors import DomainError, NotFound
from registry.models import LedgerEvent, ProductionRecord, Project, UnitClaim
from tracking.models import Block, CorrespondingAdjustment

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


def _cancellations(claims: list[UnitClaim], sequence: int) -> list[dict[str, Any]]:
    """Revoked claims whose block holding the unit was cancelled (e.g. GECs cancelled under R7
    when their MWh became CCER): published with the cancellation and its reason."""
    revoked = [claim for claim in claims if claim.status == UnitClaim.Status.REVOKED]
    if not revoked:
        return []
    blocks = (
        Block.objects.filter(
            claim__in=revoked, serials__contains=sequence, cancellation__isnull=False
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
