"""A refused second claim names every overlapping live claim, not only the first, and for each
the accounts and organisations holding the units now, not only the account issued to."""

from __future__ import annotations

import pytest

from issuance.services import unit_claim_issue
from registry.errors import DoubleClaim
from registry.models import LedgerEvent, UnitClaim
from registry.services import declaration_sign
from tests.api.conftest import client_for
from tests.conftest import month
from tracking.models import Block
from tracking.services import block_transfer


def _two_gec_claims_one_partly_sold(issuer, project_owner, march_record, owner_account, buyer_acc):
    first = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=400,
    )
    second = unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=600,
    )
    code = march_record.stream.project.code
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_acc,
        mechanism="GEC",
        serial_range=f"CN-{code}-E-202503-000000000451-000000000500",
    )
    return first, second


def test_the_refusal_names_every_overlapping_claim_and_who_holds_the_units_now(
    issuer, project_owner, march_record, owner_account, buyer_account
):
    first, second = _two_gec_claims_one_partly_sold(
        issuer, project_owner, march_record, owner_account, buyer_account
    )
    start, end = month(2025, 3)
    declaration_sign(
        actor=project_owner,
        project=march_record.stream.project,
        unit_kind="E",
        period_start=start,
        period_end=end,
    )
    code = march_record.stream.project.code
    claims_before = UnitClaim.objects.count()
    blocks_before = Block.objects.count()

    response = client_for(issuer).post(
        "/api/v1/issuances/",
        {
            "mechanism": "TIGR",
            "serial_range": f"CN-{code}-E-202503-000000000301-000000000600",
            "account": owner_account.number,
        },
        format="json",
    )

    assert response.status_code == 409, response.content
    assert response.data["code"] == "double_claim"
    details = response.data["details"]
    # The first claim's fields stay where older clients read them.
    assert details["existing_claim"]["id"] == first.pk
    assert details["existing_claim"]["holder_account"] == owner_account.number
    assert details["overlap"]["lower"] == 301 and details["overlap"]["upper"] == 401
    assert details["claims_total"] == 2
    named = {claim["id"]: claim for claim in details["claims"]}
    assert set(named) == {first.pk, second.pk}
    assert (named[second.pk]["overlap"]["lower"], named[second.pk]["overlap"]["upper"]) == (
        401,
        601,
    )
    assert named[first.pk]["current_holders"] == [
        {
            "account": owner_account.number,
            "organisation": "windco",
            "organisation_name": "Wind Co",
            "status": "active",
            "quantity": 100,
        }
    ]
    holders = {
        (holder["account"], holder["organisation"]): holder["quantity"]
        for holder in named[second.pk]["current_holders"]
    }
    assert holders == {
        (owner_account.number, "windco"): 150,
        (buyer_account.number, "buyer-co"): 50,
    }
    assert f"GEC {second.pk}" in response.data["detail"]
    assert UnitClaim.objects.count() == claims_before
    assert Block.objects.count() == blocks_before
    refusal = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).latest("pk")
    assert refusal.payload["code"] == "double_claim"


def test_units_consumed_by_a_derivation_name_the_holders_of_the_derived_tonnes(
    issuer, second_issuer, project_owner, march_record, owner_account
):
    start, end = month(2025, 3)
    declaration_sign(
        actor=project_owner,
        project=march_record.stream.project,
        unit_kind="E",
        period_start=start,
        period_end=end,
    )
    ccer = unit_claim_issue(
        actor=second_issuer,
        mechanism="CCER",
        production_record=march_record,
        account=owner_account,
        quantity=100,
        conversion_factor="0.5",
    )
    code = march_record.stream.project.code
    with pytest.raises(DoubleClaim) as refusal:
        unit_claim_issue(
            actor=issuer,
            mechanism="GEC",
            production_record=march_record,
            account=owner_account,
            serial_range=f"CN-{code}-E-202503-000000000001-000000000010",
        )
    (named,) = refusal.value.details["claims"]
    assert named["id"] == ccer.pk and named["mechanism"] == "CCER" and named["role"] == "source"
    assert named["current_holders"] == [
        {
            "account": owner_account.number,
            "organisation": "windco",
            "organisation_name": "Wind Co",
            "status": "active",
            "quantity": 50,
        }
    ]
