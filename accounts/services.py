"""Writes on organisations, users and holding accounts. Each service is one transaction with
one ledger event."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _

from accounts.models import HoldingAccount, Organisation, User
from registry.errors import Conflict, DomainError
from registry.ledger import record_event
from registry.models import LedgerEvent
from registry.permissions import require_account_operator, require_administrator


def organisation_create(
    *, actor: User, code: str, name: str, kind: str, country: str = "CN"
) -> Organisation:
    """Create an organisation; only administrators may. Codes are unique."""
    require_administrator(actor, _("create organisations"))
    if kind not in Organisation.Kind.values:
        raise DomainError(_("Unknown organisation kind %(kind)s.") % {"kind": kind}, field="kind")
    if not code or Organisation.objects.filter(code=code).exists():
        raise Conflict(
            _("Organisation code %(code)s is taken or empty.") % {"code": code},
            code="duplicate_code",
            field="code",
        )
    with transaction.atomic():
        organisation = Organisation.objects.create(code=code, name=name, kind=kind, country=country)
        record_event(
            kind=LedgerEvent.Kind.ORGANISATION_CREATED,
            actor=actor,
            subjects=[f"organisation:{organisation.pk}"],
            payload={"organisation": organisation.code, "name": name, "kind": kind},
        )
    return organisation


def holding_account_open(*, actor: User, organisation: Organisation, name: str) -> HoldingAccount:
    """Open an active account for an organisation with the next account number."""
    if not actor.is_registry_administrator and actor.organisation_id != organisation.pk:
        require_administrator(actor, _("open accounts for another organisation"))
    with transaction.atomic():
        # The number derives from the primary key, taken from its sequence first, so the row is
        # written once and concurrent openings never share a provisional number.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [HoldingAccount._meta.db_table]
            )
            account_id = cursor.fetchone()[0]
        account = HoldingAccount.objects.create(
            pk=account_id,
            number=f"{organisation.country}-{account_id:08d}",
            organisation=organisation,
            name=name,
        )
        record_event(
            kind=LedgerEvent.Kind.ACCOUNT_OPENED,
            actor=actor,
            subjects=[f"account:{account.pk}", f"organisation:{organisation.pk}"],
            payload={"account": account.number, "organisation": organisation.code, "name": name},
        )
    return account


# The allowed status flips, one code path for the status field.
_ACCOUNT_TRANSITIONS = {
    ("active", "frozen"),
    ("frozen", "active"),
    ("active", "closed"),
    ("frozen", "closed"),
}


def holding_account_set_status(
    *, actor: User, account: HoldingAccount, status: str, reason: str
) -> HoldingAccount:
    """Freeze, unfreeze or close an account as a compare-and-set update.

    Freezing and unfreezing are for administrators; a holder may close its own account once it
    holds no active or frozen units. A closed account never reopens.
    """
    if status in ("frozen", "active"):
        require_administrator(actor, _("freeze or unfreeze accounts"))
    elif status == "closed":
        require_account_operator(actor, account)
    else:
        raise DomainError(
            _("Unknown account status %(status)s.") % {"status": status}, field="status"
        )
    if not reason.strip():
        raise DomainError(_("A reason is required."), code="reason_required", field="reason")
    with transaction.atomic():
        current = HoldingAccount.objects.select_for_update(of=("self",)).get(pk=account.pk)
        if (current.status, status) not in _ACCOUNT_TRANSITIONS:
            raise Conflict(
                _("Account %(account)s is %(current)s and cannot become %(status)s.")
                % {
                    "account": current.number,
                    "current": current.get_status_display(),
                    "status": HoldingAccount.Status(status).label,
                },
                code="invalid_status_change",
                field="status",
            )
        if status == "closed" and current.blocks.filter(status__in=("active", "frozen")).exists():
            raise Conflict(
                _("Account %(account)s still holds units.") % {"account": current.number},
                code="account_not_empty",
                field="status",
            )
        changed = HoldingAccount.objects.filter(pk=current.pk, status=current.status).update(
            status=status
        )
        assert changed == 1  # the row lock above makes the compare-and-set certain
        record_event(
            kind=LedgerEvent.Kind.ACCOUNT_STATUS,
            actor=actor,
            subjects=[f"account:{current.pk}"],
            payload={
                "account": current.number,
                "from": current.status,
                "to": status,
                "reason": reason,
            },
        )
    account.status = status
    return account
