"""Green power settlement of one month (docs/domain.md, green power settlement), as pure
calculation: no Django.

Per contract between a generator and a buyer:

1. a buyer whose contracted MWh for the month, over all its contracts, exceed its metered
   consumption has each of its contracts scaled by consumption / total contracted;
2. a generator whose contracted MWh exceed its metered output has each of its contracts scaled by
   output / total contracted;
3. the quantity of the contract is the smallest of the contracted, the buyer-scaled and the
   generator-scaled MWh;
4. the remainder carried in from the previous month is added, the whole MWh are settled (rounded
   down) and the fraction is carried to the next month of the same contract.

All arithmetic is ``Decimal``. A scaled quantity is a ratio and may not terminate (1000 MWh x
800 / 3000); it is rounded down to 6 decimals (1 Wh, the registry's quantity precision), so the
scaled contracts of a party never add up to more than its metered MWh and nothing is settled
that was not produced and consumed. Everything else is exact.

The JSON form (``parse_settlement_input`` / ``settlement_output``) is the input and output of
``manage.py settle_green_power``; the registry's services build ``SettlementInput`` from its own
rows. A bad input raises ``SettlementError`` naming the field as a JSON path
(``contracts[0].generator``). Messages are English: this module cannot use Django's translation;
the services that call it with registry data never produce these errors from user input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

#: Scaled quantities are rounded down to this many decimals (1 Wh).
QUANTUM = Decimal("0.000001")
MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")
TOP_LEVEL_FIELDS = ("month", "contracts", "generation_mwh", "consumption_mwh", "carried_mwh")
CONTRACT_FIELDS = ("id", "generator", "buyer", "mwh")


class SettlementError(ValueError):
    """Bad settlement input: ``message`` says what is wrong, ``field`` where (a JSON path)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Contract:
    """A contract of the month: ``mwh`` contracted between ``generator`` and ``buyer``."""

    id: str
    generator: str
    buyer: str
    mwh: Decimal


@dataclass(frozen=True)
class SettlementInput:
    """Everything one month's settlement depends on; MWh are non-negative decimals and every
    carried remainder is in [0, 1)."""

    month: str
    contracts: tuple[Contract, ...]
    generation_mwh: Mapping[str, Decimal]
    consumption_mwh: Mapping[str, Decimal]
    carried_mwh: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class ContractSettlement:
    """The settlement of one contract: the three quantities compared, the remainder carried in,
    the whole MWh settled and the fraction carried out (in [0, 1))."""

    contract_id: str
    contracted_mwh: Decimal
    buyer_scaled_mwh: Decimal
    generator_scaled_mwh: Decimal
    carried_in_mwh: Decimal
    settled_mwh: int
    carried_out_mwh: Decimal


# --- parsing ----------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise SettlementError(f"{name} is not a number JSON allows.")


