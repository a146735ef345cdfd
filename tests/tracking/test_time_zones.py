"""Times are shown in Asia/Shanghai to readers of Chinese and in UTC (REGISTRY_DISPLAY_TIME_ZONE)
to everyone else: the retirement page and certificate, the holder's statement and the admin."""

import datetime as dt
import io
import re

import pgtrigger
import pytest
from django.urls import reverse
from pypdf import PdfReader

from tests.conftest import RETIREMENT_DEFAULTS
from tracking.models import Retirement
from tracking.services import block_retire

ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}
CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
# 02:00 UTC is 10:00 in Shanghai, the same day.
RETIRED_AT = dt.datetime(2025, 3, 1, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def retirement(project_owner, gec_claim, owner_account):
    retirement = block_retire(
        actor=project_owner, account=owner_account, mechanism="GEC", quantity=250,
        **RETIREMENT_DEFAULTS,
    )  # fmt: skip
    # Retirements are final in the database; only this test fixture moves one in time.
    with pgtrigger.ignore("tracking.Retirement:retirement_is_final"):
        Retirement.objects.filter(pk=retirement.pk).update(created_at=RETIRED_AT)
    return retirement


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_retirement_page_shows_utc_in_english_and_shanghai_time_in_chinese(client, retirement):
    url = reverse("retirement-page", kwargs={"public_id": retirement.public_id})

    english = client.get(url, **ENGLISH).content.decode()
    chinese = client.get(url, **CHINESE).content.decode()

    assert "2025-03-01 02:00:00 UTC+0000" in english
    assert "10:00:00" not in english
    assert "2025-03-01 10:00:00 UTC+0800" in chinese
    assert "02:00:00" not in chinese


def test_pdf_certificate_shows_the_time_in_the_readers_zone(client, retirement):
    url = reverse("retirement-certificate", kwargs={"public_id": retirement.public_id})

    english = pdf_text(client.get(url, **ENGLISH).content)
    chinese = pdf_text(client.get(url, **CHINESE).content)

    assert "2025-03-01 02:00:00 UTC+0000" in english
    assert "2025-03-01 10:00:00 UTC+0800" in chinese


def test_statement_shows_movement_times_in_the_readers_zone_over_the_same_period(
    client, project_owner, owner_account, retirement
):
    client.force_login(project_owner)
    url = reverse("account-statement", kwargs={"number": owner_account.number})
    period = {"from": "2025-03-01", "to": "2025-03-02"}

    english = client.get(url, period, **ENGLISH).content.decode()
    chinese = client.get(url, period, **CHINESE).content.decode()

    assert "2025-03-01 02:00:00 UTC+0000" in english
    assert "days starting at midnight Asia/Shanghai, times in UTC" in english
    assert "2025-03-01 10:00:00 UTC+0800" in chinese
    assert "Asia/Shanghai" in chinese and "UTC+0000" not in chinese


def test_admin_shows_utc_in_english_and_shanghai_time_in_chinese(client, superuser, retirement):
    client.force_login(superuser)
    changelist = reverse("admin:tracking_retirement_changelist")

    english = client.get(changelist, **ENGLISH).content.decode()
    chinese = client.get(changelist, **CHINESE).content.decode()

    assert re.search(r"March 1, 2025, 2(:00)?\s*a\.m\.", english), english
    assert "2025年3月1日 10:00" in chinese


def test_english_zone_follows_the_setting(client, settings, retirement):
    settings.REGISTRY_DISPLAY_TIME_ZONE = "Europe/Paris"
    url = reverse("retirement-page", kwargs={"public_id": retirement.public_id})

    assert "2025-03-01 03:00:00 UTC+0100" in client.get(url, **ENGLISH).content.decode()


def test_the_api_answers_in_the_registrys_zone_whatever_the_language(api, retirement):
    """A date-time sent to the API without an offset is read in the active zone, so the API
    keeps one zone for every caller; its answers carry the offset."""
    url = f"/api/v1/retirements/{retirement.public_id}/"

    english = api(None).get(url, HTTP_ACCEPT_LANGUAGE="en").json()["created_at"]
    chinese = api(None).get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()["created_at"]

    assert english == chinese == "2025-03-01T10:00:00+08:00"
