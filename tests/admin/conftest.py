"""Admin clients and registry data for the admin tests."""

import pytest

from tests.conftest import RETIREMENT_DEFAULTS

RETIREMENT = RETIREMENT_DEFAULTS


@pytest.fixture
def admin_client(client, administrator):
    """The registry administrator, logged in to the admin as a superuser."""
    administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    return client


def run_action(client, changelist_url: str, action: str, objects, **fields):
    """POST an admin action for ``objects``; with ``reason`` the reason form is submitted too."""
    data = {"action": action, "_selected_action": [str(item.pk) for item in objects], **fields}
    if "reason" in fields:
        data["apply"] = "1"
    return client.post(changelist_url, data, follow=True)


def page_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]
