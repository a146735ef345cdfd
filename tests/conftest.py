"""Named personas and shared fixtures.

The personas: an administrator, an issuer (GEC, I-REC and TIGR), a second issuer (CCER, VCU), a
project owner (a wind farm and an energy-saving retrofit), a buyer, an auditor and an outsider.
"""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from accounts.models import Organisation, User
from issuance.services import unit_claim_issue
from registry.models import Mechanism
from registry.services import production_record_create, project_register
from tests.factories import HoldingAccountFactory, OrganisationFactory, UserFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
RETIREMENT_DEFAULTS = {
    "beneficiary_name": "Hebei Green Steel Co.",
    "purpose": "scope2_electricity",
    "claim_period_start": dt.date(2025, 3, 1),
    "claim_period_end": dt.date(2025, 3, 31),
    "location": "CN-HE",
    "reporting_year": 2025,
}


def month(year: int, month_number: int) -> tuple[dt.datetime, dt.datetime]:
    """A calendar month in Shanghai local time, as aware datetimes."""
    start = dt.datetime(year, month_number, 1, tzinfo=SHANGHAI)
    end = dt.datetime(year + month_number // 12, month_number % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


def ensure_mechanisms() -> None:
    """Re-seed the mechanisms after a transactional test flushed the tables (the data migration
    put them there only once)."""
    if Mechanism.objects.exists():
        return
    from django.apps import apps

    seed_migration = importlib.import_module("registry.migrations.0002_seed_mechanisms")
    seed_migration.seed(apps, None)


@pytest.fixture(autouse=True)
def _default_language():
    """A request with Accept-Language leaves its language active in the thread (the locale
    middleware does not switch back): every test starts and ends in the default language."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _login_lockout_off(settings):
    """Django's test client logs in without a request, which the lockout backend refuses, and
    many tests fail log-ins on purpose: the lockout is off here and tests/admin/test_security.py
    switches it on to exercise it."""
    settings.AXES_ENABLED = False


@pytest.fixture(autouse=True)
def _mechanisms_present(request):
    if {"db", "transactional_db"} & set(request.fixturenames) or request.node.get_closest_marker(
        "django_db"
    ):
        marker = request.node.get_closest_marker("django_db")
        transactional = "transactional_db" in request.fixturenames or (
            marker is not None and marker.kwargs.get("transaction")
        )
        request.getfixturevalue("transactional_db" if transactional else "db")
        ensure_mechanisms()


@pytest.fixture
def administrator(db):
    return UserFactory(
        username="admin", organisation=None, role=User.Role.ADMINISTRATOR, is_staff=True
    )


@pytest.fixture
def issuer(db):
    body = OrganisationFactory(
        code="gec-centre", name="Green certificate centre", kind=Organisation.Kind.ISSUING_BODY
    )
    for code in ("GEC", "IREC", "TIGR"):
        Mechanism.objects.get(code=code).issuing_bodies.add(body)
    return UserFactory(username="issuer", organisation=body, role=User.Role.ISSUER)


@pytest.fixture
def second_issuer(db):
    body = OrganisationFactory(
        code="carbon-registry", name="Carbon registry", kind=Organisation.Kind.ISSUING_BODY
    )
    for code in ("CCER", "VCU", "EUR"):
        Mechanism.objects.get(code=code).issuing_bodies.add(body)
    return UserFactory(username="second_issuer", organisation=body, role=User.Role.ISSUER)


@pytest.fixture
def project_owner(db):
    owner = OrganisationFactory(code="windco", name="Wind Co", kind=Organisation.Kind.PROJECT_OWNER)
    return UserFactory(username="owner", organisation=owner, role=User.Role.PROJECT_OWNER)


@pytest.fixture
def buyer(db):
    company = OrganisationFactory(code="buyer-co", name="Buyer Co", kind=Organisation.Kind.TRADER)
    return UserFactory(username="buyer", organisation=company, role=User.Role.HOLDER)


@pytest.fixture
def auditor(db):
    firm = OrganisationFactory(code="audit-firm", name="Audit Firm", kind=Organisation.Kind.AUDITOR)
    return UserFactory(username="auditor", organisation=firm, role=User.Role.AUDITOR)


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider", organisation=None, role=User.Role.PUBLIC)


@pytest.fixture
def owner_account(project_owner):
    return HoldingAccountFactory(
        organisation=project_owner.organisation,
        number="CN-00000001",
        name="Wind Co trading account",
    )


@pytest.fixture
def buyer_account(buyer):
    return HoldingAccountFactory(
        organisation=buyer.organisation, number="CN-00000002", name="Buyer Co account"
    )


@pytest.fixture
def wind_farm(administrator, project_owner):
    return project_register(
        actor=administrator,
        owner=project_owner.organisation,
        name="Bayan wind farm",
        province="CN-NM",
        technology="wind",
        capacity_mw=Decimal("100"),
        commissioning_date=dt.date(2020, 6, 1),
        grid_region="North",
    )


@pytest.fixture
def retrofit(administrator, project_owner):
    return project_register(
        actor=administrator,
        owner=project_owner.organisation,
        name="Boiler retrofit",
        province="CN-ZJ",
        technology="energy_saving",
    )


@pytest.fixture
def march_record(wind_farm, issuer):
    """1,000.4 MWh for March 2025 (Shanghai time): serials 1..1000, 0.4 carried."""
    start, end = month(2025, 3)
    return production_record_create(
        actor=issuer,
        project=wind_farm,
        unit_kind="E",
        period_start=start,
        period_end=end,
        quantity=Decimal("1000.4"),
    )


@pytest.fixture
def gec_claim(issuer, march_record, owner_account):
    """1,000 GECs of the wind farm's March 2025 issued into the owner's account."""
    return unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
    )
