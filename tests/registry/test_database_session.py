"""Every database session starts with django-pgtrigger's ignore list set, so its trigger
functions read it without an error (an error there aborts a subtransaction on every trigger
call, which made bulk writes quadratic in the number of pending foreign-key checks)."""

from __future__ import annotations

import pgtrigger
import pytest
from django.db import connection


@pytest.mark.django_db
def test_a_session_starts_with_an_empty_trigger_ignore_list():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('pgtrigger.ignore', true)")
        assert cursor.fetchone() == ("{}",)


@pytest.mark.django_db
def test_ignoring_a_trigger_still_works_and_the_list_is_empty_again_afterwards():
    with connection.cursor() as cursor:
        with pgtrigger.ignore("registry.LedgerEvent:ledger_append_only"):
            cursor.execute("SELECT current_setting('pgtrigger.ignore', true)")
            assert "ledger_append_only" in cursor.fetchone()[0]
        cursor.execute("SELECT current_setting('pgtrigger.ignore', true)")
        assert cursor.fetchone() == ("{}",)
