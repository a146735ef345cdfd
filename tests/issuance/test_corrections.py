"""Corrections of production by compensating entry: the corrected record never changes; an
upward correction gets serials after the stream's existing ones, which issuance claims from the
correction record; a downward correction withdraws the record's highest serials and is refused
when issued units would be left without production."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from issuance.services import production_record_correct, unit_claim_issue
from registry.errors import Conflict, DomainError
from registry.models import LedgerEvent, ProductionRecord, Stream, UnitClaim
from registry.services import production_record_create
from tests.api.conftest import client_for
from tests.conftest import month
from tracking.models import Block
from tracking.services import block_transfer

EVIDENCE = "meter CN-NM-0042 reading of 2025-04-02, report 17"


def correct(actor, record, direction, quantity, **extra):
    return production_record_correct(
        actor=actor,
        production_record=record,
        direction=direction,
        quantity=quantity,
        reason=extra.pop("reason", "meter read wrongly"),
        evidence=extra.pop("evidence", EVIDENCE),
    )


def snapshot(record):
    return ProductionRecord.objects.filter(pk=record.pk).values().get()


def test_an_upward_correction_gets_serials_after_the_streams_existing_ones(
    issuer, march_record, wind_farm
):
    original = snapshot(march_record)

    correction = correct(issuer, march_record, "up", "10.3")

    assert correction.source == "correction" and correction.corrects_id == march_record.pk
    assert correction.period == march_record.period and correction.vintage == 202503
    # 0.4 carried out of March plus 10.3: 10 whole units, 0.7 carried on.
    assert (correction.serials.lower, correction.serials.upper) == (1001, 1011)
    assert correction.carried_in == Decimal("0.4") and correction.carried_out == Decimal("0.7")
    assert snapshot(march_record) == original
    stream = Stream.objects.get(pk=march_record.stream_id)
    assert stream.next_sequence == 1011 and stream.carried_remainder == Decimal("0.7")
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.PRODUCTION_CORRECTED)
    assert event.payload["record"] == correction.pk
    assert event.payload["corrects"] == march_record.pk
    assert event.payload["stream"] == march_record.stream_id
    assert Decimal(event.payload["quantity"]) == Decimal("10.3")
    assert event.payload["serials"] == [1001, 1011]
    assert (
        event.payload["serial_range"] == f"CN-{wind_farm.code}-E-202503-000000001001-000000001010"
    )
    assert f"record:{march_record.pk}" in event.subjects


def test_issuance_claims_the_serials_of_an_upward_correction(
    issuer, march_record, owner_account, wind_farm
):
    unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
    )
    correction = correct(issuer, march_record, "up", "10")
    claim = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=correction,
        account=owner_account,
        quantity=10,
    )
    assert (claim.serials.lower, claim.serials.upper) == (1001, 1011)
    assert claim.vintage == 202503
    # The next month's serials come after the correction's.
    start, end = month(2025, 4)
    april = production_record_create(
        actor=issuer,
        project=wind_farm,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity="100",
    )
    assert april.serials.lower == 1011


def test_a_downward_correction_withdraws_the_records_highest_serials(
    issuer, march_record, owner_account, wind_farm
):
    unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=900,
    )
    original = snapshot(march_record)

    correction = correct(issuer, march_record, "down", "50.5")

    assert correction.quantity == Decimal("-50.5") and correction.units == 0
    assert correction.serials is None
    assert (correction.withdrawn.lower, correction.withdrawn.upper) == (950, 1001)
    assert snapshot(march_record) == original
    event = LedgerEvent.objects.get(kind=LedgerEvent.Kind.PRODUCTION_CORRECTED)
    assert event.payload["withdrawn"] == [950, 1001] and event.payload["direction"] == "down"
    # Issuance offers only the serials still in force: 901..949.
    with pytest.raises(Conflict) as short:
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march_record,
            account=owner_account,
            quantity=50,
        )
    assert short.value.code == "insufficient_unclaimed_units"
    with pytest.raises(Conflict) as withdrawn:
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march_record,
            account=owner_account,
            serial_range=f"CN-{wind_farm.code}-E-202503-000000000940-000000000960",
        )
    assert withdrawn.value.code == "serials_withdrawn"
    assert (
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march_record,
            account=owner_account,
            quantity=49,
        ).serials.upper
        == 950
    )
    # A further 0.4 down stays within the unit already withdrawn (50.9 rounds up to 51).
    again = correct(issuer, march_record, "down", "0.4")
    assert again.withdrawn is None


def test_a_downward_correction_below_what_was_issued_is_refused_naming_claims_and_holders(
    issuer, project_owner, march_record, owner_account, buyer_account
):
    claim = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
    )
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=990,
    )
    records_before = ProductionRecord.objects.count()
    refusals_before = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).count()

    response = client_for(issuer).post(
        f"/api/v1/production-records/{march_record.pk}/corrections/",
        {"direction": "down", "quantity": "20", "reason": "meter fault", "evidence": EVIDENCE},
        format="json",
    )

    assert response.status_code == 409, response.content
    assert response.data["code"] == "correction_below_issued"
    [named] = response.data["details"]["claims"]
    assert named["id"] == claim.pk and named["mechanism"] == "GEC"
    assert (named["overlap"]["lower"], named["overlap"]["upper"]) == (981, 1001)
    holders = {(h["account"], h["organisation"]): h["quantity"] for h in named["current_holders"]}
    assert holders == {(owner_account.number, "windco"): 10, (buyer_account.number, "buyer-co"): 10}
    assert ProductionRecord.objects.count() == records_before
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.PRODUCTION_CORRECTED).exists()
    refusal = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).latest("pk")
    assert refusal.payload["code"] == "correction_below_issued"
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).count() == (
        refusals_before + 1
    )


def test_corrections_through_the_api_and_who_may_make_them(
    issuer, second_issuer, administrator, project_owner, buyer, march_record
):
    body = {"direction": "up", "quantity": "5", "reason": "late reading", "evidence": EVIDENCE}
    url = f"/api/v1/production-records/{march_record.pk}/corrections/"
    assert client_for(project_owner).post(url, body, format="json").status_code == 403
    assert client_for(buyer).post(url, body, format="json").status_code == 404
    assert client_for(None).post(url, body, format="json").status_code == 401
    made = client_for(second_issuer).post(url, body, format="json")  # CCER from MWh
    assert made.status_code == 201, made.content
    assert made.data["source"] == "correction" and made.data["corrects"] == march_record.pk
    assert made.data["reason"] == "late reading" and made.data["evidence"] == EVIDENCE
    assert client_for(administrator).post(url, body, format="json").status_code == 201
    listed = client_for(project_owner).get(url).json()["results"]
    assert len(listed) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"direction": "sideways", "quantity": "5"}, "direction"),
        ({"direction": "up", "quantity": "-5"}, "quantity"),
        ({"direction": "up", "quantity": "5", "reason": ""}, "reason"),
        ({"direction": "up", "quantity": "5", "evidence": ""}, "evidence"),
    ],
)
def test_bad_corrections_are_refused_naming_the_field_and_write_nothing(
    issuer, march_record, body, field
):
    events_before = LedgerEvent.objects.count()
    response = client_for(issuer).post(
        f"/api/v1/production-records/{march_record.pk}/corrections/",
        {"reason": "r", "evidence": EVIDENCE, **body},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert field in response.data["errors"]
    assert LedgerEvent.objects.count() == events_before
    assert not ProductionRecord.objects.filter(source="correction").exists()


def test_a_zero_correction_and_one_beyond_the_record_are_refused(issuer, march_record):
    with pytest.raises(DomainError) as zero:
        correct(issuer, march_record, "up", "0")
    assert zero.value.code == "correction_zero"
    with pytest.raises(Conflict) as beyond:
        correct(issuer, march_record, "down", "1001")
    assert beyond.value.code == "correction_exceeds_record"
    assert not ProductionRecord.objects.filter(source="correction").exists()


def test_only_metered_records_are_corrected(issuer, correction_of_march):
    with pytest.raises(Conflict) as refusal:
        correct(issuer, correction_of_march, "up", "1")
    assert refusal.value.code == "not_correctable"


@pytest.fixture
def correction_of_march(issuer, march_record):
    return correct(issuer, march_record, "down", "10")


# --- the database -------------------------------------------------------------------------------


def test_the_database_refuses_a_claim_on_withdrawn_serials(
    issuer, march_record, owner_account, correction_of_march
):
    insert = (
        f"INSERT INTO {UnitClaim._meta.db_table} (mechanism_id, stream_id, production_record_id,"
        " serials, quantity, vintage, role, account_id, status, issued_by_id, issued_at,"
        " conversion_source, revocation_reason)"
        " SELECT mechanism.id, %s, %s, int8range(995, 1000), 5, 202503, 'direct', %s,"
        " 'live', %s, now(), '', '' FROM registry_mechanism AS mechanism"
        " WHERE mechanism.code = 'GEC'"
    )
    with (
        pytest.raises(IntegrityError, match="withdrawn"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            insert, [march_record.stream_id, march_record.pk, owner_account.pk, issuer.pk]
        )
    assert not Block.objects.exists()


def test_the_database_refuses_a_correction_without_record_or_reason_and_a_second_withdrawal(
    march_record, correction_of_march
):
    def insert(**overrides):
        row = {
            "stream_id": march_record.stream_id,
            "period": march_record.period,
            "quantity": Decimal("-1"),
            "carried_in": 0,
            "carried_out": 0,
            "units": 0,
            "vintage": 202503,
            "source": "correction",
            "corrects_id": march_record.pk,
            "reason": "x",
            "entered_by_id": march_record.entered_by_id,
            **overrides,
        }
        with transaction.atomic():
            ProductionRecord.objects.create(**row)

    with pytest.raises(IntegrityError, match="correction_names_record_and_reason"):
        insert(reason="")
    with pytest.raises(IntegrityError, match="correction_names_record_and_reason"):
        insert(corrects_id=None)
    with pytest.raises(IntegrityError, match="production_nonnegative"):
        insert(source="metered", corrects_id=None, reason="")
    from django.db.backends.postgresql.psycopg_any import NumericRange

    taken = correction_of_march.withdrawn
    with pytest.raises(IntegrityError, match="serials_withdrawn_once"):
        insert(withdrawn=NumericRange(taken.lower, taken.upper, "[)"))


# --- the uniqueness report ----------------------------------------------------------------------


def test_a_registry_with_corrections_passes_the_uniqueness_report(
    issuer, administrator, march_record, owner_account, wind_farm
):
    from audit.models import ReportCheck, ReportFinding
    from audit.services import uniqueness_report_request, uniqueness_report_run

    unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=500,
    )
    upward = correct(issuer, march_record, "up", "10.3")
    unit_claim_issue(
        actor=issuer, mechanism="GEC", production_record=upward, account=owner_account, quantity=5
    )
    correct(issuer, march_record, "down", "20.2")
    start, end = month(2025, 4)
    production_record_create(
        actor=issuer,
        project=wind_farm,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity="100.5",
    )
    report = uniqueness_report_request(
        actor=administrator, scope=None, enqueue=lambda report: "inline"
    )
    report = uniqueness_report_run(report_id=report.pk)
    failed = {
        check.check_id: list(
            ReportFinding.objects.filter(report=report, check_id=check.check_id).values_list(
                "record", flat=True
            )[:3]
        )
        for check in report.checks.filter(verdict=ReportCheck.Verdict.FAIL)
    }
    assert failed == {}


def test_the_admin_shows_a_records_corrections_read_only(client, issuer, march_record):
    from accounts.models import User
    from tests.factories import UserFactory

    correction = correct(issuer, march_record, "up", "3", reason="late meter reading")
    root = UserFactory(
        username="root",
        organisation=None,
        role=User.Role.ADMINISTRATOR,
        is_staff=True,
        is_superuser=True,
    )
    client.force_login(root)
    page = client.get(f"/admin/registry/productionrecord/{march_record.pk}/change/")
    assert page.status_code == 200
    assert "late meter reading" in page.content.decode()
    listing = client.get("/admin/registry/productionrecord/?source__exact=correction")
    assert listing.status_code == 200
    assert f">{correction.pk}<" in listing.content.decode()


def test_the_public_verification_of_a_withdrawn_serial_says_so(issuer, march_record, wind_farm):
    from registry.serials import Serial

    correction = correct(issuer, march_record, "down", "5", reason="double-read meter")
    body = client_for(None).get(f"/api/v1/verify/{Serial('CN', wind_farm.code, 'E', 202503, 999)}/")
    assert body.status_code == 200
    assert body.json()["status"] == "withdrawn"
    assert body.json()["withdrawn_by"]["correction"] == correction.pk
    kept = client_for(None).get(f"/api/v1/verify/{Serial('CN', wind_farm.code, 'E', 202503, 10)}/")
    assert kept.json()["status"] == "unclaimed"


def test_the_database_refuses_a_withdrawal_of_claimed_serials_or_outside_the_record(
    issuer, march_record, owner_account
):
    from django.db.backends.postgresql.psycopg_any import NumericRange

    unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
    )

    def withdraw(lower, upper):
        with transaction.atomic():
            ProductionRecord.objects.create(
                stream_id=march_record.stream_id,
                period=march_record.period,
                quantity=Decimal("-5"),
                units=0,
                vintage=202503,
                source="correction",
                corrects=march_record,
                withdrawn=NumericRange(lower, upper, "[)"),
                reason="behind the registry's back",
                entered_by=issuer,
            )

    with pytest.raises(IntegrityError, match="held by a live claim"):
        withdraw(996, 1001)
    with pytest.raises(IntegrityError, match="outside production record"):
        withdraw(1001, 1006)
    assert not ProductionRecord.objects.filter(source="correction").exists()
