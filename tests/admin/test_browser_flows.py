"""An administrator's day in a real browser (the system Chromium, headless, through Playwright):
log in, approve a pending project, approve a pending issuance and see the holder's balance
change, try to approve a second issuance of the same MWh and see the refusal naming the claim
that holds them, freeze an account — after which a transfer from it is refused — in English and
in Chinese; and a retirement's public page read by anyone.

The database is written before the browser starts and read after it closes (Playwright's sync
API runs an event loop in the test's thread, where Django refuses database calls).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.models import HoldingAccount
from issuance.models import IssuanceRequest, QueueStatus
from issuance.services import issuance_request_create
from registry.errors import Conflict
from registry.models import LedgerEvent, Project
from registry.services import project_register
from tests.admin.conftest import RETIREMENT
from tests.audit.support import require_system_package
from tests.audit.test_browser import CHROMIUM, chromium_page
from tracking.services import block_retire, block_transfer

pytestmark = pytest.mark.usefixtures("transactional_db")
PASSWORD = "browser-admin-pass"


@pytest.fixture(autouse=True)
def _system_chromium():
    require_system_package(CHROMIUM.exists(), what=str(CHROMIUM), package="chromium")


@pytest.fixture
def staff_administrator(administrator):
    administrator.is_superuser = True
    administrator.set_password(PASSWORD)
    administrator.save()
    return administrator


@pytest.fixture
def pending_project(project_owner):
    return project_register(
        actor=project_owner,
        name="Zhangbei Solar",
        owner=project_owner.organisation,
        province="CN-HE",
        technology="solar",
        capacity_mw=Decimal("10"),
        commissioning_date=dt.date(2024, 1, 1),
    )


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


def run_admin_action(page, changelist: str, row_value: int, action: str) -> None:
    page.goto(changelist)
    page.check(f"input[name=_selected_action][value='{row_value}']")
    page.select_option("select[name=action]", action)
    with page.expect_navigation():
        page.click("button[name=index]")


@pytest.fixture
def two_requests_for_the_same_mwh(project_owner, march_record, owner_account):
    """Two GEC requests for all 1,000 MWh of March: only one can ever be issued."""
    return [
        issuance_request_create(
            actor=project_owner,
            mechanism="GEC",
            production_record=march_record,
            account=owner_account,
            quantity=1000,
        )
        for _ in range(2)
    ]


def active_balance(page, live_server, account: HoldingAccount) -> str:
    page.goto(f"{live_server.url}/admin/accounts/holdingaccount/{account.pk}/change/")
    cell = page.locator('tr[data-mechanism="GEC"] td.balance-active')
    return cell.inner_text().strip() if cell.count() else "0"


@pytest.mark.parametrize(
    ("locale", "language", "expected"),
    [
        (
            "en-GB",
            "en",
            {
                "queue": "Waiting for approval",
                "requests": "Issuance requests",
                "issued": "1 requests approved and issued.",
                "frozen": "1 accounts frozen.",
            },
        ),
        (
            "zh-CN",
            "zh-hans",
            {
                "queue": "待审批",
                "requests": "核发申请",
                "issued": "已批准并核发 1 个申请。",
                "frozen": "已冻结 1 个账户。",
            },
        ),
    ],
)
def test_an_administrators_day_in_the_browser(
    staff_administrator,
    pending_project,
    project_owner,
    owner_account,
    buyer_account,
    two_requests_for_the_same_mwh,
    live_server,
    locale,
    language,
    expected,
):
    first, second = two_requests_for_the_same_mwh
    projects = f"{live_server.url}/admin/registry/project/?status__exact=pending"
    requests = f"{live_server.url}/admin/issuance/issuancerequest/?status__exact=pending"
    accounts = f"{live_server.url}/admin/accounts/holdingaccount/"

    with chromium_page(f"admin-{language}", locale=locale) as page:
        log_in(page, live_server, staff_administrator.username)
        assert page.locator("html").get_attribute("lang") == language
        assert expected["queue"] in page.content()
        assert expected["requests"] in page.locator("#approval-queue").inner_text()

        run_admin_action(page, projects, pending_project.pk, "approve")
        assert page.locator(".messagelist").inner_text().strip()

        balance_before = active_balance(page, live_server, owner_account)
        run_admin_action(page, requests, first.pk, "approve")
        assert expected["issued"] in page.locator(".messagelist").inner_text()
        balance_after = active_balance(page, live_server, owner_account)

        run_admin_action(page, requests, second.pk, "approve")
        refusal = page.locator(".messagelist .error").inner_text()

        run_admin_action(page, accounts, owner_account.pk, "freeze")
        page.fill("textarea[name=reason], input[name=reason]", "court order 7")
        with page.expect_navigation():
            page.click("#content input[type=submit]")
        assert expected["frozen"] in page.locator(".messagelist").inner_text()

    first.refresh_from_db()
    second.refresh_from_db()
    assert (balance_before, balance_after) == ("0", "1000")
    assert first.status == QueueStatus.APPROVED and second.status == QueueStatus.PENDING
    claim = first.unit_claim
    assert str(claim.pk) in refusal and owner_account.number in refusal
    assert IssuanceRequest.objects.filter(unit_claim__isnull=False).count() == 1
    pending_project.refresh_from_db()
    owner_account.refresh_from_db()
    assert pending_project.status == Project.Status.APPROVED
    assert owner_account.status == HoldingAccount.Status.FROZEN
    event = LedgerEvent.objects.filter(kind=LedgerEvent.Kind.ACCOUNT_STATUS).latest("id")
    assert event.actor == staff_administrator
    with pytest.raises(Conflict) as refusal:
        block_transfer(
            actor=project_owner,
            source_account=owner_account,
            target_account=buyer_account,
            mechanism="GEC",
            quantity=10,
        )
    assert refusal.value.code == "account_not_active"


def test_a_retirements_public_page_shows_its_beneficiary_to_anyone(
    project_owner, gec_claim, owner_account, live_server
):
    retirement = block_retire(
        actor=project_owner, account=owner_account, mechanism="GEC", quantity=40, **RETIREMENT
    )

    with chromium_page("retirement-public") as page:
        response = page.goto(f"{live_server.url}/retirements/{retirement.public_id}/")
        assert response is not None and response.status == 200
        assert RETIREMENT["beneficiary_name"] in page.locator("body").inner_text()
