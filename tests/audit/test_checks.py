"""Each check of the uniqueness report finds exactly its planted defect, and names the rows; a
clean registry passes every check.

Defects are planted directly in the database inside the test's transaction (constraints dropped,
triggers ignored), as a bug, a restore or a hand in psql would leave them; everything is rolled
back after each test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pgtrigger
import pytest
from django.db.backends.postgresql.psycopg_any import DateRange, DateTimeTZRange, NumericRange

from audit.checks import CHECKS, CHECKS_BY_ID
from audit.models import ReportCheck, ReportFinding, UniquenessReport
from audit.services import uniqueness_report_request, uniqueness_report_run
from interop.models import ExternalRecord, MatchSuggestion
from registry.ledger import MerkleBuilder, merkle_root, record_event, sha256_hex
from registry.models import (
    Checkpoint,
    Declaration,
    LedgerEvent,
    Mechanism,
    ProductionRecord,
    UnitClaim,
)
from tests.audit.conftest import CHINESE_BENEFICIARY, CleanRegistry, execute
from tests.conftest import SHANGHAI, month
from tracking.models import Block, Retirement, RetirementAllocation


def run_report(actor, scope=None) -> UniquenessReport:
    report = uniqueness_report_request(actor=actor, scope=scope, enqueue=lambda report: "inline")
    return uniqueness_report_run(report_id=report.pk)


def failing_checks(report: UniquenessReport) -> set[str]:
    return set(
        report.checks.filter(verdict=ReportCheck.Verdict.FAIL).values_list("check_id", flat=True)
    )


def findings(report: UniquenessReport, check_id: str) -> list[dict[str, Any]]:
    return list(
        ReportFinding.objects.filter(report=report, check_id=check_id)
        .order_by("ordinal")
        .values_list("record", flat=True)
    )


def matches(record: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(record.get(key) == value for key, value in expected.items())


def serials(row) -> list[int]:
    return [row.serials.lower, row.serials.upper]


# --- the clean registry -----------------------------------------------------------------------


def test_a_clean_registry_passes_every_check(clean_registry):
    report = run_report(clean_registry.auditor)

    assert report.status == UniquenessReport.Status.PASSED
    verdicts = dict(report.checks.values_list("check_id", "verdict"))
    assert verdicts == {
        check.id: ("pass" if check.verdict_from_findings else "info") for check in CHECKS
    }
    outcomes = {check.check_id: check for check in report.checks.all()}
    for check_id, outcome in outcomes.items():
        if CHECKS_BY_ID[check_id].verdict_from_findings:
            assert outcome.offending == 0, (check_id, findings(report, check_id))
        assert outcome.examined > 0, check_id


def test_the_clean_registry_counts_what_it_holds(clean_registry):
    report = run_report(clean_registry.auditor)
    counts = {check.check_id: check.counts for check in report.checks.all()}

    table = counts["blocks_add_up_to_claims"]["per_mechanism_and_vintage"]
    assert all(line["balanced"] for line in table)
    by_key = {(line["mechanism"], line["vintage"]): line for line in table}
    assert by_key[("GEC", 202301)]["expired"] == 120
    # The wind farm's frozen block, and the solar plant's untraded GECs frozen by its CCER
    # registration, less the 100 the CCER issuance cancelled (R7).
    assert by_key[("GEC", 202501)]["frozen"] == 300 + 300
    assert by_key[("GEC", 202501)]["cancelled"] == 100
    assert by_key[("GEC", 202501)]["retired"] == 100
    assert by_key[("GEC", 202502)]["cancelled"] == 100  # the revoked claim
    assert by_key[("GEC", 202412)]["cancelled"] == 50  # the holder's cancellation
    assert by_key[("CCER", 202501)]["issued"] == 300 + 260 + 58
    for line in table:
        statuses = ("active", "frozen", "retired", "cancelled", "expired", "exported")
        assert line["issued"] == sum(line[status] for status in statuses)

    ledger = report.checks.get(check_id="ledger_integrity")
    last = Checkpoint.objects.order_by("-sequence").first()
    assert ledger.counts["last_checkpoint_sequence"] == last.sequence
    assert ledger.counts["last_checkpoint_merkle_root"] == last.merkle_root
    assert ledger.counts["checkpoints_checked"] == len(clean_registry.checkpoints) >= 2
    assert ledger.examined == LedgerEvent.objects.count()
    assert ledger.counts["events_after_last_checkpoint"] >= 1

    refused = findings(report, "refused_attempts")
    assert {(item["organisation"], item["code"], item["rule"]) for item in refused} == {
        ("gec-centre", "double_claim", "R1"),
        ("gec-centre", "rule_violation", "R6"),
    }
    assert all(item["attempts"] == 1 and item["first_at"] for item in refused)
    assert counts["issuance_covered_by_declaration"]["rule_r13_enabled"] is True


# --- planted defects --------------------------------------------------------------------------


LEDGER_STATE_CHECKS = {"state_matches_ledger", "rows_have_events"}


@dataclass(frozen=True)
class Plant:
    """A defect planted in the clean registry: ``plant`` changes rows and returns, per check
    expected to fail, the findings (as subsets of their keys) it must report, no more."""

    name: str
    plant: Callable[[CleanRegistry], dict[str, list[dict[str, Any]]]]


def drop_constraint(table: str, constraint: str) -> None:
    # DDL is transactional in PostgreSQL: the constraint comes back when the test rolls back.
    execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")


def overlapping_production_periods(registry):
    drop_constraint("registry_productionrecord", "production_periods_never_overlap")
    drop_constraint("registry_productionrecord", "derived_never_overlaps_metered")
    january, february = registry.records["solar_2025_01"], registry.records["solar_2025_02"]
    # February's record now starts on 20 January (its vintage and serials unchanged).
    start = dt.datetime(2025, 1, 20, tzinfo=SHANGHAI)
    ProductionRecord.objects.filter(pk=february.pk).update(
        period=DateTimeTZRange(start, february.period.upper, "[)")
    )
    return {
        "production_periods_never_overlap": [
            {"record_id": february.pk, "overlaps_record_id": january.pk, "source": "metered"}
        ]
    }


def overlapping_serial_ranges(registry):
    drop_constraint("registry_productionrecord", "production_serials_allocated_once")
    february = registry.records["wind_2025_02"]
    stream = february.stream
    # A March record whose serials were allocated again from February's.
    lower = february.serials.lower + 10
    start, end = (
        dt.datetime(2025, 3, 1, tzinfo=SHANGHAI),
        dt.datetime(2025, 4, 1, tzinfo=SHANGHAI),
    )
    march = ProductionRecord.objects.create(
        stream=stream,
        period=DateTimeTZRange(start, end, "[)"),
        quantity=Decimal("100"),
        carried_in=stream.carried_remainder,
        carried_out=stream.carried_remainder,
        units=100,
        serials=NumericRange(lower, lower + 100, "[)"),
        vintage=202503,
        entered_by=registry.issuer,
    )
    return {
        "production_serials_allocated_once": [
            {
                "problem": "serials_overlap_another_record",
                "record_id": march.pk,
                "other_record_id": february.pk,
                "serials": [lower, lower + 100],
            },
            # It also starts where the stream's sequence did not stand: the same check, the
            # same record.
            {
                "problem": "serials_not_where_the_sequence_stood",
                "record_id": march.pk,
                "found": str(lower),
                "expected": str(february.serials.upper),
            },
        ]
    }


def fraction_carried_twice(registry):
    december, january = registry.records["wind_2024_12"], registry.records["wind_2025_01"]
    # December now says it carried 0.1 MWh on, not the fraction it had left: January, which
    # took that fraction in, no longer follows from it either.
    assert december.carried_out != Decimal("0.1")
    ProductionRecord.objects.filter(pk=december.pk).update(carried_out=Decimal("0.1"))
    return {
        "production_serials_allocated_once": [
            {
                "problem": "carried_out_not_the_fraction_left",
                "record_id": december.pk,
                "found": "0.100000",
                "expected": str(december.carried_out),
            },
            {
                "problem": "carried_in_not_carried_out_of_previous_record",
                "record_id": january.pk,
                "found": str(january.carried_in),
                "expected": "0.100000",
            },
        ]
    }


def claim_outside_its_record(registry):
    revoked = registry.claims["wind_gec_revoked"]
    january = registry.records["wind_2025_01"]
    # Moved onto another record of its stream, whose serials do not contain it. A revoked claim,
    # so that no live sum changes (issued <= produced stays true).
    with pgtrigger.ignore("registry.UnitClaim:claim_inside_production"):
        UnitClaim.objects.filter(pk=revoked.pk).update(production_record=january)
    return {
        "claims_inside_production_records": [
            {
                "claim_id": revoked.pk,
                "record_id": january.pk,
                "serials": serials(revoked),
                "record_serials": serials(january),
                "problems": ["serials_outside_record", "vintage_not_record_vintage"],
            }
        ]
    }


def issued_above_produced(registry):
    february = registry.records["wind_2025_02"]
    gec, late = registry.claims["wind_gec_2025_02"], registry.claims["wind_gec_late"]
    # February's production rewritten 200 MWh lower, consistently (quantity, units, serials and
    # the stream's sequence), as a correction applied behind the registry's back. Its live
    # claims now add up to more than it produced, and they reach beyond its serials: both
    # checks of I6 must say so; nothing else is wrong.
    ProductionRecord.objects.filter(pk=february.pk).update(
        quantity=february.quantity - 200,
        units=february.units - 200,
        serials=NumericRange(february.serials.lower, february.serials.upper - 200, "[)"),
    )
    stream = february.stream
    type(stream).objects.filter(pk=stream.pk).update(next_sequence=stream.next_sequence - 200)
    live_claimed = gec.quantity + late.quantity
    return {
        "issued_within_produced": [
            {
                "record_id": february.pk,
                "units": february.units - 200,
                "live_claimed": live_claimed,
                "excess": live_claimed - (february.units - 200),
                "claim_ids": [gec.pk, late.pk],
                "mechanisms": ["GEC"],
            }
        ],
        "claims_inside_production_records": [
            {"claim_id": claim.pk, "problems": ["serials_outside_record"]} for claim in (gec, late)
        ],
    }


def _claim_with_block(registry, *, mechanism, record, lower, quantity, status="active", **extra):
    claim = UnitClaim.objects.create(
        mechanism=Mechanism.objects.get(code=mechanism),
        stream=record.stream,
        production_record=record,
        serials=NumericRange(lower, lower + quantity, "[)"),
        quantity=quantity,
        vintage=record.vintage,
        account=registry.wind_account,
        issued_by=registry.issuer,
    )
    block = Block.objects.create(
        claim=claim,
        mechanism=claim.mechanism,
        stream=claim.stream,
        account=registry.wind_account,
        serials=claim.serials,
        quantity=quantity,
        vintage=claim.vintage,
        status=status,
        **extra,
    )
    return claim, block


def overlapping_claims_of_two_mechanisms(registry):
    drop_constraint("registry_unitclaim", "one_live_claim_per_unit")
    irec = registry.claims["wind_irec"]
    # 50 MWh already I-REC claimed as GEC too (the record has 100 unclaimed, so issued <=
    # produced still holds; the GEC claim has its block; GEC needs no declaration).
    gec, _block = _claim_with_block(
        registry,
        mechanism="GEC",
        record=registry.records["wind_2024_12"],
        lower=irec.serials.lower + 100,
        quantity=50,
    )
    return {
        "one_live_claim_per_unit": [
            {
                "problem": "units_held_by_two_live_claims",
                "claim_id": gec.pk,
                "mechanism": "GEC",
                "serials": serials(gec),
                "other_claim_id": irec.pk,
                "other_mechanism": "IREC",
                "other_serials": serials(irec),
            }
        ]
    }


def derived_claim_whose_source_was_revoked(registry):
    ccer = registry.claims["wind_ccer"]
    UnitClaim.objects.filter(pk=ccer.source_claim_id).update(
        status=UnitClaim.Status.REVOKED, revoked_at=dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    )
    return {
        "one_live_claim_per_unit": [
            {
                "problem": "live_while_source_claim_revoked",
                "claim_id": ccer.pk,
                "other_claim_id": ccer.source_claim_id,
                "other_status": "revoked",
            }
        ]
    }


def derived_tonnes_above_the_source(registry):
    ccer = registry.claims["wind_ccer"]
    # 500 MWh at 0.3 give 150 tonnes, not the 300 the claim holds.
    UnitClaim.objects.filter(pk=ccer.pk).update(conversion_factor=Decimal("0.3"))
    allowed = int(Decimal("150") + ccer.production_record.carried_in)
    return {
        "one_live_claim_per_unit": [
            {
                "problem": "derived_quantity_exceeds_source_times_factor",
                "claim_id": ccer.pk,
                "other_claim_id": ccer.source_claim_id,
            },
            {
                "problem": "tonnes_exceed_source_times_factor",
                "claim_id": ccer.pk,
                "quantity": 300,
                "tonnes_allowed": allowed,
            },
        ]
    }


def block_shortened(registry):
    tigr = registry.claims["wind_tigr"]
    block = Block.objects.get(claim=tigr)
    Block.objects.filter(pk=block.pk).update(
        serials=NumericRange(block.serials.lower, block.serials.upper - 1, "[)"),
        quantity=block.quantity - 1,
    )
    return {
        "blocks_add_up_to_claims": [
            {
                "problem": "blocks_do_not_add_up_to_claim",
                "claim_id": tigr.pk,
                "claim_quantity": 200,
                "blocks_total": 199,
                "block_count": 1,
            }
        ]
    }


def blocks_overlapping(registry):
    drop_constraint("tracking_block", "blocks_of_a_claim_never_overlap")
    tigr = registry.claims["wind_tigr"]
    block = Block.objects.get(claim=tigr)
    lower = block.serials.lower
    # The block keeps [lower, lower+150) and a second block holds [lower+100, lower+150) again:
    # the quantities still add up to the claim, the overlap alone is the defect.
    Block.objects.filter(pk=block.pk).update(
        serials=NumericRange(lower, lower + 150, "[)"), quantity=150
    )
    second = Block.objects.create(
        claim=tigr,
        mechanism=block.mechanism,
        stream=block.stream,
        account=registry.buyer_account,
        serials=NumericRange(lower + 100, lower + 150, "[)"),
        quantity=50,
        vintage=block.vintage,
    )
    return {
        "blocks_add_up_to_claims": [
            {
                "problem": "blocks_overlap",
                "claim_id": tigr.pk,
                "block_id": second.pk,
                "block_serials": [lower + 100, lower + 150],
                "other_block_id": block.pk,
                "other_block_serials": [lower, lower + 150],
            }
        ]
    }


def revoked_claim_with_a_block_still_held(registry):
    revoked = registry.claims["wind_gec_revoked"]
    block = Block.objects.get(claim=revoked)
    with pgtrigger.ignore("tracking.Block:final_blocks_never_change"):
        Block.objects.filter(pk=block.pk).update(status="active", cancellation=None)
    return {
        "blocks_add_up_to_claims": [
            {
                "problem": "block_of_revoked_claim_not_final",
                "claim_id": revoked.pk,
                "claim_status": "revoked",
                "block_id": block.pk,
                "block_status": "active",
            }
        ]
    }


def retired_block_without_retirement(registry):
    drop_constraint("tracking_block", "retired_block_has_retirement")
    retirement = registry.retirements["wind_irec"]
    block = Block.objects.get(retirement=retirement)
    with pgtrigger.ignore("tracking.Block:final_blocks_never_change"):
        Block.objects.filter(pk=block.pk).update(retirement=None)
    return {
        "units_retired_once": [
            {"problem": "retired_block_without_retirement", "block_id": block.pk},
            {
                "problem": "quantity_not_sum_of_its_blocks",
                "retirement_id": retirement.pk,
                "retirement_quantity": 50,
                "blocks_total": None,
            },
        ]
    }


def retirement_quantity_differs_from_blocks(registry):
    retirement = registry.retirements["wind_ccer"]
    with pgtrigger.ignore("tracking.Retirement:retirement_is_final"):
        Retirement.objects.filter(pk=retirement.pk).update(quantity=120)
    return {
        "units_retired_once": [
            {
                "problem": "quantity_not_sum_of_its_blocks",
                "retirement_id": retirement.pk,
                "retirement_quantity": 120,
                "blocks_total": 100,
                "retirement_mechanism": "CCER",
            }
        ]
    }


def retirement_without_beneficiary(registry):
    retirement = registry.retirements["wind_ccer"]
    with pgtrigger.ignore("tracking.Retirement:retirement_is_final"):
        Retirement.objects.filter(pk=retirement.pk).update(beneficiary_name="  ")
    return {
        "units_retired_once": [
            {"problem": "beneficiary_blank", "retirement_id": retirement.pk},
        ]
    }


def allocations_over_a_retirement(registry):
    retirement = registry.retirements["buyer_gec"]
    with pgtrigger.ignore("tracking.RetirementAllocation:allocations_within_retirement"):
        RetirementAllocation.objects.create(
            retirement=retirement,
            quantity=50,
            claimant=CHINESE_BENEFICIARY,
            reference="product batch 2025-02",
            actor=registry.buyer,
        )
    return {
        "units_retired_once": [
            {
                "problem": "allocations_exceed_retirement",
                "retirement_id": retirement.pk,
                "retirement_quantity": 100,
                "allocated": 110,
                "beneficiary_name": CHINESE_BENEFICIARY,
            }
        ]
    }


def same_mwh_retired_as_gec_and_irec(registry):
    # The claims must be forced to overlap for the same MWh to be retired twice, so the claim
    # check fails too: that is the expected pair, and the retirement check names the blocks.
    drop_constraint("registry_unitclaim", "one_live_claim_per_unit")
    irec_retired = Block.objects.get(retirement=registry.retirements["wind_irec"])
    retirement = Retirement.objects.create(
        mechanism=Mechanism.objects.get(code="GEC"),
        account=registry.wind_account,
        quantity=irec_retired.quantity,
        beneficiary_name="Someone else",
        purpose="scope2_electricity",
        claim_period_start=dt.date(2025, 1, 1),
        claim_period_end=dt.date(2025, 1, 31),
        location="CN-NM",
        reporting_year=2025,
        actor=registry.wind_owner,
    )
    gec, block = _claim_with_block(
        registry,
        mechanism="GEC",
        record=registry.records["wind_2024_12"],
        lower=irec_retired.serials.lower,
        quantity=irec_retired.quantity,
        status="retired",
        retirement=retirement,
    )
    return {
        "one_live_claim_per_unit": [
            {"problem": "units_held_by_two_live_claims", "claim_id": gec.pk}
        ],
        "units_retired_once": [
            {
                "problem": "units_retired_twice",
                "block_id": block.pk,
                "block_mechanism": "GEC",
                "retirement_id": retirement.pk,
                "other_block_id": irec_retired.pk,
                "other_mechanism": "IREC",
                "other_retirement_id": registry.retirements["wind_irec"].pk,
                "serials": serials(irec_retired),
            }
        ],
    }


def undeclared_issuance(registry):
    irec = registry.claims["wind_irec"]
    UnitClaim.objects.filter(pk=irec.pk).update(declaration=None)
    return {
        "issuance_covered_by_declaration": [
            {"claim_id": irec.pk, "mechanism": "IREC", "problems": ["no_declaration"]}
        ]
    }


def declaration_revoked_before_issuance(registry):
    ccer = registry.claims["retrofit_ccer"]
    declaration = ccer.declaration
    Declaration.objects.filter(pk=declaration.pk).update(
        revoked_at=ccer.issued_at - dt.timedelta(seconds=1)
    )
    return {
        "issuance_covered_by_declaration": [
            {
                "claim_id": claim_id,
                "declaration_id": declaration.pk,
                "problems": ["revoked_before_issuance"],
            }
            for claim_id in (ccer.pk, ccer.source_claim_id)
        ]
    }


def declaration_text_altered(registry):
    tigr, ccer = registry.claims["solar_tigr"], registry.claims["solar_ccer"]
    declaration = tigr.declaration
    with pgtrigger.ignore("registry.Declaration:declaration_text_immutable"):
        Declaration.objects.filter(pk=declaration.pk).update(
            text=declaration.text.replace("not", "now")
        )
    # Every live claim issued under it: the TIGR, and the CCER with its source claim (GECs
    # need no declaration).
    return {
        "issuance_covered_by_declaration": [
            {
                "claim_id": claim_id,
                "declaration_id": declaration.pk,
                "stored_text_sha256": declaration.text_sha256,
                "problems": ["text_does_not_match_its_sha256"],
            }
            for claim_id in (tigr.pk, ccer.pk, ccer.source_claim_id)
        ]
    }


def external_record_overlapping(registry):
    external = ExternalRecord.objects.create(
        source="IREC",
        external_id="IREC-TX-2024-12",
        kind=ExternalRecord.Kind.ISSUANCE,
        mechanism_code="IREC",
        unit_kind="E",
        external_project_id="DEV-BAYAN-01",
        project_name="Bayan Wind",
        period=DateRange(dt.date(2024, 12, 10), dt.date(2024, 12, 21), "[)"),
        quantity=Decimal("250"),
        project=registry.wind_farm,
        link_method=ExternalRecord.LinkMethod.IDENTIFIER,
        batch_id=registry.extra["import_batch"],
    )
    december = [registry.claims[name] for name in ("wind_irec", "wind_tigr", "wind_gec_2024")]
    return {
        "external_records_overlapping_issuances": [
            {
                "external_record_id": external.pk,
                "external_id": "IREC-TX-2024-12",
                "project": registry.wind_farm.code,
                "matched_by": "identifier",
                "overlapping_claims": 3,
                "overlapping_quantity": sum(claim.quantity for claim in december),
                "period_first_day": "2024-12-10",
                "period_last_day": "2024-12-20",
            }
        ]
    }


def ledger_row_tampered(registry):
    event = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.UNITS_ISSUED).order_by("pk").first()
    assert event.txid < registry.checkpoints[-1].xid_to  # a sealed event
    payload = {**event.payload, "quantity": event.payload["quantity"] + 1000}
    with pgtrigger.ignore("registry.LedgerEvent:ledger_append_only"):
        LedgerEvent.objects.filter(pk=event.pk).update(payload=payload)
    return {
        "ledger_integrity": [
            {
                "problem": "event_hash_does_not_match",
                "event_id": event.pk,
                "event_kind": "units.issued",
                "stored": event.event_hash,
            }
        ]
    }


def checkpoint_chain_broken(registry):
    second = registry.checkpoints[1]
    assert second.sequence == 2
    with pgtrigger.ignore("registry.Checkpoint:checkpoint_append_only"):
        Checkpoint.objects.filter(pk=second.pk).update(previous_hash="f" * 64)
    return {
        "ledger_integrity": [
            {
                "problem": "checkpoint_does_not_chain_to_previous",
                "checkpoint_sequence": 2,
                "stored": "f" * 64,
                "recomputed": registry.checkpoints[0].checkpoint_hash,
            },
            {
                "problem": "checkpoint_hash_does_not_match",
                "checkpoint_sequence": 2,
                "stored": second.checkpoint_hash,
            },
        ]
    }


def metered_tonnes_on_a_wind_farm(registry):
    # A metered tonne record of June 2025 on the wind farm's carbon stream, its serials and
    # fraction allocated as the service would, inserted past the trigger (a hand in psql).
    stream = registry.wind_farm.streams.get(unit_kind="C")
    start, end = month(2025, 6)
    lower, carried = stream.next_sequence, stream.carried_remainder
    with pgtrigger.ignore("registry.ProductionRecord:tonnes_derived_only"):
        execute(
            """INSERT INTO registry_productionrecord (stream_id, period, quantity, carried_in,
               carried_out, units, serials, vintage, source, entered_by_id, created_at,
               reason, evidence)
           VALUES (%s, tstzrange(%s, %s, '[)'), 10, %s, %s, 10, int8range(%s, %s), 202506,
                   'metered', %s, now(), '', '')""",
            [stream.pk, start, end, carried, carried, lower, lower + 10, registry.issuer.pk],
        )
    execute("UPDATE registry_stream SET next_sequence = %s WHERE id = %s", [lower + 10, stream.pk])
    record = ProductionRecord.objects.get(stream=stream, source="metered")
    return {
        "tonnes_derived_from_electricity": [
            {
                "record_id": record.pk,
                "project": registry.wind_farm.code,
                "project_name": registry.wind_farm.name,
                "technology": "wind",
                "stream": f"{registry.wind_farm.code}-C",
                "serials": [lower, lower + 10],
            }
        ]
    }


def identifier_shared_by_two_live_projects(registry):
    execute("DROP INDEX identifier_live_once")  # a partial unique index
    execute(
        "INSERT INTO registry_projectidentifier (project_id, registry, identifier, live) "
        "VALUES (%s, 'IREC', 'DEV-BAYAN-01', true)",
        [registry.solar_plant.pk],
    )
    return {
        "assets_registered_once": [
            {
                "problem": "shared_identifier",
                "severity": "fail",
                "field": "identifiers",
                "value": "IREC:DEV-BAYAN-01",
                "project": registry.wind_farm.code,
                "owner": "windco",
                "other_project": registry.solar_plant.code,
                "other_owner": "solarco",
            }
        ]
    }


def national_code_and_meter_shared(registry):
    # The partial unique index on the national code is an index, not a table constraint.
    execute("DROP INDEX project_national_code_live_once")
    drop_constraint("registry_projectmeter", "meter_one_live_project_at_a_time")
    wind, retrofit = registry.wind_farm, registry.retrofit
    execute(
        "UPDATE registry_project SET national_code = '150821W2020060001' WHERE id IN (%s, %s)",
        [wind.pk, retrofit.pk],
    )
    # The retrofit's meter starts while the wind farm's still measures it.
    execute(
        "INSERT INTO registry_projectmeter "
        "(project_id, country, meter_id, valid_from, valid_to, live) VALUES "
        "(%s, 'CN', 'NM-M-1', '2020-06-01', NULL, true), "
        "(%s, 'CN', 'NM-M-1', '2024-01-01', '2025-01-01', true)",
        [wind.pk, retrofit.pk],
    )
    pair = {"project": wind.code, "other_project": retrofit.code, "severity": "fail"}
    return {
        "assets_registered_once": [
            {**pair, "field": "national_code", "value": "150821W2020060001"},
            {**pair, "field": "meters", "value": "CN:NM-M-1"},
        ]
    }


PLANTS = [
    Plant("an identifier shared by two live projects", identifier_shared_by_two_live_projects),
    Plant("a national code and a meter shared", national_code_and_meter_shared),
    Plant("overlapping production periods", overlapping_production_periods),
    Plant("overlapping serial ranges", overlapping_serial_ranges),
    Plant("a fraction carried twice", fraction_carried_twice),
    Plant("a claim outside its record", claim_outside_its_record),
    Plant("issued above produced", issued_above_produced),
    Plant("metered tonnes on a wind farm", metered_tonnes_on_a_wind_farm),
    Plant("overlapping live claims of two mechanisms", overlapping_claims_of_two_mechanisms),
    Plant("a derived claim whose source was revoked", derived_claim_whose_source_was_revoked),
    Plant("derived tonnes above what the MWh give", derived_tonnes_above_the_source),
    Plant("a block shortened", block_shortened),
    Plant("overlapping blocks", blocks_overlapping),
    Plant("a revoked claim with a block still held", revoked_claim_with_a_block_still_held),
    Plant("a retired block without a retirement", retired_block_without_retirement),
    Plant("a retirement whose quantity differs", retirement_quantity_differs_from_blocks),
    Plant("a retirement without a beneficiary", retirement_without_beneficiary),
    Plant("allocations over a retirement", allocations_over_a_retirement),
    Plant("the same MWh retired as GEC and I-REC", same_mwh_retired_as_gec_and_irec),
    Plant("an undeclared issuance", undeclared_issuance),
    Plant("a declaration revoked before the issuance", declaration_revoked_before_issuance),
    Plant("a declaration whose text was altered", declaration_text_altered),
    Plant("a matching external record", external_record_overlapping),
    Plant("a tampered ledger row", ledger_row_tampered),
    Plant("a broken checkpoint chain", checkpoint_chain_broken),
]


@pytest.mark.parametrize("plant", PLANTS, ids=[plant.name for plant in PLANTS])
def test_each_planted_defect_is_found_by_its_check_and_nothing_else(clean_registry, plant):
    expected = plant.plant(clean_registry)
    report = run_report(clean_registry.auditor)

    assert report.status == UniquenessReport.Status.FAILED
    # A row changed in SQL no longer matches the ledger: the ledger's own checks may see it too.
    assert set(expected) <= failing_checks(report) <= set(expected) | LEDGER_STATE_CHECKS
    for check_id, expected_findings in expected.items():
        found = findings(report, check_id)
        assert len(found) == len(expected_findings), found
        for wanted in expected_findings:
            assert any(matches(record, wanted) for record in found), (wanted, found)
        assert report.checks.get(check_id=check_id).offending == len(expected_findings)


# --- details of single checks -----------------------------------------------------------------


def test_every_tampered_event_is_reported_not_only_the_first(clean_registry):
    events = list(LedgerEvent.objects.order_by("pk")[:3])
    with pgtrigger.ignore("registry.LedgerEvent:ledger_append_only"):
        for event in events:
            LedgerEvent.objects.filter(pk=event.pk).update(subjects=[*event.subjects, "forged"])
    report = run_report(clean_registry.auditor)

    assert [item["event_id"] for item in findings(report, "ledger_integrity")] == [
        event.pk for event in events
    ]


def test_a_deleted_sealed_event_breaks_its_checkpoint(clean_registry):
    first = clean_registry.checkpoints[0]
    event = LedgerEvent.objects.filter(txid__lt=first.xid_to).order_by("pk").last()
    with pgtrigger.ignore("registry.LedgerEvent:ledger_append_only"):
        LedgerEvent.objects.filter(pk=event.pk).delete()
    report = run_report(clean_registry.auditor)

    problems = {
        (item["problem"], item["checkpoint_sequence"])
        for item in findings(report, "ledger_integrity")
    }
    assert ("checkpoint_event_count_changed", 1) in problems
    assert ("checkpoint_merkle_root_does_not_match", 1) in problems
    assert failing_checks(report) - LEDGER_STATE_CHECKS == {"ledger_integrity"}


def test_an_event_without_transaction_id_is_reported(clean_registry):
    event = LedgerEvent.objects.order_by("pk").last()
    with pgtrigger.ignore("registry.LedgerEvent:ledger_append_only"):
        LedgerEvent.objects.filter(pk=event.pk).update(txid=None)
    report = run_report(clean_registry.auditor)

    assert [
        (item["problem"], item["event_id"]) for item in findings(report, "ledger_integrity")
    ] == [("event_without_transaction_id", event.pk)]


def test_an_event_moved_into_a_sealed_range_is_reported(clean_registry):
    # The last event was written after every seal; its transaction id set inside the first
    # checkpoint's range makes it look sealed (the id is not part of the event's hash).
    event = LedgerEvent.objects.order_by("pk").last()
    assert event.txid >= clean_registry.checkpoints[-1].xid_to
    with pgtrigger.ignore("registry.LedgerEvent:ledger_append_only"):
        LedgerEvent.objects.filter(pk=event.pk).update(txid=clean_registry.checkpoints[0].xid_from)
    report = run_report(clean_registry.auditor)

    assert [
        (item["problem"], item["event_id"]) for item in findings(report, "ledger_integrity")
    ] == [("event_outside_its_checkpoint", event.pk)]


def test_events_with_floats_escapes_and_chinese_text_are_not_reported(clean_registry):
    record_event(
        kind="organisation.created",
        actor=None,
        subjects=['name:"quoted"', "名字:河北", "tab:\t"],
        payload={
            "ratio": 1e-05,
            "text": "tab\there \u00e9 \u2028",
            "nested": {"b": [1.5, None], "a": True},
        },
    )
    report = run_report(clean_registry.auditor)

    assert findings(report, "ledger_integrity") == []
    assert report.status == UniquenessReport.Status.PASSED


def test_an_event_the_fast_reading_doubts_is_decided_by_event_hash(clean_registry, monkeypatch):
    # Subjects read in a form that is not JSON: every event's fast hash differs, and every one
    # is confirmed intact through the ORM and registry.ledger.event_hash; only the tampered one
    # is reported.
    from audit.checks import ledger

    monkeypatch.setattr(
        ledger,
        "EVENTS_SQL",
        ledger.EVENTS_SQL.replace("to_json(event.subjects)::text", "event.subjects::text"),
    )
    tampered = LedgerEvent.objects.order_by("pk")[5]
    with pgtrigger.ignore("registry.LedgerEvent:ledger_append_only"):
        LedgerEvent.objects.filter(pk=tampered.pk).update(kind="account.opened")
    report = run_report(clean_registry.auditor)

    assert [
        (item["problem"], item["event_id"]) for item in findings(report, "ledger_integrity")
    ] == [("event_hash_does_not_match", tampered.pk)]


def test_an_external_record_only_suggested_for_the_project_is_an_overlap_until_rejected(
    clean_registry,
):
    external = ExternalRecord.objects.create(
        source="IREC",
        external_id="IREC-TX-SOLAR-2025",
        kind=ExternalRecord.Kind.ISSUANCE,
        mechanism_code="IREC",
        unit_kind="E",
        project_name="Dunhuang Solar",
        period=DateRange(dt.date(2025, 1, 1), dt.date(2025, 2, 1), "[)"),
        quantity=Decimal("600"),
        batch_id=clean_registry.extra["import_batch"],
    )
    suggestion = MatchSuggestion.objects.create(
        record=external,
        project=clean_registry.solar_plant,
        score=Decimal("0.850"),
        breakdown={"name": "0.9", "province": "1"},
    )
    report = run_report(clean_registry.auditor)
    [finding] = findings(report, "external_records_overlapping_issuances")
    assert finding["external_record_id"] == external.pk
    assert finding["matched_by"] == "open_suggestion"
    assert finding["score"] == 0.85
    assert finding["score_breakdown"] == {"name": "0.9", "province": "1"}
    january_mwh = UnitClaim.objects.filter(
        production_record=clean_registry.records["solar_2025_01"], status="live"
    )
    # The GEC claim kept, the part split from it (R7) and the CCER's source claim.
    assert {claim["claim"] for claim in finding["claims"]} == set(
        january_mwh.values_list("pk", flat=True)
    )
    assert len(finding["claims"]) == 3

    MatchSuggestion.objects.filter(pk=suggestion.pk).update(status="rejected")
    again = run_report(clean_registry.auditor)
    assert findings(again, "external_records_overlapping_issuances") == []
    assert again.status == UniquenessReport.Status.PASSED


def test_with_r13_switched_off_an_undeclared_claim_is_counted_not_listed(clean_registry, settings):
    settings.REGISTRY_DISABLED_RULES = ["R13"]
    UnitClaim.objects.filter(pk=clean_registry.claims["wind_irec"].pk).update(declaration=None)
    report = run_report(clean_registry.auditor)

    outcome = report.checks.get(check_id="issuance_covered_by_declaration")
    assert outcome.verdict == ReportCheck.Verdict.PASS
    assert outcome.counts["rule_r13_enabled"] is False
    assert outcome.counts["claims_without_declaration"] == 1


def test_findings_come_in_a_stable_order(clean_registry):
    for name in ("wind_irec", "wind_tigr", "solar_tigr"):
        UnitClaim.objects.filter(pk=clean_registry.claims[name].pk).update(declaration=None)
    first = run_report(clean_registry.auditor)
    second = run_report(clean_registry.auditor)

    ids = [item["claim_id"] for item in findings(first, "issuance_covered_by_declaration")]
    assert ids == [item["claim_id"] for item in findings(second, "issuance_covered_by_declaration")]
    streams = [item["stream_id"] for item in findings(first, "issuance_covered_by_declaration")]
    assert streams == sorted(streams)


@pytest.mark.parametrize("leaves", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100])
def test_the_streaming_merkle_builder_gives_the_ledger_root(leaves):
    hashes = [sha256_hex(str(number)) for number in range(leaves)]
    builder = MerkleBuilder()
    for leaf in hashes:
        builder.add(leaf)
    assert builder.root() == merkle_root(hashes)
    assert builder.count == leaves


# --- scope ------------------------------------------------------------------------------------


def _scope(registry: CleanRegistry, **given: Any) -> dict[str, Any]:
    """Project names given as fixture keys become their (random) project codes."""
    projects = {"wind": registry.wind_farm, "solar": registry.solar_plant}
    if "project" in given:
        given["project"] = projects[given["project"]].code
    return given


@pytest.mark.parametrize(
    ("scope", "reported"),
    [
        ({}, True),
        ({"project": "wind"}, True),
        ({"project": "solar"}, False),
        ({"mechanism": "IREC"}, True),
        ({"mechanism": "GEC"}, False),
        ({"province": "CN-NM"}, True),
        ({"province": "CN-GS"}, False),
        ({"organisation": "windco"}, True),
        ({"organisation": "solarco"}, False),
        ({"vintage_from": 202412, "vintage_to": 202412}, True),
        ({"vintage_from": 202501}, False),
    ],
)
def test_a_defect_is_reported_inside_the_scope_and_not_outside(clean_registry, scope, reported):
    irec = clean_registry.claims["wind_irec"]
    UnitClaim.objects.filter(pk=irec.pk).update(declaration=None)
    report = run_report(clean_registry.auditor, _scope(clean_registry, **scope))

    found = [item["claim_id"] for item in findings(report, "issuance_covered_by_declaration")]
    assert found == ([irec.pk] if reported else [])
    assert failing_checks(report) == ({"issuance_covered_by_declaration"} if reported else set())
    assert report.scope == _scope(clean_registry, **scope)


@pytest.mark.parametrize(
    ("mechanism", "reported"), [("GEC", True), ("IREC", True), ("TIGR", False)]
)
def test_an_overlap_is_in_a_mechanism_scope_when_either_claim_is(
    clean_registry, mechanism, reported
):
    expected = overlapping_claims_of_two_mechanisms(clean_registry)
    report = run_report(clean_registry.auditor, {"mechanism": mechanism})

    found = findings(report, "one_live_claim_per_unit")
    if reported:
        [wanted] = expected["one_live_claim_per_unit"]
        assert len(found) == 1 and matches(found[0], wanted)
    else:
        assert found == []


@pytest.mark.parametrize(
    ("vintages", "reported"),
    [((202501, 202501), True), ((202502, 202502), True), ((202412, 202412), False)],
)
def test_overlapping_periods_are_in_a_vintage_scope_when_either_record_is(
    clean_registry, vintages, reported
):
    overlapping_production_periods(clean_registry)
    scope = {"vintage_from": vintages[0], "vintage_to": vintages[1]}
    report = run_report(clean_registry.auditor, scope)

    assert bool(findings(report, "production_periods_never_overlap")) is reported


def test_the_ledger_is_checked_whole_whatever_the_scope(clean_registry):
    expected = ledger_row_tampered(clean_registry)
    report = run_report(clean_registry.auditor, _scope(clean_registry, project="solar"))

    [wanted] = expected["ledger_integrity"]
    [found] = findings(report, "ledger_integrity")
    assert matches(found, wanted)
    assert report.checks.get(check_id="ledger_integrity").examined == LedgerEvent.objects.count()


def test_a_narrow_scope_examines_fewer_records(clean_registry):
    whole = run_report(clean_registry.auditor)
    solar = run_report(clean_registry.auditor, _scope(clean_registry, project="solar"))

    for check_id in ("production_periods_never_overlap", "claims_inside_production_records"):
        narrow = solar.checks.get(check_id=check_id).examined
        assert 0 < narrow < whole.checks.get(check_id=check_id).examined
    assert solar.status == UniquenessReport.Status.PASSED


def test_likely_twins_are_warnings_with_distance_similarity_and_capacities(clean_registry):
    from registry.services import project_register

    registry = clean_registry
    execute(
        "UPDATE registry_project SET latitude = 41.0, longitude = 107.0 WHERE id = %s",
        [registry.wind_farm.pk],
    )
    twin = project_register(
        actor=registry.administrator,
        owner=registry.solar_owner_organisation,
        name="Bayan Wind Farm",
        province="CN-NM",
        technology="wind",
        capacity_mw=Decimal("95"),
        commissioning_date=dt.date(2020, 6, 1),
        latitude=Decimal("41.002"),
        longitude=Decimal("107.001"),
    )
    # A shared identifier only on a rejected project is no finding at all.
    execute("UPDATE registry_project SET status = 'rejected' WHERE id = %s", [registry.retrofit.pk])
    execute(
        "INSERT INTO registry_projectidentifier (project_id, registry, identifier, live) "
        "VALUES (%s, 'IREC', 'DEV-BAYAN-01', false)",
        [registry.retrofit.pk],
    )

    report = run_report(registry.auditor)

    outcome = report.checks.get(check_id="assets_registered_once")
    assert outcome.verdict == ReportCheck.Verdict.PASS
    assert (outcome.offending, outcome.counts["warnings"]) == (0, 1)
    [warning] = findings(report, "assets_registered_once")
    assert matches(
        warning,
        {
            "problem": "likely_twin",
            "severity": "warning",
            "project": registry.wind_farm.code,
            "other_project": twin.code,
            "capacity_mw": "100.000",
            "other_capacity_mw": "95.000",
            "name_similarity": 1.0,
        },
    )
    assert 0.2 < warning["distance_km"] < 0.3
