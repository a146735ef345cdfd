"""Exports of this registry's issuances in the interchange format: a registry that imports them
links them to its copy of the project and refuses to issue the same output again."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.management import call_command

from interop.models import ExternalRecord, ImportBatch
from issuance.services import unit_claim_issue
from registry.errors import RuleViolation
from registry.services import declaration_sign, project_register
from tests.conftest import month
from tests.interop.conftest import record_for


@pytest.fixture
def issued(issuer, second_issuer, project_owner, wind_farm, march_record, owner_account):
    """100 GEC on March's MWh and 60 CCER tonnes derived from 100 MWh of April."""
    gec = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=100,
    )
    april = record_for(wind_farm, issuer, 2025, 4)
    start, end = month(2025, 4)
    declaration_sign(
        actor=project_owner, project=wind_farm, unit_kind="E", period_start=start, period_end=end
    )
    ccer = unit_claim_issue(
        actor=second_issuer,
        mechanism="CCER",
        production_record=april,
        account=owner_account,
        quantity=100,
        conversion_factor="0.6",
    )
    return gec, ccer


def test_export_command_writes_every_live_claim_a_derivation_twice(tmp_path, issued, settings):
    gec, ccer = issued
    target = tmp_path / "issuances.csv"

    call_command("export_issuances", "--output", str(target))

    rows = list(csv.DictReader(target.open(encoding="utf-8", newline="")))
    assert [(row["mechanism"], row["unit"], row["quantity"]) for row in rows] == [
        ("GEC", "MWh", "100"),
        ("CCER", "MWh", "100"),  # the MWh the CCER tonnes were derived from
        ("CCER", "tCO2e", "60"),
    ]
    assert rows[2]["external_id"] == str(ccer.pk)
    assert {row["source_registry"] for row in rows} == {settings.REGISTRY_INTEROP_SOURCE}
    assert rows[1]["period_start"] == "2025-04-01" and rows[1]["period_end"] == "2025-04-30"


def test_export_command_json_and_filters(tmp_path, issued):
    target = tmp_path / "gec.json"

    call_command(
        "export_issuances", "--format", "json", "--mechanism", "GEC", "--output", str(target)
    )

    (row,) = json.loads(target.read_text(encoding="utf-8"))
    assert row["mechanism"] == "GEC" and row["period_start"] == "2025-03-01"


def test_round_trip_exported_issuances_link_and_refuse_in_the_importing_registry(
    tmp_path,
    issued,
    administrator,
    project_owner,
    issuer,
    second_issuer,
    wind_farm,
    settings,
    owner_account,
    capsys,
):
    exported = tmp_path / "issuances.csv"
    call_command("export_issuances", "--output", str(exported))
    # The importing registry's own record of the same wind farm, declaring its id with us.
    twin = project_register(
        actor=administrator,
        owner=project_owner.organisation,
        name="Bayan wind farm",
        province="CN-NM",
        technology="wind",
        # Unlike the wind farm's capacity, so that this stand-in for the other registry's copy
        # is not held back as a likely twin of it.
        capacity_mw=Decimal("150"),
        commissioning_date=dt.date(2020, 6, 1),
        identifiers={settings.REGISTRY_INTEROP_SOURCE: wind_farm.code},
    )

    call_command("import_records", str(exported), "--user", administrator.username, "--now")

    assert "3 imported" in capsys.readouterr().out
    assert ImportBatch.objects.get().status == ImportBatch.Status.DONE
    assert set(ExternalRecord.objects.values_list("project", flat=True)) == {twin.pk}
    march, april = record_for(twin, issuer, 2025, 3), record_for(twin, issuer, 2025, 4)
    with pytest.raises(RuleViolation) as refused_march:
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march,
            account=owner_account,
            quantity=1,
        )
    assert refused_march.value.details["facts"]["external_id"] == str(issued[0].pk)
    with pytest.raises(RuleViolation):  # the April MWh are held by the exported CCER
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=april,
            account=owner_account,
            quantity=1,
        )
    may = record_for(twin, issuer, 2025, 5)
    assert (
        unit_claim_issue(
            actor=issuer, mechanism="GEC", production_record=may, account=owner_account, quantity=1
        ).quantity
        == 1
    )
