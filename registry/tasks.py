"""Periodic registry work (thin: the logic lives in registry.ledger and registry.api)."""

from celery import shared_task

from registry.ledger import seal


@shared_task(acks_late=True)
def ledger_seal_task() -> int | None:
    """Seal committed events; safe to run concurrently or again (advisory lock, xid bounds)."""
    checkpoint = seal()
    return checkpoint.sequence if checkpoint else None


@shared_task(acks_late=True)
def idempotency_purge_task() -> int:
    """Forget Idempotency-Keys older than their lifetime (API_IDEMPOTENCY_HOURS, at least 24)."""
    from registry.api.idempotency import purge

    return purge()


@shared_task(acks_late=True)
def token_purge_task() -> int:
    """Delete expired API tokens (they can no longer authenticate); returns how many."""
    from registry.api.authentication import purge_expired_tokens

    return purge_expired_tokens()
