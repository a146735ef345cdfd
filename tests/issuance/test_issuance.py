"""Issuance: one live claim per unit across mechanisms, derived units, refusals."""

from decimal import Decimal

import pytest
from django.db import connection

from issuance.services import unit_claim_issue
from registry.errors import Conflict, DomainError, DoubleClaim, Forbidden, NotFound, RuleViolation
from registry.models import LedgerEvent, ProductionRecord, UnitClaim
from registry.serials import SerialRange
from registry.services import declaration_sign, production_record_create
from tests.conftest import month
from tracking.models import Block


def sign_declaration(owner, project, unit_kind="E", year=2025, month_number=3):
    start, end = month(year, month_number)
    return declaration_sign(
        actor=owner, project=project, unit_kind=unit_kind, period_start=start, period_end=end
    )


def test_issuance_by_quantity_takes_first_unclaimed_serials(issuer, march_record, owner_account):
    claim = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=300,
    )
    assert (claim.serials.lower, claim.serials.upper) == (1, 301)
    second = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=200,
    )
    assert (second.serials.lower, second.serials.upper) == (301, 501)
    block = Block.objects.get(claim=claim)
    assert block.account == owner_account and block.quantity == 300
    assert block.expires_at is not None  # GEC: valid 24 months
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.UNITS_ISSUED).count() == 2


def test_second_claim_on_same_mwh_is_refused_naming_the_first(
    issuer, project_owner, wind_farm, march_record, owner_account
):
    gec = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        serial_range=SerialRange(1, 101),
    )
    sign_declaration(project_owner, wind_farm)
    claims_before = UnitClaim.objects.count()
    blocks_before = Block.objects.count()
    with pytest.raises(DoubleClaim) as refusal:
        unit_claim_issue(
            actor=issuer,
            mechanism="TIGR",
            production_record=march_record,
            account=owner_account,
            serial_range=SerialRange(50, 60),
        )
    error = refusal.value
    assert error.code == "double_claim"
    assert error.details["existing_claim"]["id"] == gec.pk
    assert error.details["existing_claim"]["mechanism"] == "GEC"
    assert error.details["existing_claim"]["holder_account"] == owner_account.number
    assert error.details["overlap"]["lower"] == 50 and error.details["overlap"]["upper"] == 60
    assert f"{wind_farm.code}-E-202503-000000000050-000000000059" in str(error.message)
    # Nothing written but the refused attempt.
    assert UnitClaim.objects.count() == claims_before
    assert Block.objects.count() == blocks_before
    refused = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).get()
    assert refused.actor == issuer
    assert refused.payload["details"]["existing_claim"]["id"] == gec.pk
    assert refused.payload["attempted"]["mechanism"] == "TIGR"


def test_database_refuses_overlapping_claim_inserted_with_raw_sql(
    issuer, march_record, owner_account
):
    gec = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=100,
    )
    from django.db import IntegrityError, transaction

    with (
        pytest.raises(IntegrityError) as violation,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            """
            INSERT INTO registry_unitclaim (mechanism_id, stream_id, production_record_id,
                serials, quantity, vintage, role, account_id, status, issued_by_id, issued_at,
                conversion_source, revocation_reason)
            SELECT m.id, %s, %s, int8range(90, 95), 5, 202503, 'direct', %s, 'live', %s, now(),
                   '', ''
            FROM registry_mechanism m WHERE m.code = 'TIGR'
            """,
            [gec.stream_id, march_record.pk, owner_account.pk, issuer.pk],
        )
    assert "one_live_claim_per_unit" in str(violation.value)


def test_revoked_claim_frees_its_serials(administrator, issuer, march_record, owner_account):
    from tracking.services import claim_revoke

    gec = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=100,
    )
    claim_revoke(actor=administrator, claim=gec, reason="metering error")
    again = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=100,
    )
    assert (again.serials.lower, again.serials.upper) == (1, 101)


