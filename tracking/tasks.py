"""Periodic expiry of units past their mechanism's validity (logic in tracking.services)."""

from celery import shared_task

from tracking.services import units_expire


@shared_task(acks_late=True)
def units_expire_task() -> int:
    """Expire due units; idempotent, so a killed run can simply run again."""
    return units_expire()
