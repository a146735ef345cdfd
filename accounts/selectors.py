"""Reads on organisations and holding accounts that more than one caller needs."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from accounts.models import HoldingAccount
from registry.errors import NotFound


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
