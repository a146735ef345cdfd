"""Who may do what, checked by the services (the API adds object permissions on top).

Each function raises ``Forbidden`` naming the refused operation; none writes anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

from registry.errors import Forbidden
from registry.roles import Role

if TYPE_CHECKING:  # the models live in accounts, which depends on this module, not the reverse
    from accounts.models import HoldingAccount, User


def is_administrator(actor: User) -> bool:
    return bool(actor.is_active and actor.is_registry_administrator)


def require_administrator(actor: User, operation: str) -> None:
    if not is_administrator(actor):
        raise Forbidden(
            _("Only a registry administrator may %(operation)s.") % {"operation": operation},
            field="actor",
        )


def require_account_operator(actor: User, account: HoldingAccount) -> None:
    """The actor acts for the organisation that holds the account (or administers the registry).

    Auditors read everything and write nothing, so they never pass.
    """
    if is_administrator(actor):
        return
    if (
        actor.is_active
        and actor.organisation_id == account.organisation_id
        and actor.role in (Role.HOLDER, Role.PROJECT_OWNER, Role.ISSUER)
    ):
        return
    raise Forbidden(
        _("You may not operate account %(account)s of another organisation.")
        % {"account": account.number},
        field="source_account",
    )


def require_issuer_of(actor: User, mechanism) -> None:
    """The actor is an issuing-body officer of an organisation allowed to issue the mechanism."""
    if is_administrator(actor):
        return
    if (
        actor.is_active
        and actor.role == Role.ISSUER
        and actor.organisation_id is not None
        and mechanism.issuing_bodies.filter(pk=actor.organisation_id).exists()
    ):
        return
    raise Forbidden(
        _("You may not issue %(mechanism)s.") % {"mechanism": mechanism.code}, field="mechanism"
    )


def require_project_operator(actor: User, project) -> None:
    """Project owners for their own projects, issuing bodies and administrators for any."""
    if is_administrator(actor):
        return
    if actor.is_active and actor.role == Role.ISSUER:
        return
    if (
        actor.is_active
        and actor.role == Role.PROJECT_OWNER
        and actor.organisation_id == project.owner_id
    ):
        return
    raise Forbidden(
        _("You may not act for project %(project)s.") % {"project": project.code},
        field="project",
    )


def require_production_verifier(actor: User) -> None:
    """Issuing bodies and administrators verify production; a project owner's own figures wait
    in the verification queue."""
    if is_administrator(actor):
        return
    if actor.is_active and actor.role == Role.ISSUER:
        return
    raise Forbidden(
        _(
            "Only an issuing body or an administrator records production; submit it for "
            "verification instead."
        ),
        code="verification_required",
        field="project",
    )


def require_production_corrector(actor: User, record) -> None:
    """Administrators, and issuing-body officers of an organisation that issues a mechanism
    the record's units can be issued as (its own unit kind, or tonnes derived from MWh or saved
    tce), correct a production record."""
    if is_administrator(actor):
        return
    if (
        actor.is_active
        and actor.role == Role.ISSUER
        and actor.organisation_id is not None
        and issuable_from(record).filter(issuing_bodies=actor.organisation_id).exists()
    ):
        return
    raise Forbidden(
        _(
            "Only an administrator or an issuing body of a mechanism issued from these units may "
            "correct production."
        ),
        field="production_record",
    )


def issuable_from(record):
    """Mechanisms (certificates) that can be issued from the record's units."""
    from django.db.models import Q

    from registry.models import Mechanism, UnitKind

    unit_kind = record.stream.unit_kind
    kinds = Q(unit_kind=unit_kind)
    if unit_kind in (UnitKind.ELECTRICITY, UnitKind.ENERGY_SAVED):
        kinds |= Q(unit_kind=UnitKind.CARBON, accepts_derived_units=True)
    return Mechanism.objects.filter(kinds, kind=Mechanism.Kind.CERTIFICATE)
