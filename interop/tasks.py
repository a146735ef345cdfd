"""Imports from other registries in the background (logic in interop.services)."""

from celery import shared_task

from interop.services import import_batch_run


@shared_task(acks_late=True)
def import_batch_run_task(batch_id: int) -> dict[str, int | str]:
    """Run one import batch; a redelivered or repeated run resumes where the last one stopped
    (rows already answered are skipped) and a finished batch is left alone."""
    batch = import_batch_run(batch_id=batch_id)
    return {
        "batch": batch.pk,
        "status": batch.status,
        "processed": batch.processed,
        "total": batch.total,
    }
