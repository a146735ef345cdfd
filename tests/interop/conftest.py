"""Fixtures of the interop tests: the wind farm known to other registries, its production by
month, and a helper that imports a file the way the Celery task does (in this process)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from interop.models import ImportBatch
from interop.services import import_batch_create, import_batch_run
from interop.tasks import import_batch_run_task
from registry.models import ProjectIdentifier
from registry.services import production_record_create
from tests.conftest import month

FIXTURES = Path(__file__).parent / "fixtures"
WIND_FARM_IDS = {
    "IREC": "DEV-BAYAN-01",
    "VCS": "4321",
    "GS": "7001",
    "GEC": "GEC-NM-0042",
    "CCER": "CCER-P-000321",
}


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture
def known_wind_farm(wind_farm):
    """The wind farm with its identifiers in the other registries."""
    ProjectIdentifier.objects.bulk_create(
        ProjectIdentifier(project=wind_farm, registry=registry, identifier=identifier)
        for registry, identifier in WIND_FARM_IDS.items()
    )
    return wind_farm


def record_for(project, issuer, year: int, month_number: int, quantity: str = "1000"):
    start, end = month(year, month_number)
    return production_record_create(
        actor=issuer,
        project=project,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=Decimal(quantity),
    )


@pytest.fixture
def run_import(administrator):
    """``run_import(text, layout=..., file_format=...)``: create the batch and run its task."""

    def run(text, *, layout="canonical", file_format="csv", actor=None) -> ImportBatch:
        batch = import_batch_create(
            actor=actor or administrator,
            layout=layout,
            file_format=file_format,
            content=text,
            filename=f"test.{file_format}",
            queue=False,
        )
        import_batch_run_task.apply(args=[batch.pk]).get()
        return ImportBatch.objects.get(pk=batch.pk)

    return run


__all__ = ["fixture_text", "record_for", "import_batch_run"]
