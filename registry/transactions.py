"""Retrying a whole service transaction when PostgreSQL aborts it for a deadlock or a
serialization failure: the operation is all-or-nothing, so running it again is safe."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import psycopg.errors
from django.db import OperationalError, connection

RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
Params = ParamSpec("Params")
Result = TypeVar("Result")


def retry_transaction(
    attempts: int = 3,
) -> Callable[[Callable[Params, Result]], Callable[Params, Result]]:
    """Run the service again (up to ``attempts`` times in all) after a deadlock or a
    serialization failure. Inside a caller's transaction nothing is retried: that transaction
    is aborted and only its owner can start it again."""

    def decorate(service: Callable[Params, Result]) -> Callable[Params, Result]:
        @functools.wraps(service)
        def run(*args: Params.args, **kwargs: Params.kwargs) -> Result:
            for attempt in range(1, attempts + 1):
                try:
                    return service(*args, **kwargs)
                except OperationalError as error:
                    retryable = isinstance(error.__cause__, RETRYABLE)
                    if not retryable or attempt == attempts or connection.in_atomic_block:
                        raise
                    # Jitter, so that the two transactions that deadlocked do not meet again.
                    time.sleep(random.uniform(0.005, 0.05) * attempt)
            raise AssertionError("unreachable")

        return run

    return decorate
