"""Green power settlement as pure calculation (tracking.accounting.settlement) and its command
``settle_green_power``: every quantity below is computed by hand in the comments.

The refusal of a generator without enough GECs needs the registry's rows: see
tests/tracking/test_green_power.py.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.management import call_command, execute_from_command_line

from tracking.accounting.settlement import (
    Contract,
    SettlementError,
    SettlementInput,
    parse_settlement_input,
    parse_settlement_json,
    settle,
    settlement_output,
)

EXAMPLE = {
    "month": "2025-03",
    "contracts": [{"id": "K1", "generator": "G1", "buyer": "U1", "mwh": 1000}],
    "generation_mwh": {"G1": 950.4},
    "consumption_mwh": {"U1": 800.2},
    "carried_mwh": {"K1": 0.3},
}


def _settled(document: dict) -> dict[str, tuple[int, Decimal]]:
    results = settle(parse_settlement_json(json.dumps(document)))
    return {key: (result.settled_mwh, result.carried_out_mwh) for key, result in results.items()}


def _contracts(*rows: tuple[str, str, str, int | str]) -> list[dict]:
    return [
        {"id": key, "generator": generator, "buyer": buyer, "mwh": mwh}
        for key, generator, buyer, mwh in rows
    ]


# --- the calculation --------------------------------------------------------------------------


def test_the_example_settles_800_and_carries_half_an_mwh():
    # Buyer: 800.2 consumed < 1000 contracted -> 1000 x 800.2 / 1000 = 800.2.
    # Generator: 950.4 produced < 1000 -> 950.4. min(1000, 800.2, 950.4) = 800.2;
    # + 0.3 carried = 800.5 -> 800 settled, 0.5 carried.
    result = settle(parse_settlement_json(json.dumps(EXAMPLE)))["K1"]
    assert result.buyer_scaled_mwh == Decimal("800.2")
    assert result.generator_scaled_mwh == Decimal("950.4")
    assert (result.settled_mwh, result.carried_out_mwh) == (800, Decimal("0.5"))
    assert settlement_output({"K1": result}) == {
        "contracts": {"K1": {"settled_mwh": 800, "carried_mwh": 0.5}}
    }


def test_a_buyer_consuming_less_than_contracted_from_three_generators_is_scaled_down():
    # U1 contracted 100 + 200 + 300 = 600 MWh and consumed 500: each contract x 500/600.
    # K1: 100 x 5/6 = 83.3333.. -> 83.333333 (6 decimals, rounded down) -> 83, 0.333333
    # K2: 200 x 5/6 = 166.6666.. -> 166.666666 -> 166, 0.666666
    # K3: 300 x 5/6 = 250 -> 250, 0. Generators produced plenty (1,000 each): no scaling there.
    document = {
        "month": "2025-03",
        "contracts": _contracts(
            ("K1", "G1", "U1", 100), ("K2", "G2", "U1", 200), ("K3", "G3", "U1", 300)
        ),
        "generation_mwh": {"G1": 1000, "G2": 1000, "G3": 1000},
        "consumption_mwh": {"U1": 500},
    }
    assert _settled(document) == {
        "K1": (83, Decimal("0.333333")),
        "K2": (166, Decimal("0.666666")),
        "K3": (250, Decimal("0")),
    }
    # What is settled never exceeds what the buyer consumed.
    assert 83 + 166 + 250 <= 500


def test_a_generator_producing_less_than_contracted_with_two_buyers_is_scaled_down():
    # G1 contracted 600 + 400 = 1000 MWh and produced 850.5: each contract x 0.8505.
    # K1: 600 x 0.8505 = 510.3 -> 510, 0.3; K2: 400 x 0.8505 = 340.2 -> 340, 0.2.
    document = {
        "month": "2025-03",
        "contracts": _contracts(("K1", "G1", "U1", 600), ("K2", "G1", "U2", 400)),
        "generation_mwh": {"G1": "850.5"},
        "consumption_mwh": {"U1": 700, "U2": 400},
    }
    assert _settled(document) == {"K1": (510, Decimal("0.3")), "K2": (340, Decimal("0.2"))}


def test_both_sides_short_at_once_settles_the_smallest_of_the_three():
    # U1: K1 400 + K2 600 = 1000 contracted, 800 consumed -> x 0.8: K1 320, K2 480.
    # U2: K3 600 contracted, 1000 consumed -> unscaled 600.
    # G1: K1 400 + K3 600 = 1000 contracted, 500.5 produced -> x 0.5005: K1 200.2, K3 300.3.
    # G2: K2 600 contracted, 1000 produced -> unscaled 600.
    # K1 = min(400, 320, 200.2) = 200.2 -> 200, 0.2 (the generator side binds)
    # K2 = min(600, 480, 600) = 480 -> 480, 0 (the buyer side binds)
    # K3 = min(600, 600, 300.3) = 300.3 -> 300, 0.3
    document = {
        "month": "2025-03",
        "contracts": _contracts(
            ("K1", "G1", "U1", 400), ("K2", "G2", "U1", 600), ("K3", "G1", "U2", 600)
        ),
        "generation_mwh": {"G1": "500.5", "G2": 1000},
        "consumption_mwh": {"U1": 800, "U2": 1000},
    }
    results = settle(parse_settlement_json(json.dumps(document)))
    assert results["K1"].buyer_scaled_mwh == Decimal("320")
    assert results["K1"].generator_scaled_mwh == Decimal("200.2")
    assert _settled(document) == {
        "K1": (200, Decimal("0.2")),
        "K2": (480, Decimal("0")),
        "K3": (300, Decimal("0.3")),
    }


def test_remainders_are_carried_across_three_months_until_they_make_a_whole_mwh():
    # Each month U1 consumes 90.4 of 100 contracted (scaled: 90.4); G1 produces plenty.
    # Month 1: 90.4 + 0   = 90.4 -> 90, carry 0.4
    # Month 2: 90.4 + 0.4 = 90.8 -> 90, carry 0.8
    # Month 3: 90.4 + 0.8 = 91.2 -> 91, carry 0.2 (the carried 0.4 + 0.4 + 0.4 made one MWh)
    carried = Decimal(0)
    settled = []
    for month in ("2025-03", "2025-04", "2025-05"):
        result = settle(
            SettlementInput(
                month=month,
                contracts=(Contract("K1", "G1", "U1", Decimal(100)),),
                generation_mwh={"G1": Decimal(1000)},
                consumption_mwh={"U1": Decimal("90.4")},
                carried_mwh={"K1": carried},
            )
        )["K1"]
        settled.append((result.settled_mwh, result.carried_out_mwh))
        carried = result.carried_out_mwh
    assert settled == [(90, Decimal("0.4")), (90, Decimal("0.8")), (91, Decimal("0.2"))]


def test_a_party_that_metered_at_least_its_contracts_is_not_scaled():
    # 1000 contracted, 1000 consumed and 2000 produced: the contract settles whole.
    document = {
        "month": "2025-03",
        "contracts": _contracts(("K1", "G1", "U1", 1000)),
        "generation_mwh": {"G1": 2000},
        "consumption_mwh": {"U1": 1000},
    }
    assert _settled(document) == {"K1": (1000, Decimal("0"))}


# --- bad input --------------------------------------------------------------------------------


def _with(**changes) -> dict:
    document = json.loads(json.dumps(EXAMPLE))
    document.update(changes)
    return document


@pytest.mark.parametrize(
    ("document", "field"),
    [
        pytest.param(
            _with(contracts=_contracts(("K1", "G1", "U1", -5))),
            "contracts[0].mwh",
            id="negative contracted MWh",
        ),
        pytest.param(
            _with(generation_mwh={"G1": -1}), "generation_mwh.G1", id="negative generation"
        ),
        pytest.param(
            _with(consumption_mwh={"U1": "-0.1"}), "consumption_mwh.U1", id="negative consumption"
        ),
        pytest.param(
            _with(contracts=_contracts(("K1", "G9", "U1", 10))),
            "contracts[0].generator",
            id="unknown generator",
        ),
        pytest.param(
            _with(contracts=_contracts(("K1", "G1", "U9", 10))),
            "contracts[0].buyer",
            id="unknown buyer",
        ),
        pytest.param(
            _with(contracts=_contracts(("K1", "G1", "U1", 10), ("K1", "G1", "U1", 5))),
            "contracts[1].id",
            id="duplicate contract id",
        ),
        pytest.param(_with(month="2025-3"), "month", id="month not YYYY-MM"),
        pytest.param(_with(month="2025-13"), "month", id="month 13"),
        pytest.param(_with(carried_mwh={"K1": 1}), "carried_mwh.K1", id="carried a whole MWh"),
        pytest.param(_with(carried_mwh={"K2": 0.1}), "carried_mwh.K2", id="carried of nothing"),
        pytest.param(
            _with(contracts=_contracts(("K1", "G1", "U1", "ten"))),
            "contracts[0].mwh",
            id="MWh not a number",
        ),
        pytest.param(
            _with(contracts=_contracts(("K1", "G1", "U1", True))),
            "contracts[0].mwh",
            id="MWh a boolean",
        ),
        pytest.param(_with(contracts={"K1": 1}), "contracts", id="contracts not a list"),
        pytest.param(_with(extra=1), "extra", id="unknown field"),
        pytest.param([1, 2], "$", id="not an object"),
    ],
)
def test_bad_input_names_the_field(document, field):
    with pytest.raises(SettlementError) as refused:
        parse_settlement_input(json.loads(json.dumps(document), parse_float=Decimal))
    assert refused.value.field == field


def test_a_missing_field_is_named():
    document = _with()
    del document["consumption_mwh"]
    with pytest.raises(SettlementError) as refused:
        parse_settlement_input(document)
    assert refused.value.field == "consumption_mwh"


@pytest.mark.parametrize("text", ['{"month": "2025-03",', "", '{"month": NaN}'])
def test_malformed_json_is_refused_at_the_root(text):
    with pytest.raises(SettlementError) as refused:
        parse_settlement_json(text)
    assert refused.value.field == "$"


def test_numbers_are_read_as_exact_decimals():
    parsed = parse_settlement_json(json.dumps(EXAMPLE))
    assert parsed.generation_mwh["G1"] == Decimal("950.4")  # not 950.39999999999997726
    assert parsed.carried_mwh["K1"] == Decimal("0.3")


# --- the command ------------------------------------------------------------------------------


def test_the_command_prints_the_settlement_as_json(tmp_path, capsys):
    path = tmp_path / "march.json"
    path.write_text(json.dumps(EXAMPLE), encoding="utf-8")
    call_command("settle_green_power", str(path))
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"contracts": {"K1": {"settled_mwh": 800, "carried_mwh": 0.5}}}
    assert isinstance(printed["contracts"]["K1"]["settled_mwh"], int)


def test_the_command_reads_standard_input(monkeypatch, capsys):
    import io
    import sys

    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(EXAMPLE).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    call_command("settle_green_power", "-")
    assert json.loads(capsys.readouterr().out)["contracts"]["K1"]["settled_mwh"] == 800


def test_the_command_touches_no_database(tmp_path, django_db_blocker, capsys):
    # With database access blocked, any query (a write or a read) would raise.
    path = tmp_path / "march.json"
    path.write_text(json.dumps(EXAMPLE), encoding="utf-8")
    with django_db_blocker.block():
        call_command("settle_green_power", str(path))
    assert json.loads(capsys.readouterr().out)["contracts"]["K1"]["carried_mwh"] == 0.5


@pytest.mark.parametrize(
    ("content", "field"),
    [
        pytest.param(
            json.dumps(_with(contracts=_contracts(("K1", "G1", "U1", -1)))),
            "contracts[0].mwh",
            id="negative MWh",
        ),
        pytest.param(
            json.dumps(_with(contracts=_contracts(("K1", "G7", "U1", 1)))),
            "contracts[0].generator",
            id="unknown generator",
        ),
        pytest.param("{not json", "$", id="malformed JSON"),
    ],
)
def test_the_command_refuses_bad_input_with_exit_code_2_naming_the_field(
    tmp_path, capsys, content, field
):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "settle_green_power", str(path)])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"Bad input at {field}:" in captured.err


def test_the_command_fails_on_a_missing_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "settle_green_power", str(tmp_path / "no.json")])
    assert exited.value.code == 1
    assert "Cannot read" in capsys.readouterr().err
