"""Admin clients and registry data for the admin tests."""

import datetime as dt

import pytest

from issuance.services import unit_claim_issue

RETIREMENT = {
    "beneficiary_name": "Hebei Green Steel Co.",
    "purpose": "scope2_electricity",
    "claim_period_start": dt.date(2025, 3, 1),
    "claim_period_end": dt.date(2025, 3, 31),
    "location": "CN-HE",
    "reporting_year": 2025,
}


@pytest.fixture
def admin_client(client, administrator):
    """The registry administrator, logged in to the admin as a superuser."""
    administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    return client


@pytest.fixture
def gec_claim(issuer, march_record, owner_account):
    return unit_claim_issue(
        actor=issuer,
        mechanism="GEC",
        production_record=march_record,
        account=owner_account,
        quantity=1000,
    )


def run_action(client, changelist_url: str, action: str, objects, **fields):
    """POST an admin action for ``objects``; with ``reason`` the reason form is submitted too."""
    data = {"action": action, "_selected_action": [str(item.pk) for item in objects], **fields}
    if "reason" in fields:
        data["apply"] = "1"
    return client.post(changelist_url, data, follow=True)


def page_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]
