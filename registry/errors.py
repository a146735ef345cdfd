"""Domain errors: every refusal has a stable machine code, the offending field and the facts.

Services raise these; the API maps them to problem+json responses with ``http_status``, commands
print them. Messages are translatable and use named placeholders.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """A refused operation. Nothing was written, except a refused-attempt ledger event where the
    service says so."""

    code = "invalid_input"
    http_status = 400

    def __init__(
        self,
        message: Any,
        *,
        code: str | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(str(message))
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
        self.field = field
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "field": self.field,
            "message": str(self.message),
            "details": self.details,
        }


class NotFound(DomainError):
    http_status = 404


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403


class Conflict(DomainError):
    """The registry's state refuses the operation (409)."""

    code = "conflict"
    http_status = 409


class UnitsExpired(Conflict):
    """Units whose validity has ended at the operation's time: they are never issued
    (``expired_on_issue``) and never move (``units_expired``). ``details`` names the serials
    and when they expired."""

    code = "units_expired"


class DoubleClaim(Conflict):
    """Units are already held by live claims. ``details`` names every overlapping claim
    (``claims``: mechanism, claim id, the account it was issued to, the overlapping serial range
    and the current holders of those units: account, organisation, status, quantity); the first
    one's fields stay at the top level (``existing_claim``, ``overlap``) for older clients."""

    code = "double_claim"

    @staticmethod
    def describe_claim(claim, lower: int, upper: int, holders) -> dict[str, Any]:
        from registry.serials import SerialRange

        project = claim.stream.project
        holder_claim = claim
        if claim.role == claim.Role.SOURCE:
            # The MWh were consumed by a derivation: the derived claim holds the certificates.
            holder_claim = claim.derived_claim
        account = holder_claim.account
        overlap_text = SerialRange(lower, upper).format(
            project.country, project.code, claim.stream.unit_kind, claim.vintage
        )
        return {
            "id": holder_claim.pk,
            "mechanism": claim.mechanism.code,
            "role": claim.role,
            "holder_account": account.number,
            "holder_organisation": account.organisation.code,
            "issued_to_organisation_name": account.organisation.name,
            "overlap": {
                "stream": claim.stream_id,
                "lower": lower,
                "upper": upper,
                "serials": overlap_text,
            },
            "current_holders": list(holders.get(holder_claim.pk, [])),
        }

    @classmethod
    def naming(
        cls,
        existing_claim,
        overlap_lower: int,
        overlap_upper: int,
        *,
        others: list[tuple[Any, int, int]] | None = None,
        holders: dict[int, list[dict[str, Any]]] | None = None,
    ) -> DoubleClaim:
        """The refusal naming ``existing_claim`` (and ``others``: further overlapping claims,
        each with its overlap) with the current holders of their units (``holders`` by the id
        of the claim holding the certificates)."""
        holders = holders or {}
        described = [
            cls.describe_claim(claim, lower, upper, holders)
            for claim, lower, upper in [(existing_claim, overlap_lower, overlap_upper)]
            + list(others or [])
        ]
        first = described[0]
        current = "; ".join(
            f"{holder['account']} ({holder['organisation_name']}): {holder['quantity']}"
            for holder in first["current_holders"]
        )
        message = _(
            "Units %(serials)s are already claimed as %(mechanism)s by claim %(claim)s, "
            "issued to account %(account)s (%(organisation)s)."
        ) % {
            "serials": first["overlap"]["serials"],
            "mechanism": first["mechanism"],
            "claim": first["id"],
            "account": first["holder_account"],
            "organisation": first["issued_to_organisation_name"],
        }
        if current:
            message = _("%(message)s Held now by %(holders)s.") % {
                "message": message,
                "holders": current,
            }
        if len(described) > 1:
            message = _("%(message)s %(count)s other live claims overlap: %(claims)s.") % {
                "message": message,
                "count": len(described) - 1,
                # The message names the first few; ``details.claims`` names them all.
                "claims": ", ".join(
                    f"{item['mechanism']} {item['id']} ({item['overlap']['serials']})"
                    for item in described[1:11]
                )
                + (", ..." if len(described) > 11 else ""),
            }
        return cls(
            message,
            field="serials",
            details={
                "rule": "R1",
                "existing_claim": {
                    key: first[key]
                    for key in ("id", "mechanism", "role", "holder_account", "holder_organisation")
                },
                "overlap": first["overlap"],
                "claims": described,
            },
        )


IDENTITY_FIELD_LABELS = {
    "national_code": _("National filing code"),
    "meters": _("Meter"),
    "identifiers": _("Identifier in another registry"),
}


class DuplicateAsset(Conflict):
    """A registration names an identity of the physical asset (national filing code, revenue
    meter, identifier in another registry) that a live project already holds. ``details`` names
    that project (code, name, status, owner organisation) and the identifier that collided."""

    code = "duplicate_asset"

    @classmethod
    def naming(cls, holder, *, field: str, value: str, **identifier: Any) -> DuplicateAsset:
        owner = holder.owner
        return cls(
            _(
                "%(what)s %(value)s is already registered to project %(project)s (%(name)s), "
                "owned by %(owner)s (%(owner_code)s): one physical asset is registered once."
            )
            % {
                "what": IDENTITY_FIELD_LABELS.get(field, field),
                "value": value,
                "project": holder.code,
                "name": holder.name,
                "owner": owner.name,
                "owner_code": owner.code,
            },
            field=field,
            details={
                "rule": "I9",
                "holder": {
                    "project": holder.code,
                    "name": holder.name,
                    "status": holder.status,
                    "owner": {"code": owner.code, "name": owner.name},
                },
                "identifier": {"field": field, "value": value, **identifier},
            },
        )


class RuleViolation(Conflict):
    """A rule of the cross-mechanism catalogue refuses the operation. ``details`` holds the rule
    id and the facts that triggered it."""

    code = "rule_violation"

    @classmethod
    def of(cls, rule_id: str, message: Any, *, field: str | None = None, **facts: Any):
        return cls(message, field=field, details={"rule": rule_id, "facts": facts})
