"""The permission matrix of the API: every persona against every endpoint and method.

One shared scenario is built once for the module (inside a transaction that is rolled back at
the end) and every test runs in a savepoint of its own, so a write allowed in one test is undone
before the next. Writes send a body that is valid for the caller, so the status code is the
permission outcome: 2xx allowed, 403 refused by the matrix, 404 when the target is invisible to
the caller (its existence is not disclosed), 401 anonymous.

The scenario (March 2025, Shanghai time):

* windco's wind farm (approved) with 1,000 MWh; GEC 600 issued by ``issuer`` into CN-00000001;
  TIGR 100 and 5 (the 5 frozen) into the buyer's CN-00000002; windco's declaration for March.
* windco transfers 200 GEC to the buyer and 20 to carbonco, retires 30 and cancels 10; the buyer
  retires 50 and cancels 5. windco also has an empty account, a frozen empty account and a
  pending project.
* carbonco (no persona) has a forestry project whose 500 tCO2e carry CCER 300 issued by
  ``second_issuer`` into CN-00000003, with carbonco's declaration; it sends 30 to the buyer.
* One ledger checkpoint over all of that, and a uniqueness report requested by the administrator.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Model, Q
from django.test import override_settings
from django.utils import timezone

from accounts.models import HoldingAccount, Organisation, User
from accounts.services import holding_account_set_status
from audit.models import UniquenessReport
from audit.services import uniqueness_report_request
from issuance.models import IssuanceRequest, ProductionSubmission
from issuance.services import (
    issuance_request_create,
    production_submit,
    project_mechanism_register,
    unit_claim_issue,
)
from registry.ledger import GENESIS_HASH, checkpoint_hash, merkle_root, seal
from registry.models import (
    Checkpoint,
    Declaration,
    LedgerEvent,
    Mechanism,
    MechanismRegistration,
    ProductionRecord,
    Project,
    Stream,
    UnitClaim,
)
from registry.serials import Serial
from registry.services import (
    declaration_sign,
    grid_region_create,
    production_record_create,
    project_register,
)
from tests.audit.support import isolated_report_queue
from tests.conftest import RETIREMENT_DEFAULTS, ensure_mechanisms, month
from tests.factories import HoldingAccountFactory, OrganisationFactory, UserFactory
from tracking.accounting.models import (
    ElectricityConsumption,
    GreenPowerContract,
    GreenPowerSettlement,
    Scope2Report,
)
from tracking.accounting.scope2 import scope2_report_create
from tracking.accounting.services import (
    electricity_consumption_record,
    green_power_contract_create,
    green_power_settle_month,
    grid_data_import,
    grid_factors_compute,
)
from tracking.models import Block, Cancellation, Retirement, Transfer
from tracking.services import block_cancel, block_retire, block_set_status, block_transfer

PASSWORD = "correct horse battery staple"
# Hashing a password the default way takes a noticeable fraction of a second; logging in eight
# times does not need it.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

PERSONAS = (
    "administrator",
    "issuer",  # issues GEC and TIGR (mechanism A)
    "second_issuer",  # issues CCER, VCU and EUR (mechanism B)
    "project_owner",  # windco: the wind farm and accounts CN-00000001, -04, -05
    "buyer",  # holder, buyer-co: account CN-00000002
    "auditor",
    "outsider",  # no organisation, no role
    "anonymous",  # no token
)
USERNAMES = {
    "administrator": "admin",
    "issuer": "issuer",
    "second_issuer": "second_issuer",
    "project_owner": "owner",
    "buyer": "buyer",
    "auditor": "auditor",
    "outsider": "outsider",
}

# --- the matrix -------------------------------------------------------------------------------
#
# "METHOD path [variant]" -> the exact status code per persona, in the order of PERSONAS.
# Paths are under /api/v1/ unless they start with "/"; {names} are objects of the scenario.

# fmt: off
MATRIX: dict[str, tuple[int, ...]] = {
    #                                             adm  iss  iss2 own  hold aud  out  anon
    "POST auth/token/":                          (201, 201, 201, 201, 201, 201, 201, 201),
    "POST auth/logout/":                         (204, 204, 204, 204, 204, 204, 204, 401),
    "POST auth/logout-all/":                     (204, 204, 204, 204, 204, 204, 204, 401),
    "GET users/me/":                             (200, 200, 200, 200, 200, 200, 200, 401),
    "GET organizations/":                        (200, 200, 200, 200, 200, 200, 200, 401),
    "POST organizations/":                       (201, 403, 403, 403, 403, 403, 403, 401),
    "GET organizations/{windco}/":               (200, 404, 404, 200, 404, 200, 404, 401),
    "GET accounts/":                             (200, 200, 200, 200, 200, 200, 200, 401),
    "POST accounts/":                            (201, 201, 201, 201, 201, 403, 403, 401),
    "GET accounts/{owner_account}/":             (200, 404, 404, 200, 404, 200, 404, 401),
    "POST accounts/{spare_account}/freeze/":     (200, 404, 404, 403, 404, 403, 404, 401),
    "POST accounts/{frozen_account}/unfreeze/":  (200, 404, 404, 403, 404, 403, 404, 401),
    "POST accounts/{spare_account}/close/":      (200, 404, 404, 200, 404, 403, 404, 401),
    "GET mechanisms/":                           (200, 200, 200, 200, 200, 200, 200, 401),
    "GET mechanisms/GEC/":                       (200, 200, 200, 200, 200, 200, 200, 401),
    "GET projects/":                             (200, 200, 200, 200, 200, 200, 200, 401),
    "POST projects/":                            (201, 403, 403, 201, 403, 403, 403, 401),
    "GET projects/{wind_farm}/":                 (200, 200, 200, 200, 404, 200, 404, 401),
    "POST projects/{pending_project}/approve/":  (200, 403, 403, 403, 404, 403, 404, 401),
    "POST projects/{pending_project}/reject/":   (200, 403, 403, 403, 404, 403, 404, 401),
    "POST projects/{wind_farm}/transfer-ownership/": (200, 403, 403, 403, 404, 403, 404, 401),
    "GET streams/":                              (200, 200, 200, 200, 200, 200, 200, 401),
    "GET streams/{wind_stream}/":                (200, 200, 200, 200, 404, 200, 404, 401),
    "GET production-records/":                   (200, 200, 200, 200, 200, 200, 200, 401),
    "POST production-records/":                  (201, 201, 201, 403, 403, 403, 403, 401),
    "GET production-records/{march_record}/":    (200, 200, 200, 200, 404, 200, 404, 401),
    "POST production-records/bulk/":             (200, 200, 200, 403, 403, 403, 403, 401),
    "GET production-records/{march_record}/corrections/":
                                                 (200, 200, 200, 200, 404, 200, 404, 401),
    "POST production-records/{march_record}/corrections/":
                                                 (201, 201, 201, 403, 404, 403, 404, 401),
    "GET production-submissions/":               (200, 200, 200, 200, 200, 200, 200, 401),
    "POST production-submissions/":              (201, 201, 201, 201, 403, 403, 403, 401),
    "GET production-submissions/{submission}/":  (200, 200, 200, 200, 404, 200, 404, 401),
    "POST production-submissions/{submission}/verify/":
                                                 (200, 200, 200, 403, 404, 403, 404, 401),
    "POST production-submissions/{submission}/reject/":
                                                 (200, 200, 200, 403, 404, 403, 404, 401),
    "GET issuance-requests/":                    (200, 200, 200, 200, 200, 200, 200, 401),
    "POST issuance-requests/":                   (201, 201, 201, 201, 403, 403, 403, 401),
    "GET issuance-requests/{issuance_request}/": (200, 200, 404, 200, 404, 200, 404, 401),
    "POST issuance-requests/{issuance_request}/approve/":
                                                 (200, 200, 404, 403, 404, 403, 404, 401),
    "POST issuance-requests/{issuance_request}/reject/":
                                                 (200, 200, 404, 403, 404, 403, 404, 401),
    "GET declarations/":                         (200, 200, 200, 200, 200, 200, 200, 401),
    "POST declarations/":                        (403, 403, 403, 201, 403, 403, 403, 401),
    "GET declarations/{windco_declaration}/":    (200, 200, 200, 200, 404, 200, 404, 401),
    "POST declarations/{windco_declaration}/revoke/":
                                                 (200, 403, 403, 200, 404, 403, 404, 401),
    "GET issuances/":                            (200, 200, 200, 200, 200, 200, 200, 401),
    "POST issuances/ [GEC, mechanism A]":        (201, 201, 403, 403, 403, 403, 403, 401),
    "POST issuances/ [CCER, mechanism B]":       (201, 403, 201, 403, 403, 403, 403, 401),
    "GET issuances/{gec_claim}/":                (200, 200, 404, 200, 404, 200, 404, 401),
    "POST issuances/{tigr_claim}/revoke/":       (200, 403, 404, 403, 403, 403, 404, 401),
    "GET blocks/":                               (200, 200, 200, 200, 200, 200, 200, 401),
    "GET blocks/{buyer_block}/":                 (200, 404, 404, 404, 200, 200, 404, 401),
    "POST blocks/{buyer_block}/freeze/":         (200, 404, 404, 404, 403, 403, 404, 401),
    "POST blocks/{frozen_block}/unfreeze/":      (200, 404, 404, 404, 403, 403, 404, 401),
    "GET transfers/":                            (200, 200, 200, 200, 200, 200, 200, 401),
    "POST transfers/":                           (201, 403, 403, 201, 201, 403, 403, 401),
    "GET transfers/{transfer}/":                 (200, 404, 404, 200, 200, 200, 404, 401),
    "GET retirements/":                          (200, 200, 200, 200, 200, 200, 200, 401),
    "POST retirements/":                         (201, 403, 403, 201, 201, 403, 403, 401),
    "GET retirements/{retirement}/":             (200, 200, 200, 200, 200, 200, 200, 200),
    "POST retirements/{retirement}/allocations/":
                                                 (201, 403, 403, 403, 201, 403, 403, 401),
    "GET cancellations/":                        (200, 200, 200, 200, 200, 200, 200, 401),
    "POST cancellations/":                       (201, 403, 403, 201, 201, 403, 403, 401),
    "GET cancellations/{cancellation}/":         (200, 404, 404, 200, 404, 200, 404, 401),
    "GET ledger/":                               (200, 200, 200, 200, 200, 200, 200, 401),
    "GET ledger/{issuance_event}/":              (200, 200, 404, 404, 404, 200, 404, 401),
    "GET ledger/checkpoints/":                   (200, 200, 200, 200, 200, 200, 200, 200),
    "GET ledger/checkpoints/{checkpoint}/":      (200, 200, 200, 200, 200, 200, 200, 200),
    "GET verify/{serial}/":                      (200, 200, 200, 200, 200, 200, 200, 200),
    "GET rules/":                                (200, 200, 200, 200, 200, 200, 200, 200),
    "GET compliance-schemes/":                   (200, 200, 200, 200, 200, 200, 200, 401),
    "GET corresponding-adjustments/":            (200, 200, 200, 200, 200, 200, 200, 401),
    "GET neutrality-events/":                    (200, 200, 200, 200, 200, 200, 200, 401),
    "POST neutrality-events/":                   (201, 403, 403, 403, 403, 403, 403, 401),
    "GET imports/":                              (200, 200, 200, 200, 200, 200, 200, 401),
    "POST imports/":                             (202, 403, 403, 403, 403, 403, 403, 401),
    "GET external-records/":                     (200, 200, 200, 200, 200, 200, 200, 401),
    "GET exports/issuances/":                    (200, 200, 200, 200, 200, 200, 200, 200),
    "GET registrations/":                        (200, 200, 200, 200, 200, 200, 200, 401),
    "POST registrations/ [CCER, mechanism B]":   (201, 403, 201, 403, 403, 403, 403, 401),
    "GET registrations/{forest_registration}/":  (200, 200, 200, 404, 404, 200, 404, 401),
    "GET declarations/{windco_declaration}/units/":
                                                 (200, 200, 200, 200, 404, 200, 404, 401),
    "GET grid-factors/":                         (200, 200, 200, 200, 200, 200, 200, 200),
    "POST grid-factors/compute/":                (201, 403, 403, 403, 403, 403, 403, 401),
    "GET accounting/scope2-reports/":            (200, 200, 200, 200, 200, 200, 200, 401),
    "POST accounting/scope2-reports/":           (201, 403, 403, 403, 201, 403, 403, 401),
    "GET accounting/scope2-reports/{scope2_report}/":
                                                 (200, 404, 404, 404, 404, 200, 404, 401),
    "GET reports/":                              (200, 200, 200, 200, 200, 200, 200, 401),
    "POST reports/":                             (202, 403, 403, 403, 403, 202, 403, 401),
    "GET reports/{report}/":                     (200, 404, 404, 404, 404, 200, 404, 401),
    "GET accounting/contracts/":                 (200, 200, 200, 200, 200, 200, 200, 401),
    "POST accounting/contracts/":                (201, 403, 403, 201, 403, 403, 403, 401),
    "GET accounting/consumption/":               (200, 200, 200, 200, 200, 200, 200, 401),
    "POST accounting/consumption/":              (201, 201, 201, 201, 201, 403, 403, 401),
    "GET accounting/settlements/":               (200, 200, 200, 200, 200, 200, 200, 401),
    "POST accounting/settlements/":              (201, 403, 403, 403, 403, 403, 403, 401),
    "POST accounting/settlements/{k1_settlement}/confirm/":
                                                 (200, 404, 404, 200, 200, 403, 404, 401),
    "POST accounting/scenarios/":                (200, 200, 200, 200, 200, 200, 200, 401),
    "GET /api/schema/":                          (200, 200, 200, 200, 200, 200, 200, 200),
    "GET /api/docs/":                            (200, 200, 200, 200, 200, 200, 200, 200),
    "GET /api/redoc/":                           (200, 200, 200, 200, 200, 200, 200, 200),
    "GET /api/auth/login/":                      (200, 200, 200, 200, 200, 200, 200, 200),
}
# fmt: on


# --- the scenario -----------------------------------------------------------------------------


@dataclass
class Scenario:
    users: dict[str, User]
    objects: dict[str, Model] = field(default_factory=dict)
    #: what a path placeholder or a list entry is called in the API (code, number, id, ...)
    keys: dict[str, Any] = field(default_factory=dict)
    serial: str = ""

    def add(self, name: str, instance: Model, key: Any) -> Model:
        self.objects[name] = instance
        self.keys[name] = key
        return instance


def _personas() -> dict[str, User]:
    """The personas of tests/conftest.py, built here once for the module."""
    gec_centre = OrganisationFactory(
        code="gec-centre", name="Green certificate centre", kind=Organisation.Kind.ISSUING_BODY
    )
    carbon_registry = OrganisationFactory(
        code="carbon-registry", name="Carbon registry", kind=Organisation.Kind.ISSUING_BODY
    )
    for code in ("GEC", "TIGR"):
        Mechanism.objects.get(code=code).issuing_bodies.add(gec_centre)
    for code in ("CCER", "VCU", "EUR"):
        Mechanism.objects.get(code=code).issuing_bodies.add(carbon_registry)
    windco = OrganisationFactory(
        code="windco", name="Wind Co", kind=Organisation.Kind.PROJECT_OWNER
    )
    buyer_co = OrganisationFactory(code="buyer-co", name="Buyer Co", kind=Organisation.Kind.TRADER)
    audit_firm = OrganisationFactory(
        code="audit-firm", name="Audit Firm", kind=Organisation.Kind.AUDITOR
    )
    users = {
        "administrator": UserFactory(
            username="admin", organisation=None, role=User.Role.ADMINISTRATOR, is_staff=True
        ),
        "issuer": UserFactory(username="issuer", organisation=gec_centre, role=User.Role.ISSUER),
        "second_issuer": UserFactory(
            username="second_issuer", organisation=carbon_registry, role=User.Role.ISSUER
        ),
        "project_owner": UserFactory(
            username="owner", organisation=windco, role=User.Role.PROJECT_OWNER
        ),
        "buyer": UserFactory(username="buyer", organisation=buyer_co, role=User.Role.HOLDER),
        "auditor": UserFactory(username="auditor", organisation=audit_firm, role=User.Role.AUDITOR),
        "outsider": UserFactory(username="outsider", organisation=None, role=User.Role.PUBLIC),
    }
    for user in users.values():
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    return users


def _checkpoint() -> Checkpoint:
    """A checkpoint over every ledger event so far, written exactly as ``seal()`` writes one.

    ``seal()`` covers only transactions that have committed, and this module runs inside one
    open transaction, so it has nothing to seal here (see the assertion in the caller).
    """
    events = list(LedgerEvent.objects.order_by("id").values_list("id", "event_hash"))
    previous = Checkpoint.objects.order_by("-sequence").first()
    fields = {
        "sequence": previous.sequence + 1 if previous else 1,
        "xid_from": previous.xid_to if previous else 0,
        "xid_to": max(LedgerEvent.objects.values_list("txid", flat=True)) + 1,
        "event_count": len(events),
        "last_event_id": events[-1][0],
        "merkle_root": merkle_root(event_hash for _, event_hash in events),
        "previous_hash": previous.checkpoint_hash if previous else GENESIS_HASH,
        "sealed_at": timezone.now(),
    }
    return Checkpoint.objects.create(**fields, checkpoint_hash=checkpoint_hash(**fields))


def _build() -> Scenario:
    ensure_mechanisms()
    users = _personas()
    admin, issuer, second_issuer = users["administrator"], users["issuer"], users["second_issuer"]
    owner, buyer = users["project_owner"], users["buyer"]
    s = Scenario(users=users)
    for organisation in Organisation.objects.all():
        s.add(organisation.code, organisation, organisation.code)
    carbonco = OrganisationFactory(
        code="carbonco", name="Carbon Co", kind=Organisation.Kind.PROJECT_OWNER
    )
    s.add("carbonco", carbonco, "carbonco")
    carbon_owner = UserFactory(
        username="carbon_owner", organisation=carbonco, role=User.Role.PROJECT_OWNER
    )

    windco = owner.organisation
    for name, organisation, number in (
        ("owner_account", windco, "CN-00000001"),
        ("buyer_account", buyer.organisation, "CN-00000002"),
        ("carbon_account", carbonco, "CN-00000003"),
        ("spare_account", windco, "CN-00000004"),
        ("frozen_account", windco, "CN-00000005"),
    ):
        s.add(name, HoldingAccountFactory(organisation=organisation, number=number), number)
    holding_account_set_status(
        actor=admin, account=s.objects["frozen_account"], status="frozen", reason="inquiry"
    )

    wind_farm = project_register(
        actor=admin,
        owner=windco,
        name="Bayan wind farm",
        province="CN-NM",
        technology="wind",
        capacity_mw=Decimal("100"),
        commissioning_date=dt.date(2020, 6, 1),
        grid_region="North",
    )
    s.add("wind_farm", wind_farm, wind_farm.code)
    pending = project_register(
        actor=owner,
        owner=windco,
        name="Hilltop wind farm",
        province="CN-HE",
        technology="wind",
        capacity_mw=Decimal("30"),
        commissioning_date=dt.date(2024, 1, 1),
    )
    s.add("pending_project", pending, pending.code)
    forest = project_register(
        actor=admin, owner=carbonco, name="Pu'er forest", province="CN-YN", technology="forestry"
    )
    s.add("carbon_project", forest, forest.code)
    wind_stream = Stream.objects.get(project=wind_farm, unit_kind="E")
    s.add("wind_stream", wind_stream, wind_stream.pk)

    march = month(2025, 3)
    record = production_record_create(
        actor=issuer,
        project=wind_farm,
        unit_kind="E",
        period_start=march[0],
        period_end=march[1],
        quantity=Decimal("1000"),
    )
    s.add("march_record", record, record.pk)
    june = month(2025, 6)
    submission = production_submit(
        actor=owner,
        project=wind_farm,
        unit_kind="E",
        period_start=june[0],
        period_end=june[1],
        quantity=Decimal("700"),
        evidence="meter 7, June reading",
    )
    s.add("submission", submission, submission.pk)
    carbon_record = production_record_create(
        actor=second_issuer,
        project=forest,
        unit_kind="C",
        period_start=march[0],
        period_end=march[1],
        quantity=Decimal("500"),
    )
    s.add("carbon_record", carbon_record, carbon_record.pk)
    forest_registration = project_mechanism_register(
        actor=second_issuer,
        project=forest,
        mechanism="CCER",
        reference="CCER-FOREST-1",
        crediting_start=march[0],
    )
    s.add("forest_registration", forest_registration, forest_registration.pk)
    for name, signer, project, unit_kind in (
        ("windco_declaration", owner, wind_farm, "E"),
        ("carbonco_declaration", carbon_owner, forest, "C"),
    ):
        declaration = declaration_sign(
            actor=signer,
            project=project,
            unit_kind=unit_kind,
            period_start=march[0],
            period_end=march[1],
        )
        s.add(name, declaration, declaration.pk)

    for name, actor, mechanism, production, account, quantity in (
        ("gec_claim", issuer, "GEC", record, "owner_account", 600),
        ("tigr_claim", issuer, "TIGR", record, "buyer_account", 100),
        ("frozen_tigr_claim", issuer, "TIGR", record, "buyer_account", 5),
        ("ccer_claim", second_issuer, "CCER", carbon_record, "carbon_account", 300),
    ):
        claim = unit_claim_issue(
            actor=actor,
            mechanism=mechanism,
            production_record=production,
            account=s.objects[account],
            quantity=quantity,
        )
        s.add(name, claim, claim.pk)
    issuance_request = issuance_request_create(
        actor=owner,
        mechanism="GEC",
        production_record=record,
        account=s.objects["owner_account"],
        quantity=20,
    )
    s.add("issuance_request", issuance_request, issuance_request.pk)
    # Carbon Co's own queue entries, which Wind Co and the GEC issuer must not see.
    carbon_submission = production_submit(
        actor=carbon_owner,
        project=forest,
        unit_kind="C",
        period_start=june[0],
        period_end=june[1],
        quantity=Decimal("40"),
    )
    s.add("carbon_submission", carbon_submission, carbon_submission.pk)
    carbon_request = issuance_request_create(
        actor=carbon_owner,
        mechanism="CCER",
        production_record=carbon_record,
        account=s.objects["carbon_account"],
        quantity=15,
    )
    s.add("carbon_request", carbon_request, carbon_request.pk)
    frozen_block = Block.objects.get(claim=s.objects["frozen_tigr_claim"])
    block_set_status(actor=admin, block=frozen_block, status="frozen", reason="inquiry")
    s.add("frozen_block", frozen_block, frozen_block.pk)
    issuance_event = LedgerEvent.objects.get(
        kind=LedgerEvent.Kind.UNITS_ISSUED, subjects__contains=[f"claim:{s.keys['gec_claim']}"]
    )
    s.add("issuance_event", issuance_event, issuance_event.pk)

    for name, target, quantity in (
        ("transfer", "buyer_account", 200),
        ("transfer_to_carbonco", "carbon_account", 20),
    ):
        moved = block_transfer(
            actor=owner,
            source_account=s.objects["owner_account"],
            target_account=s.objects[target],
            mechanism="GEC",
            quantity=quantity,
        )
        s.add(name, moved, moved.public_id)
    ccer_transfer = block_transfer(
        actor=carbon_owner,
        source_account=s.objects["carbon_account"],
        target_account=s.objects["buyer_account"],
        mechanism="CCER",
        quantity=30,
    )
    s.add("ccer_transfer", ccer_transfer, ccer_transfer.public_id)
    for name, actor, account, quantity in (
        ("retirement", buyer, "buyer_account", 50),
        ("owner_retirement", owner, "owner_account", 30),
    ):
        retired = block_retire(
            actor=actor,
            account=s.objects[account],
            mechanism="GEC",
            quantity=quantity,
            **RETIREMENT_DEFAULTS,
        )
        s.add(name, retired, retired.public_id)
    for name, actor, account, quantity in (
        ("cancellation", owner, "owner_account", 10),
        ("buyer_cancellation", buyer, "buyer_account", 5),
    ):
        cancelled = block_cancel(
            actor=actor,
            account=s.objects[account],
            mechanism="GEC",
            quantity=quantity,
            reason="Sold outside the registry",
        )
        s.add(name, cancelled, cancelled.public_id)
    buyer_block = Block.objects.get(
        account=s.objects["buyer_account"], mechanism__code="GEC", status=Block.Status.ACTIVE
    )
    s.add("buyer_block", buyer_block, buyer_block.pk)
    retired_block = Block.objects.filter(retirement=s.objects["retirement"]).first()
    s.serial = str(
        Serial("CN", wind_farm.code, "E", retired_block.vintage, retired_block.serials.lower)
    )

    grid_region_create(actor=admin, code="north", name="North China", provinces=["CN-NM", "CN-BJ"])
    grid_data_import(
        actor=admin,
        kind="generation",
        content="region,period,source,generation_mwh,emissions_t\nnorth,2025-03,coal,400,360\n",
    )
    # Green power settlement: windco's wind farm sells to buyer-co (K1) and carbonco (K2);
    # carbonco's solar farm sells to buyer-co (K3). March is settled, nobody has confirmed.
    solar = project_register(
        actor=admin,
        owner=carbonco,
        name="Gobi solar",
        province="CN-GS",
        technology="solar",
        capacity_mw=Decimal("50"),
        commissioning_date=dt.date(2022, 1, 1),
    )
    for name, project, source, buyer_organisation, target in (
        ("k1", wind_farm, "owner_account", buyer.organisation, "buyer_account"),
        ("k2", wind_farm, "owner_account", carbonco, "carbon_account"),
        ("k3", solar, "carbon_account", buyer.organisation, "buyer_account"),
    ):
        contract = green_power_contract_create(
            actor=admin,
            code=name.upper(),
            generator_project=project,
            generator_account=s.objects[source],
            buyer=buyer_organisation,
            buyer_account=s.objects[target],
            monthly_mwh="100",
            valid_from="2025-03",
        )
        s.add(name, contract, contract.code)
    for name, organisation in (
        ("buyer_consumption", buyer.organisation),
        ("carbonco_consumption", carbonco),
    ):
        consumption = electricity_consumption_record(
            actor=admin,
            organisation=organisation,
            province="CN-BJ",
            period_start=march[0],
            period_end=march[1],
            mwh="150",
        )
        s.add(name, consumption, consumption.pk)
    for settlement in green_power_settle_month(actor=admin, month="2025-03"):
        name = f"{settlement.contract.code.lower()}_settlement"
        s.add(name, settlement, settlement.pk)
    grid_factors_compute(actor=admin, year=2025, month=3)
    carbonco_scope2 = scope2_report_create(actor=admin, organisation=carbonco, year=2025, month=3)
    s.add("scope2_report", carbonco_scope2, carbonco_scope2.pk)

    assert seal() is None  # nothing has committed: see _checkpoint
    checkpoint = _checkpoint()
    s.add("checkpoint", checkpoint, checkpoint.sequence)
    report = uniqueness_report_request(actor=admin, enqueue=lambda report: "")
    s.add("report", report, report.pk)
    return s


@pytest.fixture(autouse=True)
def _report_queue():
    """Reports requested here go to a queue of the test's own, deleted afterwards."""
    with isolated_report_queue():
        yield


