"""Imports of other registries' records: per-row results, nothing partial, no duplicates, the
row that duplicates an internal issuance flagged and the next issuance on that output refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from interop import selectors, services
from interop.models import ExternalRecord, ImportBatch, ImportRow, MatchSuggestion
from issuance.services import unit_claim_issue
from registry.errors import DomainError, Forbidden, RuleViolation
from registry.models import LedgerEvent, UnitClaim
from tests.interop.conftest import fixture_text, record_for


@pytest.fixture
def march_gec(known_wind_farm, issuer, march_record, owner_account):
    """100 GEC already issued here from the wind farm's March 2025 output."""
    return unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=100,
    )


def test_good_malformed_and_duplicate_rows_give_per_row_results_and_refuse_the_next_issuance(
    run_import, known_wind_farm, issuer, march_record, march_gec, owner_account
):
    batch = run_import(fixture_text("canonical.csv"))

    assert batch.status == ImportBatch.Status.DONE
    assert (batch.total, batch.processed) == (7, 7)
    assert (batch.imported_count, batch.flagged_count) == (2, 1)
    assert (batch.invalid_count, batch.duplicate_count) == (4, 0)
    rows = {row.row_number: row for row in batch.rows.all()}
    assert rows[1].outcome == ImportRow.Outcome.IMPORTED
    assert rows[1].external_record.project == known_wind_farm
    assert rows[1].external_record.link_method == ExternalRecord.LinkMethod.IDENTIFIER
    assert rows[2].errors == {"external_id": ["This field is required."]}
    assert list(rows[3].errors) == ["period_start"]
    assert rows[4].errors == {"quantity": ["The quantity must be positive."]}
    assert rows[5].errors == {"period_end": ["The period ends before it starts."]}
    for number in (2, 3, 4, 5):
        assert rows[number].outcome == ImportRow.Outcome.INVALID
        assert rows[number].external_record is None
    # Nothing of the malformed rows was written: three records for the three good rows.
    assert set(ExternalRecord.objects.values_list("external_id", flat=True)) == {
        "IREC-TX-1001",
        "IREC-TX-1006",
        "VCS-9999-2025",
    }

    # Row 6 is the wind farm's March output, already issued here as GEC: imported and flagged.
    flagged = rows[6]
    assert flagged.outcome == ImportRow.Outcome.FLAGGED
    assert flagged.flags[0]["claim"] == march_gec.pk and flagged.flags[0]["mechanism"] == "GEC"
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.RULE_FLAGGED)
    assert event.payload["rule"] == "R15"
    assert event.payload["facts"]["internal_claims"][0]["claim"] == march_gec.pk
    assert f"claim:{march_gec.pk}" in event.subjects

    # The next issuance on the March MWh is refused, naming the external record.
    claims_before = UnitClaim.objects.count()
    events_before = LedgerEvent.objects.count()
    with pytest.raises(RuleViolation) as refusal:
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march_record,
            account=owner_account,
            quantity=100,
        )
    facts = refusal.value.details["facts"]
    assert refusal.value.details["rule"] == "R15"
    assert (facts["source"], facts["external_id"]) == ("IREC", "IREC-TX-1006")
    assert facts["external_record"] == flagged.external_record_id
    assert "IREC-TX-1006" in str(refusal.value.message)
    assert UnitClaim.objects.count() == claims_before
    assert LedgerEvent.objects.count() == events_before + 1
    refused = LedgerEvent.objects.latest("id")
    assert refused.kind == LedgerEvent.Kind.ATTEMPT_REFUSED
    assert refused.payload["details"]["rule"] == "R15"


def test_issuance_on_a_period_no_external_record_covers_is_allowed(
    run_import, known_wind_farm, issuer, owner_account
):
    run_import(fixture_text("canonical.csv"))
    may = record_for(known_wind_farm, issuer, 2025, 5)

    claim = unit_claim_issue(
        actor=issuer, mechanism="GEC", production_record=may, account=owner_account, quantity=10
    )

    assert claim.quantity == 10


