"""A holder's statement: movements of an account over a period, balances that add up to the
account's blocks, and who may read it."""

import csv
import datetime as dt
import io

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from issuance.services import unit_claim_issue
from tests.conftest import RETIREMENT_DEFAULTS
from tracking.models import Block
from tracking.selectors import account_statement
from tracking.services import (
    block_cancel,
    block_retire,
    block_set_status,
    block_transfer,
    units_expire,
)

RETIREMENT = RETIREMENT_DEFAULTS


def held(account) -> dict[str, int]:
    """What the account's blocks hold now (active and frozen), per mechanism."""
    rows = (
        Block.objects.filter(account=account, status__in=("active", "frozen"))
        .values_list("mechanism__code")
        .annotate(units=Sum("quantity"))
        .order_by()
    )
    return dict(rows)


def closing(statement) -> dict[str, int]:
    return {b.mechanism: b.closing for b in statement.balances if b.closing}


def moved(statement, mechanism: str) -> int:
    return sum(m.signed_quantity for m in statement.movements if m.mechanism == mechanism)


@pytest.fixture
def scenario(
    issuer, administrator, project_owner, buyer, march_record, owner_account, buyer_account
):
    """Issuance into both accounts, a transfer between them, then (after ``middle``)
    retirements, a cancellation, a frozen block and an expiry."""
    unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=600,
    )
    unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=buyer_account,
        quantity=400,
    )
    block_transfer(
        actor=project_owner,
        source_account=owner_account,
        target_account=buyer_account,
        mechanism="GEC",
        quantity=200,
    )
    middle = timezone.now()
    block_retire(
        actor=project_owner, account=owner_account, mechanism="GEC", quantity=50, **RETIREMENT
    )
    block_cancel(
        actor=project_owner, account=owner_account, mechanism="GEC", quantity=30, reason="Error"
    )
    block_retire(actor=buyer, account=buyer_account, mechanism="GEC", quantity=100, **RETIREMENT)
    frozen = Block.objects.filter(account=owner_account, status="active").order_by("pk").first()
    block_set_status(actor=administrator, block=frozen, status="frozen", reason="Audit")
    expiring = Block.objects.filter(account=buyer_account, status="active").order_by("-pk")[0]
    Block.objects.filter(pk=expiring.pk).update(expires_at=timezone.now())
    assert units_expire(now=timezone.now()) == expiring.quantity
    return {"middle": middle, "expired": expiring.quantity}


def whole_period(account):
    today = timezone.now()
    return account_statement(
        account=account,
        period_start=today - dt.timedelta(days=1),
        period_end=today + dt.timedelta(days=1),
    )


def test_closing_balance_equals_the_accounts_blocks_after_every_kind_of_movement(
    scenario, owner_account, buyer_account
):
    owner = whole_period(owner_account)
    buyer = whole_period(buyer_account)

    (owner_gec,) = owner.balances
    assert (owner_gec.opening, owner_gec.issued, owner_gec.received, owner_gec.sent) == (
        0,
        600,
        0,
        200,
    )
    assert (owner_gec.retired, owner_gec.cancelled, owner_gec.expired) == (50, 30, 0)
    (buyer_gec,) = buyer.balances
    assert (buyer_gec.issued, buyer_gec.received, buyer_gec.retired) == (400, 200, 100)
    assert buyer_gec.expired == scenario["expired"] > 0
    assert closing(owner) == held(owner_account) == {"GEC": 320}
    assert closing(buyer) == held(buyer_account) == {"GEC": 500 - scenario["expired"]}
    assert Block.objects.filter(account=owner_account, status="frozen").exists()


def test_opening_plus_movements_is_closing_and_periods_chain(
    scenario, owner_account, buyer_account
):
    for account in (owner_account, buyer_account):
        whole = whole_period(account)
        before = account_statement(
            account=account, period_start=whole.period_start, period_end=scenario["middle"]
        )
        after = account_statement(
            account=account, period_start=scenario["middle"], period_end=whole.period_end
        )

        for statement in (whole, before, after):
            for balance in statement.balances:
                assert balance.opening + moved(statement, balance.mechanism) == balance.closing
        (before_gec,), (after_gec,) = before.balances, after.balances
        assert before_gec.closing == after_gec.opening > 0
        assert after_gec.issued == after_gec.received == after_gec.sent == 0
        assert after_gec.closing == whole.balances[0].closing == held(account)["GEC"]


def test_statement_page_csv_and_pdf_for_the_holder(client, scenario, project_owner, owner_account):
    client.force_login(project_owner)
    url = reverse("account-statement", kwargs={"number": owner_account.number})
    today = timezone.localdate()
    query = {"from": f"{today - dt.timedelta(days=1)}", "to": f"{today + dt.timedelta(days=1)}"}

    page = client.get(url, query)
    table = client.get(
        reverse("account-statement-csv", kwargs={"number": owner_account.number}), query
    )
    document = client.get(
        reverse("account-statement-pdf", kwargs={"number": owner_account.number}), query
    )

    assert page.status_code == 200
    assert owner_account.number in page.content.decode()
    rows = list(csv.DictReader(io.StringIO(table.content.decode())))
    assert [row["entry"] for row in rows] == [
        "opening",
        "issued",
        "sent",
        "retired",
        "cancelled",
        "closing",
    ]
    assert rows[-1]["balance"] == "320"
    assert rows[-2]["balance"] == "320"  # the running balance after the last movement
    assert document["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(document.content)).pages)
    assert owner_account.number in text
    assert "320" in text


@pytest.mark.parametrize("persona", ["administrator", "auditor", "project_owner"])
def test_organisation_members_administrators_and_auditors_see_the_statement(
    client, request, persona, owner_account
):
    client.force_login(request.getfixturevalue(persona))

    response = client.get(reverse("account-statement", kwargs={"number": owner_account.number}))

    assert response.status_code == 200


@pytest.mark.parametrize("persona", ["outsider", "buyer"])
def test_others_do_not_learn_the_account_exists(client, request, persona, owner_account):
    client.force_login(request.getfixturevalue(persona))

    response = client.get(reverse("account-statement", kwargs={"number": owner_account.number}))
    missing = client.get(reverse("account-statement", kwargs={"number": "CN-99999999"}))

    assert response.status_code == missing.status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, owner_account):
    response = client.get(reverse("account-statement", kwargs={"number": owner_account.number}))

    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2025-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2025-04-01", "to": "2025-01-01"}, "to"),
    ],
)
def test_bad_dates_answer_400_naming_the_field(client, project_owner, owner_account, query, field):
    client.force_login(project_owner)

    for name in ("account-statement", "account-statement-csv", "account-statement-pdf"):
        response = client.get(reverse(name, kwargs={"number": owner_account.number}), query)

        assert response.status_code == 400
        assert f"{field}:" in response.content.decode()
