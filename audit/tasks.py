"""The worker side of uniqueness reports (thin: the logic is in audit.services)."""

from celery import shared_task

from audit.models import UniquenessReport
from audit.services import uniqueness_report_run, uniqueness_reports_resend_stalled


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=60,
    default_retry_delay=1,
)
def uniqueness_report_task(self, report_id: int) -> str | None:
    """Run or resume report ``report_id``; safe to deliver twice or after a crash.

    The request publishes the task before its transaction commits, so the row may not be visible
    yet; the task then retries shortly. A lost database connection retries as well.
    """
    from django.db import InterfaceError, OperationalError

    if not UniquenessReport.objects.filter(pk=report_id).exists():
        raise self.retry(countdown=0.5)
    try:
        report = uniqueness_report_run(report_id=report_id)
    except (OperationalError, InterfaceError) as error:
        raise self.retry(exc=error, countdown=2) from error
    return report.status if report is not None else None


@shared_task(acks_late=True)
def uniqueness_reports_resend_stalled_task() -> list[int]:
    """Beat's safety net: reports whose task was lost go to the worker again (their ids)."""
    return uniqueness_reports_resend_stalled()