def test_ccer_from_wind_mwh_claims_the_mwh_and_derives_tonnes(
    second_issuer, issuer, project_owner, wind_farm, march_record, owner_account
):
    sign_declaration(project_owner, wind_farm)
    ccer = unit_claim_issue(
        actor=second_issuer,
        mechanism="CCER",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
        conversion_factor=Decimal("0.6565"),
        conversion_source="North China grid combined margin 2025",
    )
    assert ccer.role == UnitClaim.Role.DERIVED
    assert ccer.stream.unit_kind == "C"
    assert ccer.quantity == 656  # 656.5 rounded down
    assert ccer.conversion_factor == Decimal("0.6565")
    derived_record = ccer.production_record
    assert derived_record.source == ProductionRecord.Source.DERIVED
    assert derived_record.carried_out == Decimal("0.5")
    assert ccer.source_claim.stream.unit_kind == "E"
    assert (ccer.source_claim.serials.lower, ccer.source_claim.serials.upper) == (1, 1001)
    # A later GEC on the same MWh is refused, naming the CCER claim.
    with pytest.raises(DoubleClaim) as refusal:
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march_record,
            account=owner_account,
            serial_range=SerialRange(10, 20),
        )
    assert refusal.value.details["existing_claim"]["id"] == ccer.pk
    assert refusal.value.details["existing_claim"]["mechanism"] == "CCER"
    # And a VCU on the derived tonnes is refused as well.
    sign_declaration(project_owner, wind_farm, unit_kind="C")
    with pytest.raises(DoubleClaim):
        unit_claim_issue(
            actor=second_issuer,
            mechanism="VCU",
            production_record=derived_record,
            account=owner_account,
            serial_range=SerialRange(
                derived_record.serials.lower, derived_record.serials.lower + 10
            ),
        )


def test_energy_use_rights_and_ccer_on_same_saved_tce_refuse_each_other(
    administrator, second_issuer, project_owner, retrofit, owner_account
):
    start, end = month(2025, 4)
    record = production_record_create(
        actor=administrator,
        project=retrofit,
        unit_kind="T",
        period_start=start,
        period_end=end,
        quantity=500,
    )
    energy_use_rights = unit_claim_issue(
        actor=second_issuer,
        mechanism="EUR",
        production_record=record,
        account=owner_account,
        quantity=500,
    )
    sign_declaration(project_owner, retrofit, unit_kind="T", month_number=4)
    # Holding energy-use rights puts the project under energy-use-rights control: R4 refuses
    # the CCER before the units are even looked at, naming the energy-use-rights claim.
    with pytest.raises(RuleViolation) as refusal:
        unit_claim_issue(
            actor=second_issuer,
            mechanism="CCER",
            production_record=record,
            account=owner_account,
            quantity=100,
            conversion_factor="2.6",
        )
    assert refusal.value.details["rule"] == "R4"
    assert refusal.value.details["facts"]["energy_use_right_claims"] == [energy_use_rights.pk]


def test_ccer_first_then_energy_use_rights_is_refused(
    administrator, second_issuer, project_owner, retrofit, owner_account
):
    start, end = month(2025, 4)
    record = production_record_create(
        actor=administrator,
        project=retrofit,
        unit_kind="T",
        period_start=start,
        period_end=end,
        quantity=500,
    )
    sign_declaration(project_owner, retrofit, unit_kind="T", month_number=4)
    ccer = unit_claim_issue(
        actor=second_issuer,
        mechanism="CCER",
        production_record=record,
        account=owner_account,
        quantity=500,
        conversion_factor="2.6",
    )
    assert ccer.quantity == 1300
    with pytest.raises(DoubleClaim) as refusal:
        unit_claim_issue(
            actor=second_issuer,
            mechanism="EUR",
            production_record=record,
            account=owner_account,
            quantity=1,
        )
    assert refusal.value.details["existing_claim"]["id"] == ccer.pk


def test_mechanism_requiring_declaration_is_refused_without_one(
    issuer, march_record, owner_account
):
    with pytest.raises(Conflict) as refusal:
        unit_claim_issue(
            actor=issuer,
            mechanism="TIGR",
            production_record=march_record,
            account=owner_account,
            quantity=10,
        )
    assert refusal.value.code == "rule_violation"
    assert refusal.value.details["rule"] == "R13"
    assert refusal.value.details["facts"]["reason"] == "declaration_missing"
    assert not UnitClaim.objects.exists()


