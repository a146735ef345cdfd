"""``manage.py emission_scenario FILE.json``: the scenario calculator's JSON on stdout, exit
status 2 and a message naming the field on bad input. No database: the command reads none."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from tests.tracking.test_scenario import TWO_REGIONS, WORKED_EXAMPLE


def run(path) -> dict:
    out = io.StringIO()
    call_command("emission_scenario", str(path), stdout=out)
    return json.loads(out.getvalue())


def refusal(path) -> CommandError:
    with pytest.raises(CommandError) as refused:
        call_command("emission_scenario", str(path), stdout=io.StringIO())
    return refused.value


def test_the_worked_example_prints_json_with_the_three_keys(tmp_path):
    source = tmp_path / "worked.json"
    source.write_text(json.dumps(WORKED_EXAMPLE), encoding="utf-8")

    output = run(source)

    assert set(output) == {"factors", "consumers", "regions"}
    assert output["factors"] == {"grid": 0.9, "combined": 0.9}
    assert output["consumers"]["buyer"]["scheme_1"] == {
        "emissions_t": 0.0,
        "green_reduction_t": 90.0,
    }
    assert output["consumers"]["others"]["scheme_2"]["emissions_t"] == 360.0
    assert output["regions"]["grid"] == {
        "actual_emissions_t": 360.0,
        "scheme_1_total_t": 360.0,
        "scheme_2_total_t": 360.0,
        "scheme_3_total_t": 360.0,
        "scheme_4_total_t": 360.0,
    }


def test_two_regions_print_beta_scaled_figures_to_many_digits(tmp_path):
    source = tmp_path / "two.json"
    source.write_text(json.dumps(TWO_REGIONS), encoding="utf-8")

    output = run(source)

    assert output["factors"] == {"R1": 0.75, "R2": 0.125, "combined": 0.5}
    assert output["consumers"]["C1"]["scheme_3"]["emissions_t"] == pytest.approx(1440 / 13, 1e-12)
    assert output["consumers"]["D1"]["scheme_3"]["emissions_t"] == pytest.approx(-12 / 7, 1e-12)
    assert output["regions"]["R2"]["scheme_4_total_t"] == pytest.approx(20, 1e-12)


def test_decimals_in_the_file_are_read_exactly(tmp_path):
    # 0.1 t/MWh x 0.3 MWh: as floats 0.030000000000000002, as decimals 0.03.
    source = tmp_path / "exact.json"
    source.write_text(
        '{"generators": [{"id": "A", "region": "R", "emission_factor": 0.1}],'
        ' "consumers": [{"id": "C", "region": "R",'
        ' "purchases": [{"generator": "A", "mwh": 0.3}]}]}',
        encoding="utf-8",
    )
    assert run(source)["regions"]["R"]["actual_emissions_t"] == 0.03


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param(
            lambda d: d["consumers"][0]["purchases"][1].update(mwh=-1),
            "consumers[0].purchases[1].mwh",
            id="negative mwh",
        ),
        pytest.param(
            lambda d: d["consumers"][1]["purchases"][0].update(generator="nowhere"),
            "consumers[1].purchases[0].generator",
            id="unknown generator",
        ),
        pytest.param(
            lambda d: d["consumers"][2]["certificates"][0].update(mwh=81),
            "consumers[2].certificates[0].mwh",
            id="certificates above purchases",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_field(tmp_path, change, field):
    document = json.loads(json.dumps(TWO_REGIONS))
    change(document)
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(document), encoding="utf-8")

    refused = refusal(source)

    assert refused.returncode == 2
    assert f"{source}: {field}: " in str(refused)


def test_malformed_json_exits_2_naming_the_line(tmp_path):
    source = tmp_path / "broken.json"
    source.write_text('{"generators": [],\n "consumers": [}', encoding="utf-8")

    refused = refusal(source)

    assert refused.returncode == 2
    assert "is not valid JSON" in str(refused)
    assert "line 2" in str(refused)


def test_a_missing_file_exits_2(tmp_path):
    refused = refusal(tmp_path / "absent.json")
    assert refused.returncode == 2
    assert "absent.json cannot be read" in str(refused)


def test_the_command_line_exit_status_is_2(tmp_path, capsys):
    source = tmp_path / "bad.json"
    source.write_text('{"generators": [], "consumers": [], "extra": 1}', encoding="utf-8")
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "emission_scenario", str(source)]).execute()

    assert exited.value.code == 2
    assert "extra: Unknown field 'extra'." in capsys.readouterr().err
