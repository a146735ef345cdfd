"""Reads on organisations and holding accounts that more than one caller needs."""

from __future__ import annotations

from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from accounts.models import HoldingAccount, Organisation
from registry.errors import NotFound

# Block statuses (tracking.Block.Status), named here because accounts sits below tracking.
BLOCK_STATUSES = ("active", "frozen", "retired", "cancelled", "expired", "exported")


def account_resolve(account: HoldingAccount | str | None, *, field: str) -> HoldingAccount:
    """A HoldingAccount from an instance or an account number; ``unknown_account`` otherwise."""
    if isinstance(account, HoldingAccount):
        return account
    found = (
        HoldingAccount.objects.filter(number=str(account or "").strip())
        .select_related("organisation")
        .first()
    )
    if found is None:
        raise NotFound(
            _("Unknown account %(account)s.") % {"account": account},
            code="unknown_account",
            field=field,
        )
    return found


def balances_of(accounts) -> dict[int, list[dict]]:
    """Units per account, mechanism and status, in one grouped query over the holding index."""
    rows = (
        HoldingAccount.objects.filter(pk__in=[account.pk for account in accounts])
        .filter(blocks__isnull=False)
        .values("pk", "blocks__mechanism__code", "blocks__status")
        .annotate(units=Sum("blocks__quantity"))
        .order_by("pk", "blocks__mechanism__code")
    )
    balances: dict[int, dict[str, dict]] = {}
    for row in rows:
        per_mechanism = balances.setdefault(row["pk"], {})
        mechanism = row["blocks__mechanism__code"]
        entry = per_mechanism.setdefault(
            mechanism, {"mechanism": mechanism, **dict.fromkeys(BLOCK_STATUSES, 0)}
        )
        entry[row["blocks__status"]] = row["units"]
    return {pk: list(per_mechanism.values()) for pk, per_mechanism in balances.items()}


def organisation_resolve(organisation: Organisation | str, *, field: str) -> Organisation:
    """An Organisation from an instance or its code; ``unknown_organisation`` otherwise."""
    if isinstance(organisation, Organisation):
        return organisation
    found = Organisation.objects.filter(code=str(organisation or "").strip()).first()
    if found is None:
        raise NotFound(
            _("Unknown organisation %(organisation)s.") % {"organisation": organisation},
            code="unknown_organisation",
            field=field,
        )
    return found