def test_issuance_refused_for_a_month_certified_elsewhere_before_anything_was_issued_here(
    run_import, known_wind_farm, issuer, owner_account
):
    run_import(fixture_text("canonical.csv"))
    april = record_for(known_wind_farm, issuer, 2025, 4)

    with pytest.raises(RuleViolation) as refusal:
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=april,
            account=owner_account,
            quantity=1,
        )

    assert refusal.value.details["facts"]["external_id"] == "IREC-TX-1001"
    assert refusal.value.details["facts"]["period"] == "2025-04-01/2025-04-30"


def test_ccer_derived_from_mwh_is_refused_when_an_external_rec_holds_those_mwh(
    run_import, known_wind_farm, issuer, second_issuer, owner_account
):
    run_import(fixture_text("canonical.csv"))
    april = record_for(known_wind_farm, issuer, 2025, 4)

    with pytest.raises(RuleViolation) as refusal:
        unit_claim_issue(
            actor=second_issuer,
            mechanism="CCER",
            production_record=april,
            account=owner_account,
            quantity=100,
            conversion_factor="0.6",
        )

    assert refusal.value.details["rule"] == "R15"
    assert not UnitClaim.objects.exists()


def test_external_tonnes_do_not_block_mwh_certificates_of_the_same_month(
    run_import, known_wind_farm, issuer, owner_account
):
    """R15 compares the output claimed: a VCU (tonnes) does not hold the MWh a GEC certifies
    (whether a carbon credit and a certificate of the same wind MWh may coexist is rule R7's
    policy, not this check's)."""
    text = fixture_text("canonical.csv").replace(
        "VERRA,VCS-9999-2025,issuance,9999", "VERRA,V1,issuance,4321"
    )
    run_import(text)
    july = record_for(known_wind_farm, issuer, 2025, 7)

    claim = unit_claim_issue(
        actor=issuer, mechanism="GEC", production_record=july, account=owner_account, quantity=5
    )

    assert claim.quantity == 5
    assert ExternalRecord.objects.get(external_id="V1").project == known_wind_farm


def test_flag_only_mechanism_issues_and_records_a_rule_flagged_event(
    settings, run_import, known_wind_farm, issuer, owner_account
):
    settings.REGISTRY_EXTERNAL_OVERLAP_FLAG_ONLY = ["GEC"]
    run_import(fixture_text("canonical.csv"))
    april = record_for(known_wind_farm, issuer, 2025, 4)

    claim = unit_claim_issue(
        actor=issuer, mechanism="GEC", production_record=april, account=owner_account, quantity=10
    )

    assert claim.quantity == 10
    flag = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.RULE_FLAGGED).latest("id")
    assert flag.payload["rule"] == "R15"
    assert flag.payload["facts"]["external_id"] == "IREC-TX-1001"
    assert flag.payload["facts"]["mechanism"] == "GEC"
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).exists()


def test_a_flag_written_by_an_issuance_that_then_fails_is_rolled_back_with_it(
    settings, run_import, known_wind_farm, issuer, owner_account
):
    settings.REGISTRY_EXTERNAL_OVERLAP_FLAG_ONLY = ["GEC"]
    run_import(fixture_text("canonical.csv"))
    april = record_for(known_wind_farm, issuer, 2025, 4, quantity="10")
    flags_before = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.RULE_FLAGGED).count()

    with pytest.raises(DomainError):
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=april,
            account=owner_account,
            quantity=11,
        )

    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.RULE_FLAGGED).count() == flags_before


def test_r15_switched_off_lets_the_issuance_through(
    settings, run_import, known_wind_farm, issuer, owner_account
):
    settings.REGISTRY_DISABLED_RULES = ["R15"]
    run_import(fixture_text("canonical.csv"))
    april = record_for(known_wind_farm, issuer, 2025, 4)

    claim = unit_claim_issue(
        actor=issuer, mechanism="GEC", production_record=april, account=owner_account, quantity=1
    )

    assert claim.quantity == 1


