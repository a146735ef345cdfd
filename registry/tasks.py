"""Periodic ledger work (thin: the logic lives in registry.ledger)."""

from celery import shared_task

from registry.ledger import seal


@shared_task(acks_late=True)
def ledger_seal_task() -> int | None:
    """Seal committed events; safe to run concurrently or again (advisory lock, xid bounds)."""
    checkpoint = seal()
    return checkpoint.sequence if checkpoint else None
