"""ETS fixtures: a national scheme (5 % CCER) and a pilot (10 %), a covered steel maker with a
holder persona, verified emissions, allowances and CCERs in its compliance account."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from accounts.models import Organisation, User
from compliance.services import (
    allowances_allocate,
    compliance_scheme_create,
    covered_entity_register,
    verified_emissions_record,
)
from issuance.services import unit_claim_issue
from registry.services import declaration_sign, production_record_create, project_register
from tests.api.conftest import client_for
from tests.conftest import month
from tests.factories import OrganisationFactory, UserFactory


@pytest.fixture
def api():
    """``api(user)`` is a client holding a fresh token of ``user``; ``api(None)`` is anonymous."""
    return client_for


@pytest.fixture(autouse=True)
def _fresh_rate_limit_counters(settings):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }


@pytest.fixture
def ministry(db):
    return OrganisationFactory(
        code="mee", name="Ministry of Ecology and Environment", kind=Organisation.Kind.REGULATOR
    )


@pytest.fixture
def national(administrator, ministry):
    return compliance_scheme_create(
        actor=administrator,
        code="cn-ets",
        name="National ETS",
        kind="national",
        province="CN-BJ",
        authority=ministry,
    )


@pytest.fixture
def pilot(administrator, ministry):
    return compliance_scheme_create(
        actor=administrator,
        code="gd-pilot",
        name="Guangdong pilot ETS",
        kind="pilot",
        province="CN-GD",
        authority=ministry,
        ccer_limit_percent="10",
    )


@pytest.fixture
def steel_maker(db):
    return OrganisationFactory(
        code="steel-co", name="Hebei Steel Co", kind=Organisation.Kind.TRADER
    )


@pytest.fixture
def steel_user(steel_maker):
    return UserFactory(username="steel", organisation=steel_maker, role=User.Role.HOLDER)


@pytest.fixture
def entity(administrator, national, steel_maker):
    return covered_entity_register(actor=administrator, scheme=national, organisation=steel_maker)


@pytest.fixture
def pilot_entity(administrator, pilot, steel_maker):
    return covered_entity_register(actor=administrator, scheme=pilot, organisation=steel_maker)


def verify(actor, entity, year, quantity):
    return verified_emissions_record(
        actor=actor, entity=entity, compliance_year=year, quantity=quantity, verifier="CQC"
    )


def allocate(actor, entity, year, quantity, kind="pre_allocation"):
    return allowances_allocate(
        actor=actor, entity=entity, compliance_year=year, kind=kind, quantity=quantity
    )


@pytest.fixture
def forest(administrator, project_owner):
    """A forestry project whose June 2024 tonnes (5,000 tCO2e) can carry CCER."""
    project = project_register(
        actor=administrator,
        owner=project_owner.organisation,
        name="Yunnan forest",
        province="CN-YN",
        technology="forestry",
    )
    start, end = month(2024, 6)
    production_record_create(
        actor=administrator,
        project=project,
        unit_kind="C",
        period_start=start,
        period_end=end,
        quantity=Decimal("5000"),
    )
    declaration_sign(
        actor=project_owner, project=project, unit_kind="C", period_start=start, period_end=end
    )
    return project


@pytest.fixture
def issue_ccer(second_issuer, forest):
    """``issue_ccer(account, quantity)``: CCER of the forest issued straight into an account."""

    def issue(account, quantity):
        record = forest.streams.get(unit_kind="C").records.get()
        return unit_claim_issue(
            actor=second_issuer,
            mechanism="CCER",
            production_record=record,
            account=account,
            quantity=quantity,
        )

    return issue


@pytest.fixture
def obliged(administrator, entity, issue_ccer):
    """Compliance year 2024: 1,000 t verified, 1,000 CEA allocated, 200 CCER held."""
    verify(administrator, entity, 2024, 1000)
    allocate(administrator, entity, 2024, 1000)
    issue_ccer(entity.account, 200)
    return entity
