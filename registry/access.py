"""The API's permission matrix: who may see and do what, stated once.

Two halves, kept side by side so they cannot drift apart:

* ``SCOPES`` — for each resource, the rows a caller may see (a ``Q`` over field names). Every
  list and every object lookup of the API starts from ``visible(...)``, so a row the caller may not
  see is absent from lists and answers 404, never 403 (its existence is not disclosed).
* ``rules`` permissions — for each resource and write action, whether the caller may attempt it
  (``<resource>.<action>``, checked with :func:`allowed`). An object-level check runs on the row
  the action touches. The services check again and explain refusals; this layer keeps callers
  away from what their role never does.

=================  =========================  ==============================================
resource           sees                       may
=================  =========================  ==============================================
organisation       admin, auditor: all;       create: admin
                   others: their own
account            admin, auditor: all;       open: admin, or a member of the organisation
                   others: their organisation freeze / unfreeze: admin; close: admin, members
user               themselves (users/me)      -
mechanism          every authenticated user   - (reference data, read only)
project            admin, auditor, issuers:   register: admin, project owners (own org)
                   all; project owners: own   approve / reject, transfer ownership:
                                              admin
stream             as its project             -
production record  admin, auditor, issuers:   create (= verified): admin, issuers
                   all; owners: own projects
production         admin, auditor, issuers:   submit: admin, issuers, the project's
submission         all; owners: own projects  owners; verify / reject: admin, issuers
issuance request   admin, auditor: all;       request: admin, issuers, the project's
                   issuers: own mechanisms;   owners; approve / reject: admin, issuers
                   others: own projects or    of the mechanism
                   into own accounts
issuance (claim)   admin, auditor: all;       issue: admin, issuers of the mechanism
                   issuers: own mechanisms;   revoke: admin
                   owners: own projects;
                   holders: into own accounts
block              admin, auditor: all;       set status (freeze/unfreeze): admin
                   others: own accounts
transfer           admin, auditor: all;       create: admin, members of the source
                   others: from or to own     account's organisation (holder, project
                   accounts                   owner, issuer)
retirement         admin, auditor: all;       create: as transfer, from the account
                   others: own accounts;
                   one by id: the public
cancellation       admin, auditor: all;       create: as transfer
                   others: own accounts
declaration        admin, auditor, issuers:   sign: project owners (own projects) only:
                   all; owners: own projects  it is the owner's attestation
                                              revoke: admin, the owner
registration       admin, auditor, issuers:   create: admin, issuers of the mechanism
(mechanism)        all; owners: own projects
rule catalogue     the public                 -
ledger event       admin, auditor: all;       -
                   others: their own acts
compliance scheme  every authenticated user   - (reference data, read only)
covered entity     admin, auditor: all;       create: admin
                   others: their organisation
verified emission  as its covered entity      create: admin
allocation         as its covered entity      create: admin
surrender          as its covered entity      create: admin, members of the entity's
                                              organisation operating its compliance account
checkpoint         everyone, without login    - (published so anyone can keep copies)
corresponding      admin, auditor: all;       set status (forward only): admin
adjustment (R14)   others: of transfers from
                   or to own accounts
neutrality event   every authenticated user   create: admin
(R11)
verify/{serial}    the public                 -
import batch       admin, auditor             create (upload a file): admin
external record    admin, auditor             confirm-match / reject-match: admin
issuance export    the public (setting        -
                   REGISTRY_INTEROP_PUBLIC_
                   EXPORT; else authenticated)
grid factors       the public                 compute: admin
scope 2 report     admin, auditor: all;       create: admin, account operators of the
                   others: own organisation   organisation
uniqueness report  admin, auditor: all;       request: admin, auditor (a report reads the
                   others: own requests       registry and writes none of it: no ledger
                                              event); download (JSON, CSV, HTML, PDF,
                                              findings): whoever sees it
green power        admin, auditor: all;       create: admin, project owners (the
contract           others: as generator's     generator's owner; the service checks it)
                   owner or buyer
electricity        admin, auditor: all;       create: admin, account operators of the
consumption        others: their organisation organisation
green power        admin, auditor: all;       settle a month: admin; confirm: admin (for a
settlement         others: their contracts'   named party), account operators of either
                                              party (the service checks which)
emission scenario  nothing is stored          compute (POST accounting/scenarios/): every
(accounting)                                  authenticated user, any role; a calculation on
                                              the body that reads and writes nothing
=================  =========================  ==============================================

Auditors read everything and write nothing (a uniqueness report they request is a read of the
registry, stored as evidence); outsiders (no role, no organisation) see mechanisms, checkpoints
and the public pages only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rules
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from registry.roles import Role

NOTHING = Q(pk__in=[])
EVERYTHING = Q()


def _role(user) -> str | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMINISTRATOR
    return user.role


def _organisation_id(user) -> int | None:
    return getattr(user, "organisation_id", None) if _role(user) else None


# --- predicates -------------------------------------------------------------------------------


@rules.predicate
def is_administrator(user) -> bool:
    return _role(user) == Role.ADMINISTRATOR


@rules.predicate
def is_auditor(user) -> bool:
    return _role(user) == Role.AUDITOR


@rules.predicate
def is_issuer(user) -> bool:
    return _role(user) == Role.ISSUER and _organisation_id(user) is not None


@rules.predicate
def is_project_owner(user) -> bool:
    return _role(user) == Role.PROJECT_OWNER and _organisation_id(user) is not None


@rules.predicate
def is_account_operator(user) -> bool:
    """Roles that operate their organisation's holding accounts."""
    return (
        _role(user) in (Role.HOLDER, Role.PROJECT_OWNER, Role.ISSUER)
        and _organisation_id(user) is not None
    )


