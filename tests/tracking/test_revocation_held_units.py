"""Revoking a claim whose units another organisation holds: refused, naming each holder and
quantity, unless an administrator explicitly cancels the held units with a reason; then each
holder's blocks get a cancellation and a ledger event of their own, shown in their statement."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from registry.errors import DomainError
from registry.models import LedgerEvent, UnitClaim
from tests.api.conftest import client_for
from tests.factories import HoldingAccountFactory
from tracking.models import Block, Cancellation
from tracking.selectors import account_statement
from tracking.services import block_transfer, claim_revoke


@pytest.fixture
def sold(gec_claim, project_owner, owner_account, buyer_account):
    """300 of the 1,000 GECs sold to the buyer; 700 still with the owner."""
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=300,
    )
    return gec_claim


def _state():
    return (
        list(Block.objects.order_by("pk").values_list("pk", "status", "account_id", "serials")),
        list(UnitClaim.objects.order_by("pk").values_list("pk", "status")),
        Cancellation.objects.count(),
    )


def test_revoking_a_claim_whose_units_were_sold_is_refused_naming_the_holder(
    sold, administrator, buyer_account
):
    before = _state()
    refusals = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).count()

    response = client_for(administrator).post(
        f"/api/v1/issuances/{sold.pk}/revoke/", {"reason": "meter fault"}, format="json"
    )

    assert response.status_code == 409, response.content
    assert response.data["code"] == "units_held_by_others"
    [holder] = response.data["details"]["holders"]
    assert holder["account"] == buyer_account.number
    assert holder["organisation"] == "buyer-co"
    assert holder["quantity"] == 300
    assert _state() == before
    refusal = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).latest("pk")
    assert refusal.payload["code"] == "units_held_by_others"
    assert LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ATTEMPT_REFUSED).count() == (
        refusals + 1
    )


def test_units_held_in_another_account_of_the_same_organisation_do_not_stop_revocation(
    gec_claim, administrator, project_owner, owner_account
):
    second = HoldingAccountFactory(
        organisation=project_owner.organisation, number="CN-00000007", name="Second"
    )
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=second,
        mechanism="GEC",
        quantity=100,
    )
    revoked = claim_revoke(actor=administrator, claim=gec_claim, reason="meter fault")
    assert revoked.status == "revoked"
    assert not Block.objects.filter(claim=gec_claim, status="active").exists()


def test_an_administrator_cancels_the_held_units_explicitly_one_event_per_holder(
    sold, administrator, owner_account, buyer_account
):
    start = timezone.now() - dt.timedelta(days=1)
    response = client_for(administrator).post(
        f"/api/v1/issuances/{sold.pk}/revoke/",
        {"reason": "meter fault", "cancel_held_units": True},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.data["status"] == "revoked"
    assert not Block.objects.filter(claim=sold, status="active").exists()
    held = Cancellation.objects.get(account=buyer_account)
    assert held.quantity == 300 and held.claim_id == sold.pk
    [event] = LedgerEvent.objects.filter(
        kind=LedgerEvent.Kind.UNITS_CANCELLED, subjects__contains=[f"account:{buyer_account.pk}"]
    )
    assert event.payload["cancellation"] == str(held.public_id)
    assert event.payload["account"] == buyer_account.number
    assert event.payload["organisation"] == "buyer-co"
    assert sum(r["upper"] - r["lower"] for r in event.payload["ranges"]) == 300
    assert {r["block"] for r in event.payload["ranges"]} == set(
        Block.objects.filter(cancellation=held).values_list("pk", flat=True)
    )
    revoked = LedgerEvent.objects.get(kind=LedgerEvent.Kind.CLAIM_REVOKED)
    assert revoked.payload["held_units_cancelled"] == [str(held.public_id)]
    assert revoked.payload["cancelled_quantity"] == 1000
    assert revoked.payload["held_quantity"] == 300
    # The buyer's statement shows the cancellation and a zero closing balance.
    statement = account_statement(
        account=buyer_account, period_start=start, period_end=timezone.now()
    )
    cancelled = [m for m in statement.movements if m.kind == "cancelled"]
    assert [m.quantity for m in cancelled] == [300]
    assert {b.mechanism: b.closing for b in statement.balances}["GEC"] == 0


def test_only_an_administrator_may_cancel_held_units(sold, issuer):
    response = client_for(issuer).post(
        f"/api/v1/issuances/{sold.pk}/revoke/",
        {"reason": "meter fault", "cancel_held_units": True},
        format="json",
    )
    assert response.status_code in (403, 404)
    with pytest.raises(DomainError) as refusal:
        claim_revoke(actor=issuer, claim=sold, reason="x", cancel_held_units=True)
    assert refusal.value.http_status == 403


def test_cancelling_held_units_still_needs_a_reason(sold, administrator):
    with pytest.raises(DomainError) as refusal:
        claim_revoke(actor=administrator, claim=sold, reason=" ", cancel_held_units=True)
    assert refusal.value.code == "reason_required"
    assert UnitClaim.objects.get(pk=sold.pk).status == "live"


def test_a_revocation_that_cancelled_held_units_leaves_a_registry_the_report_passes(
    sold, administrator
):
    """The ledger-state checks fold the per-holder cancellations and the revocation back into
    exactly the blocks and claims the service left."""
    from audit.models import ReportCheck
    from audit.services import uniqueness_report_request, uniqueness_report_run

    claim_revoke(actor=administrator, claim=sold, reason="meter fault", cancel_held_units=True)

    report = uniqueness_report_request(
        actor=administrator, scope=None, enqueue=lambda report: "inline"
    )
    report = uniqueness_report_run(report_id=report.pk)
    failed = set(
        report.checks.filter(verdict=ReportCheck.Verdict.FAIL).values_list("check_id", flat=True)
    )
    from audit.models import ReportFinding

    findings = list(ReportFinding.objects.filter(report=report).values("check_id", "record")[:5])
    assert failed == set(), findings
    assert report.checks.filter(check_id="state_matches_ledger").exists()
