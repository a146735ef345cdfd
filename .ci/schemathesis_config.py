"""Print a schemathesis.toml that offers the demo data's real identifiers to the generator.

Random values alone almost never name an existing account, block or claim, so operations on one
(freeze, revoke, transfer, ...) would only ever answer 404 or 400. Each dictionary below is
offered beside random values (a probability per parameter), so both kinds of input are sent.
Run with the Django settings of the database under test: ``python .ci/schemathesis_config.py``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")

import django  # noqa: E402

django.setup()

from accounts.models import HoldingAccount, Organisation  # noqa: E402
from registry.models import (  # noqa: E402
    Checkpoint,
    Declaration,
    LedgerEvent,
    Mechanism,
    ProductionRecord,
    Project,
    Stream,
    UnitClaim,
)
from tracking.api.serializers import BlockSerializer  # noqa: E402
from tracking.models import Block, Cancellation, Retirement, Transfer  # noqa: E402


def first(model, field: str, count: int = 8) -> list:
    return list(model.objects.order_by(field).values_list(field, flat=True)[:count])


def main() -> None:
    blocks = Block.objects.select_related("stream__project").order_by("id")[:8]
    ranges = [BlockSerializer().get_serial_range(block) for block in blocks]
    # The first serial of each range alone: "CN-...-000000000001-000000001000" -> "CN-...-0001".
    serials = ranges + [text.rsplit("-", 1)[0] for text in ranges]
    ids = set()
    for model in (Block, UnitClaim, ProductionRecord, Declaration, Stream, LedgerEvent):
        ids.update(first(model, "id"))
    dictionaries = {
        "accounts": first(HoldingAccount, "number"),
        "projects": first(Project, "code"),
        "organisations": first(Organisation, "code"),
        "mechanisms": first(Mechanism, "code", 20),
        "codes": first(Project, "code")
        + first(Organisation, "code")
        + first(Mechanism, "code", 20),
        "ids": sorted(ids),
        "records": first(ProductionRecord, "id"),
        "public_ids": [
            str(value)
            for model in (Transfer, Retirement, Cancellation)
            for value in first(model, "public_id", 4)
        ],
        "serials": serials,
        "sequences": first(Checkpoint, "sequence"),
    }
    bindings = {
        "path.number": "accounts",
        "path.code": "codes",
        "path.id": "ids",
        "path.public_id": "public_ids",
        "path.serial": "serials",
        "path.sequence": "sequences",
        "body.account": "accounts",
        "body.source_account": "accounts",
        "body.target_account": "accounts",
        "body.mechanism": "mechanisms",
        "body.project": "projects",
        "body.owner": "organisations",
        "body.organisation": "organisations",
        "body.production_record": "records",
        "body.serial_range": "serials",
        "query.account": "accounts",
        "query.mechanism": "mechanisms",
        "query.project": "projects",
    }
    lines = []
    for name, values in dictionaries.items():
        if values:
            lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}"]
    lines.append("[parameters]")
    for key, name in bindings.items():
        if dictionaries[name]:
            probability = 0.8 if key.startswith("path.") else 0.5
            lines.append(f'"{key}" = {{ dictionary = "{name}", probability = {probability} }}')
    print("\n".join(lines))


if __name__ == "__main__":
    main()