@rules.predicate
def is_member_of(user, organisation) -> bool:
    return organisation is not None and _organisation_id(user) == organisation.pk


@rules.predicate
def owns_project(user, project) -> bool:
    return project is not None and _organisation_id(user) == project.owner_id


@rules.predicate
def issues_mechanism(user, mechanism) -> bool:
    if mechanism is None or _organisation_id(user) is None:
        return False
    return mechanism.issuing_bodies.filter(pk=_organisation_id(user)).exists()


@rules.predicate
def issues_from_record(user, record) -> bool:
    """The caller's organisation issues a mechanism the record's units can be issued as."""
    from registry.permissions import issuable_from

    if record is None or _organisation_id(user) is None:
        return False
    return issuable_from(record).filter(issuing_bodies=_organisation_id(user)).exists()


@rules.predicate
def holds_account(user, account) -> bool:
    return account is not None and _organisation_id(user) == account.organisation_id


# --- what a caller may attempt ----------------------------------------------------------------

rules.add_rule("organisation.create", is_administrator)
rules.add_rule("account.open", is_administrator | (is_account_operator & is_member_of))
rules.add_rule("account.set_status", is_administrator)
rules.add_rule("account.close", is_administrator | (is_account_operator & holds_account))
rules.add_rule("project.register", is_administrator | is_project_owner)
rules.add_rule("project.set_status", is_administrator)
rules.add_rule("project.transfer_ownership", is_administrator)
# Recording production is verifying it: issuing bodies and administrators. Project owners submit
# theirs to the verification queue (production_submission.create).
rules.add_rule("production_record.create", is_administrator | is_issuer)
# Checked before a bulk request's rows, each of which is then checked as
# ``production_record.create`` against its project.
rules.add_rule("production_record.submit", is_administrator | is_issuer)
rules.add_rule("production_record.correct", is_administrator | (is_issuer & issues_from_record))
rules.add_rule(
    "production_submission.create", is_administrator | is_issuer | (is_project_owner & owns_project)
)
rules.add_rule("production_submission.decide", is_administrator | is_issuer)
rules.add_rule(
    "issuance_request.create",
    is_administrator | is_issuer | (is_project_owner & owns_project),
)
rules.add_rule("issuance_request.decide", is_administrator | (is_issuer & issues_mechanism))
rules.add_rule("issuance.create", is_administrator | (is_issuer & issues_mechanism))
rules.add_rule("grid_factor.compute", is_administrator)
rules.add_rule("scope2_report.create", is_administrator | (is_account_operator & is_member_of))
rules.add_rule("issuance.revoke", is_administrator)
rules.add_rule("block.set_status", is_administrator)
rules.add_rule("holding.operate", is_administrator | (is_account_operator & holds_account))
rules.add_rule("declaration.sign", is_project_owner & owns_project)
rules.add_rule("declaration.revoke", is_administrator | (is_project_owner & owns_project))
rules.add_rule("registration.create", is_administrator | (is_issuer & issues_mechanism))
rules.add_rule("covered_entity.create", is_administrator)
rules.add_rule("verified_emission.create", is_administrator)
rules.add_rule("allocation.create", is_administrator)
# The target is the entity's compliance account: its holders surrender from it.
rules.add_rule("surrender.create", is_administrator | (is_account_operator & holds_account))
rules.add_rule("corresponding_adjustment.set_status", is_administrator)
rules.add_rule("neutrality_event.create", is_administrator)
rules.add_rule("import_batch.create", is_administrator)
rules.add_rule("external_record.match", is_administrator)
rules.add_rule("uniqueness_report.request", is_administrator | is_auditor)
# Green power settlement: the services check which party an actor acts for.
rules.add_rule("green_power_contract.create", is_administrator | is_project_owner)
rules.add_rule(
    "electricity_consumption.create", is_administrator | (is_account_operator & is_member_of)
)
rules.add_rule("green_power_settlement.settle", is_administrator)
rules.add_rule("green_power_settlement.confirm", is_administrator | is_account_operator)


