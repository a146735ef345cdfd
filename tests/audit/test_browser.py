"""The report page and /public/ in a real browser: the system Chromium, headless, driven by
Playwright against pytest-django's live server (never a downloaded browser).

Everything the database needs is written before the browser starts (Playwright's sync API runs
an event loop in the test's thread, where Django refuses database calls). A failing check saves
a screenshot to the temporary directory and names it in the failure.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from registry.serials import Serial
from tests.audit.registry_data import (
    CHINESE_BENEFICIARY,
    ENGLISH_BENEFICIARY,
    run_report,
)
from tests.audit.support import require_system_package

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture(autouse=True)
def _system_chromium():
    # The browser tests drive the system Chromium only, never a downloaded one.
    require_system_package(CHROMIUM.exists(), what=str(CHROMIUM), package="chromium")


def session_cookie(user, live_server) -> dict:
    client = Client()
    client.force_login(user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": live_server.url,
    }


@contextmanager
def chromium_page(name: str, cookies: list[dict] | None = None, locale: str = "en-GB") -> Iterator:
    """A page of a fresh headless Chromium; on any failure inside, a full-page screenshot."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            context = browser.new_context(locale=locale, viewport={"width": 1200, "height": 900})
            if cookies:
                context.add_cookies(cookies)
            page = context.new_page()
            try:
                yield page
            except BaseException as failure:
                shot = Path(tempfile.gettempdir()) / f"browser-{name}-{os.getpid()}.png"
                try:
                    page.screenshot(path=str(shot), full_page=True)
                    failure.add_note(f"screenshot of the page: {shot}")
                except Exception as error:  # the page may be gone; keep the first failure
                    failure.add_note(f"no screenshot: {error}")
                raise
        finally:
            browser.close()


def assert_charts_visible(page, expected: int) -> None:
    charts = page.locator("svg.chart")
    assert charts.count() == expected
    for index in range(expected):
        chart = charts.nth(index)
        chart.scroll_into_view_if_needed()
        assert chart.is_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100, box
        # Drawn, not an empty frame: bars are paths inside the chart.
        assert chart.locator("path").count() > 10


def test_the_report_page_shows_the_green_summary_and_its_charts(registry, auditor, live_server):
    report = run_report(auditor)
    cookie = session_cookie(auditor, live_server)
    address = f"{live_server.url}/api/v1/reports/{report.pk}/report.html"

    with chromium_page("report", cookies=[cookie]) as page:
        response = page.goto(address)
        assert response is not None and response.status == 200
        banner = page.locator("#verdict")
        assert banner.is_visible()
        assert "Every check passed" in banner.inner_text()
        # The inline styles apply under the page's Content-Security-Policy: green, not plain.
        colour = banner.evaluate("element => getComputedStyle(element).backgroundColor")
        assert colour == "rgb(240, 255, 244)"
        assert report.content_sha256 in page.locator("dl.facts").inner_text()
        assert_charts_visible(page, 1)  # units per mechanism and month (nothing was refused)
        retirements = page.locator("#retirements").inner_text()
        assert CHINESE_BENEFICIARY in retirements
        assert ENGLISH_BENEFICIARY in retirements


def test_the_report_page_is_not_shown_to_a_browser_without_a_session(
    registry, auditor, live_server
):
    report = run_report(auditor)
    with chromium_page("report-anonymous") as page:
        response = page.goto(f"{live_server.url}/api/v1/reports/{report.pk}/report.html")
        assert response is not None and response.status in (401, 403)
        assert "Every check passed" not in page.content()


def test_the_public_page_shows_totals_charts_and_finds_a_serial(registry, live_server):
    block = registry.march_block
    project = block.stream.project
    serial = str(Serial(project.country, project.code, "E", block.vintage, block.serials.lower))

    with chromium_page("public") as page:
        response = page.goto(f"{live_server.url}/public/")
        assert response is not None and response.status == 200
        assert page.locator("h1").inner_text() == "Registry transparency"
        totals = page.locator("#totals-E")
        assert totals.locator('[data-measure="issued"]').inner_text() == "1600"
        assert totals.locator('[data-measure="retired"]').inner_text() == "150"
        assert totals.locator('[data-measure="cancelled"]').inner_text() == "20"
        assert_charts_visible(page, 6)

        page.fill("#id_serial", "not a serial")
        page.click("form.search button[type=submit]")
        alert = page.locator('[role="alert"]')
        assert alert.is_visible()
        assert "is not a serial number" in alert.inner_text()

        page.fill("#id_serial", serial)
        page.click("form.search button[type=submit]")
        page.wait_for_url(f"**/api/v1/verify/{serial}/")
        assert serial in page.content()


def test_the_public_page_switches_to_chinese(registry, live_server):
    with chromium_page("public-chinese") as page:
        page.goto(f"{live_server.url}/public/")
        page.click('nav.languages button[lang="zh-hans"]')
        page.wait_for_selector('html[lang="zh-hans"]')
        assert "已注销" in page.locator("#totals-E").inner_text()
        assert_charts_visible(page, 6)


def test_a_chinese_browser_gets_the_chinese_page(registry, live_server):
    with chromium_page("public-zh", locale="zh-CN") as page:
        page.goto(f"{live_server.url}/public/")
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        assert "已作废" in page.locator("#totals-E").inner_text()
