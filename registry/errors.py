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


class DoubleClaim(Conflict):
    """A unit is already held by a live claim. ``details`` names that claim: mechanism, claim id,
    holder account and organisation, and the overlapping serial range."""

    code = "double_claim"

    @classmethod
    def naming(cls, existing_claim, overlap_lower: int, overlap_upper: int) -> DoubleClaim:
        from registry.serials import SerialRange

        project = existing_claim.stream.project
        overlap = SerialRange(overlap_lower, overlap_upper)
        overlap_text = overlap.format(
            project.country, project.code, existing_claim.stream.unit_kind, existing_claim.vintage
        )
        holder_claim = existing_claim
        if existing_claim.role == existing_claim.Role.SOURCE:
            # The MWh were consumed by a derivation: the holder is the derived claim's account.
            holder_claim = existing_claim.derived_claim
        account = holder_claim.account
        return cls(
            _(
                "Units %(serials)s are already claimed as %(mechanism)s by claim %(claim)s, "
                "issued to account %(account)s (%(organisation)s)."
            )
            % {
                "serials": overlap_text,
                "mechanism": existing_claim.mechanism.code,
                "claim": holder_claim.pk,
                "account": account.number,
                "organisation": account.organisation.name,
            },
            field="serials",
            details={
                "rule": "R1",
                "existing_claim": {
                    "id": holder_claim.pk,
                    "mechanism": existing_claim.mechanism.code,
                    "role": existing_claim.role,
                    "holder_account": account.number,
                    "holder_organisation": account.organisation.code,
                },
                "overlap": {
                    "stream": existing_claim.stream_id,
                    "lower": overlap_lower,
                    "upper": overlap_upper,
                    "serials": overlap_text,
                },
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