def test_reimporting_the_same_file_creates_no_record_twice(run_import, known_wind_farm):
    first = run_import(fixture_text("canonical.csv"))
    records = ExternalRecord.objects.count()

    second = run_import(fixture_text("canonical.csv"))

    assert ExternalRecord.objects.count() == records == 3
    assert second.duplicate_count == 3 and second.invalid_count == 4
    assert second.imported_count == second.flagged_count == 0
    duplicate = second.rows.get(row_number=1)
    assert duplicate.outcome == ImportRow.Outcome.DUPLICATE
    assert duplicate.external_record == first.rows.get(row_number=1).external_record


def test_running_a_finished_batch_again_changes_nothing(run_import, known_wind_farm):
    batch = run_import(fixture_text("canonical.csv"))
    events = LedgerEvent.objects.count()

    again = services.import_batch_run(batch_id=batch.pk)

    assert again.status == ImportBatch.Status.DONE and again.processed == 7
    assert batch.rows.count() == 7
    assert LedgerEvent.objects.count() == events


def test_an_interrupted_run_resumes_after_the_rows_already_answered(
    administrator, known_wind_farm, monkeypatch
):
    batch = services.import_batch_create(
        actor=administrator,
        layout="canonical",
        file_format="csv",
        content=fixture_text("canonical.csv"),
        queue=False,
    )
    real = selectors.match_candidates

    def breaks(record):
        raise RuntimeError("worker lost")

    # The seventh row (the only unlinked one) asks for match candidates: the run breaks there.
    monkeypatch.setattr(selectors, "match_candidates", breaks)
    with pytest.raises(RuntimeError):
        services.import_batch_run(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED and "worker lost" in batch.error
    assert batch.processed == 6 and batch.rows.count() == 6
    # Nothing partial: the failed row left no record, no row result and no ledger event.
    assert not ExternalRecord.objects.filter(external_id="VCS-9999-2025").exists()
    assert not LedgerEvent.objects.filter(payload__external_id="VCS-9999-2025").exists()

    # A failed batch is final; a running one (a redelivered task) resumes where it stopped.
    ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.RUNNING)
    monkeypatch.setattr(selectors, "match_candidates", real)
    resumed = services.import_batch_run(batch_id=batch.pk)
    assert resumed.status == ImportBatch.Status.DONE
    assert resumed.processed == 7 and resumed.rows.count() == 7
    assert ExternalRecord.objects.count() == 3


def test_canonical_json_rows_import_like_csv(run_import, known_wind_farm):
    batch = run_import(fixture_text("canonical.json"), file_format="json")

    assert (batch.imported_count, batch.invalid_count) == (2, 1)
    retirement = ExternalRecord.objects.get(external_id="IREC-TX-2002")
    assert retirement.kind == ExternalRecord.Kind.RETIREMENT
    assert retirement.beneficiary == "Hebei Green Steel Co."
    assert retirement.project == known_wind_farm
    assert batch.rows.get(row_number=3).errors == {"unit": ["Unit must be MWh, tCO2e or tce."]}
    issued = ExternalRecord.objects.get(external_id="IREC-TX-2001")
    assert (issued.period.lower, issued.period.upper) == (dt.date(2025, 4, 1), dt.date(2025, 5, 1))
    assert issued.capacity_mw == 100


def test_an_external_retirement_alone_does_not_refuse_issuance(
    run_import, known_wind_farm, issuer, owner_account
):
    text = fixture_text("canonical.json").replace('"kind": "issuance"', '"kind": "retirement"', 1)
    run_import(text, file_format="json")
    april = record_for(known_wind_farm, issuer, 2025, 4)

    claim = unit_claim_issue(
        actor=issuer, mechanism="GEC", production_record=april, account=owner_account, quantity=1
    )

    assert claim.quantity == 1