REFUSALS = {
    "organisation.create": _("Only a registry administrator may create organisations."),
    "account.open": _("You may open accounts only for your own organisation."),
    "account.set_status": _(
        "Only a registry administrator may freeze, unfreeze or close accounts."
    ),
    "account.close": _("You may close only your own organisation's accounts."),
    "project.register": _("Only project owners and administrators may register projects."),
    "project.set_status": _("Only a registry administrator may approve or reject projects."),
    "project.transfer_ownership": _(
        "Only a registry administrator may transfer the ownership of a project."
    ),
    "production_record.create": _(
        "Only issuing bodies and administrators record production; project owners submit it "
        "for verification."
    ),
    "production_record.correct": _(
        "Only an administrator or an issuing body of a mechanism issued from these units may "
        "correct production."
    ),
    "production_record.submit": _(
        "Only issuing bodies and administrators record production; project owners submit it "
        "for verification."
    ),
    "production_submission.create": _(
        "Only the project's owner, issuing bodies and administrators may submit its production."
    ),
    "production_submission.decide": _(
        "Only issuing bodies and administrators verify or reject submitted production."
    ),
    "issuance_request.create": _(
        "Only the project's owner, issuing bodies and administrators may request issuance."
    ),
    "issuance_request.decide": _(
        "Only an issuing body of this mechanism or an administrator may approve or reject it."
    ),
    "issuance.create": _("Only an issuing body of this mechanism may issue it."),
    "issuance.revoke": _("Only a registry administrator may revoke issuances."),
    "grid_factor.compute": _("Only a registry administrator may compute grid factors."),
    "scope2_report.create": _("You may report scope 2 only for your own organisation."),
    "block.set_status": _("Only a registry administrator may freeze or unfreeze units."),
    "holding.operate": _("You may operate only your own organisation's accounts."),
    "declaration.sign": _("Only the project's owner may sign its declarations."),
    "declaration.revoke": _("Only the project's owner or an administrator may revoke it."),
    "registration.create": _(
        "Only an issuing body of this mechanism may register projects under it."
    ),
    "covered_entity.create": _("Only a registry administrator may register covered entities."),
    "verified_emission.create": _("Only a registry administrator may record verified emissions."),
    "allocation.create": _("Only a registry administrator may allocate allowances."),
    "surrender.create": _("Only the covered entity's account holders may surrender for it."),
    "corresponding_adjustment.set_status": _(
        "Only a registry administrator may change the status of corresponding adjustments."
    ),
    "neutrality_event.create": _("Only a registry administrator may record neutrality events."),
    "import_batch.create": _(
        "Only a registry administrator may import records of other registries."
    ),
    "external_record.match": _(
        "Only a registry administrator may link records of other registries to projects."
    ),
    "uniqueness_report.request": _(
        "Only registry administrators and auditors may request uniqueness reports."
    ),
    "green_power_contract.create": _(
        "Only the generator's owner or an administrator may record green power contracts."
    ),
    "electricity_consumption.create": _(
        "You may record electricity consumption only for your own organisation."
    ),
    "green_power_settlement.settle": _(
        "Only a registry administrator may settle a month of green power."
    ),
    "green_power_settlement.confirm": _(
        "Only the generator's owner or the buyer may confirm a green power settlement."
    ),
}


def refusal_message(action: str) -> str:
    return str(REFUSALS.get(action, _("You may not do this.")))


def allowed(action: str, user, target: Any = None) -> bool:
    """Whether ``user`` may attempt ``action`` (``<resource>.<verb>``) on ``target``."""
    return rules.test_rule(action, user, target)


# --- what a caller may see --------------------------------------------------------------------


def _own_organisation(path: str) -> Callable[[Any], Q]:
    def scope(user) -> Q:
        organisation_id = _organisation_id(user)
        return Q(**{path: organisation_id}) if organisation_id else NOTHING

    return scope


def _everyone(user) -> Q:
    return EVERYTHING if _role(user) else NOTHING


