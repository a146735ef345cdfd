"""A clean registry for the uniqueness-report tests, built once per test module through the real
services and committed, so that the ledger can be sealed into real checkpoints (a seal covers
committed transactions only).

``clean_registry`` gives each test that registry inside the test's transaction: whatever a test
plants (rows altered, constraints dropped, triggers ignored) is rolled back after it. Tests that
use it must not be transactional (``transactional_db`` would flush the shared registry).

What the registry holds (every verdict of a report over it passes, refused attempts aside):
three projects of two owners; GEC, I-REC and TIGR claims on MWh; a CCER claim derived from a
wind farm's MWh and one from a retrofit's tce; declarations where the mechanisms need them; a
transfer, retirements with English and Chinese beneficiaries, an allocation on a retirement, a
holder's cancellation, a revoked claim and the claim reissued on its serials, a frozen block,
an expired block, a CCER registration whose issuance cancelled frozen GECs (R7: a GEC claim
split around a revoked part); two imported external records that overlap nothing (one linked
by identifier, one with an open match suggestion); two refused attempts; sealed checkpoints
and events after them.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import HoldingAccount, Organisation, User
from issuance.services import project_mechanism_register, unit_claim_issue
from registry.errors import DoubleClaim, RuleViolation
from registry.ledger import seal
from registry.models import (
    Checkpoint,
    LedgerEvent,
    Mechanism,
    ProductionRecord,
    Project,
    UnitClaim,
)
from registry.services import declaration_sign, production_record_create, project_register
from tests.api.conftest import client_for
from tests.audit.registry_data import build_small_registry
from tests.audit.support import broker_down, isolated_report_queue
from tests.conftest import ensure_mechanisms, month
from tests.factories import HoldingAccountFactory, OrganisationFactory, UserFactory
from tracking.models import Block, Retirement
from tracking.services import (
    block_cancel,
    block_retire,
    block_set_status,
    block_transfer,
    claim_revoke,
    retirement_allocate,
    units_expire,
)

CHINESE_BENEFICIARY = "河北绿色钢铁有限公司"
ENGLISH_BENEFICIARY = "Hebei Green Steel Co."

EXTERNAL_RECORDS_CSV = (
    "source_registry,external_id,kind,external_project_id,project_name,country,province,"
    "technology,capacity_mw,unit,mechanism,period_start,period_end,quantity,serials,"
    "transaction_date,beneficiary\n"
    # Linked to the wind farm by its I-REC device code; 2022: nothing issued here then.
    "IREC,IREC-TX-2022-05,issuance,DEV-BAYAN-01,Bayan Wind,CN,CN-NM,wind,100,MWh,IREC,"
    "2022-05-01,2022-05-31,500,,2022-06-20,\n"
    # Unknown device; its name, province and capacity suggest the solar plant (open match).
    "IREC,IREC-TX-2022-07,issuance,DEV-UNKNOWN-9,Dunhuang Solar Plant,CN,CN-GS,solar,50,MWh,"
    "IREC,2022-07-01,2022-07-31,300,,2022-08-20,\n"
)


@dataclass
class CleanRegistry:
    """The rows a test needs to plant defects and to check what the report names."""

    administrator: User
    issuer: User
    second_issuer: User
    wind_owner: User
    solar_owner: User
    buyer: User
    auditor: User
    wind_owner_organisation: Organisation
    solar_owner_organisation: Organisation
    wind_farm: Project
    solar_plant: Project
    retrofit: Project
    wind_account: HoldingAccount
    solar_account: HoldingAccount
    buyer_account: HoldingAccount
    records: dict[str, ProductionRecord] = field(default_factory=dict)
    claims: dict[str, UnitClaim] = field(default_factory=dict)
    retirements: dict[str, Retirement] = field(default_factory=dict)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def refresh(self) -> None:
        """Re-read the rows from the database (a test may have changed them)."""
        for collection in (self.records, self.claims, self.retirements):
            for item in collection.values():
                item.refresh_from_db()


def _seal_everything(timeout: float = 60.0) -> list[Checkpoint]:
    """Seal until every event written so far is sealed. A transaction open elsewhere on the
    server holds the boundary back (by design: it is server-wide), so this retries, and may
    make several checkpoints."""
    deadline = time.monotonic() + timeout
    sealed: list[Checkpoint] = []
    while True:
        checkpoint = seal()
        if checkpoint is not None:
            sealed.append(checkpoint)
            if not LedgerEvent.objects.filter(txid__gte=checkpoint.xid_to).exists():
                return sealed
        if time.monotonic() > deadline:
            raise AssertionError("could not seal the ledger: its boundary never moved")
        time.sleep(0.2)


def _record(issuer, project, unit_kind, year, month_number, quantity) -> ProductionRecord:
    start, end = month(year, month_number)
    return production_record_create(
        actor=issuer,
        project=project,
        unit_kind=unit_kind,
        period_start=start,
        period_end=end,
        quantity=Decimal(quantity),
    )


def _declare(owner, project, unit_kind, first, last) -> None:
    start, _end = month(*first)
    _start, end = month(*last)
    declaration_sign(
        actor=owner, project=project, unit_kind=unit_kind, period_start=start, period_end=end
    )


def _issue(actor, mechanism, record, account, quantity, **extra) -> UnitClaim:
    return unit_claim_issue(
        actor=actor,
        mechanism=mechanism,
        production_record=record,
        account=account,
        quantity=quantity,
        **extra,
    )


def _retire(actor, account, mechanism, quantity, beneficiary) -> Retirement:
    return block_retire(
        actor=actor,
        account=account,
        mechanism=mechanism,
        quantity=quantity,
        beneficiary_name=beneficiary,
        purpose="scope2_electricity",
        claim_period_start=dt.date(2025, 1, 1),
        claim_period_end=dt.date(2025, 1, 31),
        location="CN-HE",
        reporting_year=2025,
    )


# When the 2023 GECs were issued, in the registry's story: before their validity ended.
ISSUED_WHILE_VALID = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


def build_clean_registry() -> CleanRegistry:
    """Build the registry through the services (each its own committed transaction)."""
    administrator = UserFactory(
        username="admin", organisation=None, role=User.Role.ADMINISTRATOR, is_staff=True
    )
    certificate_body = OrganisationFactory(
        code="gec-centre", name="Green certificate centre", kind=Organisation.Kind.ISSUING_BODY
    )
    carbon_body = OrganisationFactory(
        code="carbon-registry", name="Carbon registry", kind=Organisation.Kind.ISSUING_BODY
    )
    for code in ("GEC", "IREC", "TIGR"):
        Mechanism.objects.get(code=code).issuing_bodies.add(certificate_body)
    for code in ("CCER", "VCU"):
        Mechanism.objects.get(code=code).issuing_bodies.add(carbon_body)
    issuer = UserFactory(username="issuer", organisation=certificate_body, role=User.Role.ISSUER)
    second_issuer = UserFactory(
        username="second_issuer", organisation=carbon_body, role=User.Role.ISSUER
    )
    windco = OrganisationFactory(
        code="windco", name="Wind Co", kind=Organisation.Kind.PROJECT_OWNER
    )
    solarco = OrganisationFactory(
        code="solarco", name="Solar Co", kind=Organisation.Kind.PROJECT_OWNER
    )
    buyer_company = OrganisationFactory(
        code="buyer-co", name="Buyer Co", kind=Organisation.Kind.TRADER
    )
    wind_owner = UserFactory(username="owner", organisation=windco, role=User.Role.PROJECT_OWNER)
    solar_owner = UserFactory(
        username="solar_owner", organisation=solarco, role=User.Role.PROJECT_OWNER
    )
    buyer = UserFactory(username="buyer", organisation=buyer_company, role=User.Role.HOLDER)
    audit_firm = OrganisationFactory(
        code="audit-firm", name="Audit Firm", kind=Organisation.Kind.AUDITOR
    )
    auditor = UserFactory(username="auditor", organisation=audit_firm, role=User.Role.AUDITOR)
    wind_account = HoldingAccountFactory(organisation=windco, number="CN-00000001")
    solar_account = HoldingAccountFactory(organisation=solarco, number="CN-00000003")
    buyer_account = HoldingAccountFactory(organisation=buyer_company, number="CN-00000002")

    wind_farm = project_register(
        actor=administrator,
        owner=windco,
        name="Bayan wind farm",
        province="CN-NM",
        technology="wind",
        capacity_mw=Decimal("100"),
        commissioning_date=dt.date(2020, 6, 1),
        identifiers={"IREC": "DEV-BAYAN-01"},
    )
    solar_plant = project_register(
        actor=administrator,
        owner=solarco,
        name="Dunhuang solar plant",
        province="CN-GS",
        technology="solar",
        capacity_mw=Decimal("50"),
        commissioning_date=dt.date(2021, 3, 1),
    )
    retrofit = project_register(
        actor=administrator,
        owner=windco,
        name="Boiler retrofit",
        province="CN-ZJ",
        technology="energy_saving",
    )
    registry = CleanRegistry(
        administrator=administrator,
        issuer=issuer,
        second_issuer=second_issuer,
        wind_owner=wind_owner,
        solar_owner=solar_owner,
        buyer=buyer,
        auditor=auditor,
        wind_owner_organisation=windco,
        solar_owner_organisation=solarco,
        wind_farm=wind_farm,
        solar_plant=solar_plant,
        retrofit=retrofit,
        wind_account=wind_account,
        solar_account=solar_account,
        buyer_account=buyer_account,
    )
    records, claims, retirements = registry.records, registry.claims, registry.retirements

    # Production, with fractions carried from one month to the next.
    records["wind_2023_01"] = _record(issuer, wind_farm, "E", 2023, 1, "120.5")
    records["wind_2024_12"] = _record(issuer, wind_farm, "E", 2024, 12, "1000.4")
    records["wind_2025_01"] = _record(issuer, wind_farm, "E", 2025, 1, "800.7")
    records["wind_2025_02"] = _record(issuer, wind_farm, "E", 2025, 2, "600.2")
    records["solar_2025_01"] = _record(issuer, solar_plant, "E", 2025, 1, "600.5")
    records["solar_2025_02"] = _record(issuer, solar_plant, "E", 2025, 2, "400.9")
    records["retrofit_2025_01"] = _record(issuer, retrofit, "T", 2025, 1, "100")

    # Declarations of no double counting where I-REC, TIGR and CCER need them.
    _declare(wind_owner, wind_farm, "E", (2024, 12), (2025, 2))
    _declare(solar_owner, solar_plant, "E", (2025, 1), (2025, 2))
    _declare(wind_owner, retrofit, "T", (2025, 1), (2025, 1))

    # Direct claims of three mechanisms on one month of MWh.
    claims["wind_irec"] = _issue(issuer, "IREC", records["wind_2024_12"], wind_account, 300)
    claims["wind_tigr"] = _issue(issuer, "TIGR", records["wind_2024_12"], wind_account, 200)
    claims["wind_gec_2024"] = _issue(issuer, "GEC", records["wind_2024_12"], wind_account, 400)
    # An old GEC that has expired by now (valid 24 months after its period), issued while it
    # was valid: today it would be born expired and refused.
    with mock.patch("django.utils.timezone.now", return_value=ISSUED_WHILE_VALID):
        claims["wind_gec_2023"] = _issue(issuer, "GEC", records["wind_2023_01"], wind_account, 120)
    assert units_expire() == 120
    # CCER tonnes derived from MWh and from tce saved.
    claims["wind_ccer"] = _issue(
        second_issuer,
        "CCER",
        records["wind_2025_01"],
        wind_account,
        500,
        conversion_factor="0.6",
        conversion_source="North China grid 2025",
    )
    claims["retrofit_ccer"] = _issue(
        second_issuer,
        "CCER",
        records["retrofit_2025_01"],
        wind_account,
        100,
        conversion_factor="2.6",
        conversion_source="tce to tCO2e",
    )
    claims["wind_gec_2025_01"] = _issue(issuer, "GEC", records["wind_2025_01"], wind_account, 300)
    # A GEC claim revoked (its units cancelled), and the same serials claimed again.
    claims["wind_gec_revoked"] = _issue(issuer, "GEC", records["wind_2025_02"], wind_account, 100)
    claim_revoke(actor=administrator, claim=claims["wind_gec_revoked"], reason="meter fault")
    claims["wind_gec_2025_02"] = _issue(issuer, "GEC", records["wind_2025_02"], wind_account, 500)
    claims["solar_gec"] = _issue(issuer, "GEC", records["solar_2025_01"], solar_account, 600)
    claims["solar_tigr"] = _issue(issuer, "TIGR", records["solar_2025_02"], solar_account, 100)

    # Refused attempts: a second claim on units already claimed, and a rule violation.
    try:
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=records["wind_2024_12"],
            account=wind_account,
            serial_range=claims["wind_irec"].serial_range(),
        )
    except DoubleClaim as refusal:
        registry.extra["refusal_1"] = refusal.code
    try:
        _issue(issuer, "IREC", records["wind_2025_01"], wind_account, 1)
    except (DoubleClaim, RuleViolation) as refusal:
        registry.extra["refusal_2"] = refusal.code

    # Trading and the end of units.
    block_transfer(
        actor=solar_owner,
        source_account=solar_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=200,
    )
    retirements["buyer_gec"] = _retire(buyer, buyer_account, "GEC", 100, CHINESE_BENEFICIARY)
    retirement_allocate(
        actor=buyer,
        retirement=retirements["buyer_gec"],
        quantity=60,
        claimant=CHINESE_BENEFICIARY,
        reference="product batch 2025-01",
    )
    retirements["wind_irec"] = _retire(wind_owner, wind_account, "IREC", 50, ENGLISH_BENEFICIARY)
    retirements["wind_ccer"] = _retire(wind_owner, wind_account, "CCER", 100, ENGLISH_BENEFICIARY)
    block_cancel(
        actor=wind_owner,
        account=wind_account,
        mechanism="GEC",
        reason="surplus",
        serial_range=None,
        quantity=50,
    )
    frozen = Block.objects.filter(claim=claims["wind_gec_2025_01"]).order_by("pk").first()
    block_set_status(actor=administrator, block=frozen, status="frozen", reason="dispute")
    registry.extra["frozen_block"] = frozen.pk

    # R7: the solar plant registers for CCER, its untraded GECs freeze, and a CCER issuance on
    # its January MWh cancels 100 of them, splitting the GEC claim around a revoked part.
    project_mechanism_register(
        actor=second_issuer,
        project=solar_plant,
        mechanism="CCER",
        reference="CCER-REG-DUNHUANG",
        crediting_start=month(2025, 1)[0],
    )
    claims["solar_ccer"] = _issue(
        second_issuer,
        "CCER",
        records["solar_2025_01"],
        solar_account,
        100,
        conversion_factor="0.58",
        conversion_source="North-west China grid 2025",
    )
    registry.checkpoints.extend(_seal_everything())

    # Imports from another registry that overlap nothing issued here.
    from interop.services import import_batch_create, import_batch_run

    batch = import_batch_create(
        actor=administrator,
        layout="canonical",
        file_format="csv",
        content=EXTERNAL_RECORDS_CSV,
        filename="irec.csv",
        queue=False,
    )
    import_batch_run(batch_id=batch.pk)
    registry.extra["import_batch"] = batch.pk
    registry.checkpoints.extend(_seal_everything())

    # Events after the last checkpoint stay unsealed.
    claims["wind_gec_late"] = _issue(issuer, "GEC", records["wind_2025_02"], wind_account, 50)
    registry.refresh()
    return registry


@pytest.fixture(scope="module")
def _committed_registry(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        ensure_mechanisms()
        try:
            registry = build_clean_registry()
        except BaseException:
            call_command("flush", interactive=False, verbosity=0)
            raise
    yield registry
    with django_db_blocker.unblock():
        # Leave the database as empty as a transactional test would (mechanisms are re-seeded
        # by the suite's autouse fixture).
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def clean_registry(request, _committed_registry, db) -> CleanRegistry:
    """The committed clean registry, seen from inside this test's transaction."""
    assert "transactional_db" not in request.fixturenames, (
        "clean_registry is shared by the module: a transactional test would flush it"
    )
    _committed_registry.refresh()
    return _committed_registry


def execute(sql: str, params: list[Any] | tuple[Any, ...] = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture(autouse=True)
def report_queue():
    """Every audit test publishes report tasks to a queue of its own (its name)."""
    with isolated_report_queue() as name:
        yield name


@pytest.fixture
def unreachable_broker():
    with broker_down():
        yield


@pytest.fixture(autouse=True)
def _cache_of_this_test(settings):
    """A cache key prefix of the test's own: write rates counted from zero, and totals cached by
    another test (or another run on the same Redis) never read here."""
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }


@pytest.fixture
def api():
    """``api(user)``: a client with a fresh token of ``user``; ``api(None)``: anonymous."""
    return client_for


@pytest.fixture
def registry(
    issuer, second_issuer, project_owner, owner_account, wind_farm, retrofit, march_record
):
    """The small registry of tests/audit/registry_data.py (GEC, CCER, retirements with Chinese
    and English beneficiaries)."""
    return build_small_registry(
        issuer=issuer,
        second_issuer=second_issuer,
        project_owner=project_owner,
        owner_account=owner_account,
        wind_farm=wind_farm,
        retrofit=retrofit,
        march_record=march_record,
    )