@pytest.fixture(scope="module")
def scenario(django_db_setup, django_db_blocker):
    """Built once; each test's own transaction (the ``db`` fixture) is a savepoint inside."""
    with (
        override_settings(PASSWORD_HASHERS=FAST_HASHERS),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        yield _build()
        transaction.set_rollback(True)


# --- request bodies: valid for the caller, so the answer is the permission outcome -------------


def _period(year: int, month_number: int) -> dict[str, str]:
    start, end = month(year, month_number)
    return {"period_start": start.isoformat(), "period_end": end.isoformat()}


def _reason(s: Scenario, persona: str) -> dict:
    return {"reason": "Permission matrix"}


def _token(s: Scenario, persona: str) -> dict:
    # Anyone may log in: the anonymous client logs in as the buyer.
    user = s.users["buyer" if persona == "anonymous" else persona]
    return {"username": user.username, "password": PASSWORD}


def _organisation(s: Scenario, persona: str) -> dict:
    return {"code": "new-trader", "name": "New Trader", "kind": "trader"}


def _account(s: Scenario, persona: str) -> dict:
    # Everyone opens an account for their own organisation; the administrator has none.
    body = {"name": "Second account"}
    if persona == "administrator":
        body["organisation"] = "windco"
    return body


def _project(s: Scenario, persona: str) -> dict:
    return {
        "owner": "windco",
        "name": "Coastal wind farm",
        "province": "CN-HE",
        "technology": "wind",
        "capacity_mw": "80",
        "commissioning_date": "2023-05-01",
    }


def _ownership(s: Scenario, persona: str) -> dict:
    return {"owner": "carbonco", "reason": "The plant was sold to carbonco."}


def _production(s: Scenario, persona: str) -> dict:
    return {"project": s.keys["wind_farm"], "unit_kind": "E", "quantity": "900", **_period(2025, 4)}


def _bulk(s: Scenario, persona: str) -> dict:
    return {
        "records": [
            {
                "project": s.keys["wind_farm"],
                "unit_kind": "E",
                "quantity": "800",
                **_period(2025, 5),
            }
        ]
    }


def _submission(s: Scenario, persona: str) -> dict:
    return {
        "project": s.keys["wind_farm"],
        "unit_kind": "E",
        "quantity": "650.5",
        "evidence": "meter 7",
        **_period(2025, 7),
    }


def _issuance_request(s: Scenario, persona: str) -> dict:
    return {
        "mechanism": "GEC",
        "production_record": s.keys["march_record"],
        "account": _own_or_buyer_account(persona),
        "quantity": 10,
    }


def _declaration(s: Scenario, persona: str) -> dict:
    return {"project": s.keys["wind_farm"], "unit_kind": "E", **_period(2025, 4)}


def _gec_issuance(s: Scenario, persona: str) -> dict:
    return {
        "mechanism": "GEC",
        "production_record": s.keys["march_record"],
        "account": "CN-00000001",
        "quantity": 10,
    }


def _ccer_issuance(s: Scenario, persona: str) -> dict:
    return {
        "mechanism": "CCER",
        "production_record": s.keys["carbon_record"],
        "account": "CN-00000003",
        "quantity": 10,
    }


def _transfer(s: Scenario, persona: str) -> dict:
    if persona == "buyer":  # GEC moves once only: the buyer passes on its TIGR
        return {
            "source_account": "CN-00000002",
            "target_account": "CN-00000001",
            "mechanism": "TIGR",
            "quantity": 10,
        }
    return {
        "source_account": "CN-00000001",
        "target_account": "CN-00000002",
        "mechanism": "GEC",
        "quantity": 10,
    }


def _own_or_buyer_account(persona: str) -> str:
    return "CN-00000001" if persona == "project_owner" else "CN-00000002"


def _retirement(s: Scenario, persona: str) -> dict:
    body = {
        "account": _own_or_buyer_account(persona),
        "mechanism": "GEC",
        "quantity": 10,
        **RETIREMENT_DEFAULTS,
    }
    for name in ("claim_period_start", "claim_period_end"):
        body[name] = body[name].isoformat()
    return body


def _allocation(s: Scenario, persona: str) -> dict:
    return {"quantity": 20, "claimant": "Buyer Co", "reference": "product batch 7"}


def _cancellation(s: Scenario, persona: str) -> dict:
    return {
        "account": _own_or_buyer_account(persona),
        "mechanism": "GEC",
        "quantity": 5,
        "reason": "Sold outside the registry",
    }


def _registration(s: Scenario, persona: str) -> dict:
    start, _ = month(2025, 1)
    return {
        "project": s.keys["wind_farm"],
        "mechanism": "CCER",
        "reference": "CCER-WIND-1",
        "crediting_start": start.isoformat(),
    }


def _neutrality_event(s: Scenario, persona: str) -> dict:
    return {
        "name": "Permission matrix games",
        "organiser": "windco",
        "start_date": "2025-08-01",
        "end_date": "2025-08-15",
        "location": "CN-BJ",
    }


def _report(s: Scenario, persona: str) -> dict:
    return {"mechanism": "GEC", "vintage_from": 202503}


def _contract(s: Scenario, persona: str) -> dict:
    return {
        "code": "K-NEW",
        "generator_project": s.keys["wind_farm"],
        "generator_account": "CN-00000001",
        "buyer": "buyer-co",
        "buyer_account": "CN-00000002",
        "monthly_mwh": "100",
        "valid_from": "2025-06",
    }


def _consumption(s: Scenario, persona: str) -> dict:
    # Everyone records their own organisation's; the administrator names one.
    body = {"province": "CN-BJ", "mwh": "10", **_period(2025, 6)}
    if persona == "administrator":
        body["organisation"] = "buyer-co"
    return body


def _confirm(s: Scenario, persona: str) -> dict:
    # Parties confirm for their own side; an administrator names the side.
    return {"side": "generator"} if persona == "administrator" else {}


def _emission_scenario(s: Scenario, persona: str) -> dict:
    return {
        "generators": [
            {"id": "coal", "region": "CN-HE", "emission_factor": 0.9},
            {"id": "wind", "region": "CN-NM", "emission_factor": 0},
        ],
        "consumers": [
            {
                "id": "steel",
                "region": "CN-HE",
                "purchases": [{"generator": "coal", "mwh": 400}, {"generator": "wind", "mwh": 100}],
                "certificates": [{"generator": "wind", "mwh": 100}],
            }
        ],
    }


def _import(s: Scenario, persona: str) -> dict:
    canonical = Path(__file__).parent.parent / "interop" / "fixtures" / "canonical.csv"
    return {"layout": "canonical", "content": canonical.read_text(encoding="utf-8")}


BODIES = {
    "POST auth/token/": _token,
    "POST organizations/": _organisation,
    "POST accounts/": _account,
    "POST accounts/{spare_account}/freeze/": _reason,
    "POST accounts/{frozen_account}/unfreeze/": _reason,
    "POST accounts/{spare_account}/close/": _reason,
    "POST projects/": _project,
    "POST projects/{pending_project}/approve/": _reason,
    "POST projects/{pending_project}/reject/": _reason,
    "POST projects/{wind_farm}/transfer-ownership/": _ownership,
    "POST production-records/": _production,
    "POST production-records/bulk/": _bulk,
    "POST production-records/{march_record}/corrections/": lambda s, p: {
        "direction": "up",
        "quantity": "5",
        "reason": "Permission matrix",
        "evidence": "meter reading",
    },
    "POST production-submissions/": _submission,
    "POST production-submissions/{submission}/verify/": lambda s, p: None,
    "POST production-submissions/{submission}/reject/": _reason,
    "POST issuance-requests/": _issuance_request,
    "POST issuance-requests/{issuance_request}/approve/": lambda s, p: None,
    "POST issuance-requests/{issuance_request}/reject/": _reason,
    "POST declarations/": _declaration,
    "POST declarations/{windco_declaration}/revoke/": _reason,
    "POST issuances/ [GEC, mechanism A]": _gec_issuance,
    "POST issuances/ [CCER, mechanism B]": _ccer_issuance,
    "POST issuances/{tigr_claim}/revoke/": _reason,
    "POST blocks/{buyer_block}/freeze/": _reason,
    "POST blocks/{frozen_block}/unfreeze/": _reason,
    "POST transfers/": _transfer,
    "POST retirements/": _retirement,
    "POST retirements/{retirement}/allocations/": _allocation,
    "POST cancellations/": _cancellation,
    "POST registrations/ [CCER, mechanism B]": _registration,
    "POST neutrality-events/": _neutrality_event,
    "POST imports/": _import,
    "POST reports/": _report,
    "POST grid-factors/compute/": lambda s, p: {"period": "2025-03"},
    "POST accounting/scope2-reports/": lambda s, p: {
        "organisation": "buyer-co",
        "period": "2025-03",
    },
    "POST accounting/contracts/": _contract,
    "POST accounting/consumption/": _consumption,
    "POST accounting/settlements/": lambda s, p: {"month": "2025-04"},
    "POST accounting/settlements/{k1_settlement}/confirm/": _confirm,
    "POST accounting/scenarios/": _emission_scenario,
}


def _split(endpoint: str) -> tuple[str, str]:
    method, path = endpoint.split(" ")[:2]
    return method, path


def _url(s: Scenario, path: str) -> str:
    path = path.format(**s.keys, serial=s.serial)
    return path if path.startswith("/") else f"/api/v1/{path}"


def _client(api, s: Scenario, persona: str):
    return api(None if persona == "anonymous" else s.users[persona])


def test_the_matrix_lists_every_persona_and_every_write_has_a_body():
    assert all(len(codes) == len(PERSONAS) for codes in MATRIX.values())
    writes = {endpoint for endpoint in MATRIX if endpoint.startswith("POST ")}
    assert writes - {"POST auth/logout/", "POST auth/logout-all/"} == set(BODIES)


@pytest.mark.parametrize(
    ("endpoint", "persona", "expected"),
    [
        pytest.param(endpoint, persona, code, id=f"{endpoint} as {persona}")
        for endpoint, codes in MATRIX.items()
        for persona, code in zip(PERSONAS, codes, strict=True)
    ],
)
def test_each_persona_gets_the_exact_status_code_on_each_endpoint(
    scenario, api, db, endpoint, persona, expected
):
    method, path = _split(endpoint)
    client = _client(api, scenario, persona)
    url = _url(scenario, path)
    if method == "GET":
        response = client.get(url)
    else:
        body = BODIES.get(endpoint, lambda s, p: None)(scenario, persona)
        response = client.post(url, body, format="json")
    detail = getattr(response, "data", None) if response.status_code != expected else None
    assert response.status_code == expected, detail
    if endpoint == "POST production-records/bulk/" and expected == 200:
        assert response.data["failed"] == 0, response.data["results"]
        assert [row["status"] for row in response.data["results"]] == [201]


def test_auditors_are_refused_every_write():
    auditor = PERSONAS.index("auditor")
    writes = {endpoint: codes[auditor] for endpoint, codes in MATRIX.items() if "POST" in endpoint}
    own_session = {"POST auth/token/", "POST auth/logout/", "POST auth/logout-all/"}
    # A uniqueness report reads the registry and writes none of it (no ledger event); an
    # emission scenario is a calculation on the request body alone.
    reads = {"POST reports/": 202, "POST accounting/scenarios/": 200}
    others = {code for endpoint, code in writes.items() if endpoint not in own_session | set(reads)}
    assert others == {403}
    assert {endpoint: writes[endpoint] for endpoint in reads} == reads


# --- lists hold only what the caller may see --------------------------------------------------

ALL = Q()
NOTHING: frozenset[str] = frozenset()

#: list path -> (model, the model field behind each entry's id, that id's name in the answer)
LISTS: dict[str, tuple[type[Model], str, str]] = {
    "organizations/": (Organisation, "code", "code"),
    "accounts/": (HoldingAccount, "number", "number"),
    "mechanisms/": (Mechanism, "code", "code"),
    "projects/": (Project, "code", "code"),
    "streams/": (Stream, "id", "id"),
    "production-records/": (ProductionRecord, "id", "id"),
    "production-submissions/": (ProductionSubmission, "id", "id"),
    "issuance-requests/": (IssuanceRequest, "id", "id"),
    "declarations/": (Declaration, "id", "id"),
    "issuances/": (UnitClaim, "id", "id"),
    "blocks/": (Block, "id", "id"),
    "transfers/": (Transfer, "public_id", "id"),
    "retirements/": (Retirement, "public_id", "id"),
    "cancellations/": (Cancellation, "public_id", "id"),
    "ledger/": (LedgerEvent, "id", "id"),
    "ledger/checkpoints/": (Checkpoint, "sequence", "sequence"),
    "registrations/": (MechanismRegistration, "id", "id"),
    "reports/": (UniquenessReport, "id", "id"),
    "accounting/scope2-reports/": (Scope2Report, "id", "id"),
    "accounting/contracts/": (GreenPowerContract, "code", "code"),
    "accounting/consumption/": (ElectricityConsumption, "id", "id"),
    "accounting/settlements/": (GreenPowerSettlement, "id", "id"),
}

#: list path -> persona -> what the list holds: ALL rows, NOTHING, named scenario objects, or a Q
VISIBLE: dict[str, dict[str, Any]] = {
    "accounting/scope2-reports/": {
        "administrator": ALL,
        "issuer": NOTHING,
        "second_issuer": NOTHING,
        "project_owner": NOTHING,
        "buyer": NOTHING,
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "organizations/": {
        "administrator": ALL,
        "issuer": {"gec-centre"},
        "second_issuer": {"carbon-registry"},
        "project_owner": {"windco"},
        "buyer": {"buyer-co"},
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "accounts/": {
        "administrator": ALL,
        "issuer": NOTHING,
        "second_issuer": NOTHING,
        "project_owner": {"owner_account", "spare_account", "frozen_account"},
        "buyer": {"buyer_account"},
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "mechanisms/": dict.fromkeys(USERNAMES, ALL),
    "projects/": {
        "administrator": ALL,
        "issuer": ALL,
        "second_issuer": ALL,
        "project_owner": {"wind_farm", "pending_project"},
        "buyer": NOTHING,
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "streams/": {
        "administrator": ALL,
        "issuer": ALL,
        "second_issuer": ALL,
        "project_owner": Q(project__owner__code="windco"),
        "buyer": NOTHING,
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "production-records/": {
        "administrator": ALL,
        "issuer": ALL,
        "second_issuer": ALL,
        "project_owner": {"march_record"},
        "buyer": NOTHING,
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "production-submissions/": {
        "administrator": ALL,
        "issuer": ALL,
        "second_issuer": ALL,
        "project_owner": {"submission"},
        "buyer": NOTHING,
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "issuance-requests/": {
        "administrator": ALL,
        "issuer": {"issuance_request"},
        "second_issuer": {"carbon_request"},
        "project_owner": {"issuance_request"},
        "buyer": NOTHING,
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "declarations/": {
        "administrator": ALL,
        "issuer": ALL,
        "second_issuer": ALL,
        "project_owner": {"windco_declaration"},
        "buyer": NOTHING,
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "issuances/": {
        "administrator": ALL,
        "issuer": {"gec_claim", "tigr_claim", "frozen_tigr_claim"},
        "second_issuer": {"ccer_claim"},
        "project_owner": {"gec_claim", "tigr_claim", "frozen_tigr_claim"},
        "buyer": {"tigr_claim", "frozen_tigr_claim"},
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "blocks/": {
        "administrator": ALL,
        "issuer": NOTHING,
        "second_issuer": NOTHING,
        "project_owner": Q(account__number="CN-00000001"),
        "buyer": Q(account__number="CN-00000002"),
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "transfers/": {
        "administrator": ALL,
        "issuer": NOTHING,
        "second_issuer": NOTHING,
        "project_owner": {"transfer", "transfer_to_carbonco"},
        "buyer": {"transfer", "ccer_transfer"},
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "retirements/": {
        "administrator": ALL,
        "issuer": NOTHING,
        "second_issuer": NOTHING,
        "project_owner": {"owner_retirement"},
        "buyer": {"retirement"},
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "cancellations/": {
        "administrator": ALL,
        "issuer": NOTHING,
        "second_issuer": NOTHING,
        "project_owner": {"cancellation"},
        "buyer": {"buyer_cancellation"},
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "ledger/": {
        # Besides administrators and auditors, each caller sees the events it caused.
        "administrator": ALL,
        "issuer": Q(actor__username="issuer"),
        "second_issuer": Q(actor__username="second_issuer"),
        "project_owner": Q(actor__username="owner"),
        "buyer": Q(actor__username="buyer"),
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "ledger/checkpoints/": dict.fromkeys(USERNAMES, ALL),
    "registrations/": {
        "administrator": ALL,
        "issuer": ALL,
        "second_issuer": ALL,
        "project_owner": NOTHING,
        "buyer": NOTHING,
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "accounting/contracts/": {
        "administrator": ALL,
        "issuer": NOTHING,
        "second_issuer": NOTHING,
        "project_owner": {"k1", "k2"},
        "buyer": {"k1", "k3"},
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "accounting/consumption/": {
        "administrator": ALL,
        "issuer": NOTHING,
        "second_issuer": NOTHING,
        "project_owner": NOTHING,
        "buyer": {"buyer_consumption"},
        "auditor": ALL,
        "outsider": NOTHING,
    },
    "accounting/settlements/": {
        "administrator": ALL,
        "issuer": NOTHING,
        "second_issuer": NOTHING,
        "project_owner": {"k1_settlement", "k2_settlement"},
        "buyer": {"k1_settlement", "k3_settlement"},
        "auditor": ALL,
        "outsider": NOTHING,
    },
    # Others would see the reports they requested; none of them may request one.
    "reports/": {
        "administrator": ALL,
        "issuer": NOTHING,
        "second_issuer": NOTHING,
        "project_owner": NOTHING,
        "buyer": NOTHING,
        "auditor": ALL,
        "outsider": NOTHING,
    },
}


def _expected(s: Scenario, path: str, spec: Any) -> set:
    model, key_field, _ = LISTS[path]
    if isinstance(spec, Q):
        return {str(key) for key in model.objects.filter(spec).values_list(key_field, flat=True)}
    return {str(s.keys[name]) for name in spec}


def _listed(client, path: str, id_field: str) -> set[str]:
    response = client.get(f"/api/v1/{path}", {"page_size": 1000})
    assert response.status_code == 200, response.data
    assert response.data["next"] is None  # everything on one page
    return {str(row[id_field]) for row in response.data["results"]}


def test_the_visibility_table_covers_every_list_and_every_persona():
    assert set(VISIBLE) == set(LISTS)
    assert all(set(row) == set(USERNAMES) for row in VISIBLE.values())


@pytest.mark.parametrize(
    ("path", "persona"),
    [
        pytest.param(path, persona, id=f"{path} as {persona}")
        for path in VISIBLE
        for persona in USERNAMES
    ],
)
def test_lists_hold_exactly_the_objects_the_persona_may_see(scenario, api, db, path, persona):
    spec = VISIBLE[path][persona]
    expected = _expected(scenario, path, spec)
    if spec is not NOTHING:
        assert expected, "the scenario should give this persona something to see"
    if spec is not ALL:  # what is hidden from the caller exists, so hiding it is being tested
        assert expected < _expected(scenario, path, ALL)
    assert _listed(_client(api, scenario, persona), path, LISTS[path][2]) == expected


# --- methods outside the matrix ---------------------------------------------------------------

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROUTED: dict[str, set[str]] = {}
for _endpoint in MATRIX:
    _method, _path = _split(_endpoint)
    if not _path.startswith("/"):
        ROUTED.setdefault(_path, set()).add(_method)
PUBLIC = {
    _split(endpoint)[1]
    for endpoint, codes in MATRIX.items()
    if codes[PERSONAS.index("anonymous")] != 401
}


@pytest.mark.parametrize(
    ("path", "persona"),
    [
        pytest.param(path, persona, id=f"{path} as {persona}")
        for path in ROUTED
        for persona in ("administrator", "anonymous")
    ],
)
def test_every_other_method_is_not_allowed(scenario, api, db, path, persona):
    """No endpoint replaces, edits or deletes anything; anonymous callers learn nothing but 401
    from a non-public path."""
    refused = 405 if persona == "administrator" or path in PUBLIC else 401
    client = _client(api, scenario, persona)
    url = _url(scenario, path)
    others = [method for method in METHODS if method not in ROUTED[path]]
    answers = {method: getattr(client, method.lower())(url).status_code for method in others}
    assert answers == dict.fromkeys(others, refused)


def test_public_pages_answer_a_caller_whose_token_was_revoked(scenario, api, db):
    client = api(scenario.users["buyer"])
    assert client.post("/api/v1/auth/logout/").status_code == 204
    assert client.get("/api/v1/accounts/").status_code == 401
    assert client.get(_url(scenario, "retirements/{retirement}/")).status_code == 200
    assert client.get(_url(scenario, "verify/{serial}/")).status_code == 200