def test_a_row_in_the_wrong_unit_for_its_mechanism_is_invalid(run_import, known_wind_farm):
    text = fixture_text("canonical.csv").replace("MWh,IREC,2025-04-01", "tCO2e,IREC,2025-04-01")

    batch = run_import(text)

    assert batch.rows.get(row_number=1).errors == {"unit": ["IREC is counted in MWh."]}


@pytest.mark.parametrize(
    ("content", "file_format", "code"),
    [
        ("not,a,registry\n1,2,3\n", "csv", "unreadable_file"),
        ('{"rows": 1}', "json", "unreadable_file"),
        ("[", "json", "unreadable_file"),
        ("[]", "json", "empty_file"),
    ],
)
def test_an_unreadable_file_is_refused_whole_and_nothing_is_stored(
    administrator, content, file_format, code
):
    with pytest.raises(DomainError) as refusal:
        services.import_batch_create(
            actor=administrator,
            layout="canonical",
            file_format=file_format,
            content=content,
            queue=False,
        )

    assert refusal.value.code == code
    assert not ImportBatch.objects.exists()


def test_only_an_administrator_may_import(issuer):
    with pytest.raises(Forbidden):
        services.import_batch_create(
            actor=issuer,
            layout="canonical",
            file_format="csv",
            content=fixture_text("canonical.csv"),
            queue=False,
        )


def test_gb18030_file_of_a_chinese_registry_is_read(run_import, known_wind_farm):
    batch = run_import(fixture_text("gec.csv").encode("gb18030"), layout="gec")

    assert batch.imported_count == 1
    assert ExternalRecord.objects.get().project_name == "巴彦风电场"


def test_unlinked_record_gets_suggestions_and_is_listed_for_administrators(
    run_import, known_wind_farm
):
    run_import(fixture_text("canonical.csv"))

    unlinked = list(selectors.unlinked_records())

    assert [record.external_id for record in unlinked] == ["VCS-9999-2025"]
    suggestion = MatchSuggestion.objects.get(record=unlinked[0])
    assert suggestion.project == known_wind_farm
    assert suggestion.score >= selectors.MATCH_THRESHOLD
    assert set(suggestion.breakdown) == {"name", "province", "capacity", "technology"}


@pytest.fixture
def rejected_filing(administrator, project_owner):
    """An earlier filing of the wind farm with its I-REC device code, rejected: the code is free."""
    from registry.services import project_register, project_set_status

    filing = project_register(
        actor=project_owner,
        owner=project_owner.organisation,
        name="Bayan wind (first filing)",
        province="CN-GS",
        technology="wind",
        capacity_mw=Decimal("40"),
        commissioning_date=dt.date(2020, 6, 1),
        identifiers={"IREC": "DEV-BAYAN-01"},
    )
    return project_set_status(
        actor=administrator, project=filing, status="rejected", reason="filed twice"
    )


def test_a_record_links_to_the_live_project_holding_its_identifier_never_a_rejected_one(
    run_import, rejected_filing, known_wind_farm
):
    batch = run_import(fixture_text("canonical.csv"))

    record = ExternalRecord.objects.get(external_id="IREC-TX-1001")
    assert record.project == known_wind_farm
    assert record.link_method == ExternalRecord.LinkMethod.IDENTIFIER
    assert not MatchSuggestion.objects.filter(record=record).exists()
    assert not ExternalRecord.objects.filter(project=rejected_filing).exists()
    assert batch.status == ImportBatch.Status.DONE


def test_a_record_whose_identifier_only_a_rejected_project_held_is_not_linked(
    run_import, rejected_filing
):
    run_import(fixture_text("canonical.csv"))

    record = ExternalRecord.objects.get(external_id="IREC-TX-1001")
    assert record.project is None
