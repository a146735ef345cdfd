"""Advisory lock keys, all in one place so two features never share a key by accident.

Keys are (namespace, object id) pairs for ``pg_advisory_xact_lock(int4, int4)``; the lock is
released when the transaction ends, so a crash can never leave one behind.
"""

from django.db import connection

STREAM_SERIAL_ALLOCATION = 1001  # + stream id: "find the next unclaimed serials -> claim them"
LEDGER_SEAL = 1002  # + 0: one sealer at a time
UNIQUENESS_REPORT_RUN = 1003  # + report id (session-level): one worker runs a report at a time


def advisory_xact_lock(namespace: int, object_id: int) -> None:
    """Take a transaction-level advisory lock; must run inside ``transaction.atomic``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, object_id % 2**31])


def try_advisory_xact_lock(namespace: int, object_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [namespace, object_id % 2**31])
        return bool(cursor.fetchone()[0])
