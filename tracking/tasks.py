"""Periodic tasks of tracking: expiry of units past their mechanism's validity and the grid
factors' recomputation (logic in tracking.services and tracking.accounting.services)."""

from celery import shared_task

from tracking.accounting.services import grid_factors_recompute_all
from tracking.services import units_expire


@shared_task(acks_late=True)
def units_expire_task() -> int:
    """Expire due units; idempotent, so a killed run can simply run again."""
    return units_expire()


@shared_task(acks_late=True)
def grid_factors_recompute_task() -> int:
    """Recompute every period's grid factors from the registry's claims as they stand now;
    each run adds computations and changes nothing else, so a killed run can run again."""
    return len(grid_factors_recompute_all())
