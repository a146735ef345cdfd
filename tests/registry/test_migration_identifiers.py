"""The physical-identity migration moves each project's ``external_ids`` mapping into
``ProjectIdentifier`` rows; an identifier already held by an earlier live project is kept as a
possible duplicate instead of being copied (the new constraint would refuse it)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("registry", "0019_correction_texts_empty_by_default")
AFTER = ("registry", "0020_physical_identity")

pytestmark = pytest.mark.django_db(transaction=True)


def migrate_to(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return MigrationExecutor(connection).loader.project_state([target]).apps


def latest_registry_migration() -> tuple[str, str]:
    executor = MigrationExecutor(connection)
    return next(node for node in executor.loader.graph.leaf_nodes() if node[0] == "registry")


def test_external_ids_become_identifier_rows():
    latest = latest_registry_migration()
    apps = migrate_to(BEFORE)
    try:
        Organisation = apps.get_model("accounts", "Organisation")
        Project = apps.get_model("registry", "Project")
        owner = Organisation.objects.create(code="windco", name="Wind Co", kind="project_owner")
        common = {
            "owner": owner,
            "province": "CN-NM",
            "technology": "wind",
            "capacity_mw": 100,
            "commissioning_date": dt.date(2020, 6, 1),
        }
        first = Project.objects.create(
            code="PAAAAA",
            name="Bayan wind farm",
            status="approved",
            external_ids={"GEC": " GEC-NM-0001 ", "irec": "DEV-1"},
            **common,
        )
        second = Project.objects.create(
            code="PBBBBB",
            name="Bayan wind farm again",
            status="approved",
            external_ids={"GEC": "GEC-NM-0001"},
            **common,
        )
        rejected = Project.objects.create(
            code="PCCCCC",
            name="Rejected filing",
            status="rejected",
            external_ids={"GEC": "GEC-NM-0001"},
            **common,
        )

        apps = migrate_to(AFTER)

        Identifier = apps.get_model("registry", "ProjectIdentifier")
        Project = apps.get_model("registry", "Project")
        rows = set(Identifier.objects.values_list("project_id", "registry", "identifier", "live"))
        assert rows == {
            (first.pk, "GEC", "GEC-NM-0001", True),
            (first.pk, "IREC", "DEV-1", True),
            (rejected.pk, "GEC", "GEC-NM-0001", False),
        }
        assert Project.objects.get(pk=second.pk).possible_duplicates == [
            {
                "project": "PAAAAA",
                "field": "identifiers",
                "registry": "GEC",
                "identifier": "GEC-NM-0001",
                "shared_identifier": True,
            }
        ]
    finally:
        migrate_to(latest)


def test_a_generating_project_registered_without_capacity_still_migrates_and_new_ones_are_refused():
    """The capacity and commissioning-date constraint is added NOT VALID: a wind farm recorded
    before they were required keeps migrating; a new row without them is refused."""
    from django.db import IntegrityError, transaction

    latest = latest_registry_migration()
    apps = migrate_to(BEFORE)
    try:
        Organisation = apps.get_model("accounts", "Organisation")
        Project = apps.get_model("registry", "Project")
        owner = Organisation.objects.create(code="windco", name="Wind Co", kind="project_owner")
        legacy = Project.objects.create(
            code="PAAAAA",
            name="Legacy wind farm",
            owner=owner,
            province="CN-NM",
            technology="wind",
            status="approved",
        )

        apps = migrate_to(AFTER)

        Project = apps.get_model("registry", "Project")
        assert Project.objects.get(pk=legacy.pk).capacity_mw is None
        with pytest.raises(IntegrityError), transaction.atomic():
            Project.objects.create(
                code="PBBBBB",
                name="New wind farm",
                owner_id=owner.pk,
                province="CN-NM",
                technology="wind",
                status="approved",
            )
    finally:
        migrate_to(latest)