def _decimal(value: Any, *, field: str) -> Decimal:
    """A non-negative finite decimal from a JSON number (parsed as Decimal) or decimal text."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise SettlementError("Give a number of MWh.", field)
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        raise SettlementError(f"{value!r} is not a number.", field) from None
    if not number.is_finite():
        raise SettlementError("Give a finite number of MWh.", field)
    if number < 0:
        raise SettlementError("MWh must be zero or more.", field)
    return number


def _text(value: Any, *, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SettlementError("Give a non-empty text.", field)
    return value.strip()


def _object(value: Any, *, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SettlementError("Give an object.", field)
    return value


def _quantities(value: Any, *, field: str) -> dict[str, Decimal]:
    return {
        _text(name, field=field): _decimal(quantity, field=f"{field}.{name}")
        for name, quantity in _object(value, field=field).items()
    }


def _month(value: Any) -> str:
    match = MONTH_PATTERN.match(value) if isinstance(value, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise SettlementError('Give the month as "YYYY-MM".', "month")
    return value


def parse_settlement_input(data: Any) -> SettlementInput:
    """Check a decoded JSON document and turn it into a ``SettlementInput``.

    Refuses: a missing or unknown field, a month not "YYYY-MM", an empty or duplicate contract
    id, a contract whose generator (buyer) has no entry in ``generation_mwh``
    (``consumption_mwh``), a negative or non-numeric MWh, and a carried remainder of an unknown
    contract or outside [0, 1).
    """
    document = _object(data, field="$")
    for name in document:
        if name not in TOP_LEVEL_FIELDS:
            raise SettlementError("Unknown field.", str(name))
    for name in TOP_LEVEL_FIELDS[:4]:
        if name not in document:
            raise SettlementError("This field is required.", name)
    month = _month(document["month"])
    generation = _quantities(document["generation_mwh"], field="generation_mwh")
    consumption = _quantities(document["consumption_mwh"], field="consumption_mwh")
    raw_contracts = document["contracts"]
    if not isinstance(raw_contracts, list):
        raise SettlementError("Give a list of contracts.", "contracts")
    contracts: list[Contract] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_contracts):
        path = f"contracts[{index}]"
        entry = _object(raw, field=path)
        for name in entry:
            if name not in CONTRACT_FIELDS:
                raise SettlementError("Unknown field.", f"{path}.{name}")
        for name in CONTRACT_FIELDS:
            if name not in entry:
                raise SettlementError("This field is required.", f"{path}.{name}")
        contract_id = _text(entry["id"], field=f"{path}.id")
        if contract_id in seen:
            raise SettlementError(f"Contract id {contract_id} appears twice.", f"{path}.id")
        seen.add(contract_id)
        generator = _text(entry["generator"], field=f"{path}.generator")
        if generator not in generation:
            raise SettlementError(
                f"Unknown generator {generator}: it has no entry in generation_mwh.",
                f"{path}.generator",
            )
        buyer = _text(entry["buyer"], field=f"{path}.buyer")
        if buyer not in consumption:
            raise SettlementError(
                f"Unknown buyer {buyer}: it has no entry in consumption_mwh.", f"{path}.buyer"
            )
        contracts.append(
            Contract(
                id=contract_id,
                generator=generator,
                buyer=buyer,
                mwh=_decimal(entry["mwh"], field=f"{path}.mwh"),
            )
        )
    carried = _quantities(document.get("carried_mwh", {}), field="carried_mwh")
    for contract_id, remainder in carried.items():
        if contract_id not in seen:
            raise SettlementError(f"Unknown contract {contract_id}.", f"carried_mwh.{contract_id}")
        if remainder >= 1:
            raise SettlementError(
                "A carried remainder is a fraction of one MWh: at least 0, less than 1.",
                f"carried_mwh.{contract_id}",
            )
    return SettlementInput(
        month=month,
        contracts=tuple(contracts),
        generation_mwh=generation,
        consumption_mwh=consumption,
        carried_mwh=carried,
    )


def parse_settlement_json(text: str | bytes) -> SettlementInput:
    """``parse_settlement_input`` of a JSON text; numbers are read as exact decimals."""
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except SettlementError as error:
        raise SettlementError(error.message, "$") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SettlementError(f"Malformed JSON: {error}", "$") from None
    return parse_settlement_input(data)


# --- the calculation --------------------------------------------------------------------------


def _scaled(
    contracts: tuple[Contract, ...], party: str, metered: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """Each contract's MWh, scaled by metered / total contracted where the party (``"buyer"`` or
    ``"generator"``) contracted more than it metered; unchanged otherwise."""
    totals: dict[str, Decimal] = {}
    for contract in contracts:
        name = getattr(contract, party)
        totals[name] = totals.get(name, Decimal(0)) + contract.mwh
    scaled: dict[str, Decimal] = {}
    for contract in contracts:
        name = getattr(contract, party)
        total, measured = totals[name], metered[name]
        if total > measured:
            # Multiply first: contracted x metered is exact, only the division rounds.
            ratio = contract.mwh * measured / total
            scaled[contract.id] = ratio.quantize(QUANTUM, rounding=ROUND_DOWN)
        else:
            scaled[contract.id] = contract.mwh
    return scaled


def settle(settlement_input: SettlementInput) -> dict[str, ContractSettlement]:
    """The settlement of every contract of the month, by contract id, in input order."""
    buyer_side = _scaled(settlement_input.contracts, "buyer", settlement_input.consumption_mwh)
    generator_side = _scaled(
        settlement_input.contracts, "generator", settlement_input.generation_mwh
    )
    results: dict[str, ContractSettlement] = {}
    for contract in settlement_input.contracts:
        quantity = min(contract.mwh, buyer_side[contract.id], generator_side[contract.id])
        carried_in = settlement_input.carried_mwh.get(contract.id, Decimal(0))
        available = quantity + carried_in
        settled = int(available.to_integral_value(rounding=ROUND_DOWN))
        results[contract.id] = ContractSettlement(
            contract_id=contract.id,
            contracted_mwh=contract.mwh,
            buyer_scaled_mwh=buyer_side[contract.id],
            generator_scaled_mwh=generator_side[contract.id],
            carried_in_mwh=carried_in,
            settled_mwh=settled,
            carried_out_mwh=available - settled,
        )
    return results


def settlement_output(results: Mapping[str, ContractSettlement]) -> dict[str, Any]:
    """``{"contracts": {id: {"settled_mwh": int, "carried_mwh": number}}}``: the command's
    output, one entry per contract."""
    return {
        "contracts": {
            contract_id: {
                "settled_mwh": result.settled_mwh,
                "carried_mwh": float(result.carried_out_mwh),
            }
            for contract_id, result in results.items()
        }
    }
