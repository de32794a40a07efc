"""The admin dashboard at /admin, driven in a real headless Chromium against a real gunicorn."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, expect, sync_playwright

from tests.factories import corpus
from tests.server import Server, gunicorn, wait_for_job

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gunicorn")]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/dashboard.png")
PHONE_SCREENSHOT = Path("/tmp/dashboard-390.png")
# Views seeded per article: 10 in all, every one in the current hour.
VIEWS = {"sleep-1": 5, "running-2": 3, "baking-0": 2}


@dataclass
class Tab:
    """A page in a fresh browser context, with what it reported as errors."""

    page: Page
    url: str
    errors: list[str] = field(default_factory=list)

    def sign_in(self, token: str) -> None:
        self.page.get_by_label("Admin token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn with the factory corpus, an index, and a few views."""
    with gunicorn(tmp_path_factory.mktemp("dashboard"), workers=2) as server:
        assert server.request("POST", "/api/v1/articles", corpus(), admin=True)[0] == 200
        for article_id, count in VIEWS.items():
            for _ in range(count):
                assert server.request("POST", f"/api/v1/articles/{article_id}/views")[0] == 202
        assert server.request("POST", "/api/v1/admin/reindex", admin=True)[0] == 202
        assert wait_for_job(server)["state"] == "succeeded"
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (make browser) to run the page tests"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def tab(browser: Browser, server: Server) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(10_000)
    tab = Tab(page, f"http://127.0.0.1:{server.port}")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            tab.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    yield tab
    context.close()


def stats(server: Server, window: str) -> dict[str, Any]:
    status, body = server.request("GET", f"/api/v1/admin/stats?window={window}&limit=20", admin=True)
    assert status == 200
    return dict(body)


def test_page_loads_cleanly_asks_for_the_token_and_rejects_a_wrong_one(tab: Tab) -> None:
    page = tab.page
    response = page.goto(f"{tab.url}/admin")
    assert response is not None and response.status == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", name="Sign in to the dashboard")).to_be_visible()
    expect(page.get_by_label("Admin token")).to_be_focused()
    expect(page.locator("#dashboard")).to_be_hidden()
    assert tab.errors == []

    tab.sign_in("not-the-token")
    expect(page.get_by_role("alert")).to_contain_text("Wrong token")
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    # The browser logs the rejected request itself; nothing else may go wrong.
    assert [error for error in tab.errors if "status of 401" not in error] == []


def test_disabled_admin_api_says_to_set_the_token(tab: Tab) -> None:
    def disabled(route: Route) -> None:
        route.fulfill(
            status=503,
            json={"error": {"code": "admin_disabled", "message": "Admin endpoints are disabled."}},
        )

    tab.page.route("**/api/v1/admin/**", disabled)
    tab.page.goto(f"{tab.url}/admin")
    tab.sign_in("any-token")
    expect(tab.page.get_by_role("alert")).to_contain_text("Admin API disabled: set ADMIN_TOKEN")


def test_dashboard_shows_totals_top_articles_and_a_bar_per_day(tab: Tab, server: Server) -> None:
    page = tab.page
    week, everything = stats(server, "7d"), stats(server, "all")
    top = week["articles"][0]
    assert top["id"] == "sleep-1"
    page.goto(f"{tab.url}/admin")
    tab.sign_in(server.token)

    expect(page.locator("#kpi-total")).to_have_text(str(sum(VIEWS.values())))
    expect(page.locator("#kpi-articles")).to_have_text(str(len(VIEWS)))
    expect(page.locator("#kpi-busiest-note")).to_contain_text("10 views")
    first = page.locator("#top-body tr").first.get_by_role("link")
    expect(first).to_have_text(top["title"])
    expect(first).to_have_attribute("href", "/api/v1/articles/sleep-1")
    expect(page.locator("#top-body tr")).to_have_count(len(VIEWS))
    bars = page.locator("#chart svg .bar")
    expect(bars).to_have_count(len(week["series"]))
    expect(page.locator("#last-updated")).to_contain_text("Updated")
    expect(page.locator("#index-version")).not_to_have_text("—")

    bars.last.hover()
    expect(page.locator("#chart .tooltip")).to_contain_text("10 views")
    page.wait_for_timeout(300)  # let the skeleton and hover transitions settle for the picture
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    with page.expect_response(lambda response: "window=all" in response.url) as answer:
        page.get_by_text("All time", exact=True).click()
    assert answer.value.status == 200
    expect(bars).to_have_count(len(everything["series"]))
    expect(page.locator("#kpi-total-note")).to_have_text("since the first recorded view")

    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_text("7 days", exact=True).click()
    expect(bars).to_have_count(len(week["series"]))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(PHONE_SCREENSHOT), full_page=True)

    page.reload()  # the token is kept for the tab
    expect(page.locator("#kpi-total")).to_have_text(str(sum(VIEWS.values())))
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Admin token")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    assert tab.errors == []


def test_empty_window_says_so_and_draws_flat_days(tab: Tab) -> None:
    series = [{"date": f"2026-01-0{day}", "views": 0} for day in (1, 2, 3)]

    def admin_api(route: Route) -> None:
        if "/stats?" in route.request.url:
            route.fulfill(json={"window": "7d", "total_views": 0, "articles": [], "series": series})
        else:
            route.fulfill(json={"job": None})

    tab.page.route(re.compile(r"/api/v1/admin/"), admin_api)
    tab.page.goto(f"{tab.url}/admin")
    tab.sign_in("token-for-the-mocked-api")
    expect(tab.page.locator("#top-body")).to_have_text("No views in this window yet")
    expect(tab.page.locator("#chart")).to_contain_text("No views in this window yet")
    expect(tab.page.locator("#chart svg .bar")).to_have_count(3)
    expect(tab.page.locator("#kpi-busiest")).to_have_text("—")
    expect(tab.page.locator("#job-empty")).to_be_visible()
    assert tab.errors == []


def test_rebuild_index_ends_with_a_succeeded_job_and_the_new_version(tab: Tab, server: Server) -> None:
    page = tab.page
    old_version = server.request("GET", "/readyz")[1]["index"]["version"]
    page.goto(f"{tab.url}/admin")
    tab.sign_in(server.token)
    expect(page.locator("#index-version")).to_have_text(old_version)
    expect(page.locator("#job-state")).to_have_attribute("data-state", "succeeded")

    page.get_by_role("button", name="Rebuild index").click()
    expect(page.get_by_role("button", name="Rebuilding…")).to_be_disabled()
    expect(page.locator("#status")).to_contain_text("Index rebuilt", timeout=20_000)
    job = server.request("GET", "/api/v1/admin/reindex", admin=True)[1]["job"]
    assert job["state"] == "succeeded" and job["index_version"] != old_version
    expect(page.locator("#job-state")).to_have_attribute("data-state", "succeeded")
    expect(page.locator("#job-version")).to_have_text(job["index_version"])
    expect(page.locator("#index-version")).to_have_text(job["index_version"])
    expect(page.get_by_role("button", name="Rebuild index")).to_be_enabled()
    assert tab.errors == []
