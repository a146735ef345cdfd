"""/public/: totals for anyone, without login, in English or Chinese, and the serial search."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from audit.selectors import PUBLIC_TOTALS_CACHE_KEY
from registry.serials import Serial
from tests.conftest import RETIREMENT_DEFAULTS
from tracking.models import Block
from tracking.services import block_retire

PAGE = "/public/"
SEARCH = "/public/verify/"


def first_serial(block: Block) -> str:
    project = block.stream.project
    return str(
        Serial(
            project.country,
            project.code,
            block.stream.unit_kind,
            block.vintage,
            block.serials.lower,
        )
    )


def section(response, unit: str) -> dict:
    return next(item for item in response.context["sections"] if item["unit"] == unit)


def by(rows: list[dict], key: str) -> dict[str, dict]:
    return {row[key]: row for row in rows}


def test_anyone_sees_the_totals_per_mechanism_province_and_month(registry, client):
    response = client.get(PAGE)
    assert response.status_code == 200
    electricity = section(response, "E")
    assert {key: electricity["total"][key] for key in ("issued", "retired", "cancelled")} == {
        "issued": registry.issued_e,
        "retired": registry.retired_e,
        "cancelled": registry.cancelled_e,
    }
    assert electricity["total"]["active"] == 1_600 - 150 - 20
    assert by(electricity["mechanisms"], "mechanism")["GEC"]["issued"] == 1_600
    assert list(by(electricity["provinces"], "province")) == ["CN-NM"]
    months = by(electricity["months"], "month")
    assert {month: row["issued"] for month, row in months.items()} == {
        "2025-03": 1_000,
        "2025-04": 600,
    }
    assert sum(row["retired"] for row in months.values()) == 150
    saved = section(response, "T")
    assert saved["total"]["issued"] == registry.issued_t
    assert by(saved["provinces"], "province")["CN-ZJ"]["issued"] == 300
    # MWh and tce are never added up: each kind has its own section, in this order.
    assert [item["unit"] for item in response.context["sections"]] == ["E", "T"]

    page = response.content.decode()
    assert 'data-measure="issued">1600<' in page
    assert 'data-measure="retired">150<' in page
    assert "Inner Mongolia" in page  # CN-NM by its name
    assert page.count('<svg class="chart"') == 6  # mechanism, province, month per unit kind
    assert 'data-chart="public-E-months"' in page
    assert "<script" not in page


def test_the_page_explains_each_figure(registry, client):
    page = client.get(PAGE).content.decode()
    for phrase in (
        "Units a mechanism has issued",
        "used for good on behalf of a named beneficiary",
        "withdrawn without a beneficiary",
        "The month in which the units were produced",
    ):
        assert phrase in page


def test_an_empty_registry_says_so(client, db):
    response = client.get(PAGE)
    assert response.status_code == 200
    assert "No units have been issued yet." in response.content.decode()


def test_totals_are_kept_a_minute_then_counted_again(
    registry, client, project_owner, owner_account
):
    assert section(client.get(PAGE), "E")["total"]["retired"] == 150
    block_retire(
        actor=project_owner,
        account=owner_account,
        mechanism="GEC",
        quantity=10,
        **RETIREMENT_DEFAULTS,
    )
    assert section(client.get(PAGE), "E")["total"]["retired"] == 150  # from the cache
    cache.delete(PUBLIC_TOTALS_CACHE_KEY)  # as when the minute is up
    assert section(client.get(PAGE), "E")["total"]["retired"] == 160


def test_the_page_answers_when_the_cache_cannot_be_reached(registry, client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }
    response = client.get(PAGE)
    assert response.status_code == 200
    assert section(response, "E")["total"]["issued"] == 1_600


def test_a_serial_of_an_existing_unit_redirects_to_its_verification(registry, client):
    serial = first_serial(registry.march_block)
    response = client.get(SEARCH, {"serial": f"  {serial.lower()} "})
    assert response.status_code == 302
    assert response["Location"] == f"/api/v1/verify/{serial}/"
    verified = client.get(response["Location"])
    assert verified.status_code == 200
    assert verified.json()["serial"] == serial


@pytest.mark.parametrize(
    ("serial", "message"),
    [
        ("", "Type a serial number to verify."),
        ("   ", "Type a serial number to verify."),
        ("not-a-serial", "is not a serial number such as"),
        ("CN-P7K2Q9-E-202513-000000001001-47", "is not a serial number such as"),
        ("x" * 200, "at most 80 characters"),
        ("CN-\x00", "Null characters are not allowed."),
    ],
)
def test_an_empty_or_malformed_serial_shows_the_page_again_with_a_message(
    registry, client, serial, message
):
    response = client.get(SEARCH, {"serial": serial})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'role="alert"' in page
    assert message in page
    assert 'data-measure="issued">1600<' in page  # the totals are still there


def test_a_mistyped_check_number_or_an_unknown_unit_is_explained(registry, client):
    serial = first_serial(registry.march_block)
    mistyped = serial[:-2] + ("00" if not serial.endswith("00") else "11")
    page = client.get(SEARCH, {"serial": mistyped}).content.decode()
    assert "does not match the rest of it" in page
    unknown = str(Serial("CN", registry.march_block.stream.project.code, "E", 202503, 99_999))
    response = client.get(SEARCH, {"serial": unknown})
    assert response.status_code == 400
    assert f"No unit with serial {unknown} exists." in response.content.decode()


def test_a_search_without_the_parameter_is_not_an_error_page(client, db):
    response = client.get(SEARCH)
    assert response.status_code == 400
    assert "Type a serial number to verify." in response.content.decode()


def test_the_page_answers_in_chinese_to_a_browser_that_asks(registry, client):
    response = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = response.content.decode()
    assert '<html lang="zh-hans">' in page
    assert "已注销" in page  # "Retired"
    assert "已作废" in page  # "Cancelled"
    assert "绿色电力证书" in page  # the GEC's Chinese name
    english = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "已注销" not in english
    assert "China Green Electricity Certificate" in english


def test_the_language_switch_turns_the_page_chinese_and_back(registry, client):
    page = client.get(PAGE).content.decode()
    assert 'action="/i18n/setlang/"' in page
    assert 'name="language" value="zh-hans"' in page
    switched = client.post("/i18n/setlang/", {"language": "zh-hans", "next": PAGE})
    assert switched.status_code == 302
    assert switched["Location"] == PAGE
    assert "已注销" in client.get(PAGE).content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": PAGE})
    assert "已注销" not in client.get(PAGE).content.decode()


def test_only_get_is_answered(client, db):
    assert client.post(PAGE).status_code == 405
    assert client.post(SEARCH, {"serial": "x"}).status_code == 405
