"""Every rule of the catalogue, each way: one operation it refuses (the rule id in the error,
nothing written but the refused attempt) and a nearby one it allows; and both orders of every
pair of mechanisms that can claim one physical output."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from issuance.services import unit_claim_issue
from registry.errors import Conflict, DoubleClaim, RuleViolation
from registry.models import LedgerEvent, Project, UnitClaim
from registry.services import declaration_sign, production_record_create, project_register
from tests.conftest import RETIREMENT_DEFAULTS, month
from tests.factories import HoldingAccountFactory
from tracking.models import Block
from tracking.services import block_retire, block_transfer

GRID_FACTOR = "0.6565"
COAL_FACTOR = "2.6"


def declare(owner, project, unit_kind, year, month_number):
    start, end = month(year, month_number)
    return declaration_sign(
        actor=owner, project=project, unit_kind=unit_kind, period_start=start, period_end=end
    )


def record_of(actor, project, unit_kind, year, month_number, quantity="1000"):
    start, end = month(year, month_number)
    return production_record_create(
        actor=actor,
        project=project,
        unit_kind=unit_kind,
        period_start=start,
        period_end=end,
        quantity=Decimal(quantity),
    )


def issue(actor, mechanism, record, account, quantity=100, **extra):
    derived = mechanism in ("CCER", "VCU", "VER", "PHCER") and record.stream.unit_kind != "C"
    if derived and "conversion_factor" not in extra:
        extra["conversion_factor"] = GRID_FACTOR if record.stream.unit_kind == "E" else COAL_FACTOR
    return unit_claim_issue(
        actor=actor,
        mechanism=mechanism,
        production_record=record,
        account=account,
        quantity=quantity,
        **extra,
    )


def refused(rule_id, call):
    """Run ``call``; assert it raised the rule and wrote nothing but one refused attempt."""
    claims_before = UnitClaim.objects.count()
    blocks_before = list(Block.objects.order_by("pk").values_list("pk", "status", "account_id"))
    refusals_before = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).count()
    events_before = LedgerEvent.objects.count()
    with pytest.raises(Conflict) as refusal:
        call()
    details = refusal.value.details
    assert details.get("rule") == rule_id, (refusal.value.code, details)
    assert UnitClaim.objects.count() == claims_before
    assert list(Block.objects.order_by("pk").values_list("pk", "status", "account_id")) == (
        blocks_before
    )
    assert LedgerEvent.objects.count() == events_before + 1
    assert (
        LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).count()
        == refusals_before + 1
    )
    return refusal.value


@pytest.fixture
def everyone(administrator, issuer, second_issuer, project_owner, owner_account):
    return {
        "admin": administrator,
        "issuer": issuer,
        "carbon": second_issuer,
        "owner": project_owner,
        "account": owner_account,
    }


@pytest.fixture
def december_record(administrator, wind_farm):
    """December 2024: generation I-REC may still certify in China."""
    return record_of(administrator, wind_farm, "E", 2024, 12)


# --- R1 and R2 -------------------------------------------------------------------------------


def test_r1_second_claim_on_same_mwh_is_refused_naming_the_first(
    everyone, march_record, project_owner, wind_farm
):
    first = issue(everyone["issuer"], "GEC", march_record, everyone["account"], quantity=1000)
    declare(project_owner, wind_farm, "E", 2025, 3)
    error = refused(
        "R1", lambda: issue(everyone["issuer"], "TIGR", march_record, everyone["account"])
    )
    assert error.details["existing_claim"]["id"] == first.pk


def test_r1_allows_the_next_free_mwh(everyone, march_record):
    issue(everyone["issuer"], "GEC", march_record, everyone["account"], quantity=500)
    second = issue(everyone["issuer"], "GEC", march_record, everyone["account"], quantity=500)
    assert second.serials.lower == 501


def test_r2_overlapping_metering_period_is_refused_and_the_next_month_allowed(
    administrator, wind_farm, march_record
):
    with pytest.raises(Conflict) as refusal:
        record_of(administrator, wind_farm, "E", 2025, 3)
    assert refusal.value.details["rule"] == "R2"
    assert record_of(administrator, wind_farm, "E", 2025, 4).units == 1000


# --- R4, R5 -----------------------------------------------------------------------------------


def test_r4_ccer_for_savings_under_energy_use_rights_control_is_refused(
    everyone, retrofit, project_owner
):
    Project.objects.filter(pk=retrofit.pk).update(under_energy_use_rights=True)
    record = record_of(everyone["admin"], retrofit, "T", 2025, 4, quantity="500")
    declare(project_owner, retrofit, "T", 2025, 4)
    error = refused("R4", lambda: issue(everyone["carbon"], "CCER", record, everyone["account"]))
    assert error.details["facts"]["under_energy_use_rights"] is True


def test_r4_allows_ccer_for_savings_outside_energy_use_rights(everyone, retrofit, project_owner):
    record = record_of(everyone["admin"], retrofit, "T", 2025, 4, quantity="500")
    declare(project_owner, retrofit, "T", 2025, 4)
    claim = issue(everyone["carbon"], "CCER", record, everyone["account"], quantity=100)
    assert claim.quantity == 260  # 100 tce x 2.6


def test_r5_energy_use_rights_inside_an_ets_boundary_are_issued_but_flagged(everyone, retrofit):
    Project.objects.filter(pk=retrofit.pk).update(inside_ets_boundary=True)
    record = record_of(everyone["admin"], retrofit, "T", 2025, 4, quantity="500")
    claim = issue(everyone["carbon"], "EUR", record, everyone["account"])
    assert claim.status == "live"
    flag = LedgerEvent.objects.get(kind=LedgerEvent.Kind.RULE_FLAGGED)
    assert flag.payload["rule"] == "R5"
    assert "rule:R5" in flag.subjects


def test_r5_does_not_flag_energy_use_rights_outside_an_ets_boundary(everyone, retrofit):
    record = record_of(everyone["admin"], retrofit, "T", 2025, 4, quantity="500")
    issue(everyone["carbon"], "EUR", record, everyone["account"])
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.RULE_FLAGGED).exists()


def test_r5_can_be_switched_off(everyone, retrofit, settings):
    settings.REGISTRY_DISABLED_RULES = ["R5"]
    Project.objects.filter(pk=retrofit.pk).update(inside_ets_boundary=True)
    record = record_of(everyone["admin"], retrofit, "T", 2025, 4, quantity="500")
    issue(everyone["carbon"], "EUR", record, everyone["account"])
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.RULE_FLAGGED).exists()


# --- R6 -----------------------------------------------------------------------------------------


def test_r6_irec_for_chinese_generation_after_2024_is_refused(
    everyone, march_record, project_owner, wind_farm
):
    declare(project_owner, wind_farm, "E", 2025, 3)
    error = refused(
        "R6", lambda: issue(everyone["issuer"], "IREC", march_record, everyone["account"])
    )
    assert error.details["facts"]["last_generation_day"] == "2024-12-31"


def test_r6_irec_for_december_2024_generation_is_allowed(
    everyone, december_record, project_owner, wind_farm
):
    declare(project_owner, wind_farm, "E", 2024, 12)
    claim = issue(everyone["issuer"], "IREC", december_record, everyone["account"])
    assert claim.mechanism.code == "IREC"


def test_r6_irec_outside_china_is_not_cut_off(everyone, project_owner):
    abroad = project_register(
        actor=everyone["admin"],
        owner=project_owner.organisation,
        name="Mekong solar",
        province="CN-YN",
        technology="solar",
        capacity_mw=Decimal("10"),
        commissioning_date=dt.date(2020, 1, 1),
    )
    # Registering projects abroad is not offered yet; the rule reads the project's country.
    Project.objects.filter(pk=abroad.pk).update(country="VN", time_zone="Asia/Ho_Chi_Minh")
    abroad.refresh_from_db()
    record = record_of(everyone["admin"], abroad, "E", 2025, 3)
    declare(project_owner, abroad, "E", 2025, 3)
    assert issue(everyone["issuer"], "IREC", record, everyone["account"]).quantity == 100


@pytest.mark.parametrize("mechanism", ["IREC", "TIGR"])
def test_r6_irec_and_tigr_for_subsidised_projects_are_refused(
    everyone, december_record, project_owner, wind_farm, mechanism
):
    Project.objects.filter(pk=wind_farm.pk).update(subsidised=True)
    declare(project_owner, wind_farm, "E", 2024, 12)
    error = refused(
        "R6", lambda: issue(everyone["issuer"], mechanism, december_record, everyone["account"])
    )
    assert error.details["facts"]["subsidised"] is True


def test_r6_first_sale_of_a_subsidised_projects_gec_records_the_forfeited_subsidy(
    everyone, march_record, wind_farm, buyer_account
):
    Project.objects.filter(pk=wind_farm.pk).update(subsidised=True)
    issue(everyone["issuer"], "GEC", march_record, everyone["account"], quantity=300)
    block_transfer(
        actor=everyone["owner"],
        source_account=everyone["account"],
        target_account=buyer_account,
        mechanism="GEC",
        quantity=120,
    )
    flag = LedgerEvent.objects.get(kind=LedgerEvent.Kind.RULE_FLAGGED)
    assert flag.payload["rule"] == "R6"
    assert flag.payload["facts"]["quantity"] == 120
    assert flag.payload["facts"]["subsidy_forfeited"] == [
        f"CN-{wind_farm.code}-E-202503-000000000001-000000000120"
    ]


def test_r6_sale_of_an_unsubsidised_projects_gec_records_nothing(
    everyone, march_record, buyer_account
):
    issue(everyone["issuer"], "GEC", march_record, everyone["account"], quantity=300)
    block_transfer(
        actor=everyone["owner"],
        source_account=everyone["account"],
        target_account=buyer_account,
        mechanism="GEC",
        quantity=120,
    )
    assert not LedgerEvent.objects.filter(kind=LedgerEvent.Kind.RULE_FLAGGED).exists()


# --- R8 -----------------------------------------------------------------------------------------


def test_r8_local_credit_for_a_project_already_in_gec_is_refused(
    everyone, march_record, project_owner, wind_farm
):
    gec = issue(everyone["issuer"], "GEC", march_record, everyone["account"], quantity=100)
    april = record_of(everyone["admin"], wind_farm, "E", 2025, 4)
    declare(project_owner, wind_farm, "E", 2025, 4)
    error = refused("R8", lambda: issue(everyone["admin"], "PHCER", april, everyone["account"]))
    assert error.details["facts"]["claims"] == {"GEC": gec.pk}


def test_r8_allows_a_local_credit_for_a_project_in_no_other_scheme(
    everyone, march_record, project_owner, wind_farm
):
    declare(project_owner, wind_farm, "E", 2025, 3)
    claim = issue(everyone["admin"], "PHCER", march_record, everyone["account"])
    assert claim.mechanism.code == "PHCER" and claim.quantity == 65


# --- R9, R12 --------------------------------------------------------------------------------


def test_r9_a_gec_traded_once_cannot_be_traded_again(everyone, march_record, buyer, buyer_account):
    third_account = HoldingAccountFactory(
        organisation=everyone["issuer"].organisation, number="CN-00000009", name="Third"
    )
    issue(everyone["issuer"], "GEC", march_record, everyone["account"], quantity=100)
    block_transfer(
        actor=everyone["owner"],
        source_account=everyone["account"],
        target_account=buyer_account,
        mechanism="GEC",
        quantity=100,
    )
    error = refused(
        "R9",
        lambda: block_transfer(
            actor=buyer,
            source_account=buyer_account,
            target_account=third_account,
            mechanism="GEC",
            quantity=10,
        ),
    )
    assert error.details["facts"]["reason"] == "transfer_limit_reached"


def test_r12_retired_units_never_move_again(everyone, march_record, wind_farm, buyer_account):
    issue(everyone["issuer"], "GEC", march_record, everyone["account"], quantity=100)
    block_retire(
        actor=everyone["owner"],
        account=everyone["account"],
        mechanism="GEC",
        quantity=10,
        **RETIREMENT_DEFAULTS,
    )
    retired = f"CN-{wind_farm.code}-E-202503-000000000001-000000000010"
    refused(
        "R12",
        lambda: block_transfer(
            actor=everyone["owner"],
            source_account=everyone["account"],
            target_account=buyer_account,
            mechanism="GEC",
            serial_range=retired,
        ),
    )
    active = f"CN-{wind_farm.code}-E-202503-000000000011-000000000020"
    moved = block_transfer(
        actor=everyone["owner"],
        source_account=everyone["account"],
        target_account=buyer_account,
        mechanism="GEC",
        serial_range=active,
    )
    assert moved.quantity == 10


# --- R13 ------------------------------------------------------------------------------------


def test_r13_issuance_without_a_covering_declaration_is_refused_and_with_one_allowed(
    everyone, march_record, project_owner, wind_farm
):
    refused("R13", lambda: issue(everyone["issuer"], "TIGR", march_record, everyone["account"]))
    declaration = declare(project_owner, wind_farm, "E", 2025, 3)
    claim = issue(everyone["issuer"], "TIGR", march_record, everyone["account"])
    assert claim.declaration_id == declaration.pk


# --- both orders of every pair that can claim one output -----------------------------------

PAIRS = [
    # (first, second, unit kind of the output, on December 2024 MWh for I-REC)
    ("GEC", "CCER", "E"),
    ("CCER", "GEC", "E"),
    ("GEC", "IREC", "E"),
    ("IREC", "GEC", "E"),
    ("CCER", "VCU", "E"),
    ("EUR", "CCER", "T"),
    ("CCER", "EUR", "T"),
    ("CCER", "PHCER", "E"),
]


@pytest.mark.parametrize(("first", "second", "unit_kind"), PAIRS)
def test_one_output_claimed_by_two_mechanisms_refuses_the_second_in_either_order(
    everyone, project_owner, wind_farm, retrofit, first, second, unit_kind
):
    project = wind_farm if unit_kind == "E" else retrofit
    year, month_number = (2024, 12) if "IREC" in (first, second) else (2025, 3)
    record = record_of(everyone["admin"], project, unit_kind, year, month_number)
    declare(project_owner, project, unit_kind, year, month_number)
    issuers = {"GEC": "issuer", "IREC": "issuer", "EUR": "carbon", "PHCER": "admin"}
    held = issue(
        everyone[issuers.get(first, "carbon")], first, record, everyone["account"], quantity=1000
    )
    with pytest.raises((DoubleClaim, RuleViolation)) as refusal:
        issue(everyone[issuers.get(second, "carbon")], second, record, everyone["account"])
    details = refusal.value.details
    if isinstance(refusal.value, DoubleClaim):
        assert details["rule"] == "R1"
        holder = held if held.role != "source" else held.derived_claim
        assert details["existing_claim"]["id"] in (held.pk, holder.pk)
    else:
        # A rule that sees the project's other scheme refuses before the units are looked at.
        assert (first, second, details["rule"]) in {
            ("EUR", "CCER", "R4"),
            ("CCER", "PHCER", "R8"),
        }
    assert UnitClaim.objects.filter(mechanism__code=second).count() == 0


# --- R8 whichever comes first ------------------------------------------------------------------

R8_OTHERS = ["CCER", "VCU", "VER", "GEC", "IREC", "TIGR"]


def _r8_months(other):
    # I-REC certifies Chinese generation up to 2024 only (R6).
    return ((2024, 11), (2024, 12)) if other == "IREC" else ((2025, 3), (2025, 4))


@pytest.mark.parametrize("other", R8_OTHERS)
def test_r8_another_scheme_after_local_credits_is_refused(
    everyone, project_owner, wind_farm, other
):
    first_month, second_month = _r8_months(other)
    records = []
    for year, month_number in (first_month, second_month):
        records.append(record_of(everyone["admin"], wind_farm, "E", year, month_number))
        declare(project_owner, wind_farm, "E", year, month_number)
    local = issue(everyone["admin"], "PHCER", records[0], everyone["account"])
    error = refused("R8", lambda: issue(everyone["admin"], other, records[1], everyone["account"]))
    # A derived issuance holds the MWh (source claim) and the tonnes: either names it.
    assert error.details["facts"]["claims"]["PHCER"] in (local.pk, local.source_claim_id)
    assert not UnitClaim.objects.filter(mechanism__code=other).exists()


@pytest.mark.parametrize("other", R8_OTHERS)
def test_r8_local_credits_after_another_scheme_are_refused(
    everyone, project_owner, wind_farm, other
):
    first_month, second_month = _r8_months(other)
    records = []
    for year, month_number in (first_month, second_month):
        records.append(record_of(everyone["admin"], wind_farm, "E", year, month_number))
        declare(project_owner, wind_farm, "E", year, month_number)
    held = issue(everyone["admin"], other, records[0], everyone["account"])
    error = refused(
        "R8", lambda: issue(everyone["admin"], "PHCER", records[1], everyone["account"])
    )
    assert error.details["facts"]["claims"][other] in (held.pk, held.source_claim_id)
    assert not UnitClaim.objects.filter(mechanism__code="PHCER").exists()


def test_r8_refusal_each_way_through_the_api(everyone, project_owner, wind_farm):
    from tests.api.conftest import client_for

    for month_number in (3, 4):
        declare(project_owner, wind_farm, "E", 2025, month_number)
    march = record_of(everyone["admin"], wind_farm, "E", 2025, 3)
    april = record_of(everyone["admin"], wind_farm, "E", 2025, 4)
    issue(everyone["admin"], "PHCER", march, everyone["account"])
    refusals_before = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).count()
    response = client_for(everyone["issuer"]).post(
        "/api/v1/issuances/",
        {
            "mechanism": "GEC",
            "production_record": april.pk,
            "account": everyone["account"].number,
            "quantity": 10,
        },
        format="json",
    )
    assert response.status_code == 409, response.content
    assert response.data["code"] == "rule_violation"
    assert response.data["details"]["rule"] == "R8"
    assert not UnitClaim.objects.filter(mechanism__code="GEC").exists()
    assert (
        LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).count()
        == refusals_before + 1
    )


# --- the catalogue states each rule's effect as enforced --------------------------------------


def stated(rule_id, operation):
    from issuance.rules import catalogue_listing

    listing = {rule["id"]: rule for rule in catalogue_listing()}
    return listing[rule_id]["effects"][operation]


def test_each_refusal_above_is_stated_as_reject_and_each_flag_as_flag():
    """The operations the tests of this module refuse or only flag, against the catalogue."""
    behaviour = {
        ("R1", "issuance"): "reject",
        ("R2", "production"): "reject",
        ("R4", "issuance"): "reject",
        ("R5", "issuance"): "flag",
        ("R6", "issuance"): "reject",
        ("R6", "transfer"): "flag",
        ("R8", "issuance"): "reject",
        ("R9", "transfer"): "reject",
        ("R12", "transfer"): "reject",
        ("R13", "issuance"): "reject",
    }
    for (rule_id, operation), effect in behaviour.items():
        assert stated(rule_id, operation) == effect, (rule_id, operation)


def test_r14_is_stated_as_it_is_enforced_reject_at_retirement_by_default(client, settings):
    response = client.get("/api/v1/rules/")
    r14 = {rule["id"]: rule for rule in response.json()}["R14"]
    assert r14["effect"] == "reject"
    assert r14["effects"] == {
        "transfer": "flag",
        "retirement": "reject",
        "retirement_without_adjustment": "flag",
    }
    settings.REGISTRY_R14_RETIREMENT_EFFECT = "flag"
    response = client.get("/api/v1/rules/")
    r14 = {rule["id"]: rule for rule in response.json()}["R14"]
    assert r14["effect"] == "flag" and r14["effects"]["retirement"] == "flag"


def test_every_rule_states_the_effect_of_each_operation_it_meets():
    from issuance.rules import CATALOGUE

    for rule in CATALOGUE:
        effects = rule.enforced_effects()
        assert effects, rule.id
        assert set(effects.values()) <= {"reject", "flag"}, rule.id
        assert rule.enforced_effect() == ("reject" if "reject" in effects.values() else "flag")
        if rule.issuance_check is not None:
            assert any(key.startswith("issuance") for key in effects), rule.id
        if rule.transfer_check is not None:
            assert "transfer" in effects, rule.id
        if rule.retirement_check is not None:
            assert "retirement" in effects, rule.id


# --- R4 in each order ---------------------------------------------------------------------------


def test_r4_ccer_after_energy_use_rights_on_other_savings_is_refused(
    everyone, retrofit, project_owner
):
    april = record_of(everyone["admin"], retrofit, "T", 2025, 4, quantity="500")
    march = record_of(everyone["admin"], retrofit, "T", 2025, 3, quantity="500")
    declare(project_owner, retrofit, "T", 2025, 3)
    eur = issue(everyone["carbon"], "EUR", april, everyone["account"])
    error = refused("R4", lambda: issue(everyone["carbon"], "CCER", march, everyone["account"]))
    assert error.details["facts"]["energy_use_right_claims"] == [eur.pk]


def test_r4_energy_use_rights_after_ccer_on_the_same_savings_are_refused(
    everyone, retrofit, project_owner
):
    march = record_of(everyone["admin"], retrofit, "T", 2025, 3, quantity="500")
    declare(project_owner, retrofit, "T", 2025, 3)
    issue(everyone["carbon"], "CCER", march, everyone["account"], quantity=500)
    error = refused("R1", lambda: issue(everyone["carbon"], "EUR", march, everyone["account"]))
    assert error.details["existing_claim"]["mechanism"] == "CCER"


def test_r4_energy_use_rights_for_other_savings_after_ccer_are_issued_and_then_bar_ccer(
    everyone, retrofit, project_owner
):
    """Savings of another period are other savings; once energy-use rights are issued the
    project is under energy-use-rights control and further CCER are refused."""
    march = record_of(everyone["admin"], retrofit, "T", 2025, 3, quantity="500")
    april = record_of(everyone["admin"], retrofit, "T", 2025, 4, quantity="500")
    declare(project_owner, retrofit, "T", 2025, 3)
    issue(everyone["carbon"], "CCER", march, everyone["account"], quantity=100)
    assert issue(everyone["carbon"], "EUR", april, everyone["account"]).mechanism.code == "EUR"
    refused("R4", lambda: issue(everyone["carbon"], "CCER", march, everyone["account"]))