def _projects(path: str) -> Callable[[Any], Q]:
    def scope(user) -> Q:
        if _role(user) == Role.ISSUER:
            return EVERYTHING
        return _own_organisation(path)(user)

    return scope


def _claims(user) -> Q:
    organisation_id = _organisation_id(user)
    if not organisation_id:
        return NOTHING
    if _role(user) == Role.ISSUER:
        from registry.models import Mechanism

        own_mechanisms = Mechanism.objects.filter(issuing_bodies=organisation_id).values("pk")
        return Q(mechanism_id__in=own_mechanisms) | Q(account__organisation_id=organisation_id)
    return Q(stream__project__owner_id=organisation_id) | Q(
        account__organisation_id=organisation_id
    )


def _issuance_requests(user) -> Q:
    organisation_id = _organisation_id(user)
    if not organisation_id:
        return NOTHING
    mine = Q(production_record__stream__project__owner_id=organisation_id) | Q(
        account__organisation_id=organisation_id
    )
    if _role(user) == Role.ISSUER:
        from registry.models import Mechanism

        own_mechanisms = Mechanism.objects.filter(issuing_bodies=organisation_id).values("pk")
        return Q(mechanism_id__in=own_mechanisms) | mine
    return mine


def _transfers(user) -> Q:
    organisation_id = _organisation_id(user)
    if not organisation_id:
        return NOTHING
    return Q(source_account__organisation_id=organisation_id) | Q(
        target_account__organisation_id=organisation_id
    )


def _adjustments(user) -> Q:
    organisation_id = _organisation_id(user)
    if not organisation_id:
        return NOTHING
    return Q(transfer__source_account__organisation_id=organisation_id) | Q(
        transfer__target_account__organisation_id=organisation_id
    )


def _green_power_parties(prefix: str) -> Callable[[Any], Q]:
    """Contracts (or their settlements) of which the caller's organisation is the generator's
    owner or the buyer."""

    def scope(user) -> Q:
        organisation_id = _organisation_id(user)
        if not organisation_id:
            return NOTHING
        return Q(**{f"{prefix}generator_project__owner_id": organisation_id}) | Q(
            **{f"{prefix}buyer_id": organisation_id}
        )

    return scope


def _nobody(user) -> Q:
    """Administrators and auditors only (``visible`` lets them see everything)."""
    return NOTHING


def _own_acts(user) -> Q:
    return Q(actor_id=user.pk) if _role(user) else NOTHING


def _own_requests(user) -> Q:
    return Q(requested_by_id=user.pk) if _role(user) else NOTHING


SCOPES: dict[str, Callable[[Any], Q]] = {
    "organisation": _own_organisation("pk"),
    "account": _own_organisation("organisation_id"),
    "mechanism": _everyone,
    "project": _projects("owner_id"),
    "stream": _projects("project__owner_id"),
    "production_record": _projects("stream__project__owner_id"),
    "production_submission": _projects("project__owner_id"),
    "issuance_request": _issuance_requests,
    "declaration": _projects("project__owner_id"),
    "registration": _projects("project__owner_id"),
    "issuance": _claims,
    "block": _own_organisation("account__organisation_id"),
    "transfer": _transfers,
    "retirement": _own_organisation("account__organisation_id"),
    "cancellation": _own_organisation("account__organisation_id"),
    "ledger_event": _own_acts,
    "checkpoint": lambda user: EVERYTHING,  # published: anyone, logged in or not
    "compliance_scheme": _everyone,
    "covered_entity": _own_organisation("organisation_id"),
    "verified_emission": _own_organisation("entity__organisation_id"),
    "allocation": _own_organisation("entity__organisation_id"),
    "surrender": _own_organisation("entity__organisation_id"),
    "corresponding_adjustment": _adjustments,
    "neutrality_event": _everyone,
    "import_batch": _nobody,
    "external_record": _nobody,
    "uniqueness_report": _own_requests,
    "scope2_report": _own_organisation("organisation_id"),
    "green_power_contract": _green_power_parties(""),
    "electricity_consumption": _own_organisation("organisation_id"),
    "green_power_settlement": _green_power_parties("contract__"),
}


def visible(user, resource: str, queryset: QuerySet) -> QuerySet:
    """The rows of ``queryset`` that ``user`` may see as ``resource``."""
    if _role(user) in (Role.ADMINISTRATOR, Role.AUDITOR):
        return queryset
    scope = SCOPES[resource](user)
    if scope is NOTHING:
        return queryset.none()
    return queryset.filter(scope)
