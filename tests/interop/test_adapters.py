"""Each source layout's columns become canonical rows, link by that registry's identifier key and
import like any other row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from interop import formats
from interop.models import ExternalRecord
from tests.interop.conftest import fixture_text


def _records(run_import, name, layout):
    batch = run_import(fixture_text(name), layout=layout)
    assert batch.invalid_count == 0, list(batch.rows.values_list("errors", flat=True))
    return list(ExternalRecord.objects.order_by("id"))


def _days(record):
    return record.period.lower, record.period.upper - dt.timedelta(days=1)


def test_verra_rows_are_vcu_issuances_and_retirements_linked_by_vcs_id(run_import, known_wind_farm):
    issued, retired = _records(run_import, "verra.csv", "verra")

    assert (issued.source, issued.kind, issued.mechanism_code) == ("VERRA", "issuance", "VCU")
    assert issued.unit_kind == "C" and issued.quantity == Decimal("10000")
    assert issued.external_id.startswith("20001-1-10000-VCS-VCU")
    assert _days(issued) == (dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    assert issued.transaction_date == dt.date(2025, 9, 1)
    assert issued.country == "CN" and issued.technology == "wind"
    assert retired.kind == "retirement" and retired.quantity == 2000
    assert retired.beneficiary == "Example Steel Co."
    assert retired.transaction_date == dt.date(2025, 10, 15)
    assert issued.project == retired.project == known_wind_farm


def test_gold_standard_rows_take_the_part_of_the_monitoring_period_in_their_vintage(
    run_import, known_wind_farm
):
    issued, retired = _records(run_import, "gold_standard.csv", "gold_standard")

    assert (issued.source, issued.mechanism_code, issued.kind) == ("GS", "VER", "issuance")
    assert _days(issued) == (dt.date(2024, 7, 1), dt.date(2024, 12, 31))
    assert issued.transaction_date == dt.date(2025, 3, 10)
    assert retired.kind == "retirement" and retired.beneficiary == "Example Airline"
    assert _days(retired) == (dt.date(2025, 1, 1), dt.date(2025, 2, 28))
    assert issued.project == known_wind_farm and issued.technology == "wind"


def test_irec_rows_are_mwh_linked_by_device_code(run_import, known_wind_farm):
    issued, redeemed = _records(run_import, "irec.csv", "irec")

    assert (issued.source, issued.mechanism_code, issued.unit_kind) == ("IREC", "IREC", "E")
    assert issued.quantity == 1500 and issued.serials == "0000000001-0000001500"
    assert issued.province == "CN-NM" and issued.capacity_mw == 100
    assert redeemed.kind == "retirement" and redeemed.beneficiary == "Hebei Green Steel Co."
    assert issued.project == known_wind_farm


def test_gec_list_rows_cover_their_production_month(run_import, known_wind_farm):
    (issued,) = _records(run_import, "gec.csv", "gec")

    assert (issued.source, issued.mechanism_code, issued.unit_kind) == ("GEC", "GEC", "E")
    assert _days(issued) == (dt.date(2025, 4, 1), dt.date(2025, 4, 30))
    assert issued.province == "CN-NM" and issued.technology == "wind"
    assert issued.project == known_wind_farm


def test_ccer_list_rows_are_tonnes_linked_by_project_number(run_import, known_wind_farm):
    (issued,) = _records(run_import, "ccer.csv", "ccer")

    assert (issued.source, issued.mechanism_code, issued.unit_kind) == ("CCER", "CCER", "C")
    assert issued.quantity == 4200 and issued.external_id == "CCER-REG-2025-0007"
    assert _days(issued) == (dt.date(2025, 1, 1), dt.date(2025, 3, 31))
    assert issued.project == known_wind_farm


@pytest.mark.parametrize("layout", ["verra", "gold_standard", "irec", "gec", "ccer"])
def test_a_file_without_the_layouts_columns_is_refused_whole(administrator, layout):
    from interop.services import import_batch_create
    from registry.errors import DomainError

    with pytest.raises(DomainError) as refusal:
        import_batch_create(
            actor=administrator,
            layout=layout,
            file_format="csv",
            content=fixture_text("canonical.csv"),
            queue=False,
        )

    assert refusal.value.code == "unreadable_file"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("CN-NM", "CN-NM"),
        ("Inner Mongolia", "CN-NM"),
        ("内蒙古自治区", "CN-NM"),
        ("Shaanxi Province", "CN-SN"),
        ("Atlantis", ""),
    ],
)
def test_province_names_become_iso_codes(text, code):
    assert formats.province_code(text) == code


def test_names_are_compared_without_the_words_every_project_has():
    assert formats.normalised_name("Bayan Wind Farm Project, Co. Ltd.") == "bayan wind farm"
    assert formats.normalised_name("巴彦风电场项目") == "巴彦风电场"