@pytest.mark.parametrize(
    ("arguments", "code", "field"),
    [
        ({"mechanism": "XYZ", "quantity": 1}, "unknown_mechanism", "mechanism"),
        ({"mechanism": "GEC", "quantity": 0}, "invalid_input", "quantity"),
        ({"mechanism": "GEC", "quantity": -5}, "invalid_input", "quantity"),
        ({"mechanism": "GEC", "quantity": 1.5}, "invalid_input", "quantity"),
        ({"mechanism": "GEC", "quantity": True}, "invalid_input", "quantity"),
        ({"mechanism": "GEC", "quantity": 2000}, "insufficient_unclaimed_units", "quantity"),
        ({"mechanism": "GEC"}, "invalid_input", "quantity"),
        ({"mechanism": "GEC", "serial_range": "CN-XXXX"}, "malformed_range", "serial_range"),
        (
            {"mechanism": "GEC", "serial_range": SerialRange(900, 1100)},
            "serial_outside_record",
            "serial_range",
        ),
        (
            {"mechanism": "GEC", "quantity": 1, "conversion_factor": "0.5"},
            "invalid_input",
            "conversion_factor",
        ),
        ({"mechanism": "CCER", "quantity": 1}, "forbidden", "mechanism"),
    ],
)
def test_bad_issuance_input_is_refused_and_writes_nothing(
    issuer, march_record, owner_account, arguments, code, field
):
    events_before = LedgerEvent.objects.count()
    with pytest.raises(DomainError) as refusal:
        unit_claim_issue(
            actor=issuer, production_record=march_record, account=owner_account, **arguments
        )
    assert refusal.value.code == code
    assert refusal.value.field == field
    assert not UnitClaim.objects.exists()
    assert LedgerEvent.objects.count() == events_before


def test_unknown_account_is_refused(issuer, march_record):
    with pytest.raises(NotFound) as refusal:
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march_record,
            account="CN-99999999",
            quantity=1,
        )
    assert refusal.value.code == "unknown_account"


def test_outsider_and_auditor_cannot_issue(outsider, auditor, march_record, owner_account):
    for actor in (outsider, auditor):
        with pytest.raises(Forbidden):
            unit_claim_issue(
                actor=actor,
                mechanism="GEC",
                production_record=march_record,
                account=owner_account,
                quantity=1,
            )


def test_two_derivations_from_different_mwh_of_one_period_both_succeed(
    second_issuer, project_owner, wind_farm, march_record, owner_account
):
    sign_declaration(project_owner, wind_farm)
    ccer = unit_claim_issue(
        actor=second_issuer,
        mechanism="CCER",
        production_record=march_record,
        account=owner_account,
        quantity=500,
        conversion_factor="0.6",
    )
    vcu = unit_claim_issue(
        actor=second_issuer,
        mechanism="VCU",
        production_record=march_record,
        account=owner_account,
        quantity=500,
        conversion_factor="0.6",
    )
    assert (ccer.quantity, vcu.quantity) == (300, 300)
    assert ccer.serials.upper <= vcu.serials.lower  # distinct tonnes on the carbon stream


def test_metered_tonnes_beside_derived_tonnes_of_a_wind_farm_are_refused_as_derived_only(
    administrator, second_issuer, project_owner, wind_farm, march_record, owner_account
):
    sign_declaration(project_owner, wind_farm)
    unit_claim_issue(
        actor=second_issuer,
        mechanism="CCER",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
        conversion_factor="0.6565",
    )
    start, end = month(2025, 3)
    with pytest.raises(Conflict) as refusal:
        production_record_create(
            actor=administrator,
            project=wind_farm,
            unit_kind="C",
            period_start=start,
            period_end=end,
            quantity=100,
        )
    # A wind farm's tonnes exist only as derived units, whether or not the period overlaps.
    assert refusal.value.code == "derived_only"


def test_exclusion_violation_itself_becomes_a_double_claim_naming_the_holder(
    issuer, march_record, owner_account, monkeypatch
):
    """If the application check misses a claim (a race), the database constraint still refuses
    the insert, and the refusal still names the claim that holds the units."""
    import issuance.services as issuance_services

    gec = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=100,
    )
    real_lookup = issuance_services.live_claim_overlapping
    calls = []

    def blind_first_lookup(**kwargs):
        calls.append(kwargs)
        return None if len(calls) == 1 else real_lookup(**kwargs)

    monkeypatch.setattr(issuance_services, "live_claim_overlapping", blind_first_lookup)
    with pytest.raises(DoubleClaim) as refusal:
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march_record,
            account=owner_account,
            serial_range=SerialRange(99, 120),
        )
    assert len(calls) == 2  # the insert was attempted and refused by the database
    assert refusal.value.details["existing_claim"]["id"] == gec.pk
    assert refusal.value.details["overlap"]["lower"] == 99
    assert refusal.value.details["overlap"]["upper"] == 101


def test_issuance_range_string_of_another_vintage_is_refused(
    issuer, wind_farm, march_record, owner_account
):
    wrong_vintage = SerialRange(1, 10).format("CN", wind_farm.code, "E", 202502)
    with pytest.raises(DomainError) as refusal:
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march_record,
            account=owner_account,
            serial_range=wrong_vintage,
        )
    assert refusal.value.code == "serial_outside_record"
    right = SerialRange(1, 10).format("CN", wind_farm.code, "E", 202503)
    claim = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        serial_range=right,
    )
    assert claim.quantity == 9
