"""The admin dashboard at /admin: sign-in, session and CSRF through the test client, then the page
driven in a real headless Chromium against a real gunicorn."""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, expect

from service.api.auth import derived_secret_key
from tests.chromium import DESKTOP_CHROME, launched_chromium
from tests.conftest import ADMIN_TOKEN
from tests.factories import article, corpus
from tests.server import Server, gunicorn, wait_for_job

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "/tmp/related-artifacts"))
READERS = [  # three visitors, told apart by their browsers (all from 127.0.0.1)
    DESKTOP_CHROME,
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.6; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
]
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
# Views seeded per article, as the reader (index in READERS) of each view: 10 views in all.
VIEWS = {"sleep-1": [0, 0, 1, 2, 2], "running-2": [0, 1, 1], "baking-0": [2, 2]}
BOT_HITS = 2
CLICKS = [
    ("sleep-1", "related", "sleep-2"),
    ("sleep-1", "related", "sleep-3"),
    ("running-2", "latest", "sleep-1"),
]
SESSION_COOKIE = "related_admin"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


# == Sign-in, session and CSRF (test client) ==================================================


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Sign-in and sessions do not depend on the store: SQLite only."""
    return sqlite_url


def csrf_from(client: FlaskClient, path: str = "/admin") -> str:
    """The CSRF token of the form (or, signed in, of the page) at ``path``."""
    page = client.get(path).get_data(as_text=True)
    found = CSRF_FIELD.search(page) or CSRF_META.search(page)
    assert found, page
    return found.group(1)


def sign_in(client: FlaskClient, token: str = ADMIN_TOKEN) -> str:
    """Sign ``client`` in through the form; the signed-in page's CSRF token."""
    answer = client.post("/admin/sign-in", data={"token": token, "csrf_token": csrf_from(client)})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return csrf_from(client)


def session_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie(SESSION_COOKIE)
    return None if cookie is None else cookie.value


def test_page_without_session_is_the_sign_in_form_with_strict_headers(client: FlaskClient) -> None:
    answer = client.get("/admin")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert 'action="/admin/sign-in"' in page and 'name="csrf_token"' in page
    assert 'name="csrf-token"' not in page  # the dashboard itself is not shown
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "form-action 'self'" in policy
    assert "unsafe-inline" not in policy
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Frame-Options"] == "DENY"


def test_right_token_signs_in_with_an_httponly_samesite_strict_cookie(client: FlaskClient) -> None:
    form = csrf_from(client)
    answer = client.post("/admin/sign-in", data={"token": ADMIN_TOKEN, "csrf_token": form})
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/admin"
    (cookie,) = answer.headers.getlist("Set-Cookie")
    attributes = [part.strip() for part in cookie.split(";")]
    assert attributes[0].startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in attributes and "SameSite=Strict" in attributes and "Path=/" in attributes
    assert "Secure" not in attributes  # off by default, for http://127.0.0.1
    assert any(part.startswith("Expires=") for part in attributes)
    page = client.get("/admin").get_data(as_text=True)
    assert CSRF_META.search(page) and "Sign out" in page
    assert client.get("/api/v1/admin/stats").status_code == 200


def test_secure_cookie_flag_is_configurable(make_app: Callable[..., Flask]) -> None:
    client = make_app(SESSION_COOKIE_SECURE=True).test_client()
    form = csrf_from(client)
    answer = client.post("/admin/sign-in", data={"token": ADMIN_TOKEN, "csrf_token": form})
    assert "Secure" in [part.strip() for part in answer.headers["Set-Cookie"].split(";")]


@pytest.mark.parametrize("token", ["wrong-token", "", ADMIN_TOKEN + "x", ADMIN_TOKEN[:-1]])
def test_wrong_token_answers_401_with_the_form_and_an_error(client: FlaskClient, token: str) -> None:
    answer = client.post("/admin/sign-in", data={"token": token, "csrf_token": csrf_from(client)})
    assert answer.status_code == 401
    assert answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assert 'role="alert"' in page and "Wrong token" in page
    assert 'action="/admin/sign-in"' in page
    assert client.get("/api/v1/admin/stats").status_code == 401


@pytest.mark.parametrize(
    "form",
    [{"token": ADMIN_TOKEN}, {"token": ADMIN_TOKEN, "csrf_token": "forged"}],
    ids=["missing", "forged"],
)
def test_sign_in_without_its_csrf_token_is_refused(client: FlaskClient, form: dict[str, str]) -> None:
    csrf_from(client)  # the session holds a CSRF token; the form does not send it
    answer = client.post("/admin/sign-in", data=form)
    assert answer.status_code == 403
    assert "expired" in answer.get_data(as_text=True)
    assert client.get("/api/v1/admin/stats").status_code == 401


def test_csrf_token_of_another_session_is_refused(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    other = csrf_from(app.test_client())
    client = app.test_client()
    csrf_from(client)
    assert client.post("/admin/sign-in", data={"token": ADMIN_TOKEN, "csrf_token": other}).status_code == 403


def test_failed_sign_ins_count_against_the_admin_auth_limit(make_app: Callable[..., Flask]) -> None:
    client = make_app(ADMIN_AUTH_LIMIT="3 per minute").test_client()
    form = csrf_from(client)
    wrong = {"token": "wrong", "csrf_token": form}
    assert client.post("/admin/sign-in", data=wrong).status_code == 401
    assert client.get("/api/v1/admin/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/admin/sign-in", data=wrong).status_code == 401
    refused = client.post("/admin/sign-in", data=wrong)
    assert refused.status_code == 429
    assert refused.mimetype == "text/html" and "Too many failed sign-ins" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    wrong_bearer = {"Authorization": "Bearer wrong"}
    assert client.get("/api/v1/admin/stats", headers=wrong_bearer).status_code == 429  # one limit for all
    # the right token is never refused, on the form or as a bearer token
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert client.get("/api/v1/admin/stats", headers=admin).status_code == 200
    assert client.post("/admin/sign-in", data={"token": ADMIN_TOKEN, "csrf_token": form}).status_code == 303
    # a refused form (no CSRF token) is not a failed authentication
    other = make_app(ADMIN_AUTH_LIMIT="2 per minute").test_client()
    csrf_from(other)
    for _ in range(4):
        assert other.post("/admin/sign-in", data={"token": "wrong"}).status_code == 403
    assert sign_in(other)


def test_session_reads_the_admin_api_and_needs_the_csrf_header_to_change_anything(
    client: FlaskClient,
) -> None:
    csrf = sign_in(client)
    assert client.get("/api/v1/admin/stats?window=7d").status_code == 200
    assert client.get("/api/v1/admin/reindex").status_code == 200
    refused = client.post("/api/v1/admin/reindex")
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "csrf_failed"
    assert client.post("/api/v1/admin/reindex", headers={"X-CSRFToken": "forged"}).status_code == 403
    assert client.put("/api/v1/admin/exclusions", json={"categories": [], "tags": []}).status_code == 403
    assert client.get("/api/v1/admin/reindex").get_json()["job"] is None  # nothing started
    assert client.post("/api/v1/admin/reindex", headers={"X-CSRFToken": csrf}).status_code == 202


def test_bearer_token_needs_no_session_and_no_csrf_token(client: FlaskClient, admin: dict[str, str]) -> None:
    assert (
        client.put("/api/v1/admin/exclusions", json={"categories": [], "tags": []}, headers=admin).status_code
        == 200
    )
    assert client.get("/admin/articles/search?q=a", headers=admin).status_code == 200
    assert session_cookie(client) is None


def test_a_wrong_bearer_token_is_refused_even_with_a_session(client: FlaskClient) -> None:
    sign_in(client)
    assert client.get("/api/v1/admin/stats", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_sign_out_ends_the_session_and_needs_its_csrf_token(client: FlaskClient) -> None:
    csrf = sign_in(client)
    assert client.post("/admin/sign-out").status_code == 403
    assert client.get("/api/v1/admin/stats").status_code == 200  # still signed in
    answer = client.post("/admin/sign-out", data={"csrf_token": csrf})
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin?reason=signed-out"
    assert client.get("/api/v1/admin/stats").status_code == 401
    assert "You have signed out." in client.get("/admin?reason=signed-out").get_data(as_text=True)


def test_signing_key_is_derived_from_the_token_so_every_worker_accepts_the_cookie(
    make_app: Callable[..., Flask],
) -> None:
    first, second, other = make_app(), make_app(), make_app(ADMIN_TOKEN="another-token")
    assert first.secret_key == second.secret_key == derived_secret_key(ADMIN_TOKEN)
    assert other.secret_key != first.secret_key
    assert ADMIN_TOKEN not in str(first.secret_key)
    client = first.test_client()
    sign_in(client)
    cookie = session_cookie(client)
    assert cookie is not None
    for app, status in [(second, 200), (other, 401)]:
        replica = app.test_client()
        replica.set_cookie(SESSION_COOKIE, cookie)
        assert replica.get("/api/v1/admin/stats").status_code == status


def test_a_configured_secret_key_is_used_and_a_new_token_still_ends_sessions(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(SECRET_KEY="configured-key")
    assert app.secret_key == "configured-key"
    client = app.test_client()
    sign_in(client)
    cookie = session_cookie(client)
    assert cookie is not None
    rotated = make_app(SECRET_KEY="configured-key", ADMIN_TOKEN="rotated-token").test_client()
    rotated.set_cookie(SESSION_COOKIE, cookie)
    assert rotated.get("/api/v1/admin/stats").status_code == 401


def test_csrf_over_https_also_wants_a_same_origin_referer(client: FlaskClient) -> None:
    https = {"base_url": "https://admin.example"}
    form = CSRF_FIELD.search(client.get("/admin", **https).get_data(as_text=True))
    assert form is not None
    data = {"token": ADMIN_TOKEN, "csrf_token": form.group(1)}
    elsewhere = {"Referer": "https://evil.example/admin"}
    assert client.post("/admin/sign-in", data=data, headers=elsewhere, **https).status_code == 403
    same = {"Referer": "https://admin.example/admin"}  # what Referrer-Policy: same-origin sends
    assert client.post("/admin/sign-in", data=data, headers=same, **https).status_code == 303


def test_link_from_another_site_reloads_once_without_touching_the_session(client: FlaskClient) -> None:
    cross_site = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    answer = client.get("/admin", headers=cross_site)
    assert answer.status_code == 200
    assert 'http-equiv="refresh" content="0; url=/admin?opened=1"' in answer.get_data(as_text=True)
    assert "Set-Cookie" not in answer.headers
    again = client.get("/admin?opened=1", headers=cross_site)  # never twice
    assert 'action="/admin/sign-in"' in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/admin?opened=1"), ("POST", "/admin/sign-in"), ("POST", "/admin/sign-out")]
)
def test_another_site_cannot_replace_the_session_cookie(client: FlaskClient, method: str, path: str) -> None:
    """A request from another site comes without the SameSite=Strict cookie even when the admin
    is signed in: its answer must not set a new one (that would sign the admin out)."""
    cross_site = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    answer = client.open(path, method=method, headers=cross_site, data={"token": "guess"})
    assert answer.status_code < 500
    assert "Set-Cookie" not in answer.headers
    same_site = client.get("/admin", headers={"Sec-Fetch-Site": "same-origin"})
    assert SESSION_COOKIE in same_site.headers.get("Set-Cookie", "")  # the form's session, as before


def test_public_answers_never_carry_the_session_cookie(seeded: Flask) -> None:
    client = seeded.test_client()
    sign_in(client)
    for path in ["/api/v1/articles/sleep-1/recommendations", "/api/v1/articles", "/healthz"]:
        assert "Set-Cookie" not in client.get(path).headers, path
    assert "Set-Cookie" not in client.post("/api/v1/articles/sleep-1/views").headers


def test_disabled_admin_says_to_set_the_token(make_app: Callable[..., Flask]) -> None:
    client = make_app(ADMIN_TOKEN=None).test_client()
    page = client.get("/admin")
    assert page.status_code == 200 and "set <code>ADMIN_TOKEN</code>" in page.get_data(as_text=True)
    assert client.post("/admin/sign-in", data={"token": "x"}).status_code == 503
    assert client.post("/admin/sign-out").status_code == 303
    assert client.get("/admin/articles/search?q=a").status_code == 503


def test_search_finds_titles_case_insensitively_best_matches_first(seeded: Flask) -> None:
    client = seeded.test_client()
    sign_in(client)
    # sleep-0 "Sleep and insomnia: sleep notes 0", sleep-1 "Insomnia and melatonin: sleep notes 1"
    found = client.get("/admin/articles/search?q=INSOMNIA").get_json()["articles"]
    assert [article["id"] for article in found] == ["sleep-1", "sleep-0"]  # the title's start first
    assert set(found[0]) == {"id", "title", "url", "published_at"}
    assert found[0]["title"] == "Insomnia and melatonin: sleep notes 1"
    notes = client.get("/admin/articles/search?q=notes").get_json()["articles"]
    assert len(notes) == 16
    published = [article["published_at"] for article in notes]
    assert published == sorted(published, reverse=True)  # equally good: newest first
    assert client.get("/admin/articles/search?q=no+such+title").get_json() == {"articles": []}


def test_search_returns_at_most_20_and_validates_its_query(
    make_app: Callable[..., Flask], admin: dict[str, str]
) -> None:
    client = make_app().test_client()
    articles = [{"id": f"guide-{n}", "title": f"Guide {n}"} for n in range(30)]
    assert client.post("/api/v1/articles", json=articles, headers=admin).status_code == 200
    assert len(client.get("/admin/articles/search?q=guide", headers=admin).get_json()["articles"]) == 20
    for query in ["", "q=", "q=%20%20", "q=" + "x" * 201]:
        answer = client.get(f"/admin/articles/search?{query}", headers=admin)
        assert answer.status_code == 400 and answer.json["error"]["details"] == {"parameter": "q"}
    assert client.get("/admin/articles/search?q=guide").status_code == 401


# == The page in a browser ====================================================================


@dataclass
class Tab:
    """A page in a fresh browser context, with what it reported as errors."""

    page: Page
    url: str
    errors: list[str] = field(default_factory=list)

    def sign_in(self, token: str) -> None:
        self.page.goto(f"{self.url}/admin")
        self.page.get_by_label("Admin token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()

    def open_dashboard(self, token: str) -> None:
        self.sign_in(token)
        expect(self.page.get_by_role("heading", name="Overview")).to_be_visible()


def send(server: Server, method: str, path: str, body: Any = None, *, agent: str = DESKTOP_CHROME) -> int:
    """One public request as a browser ``agent`` would send it; the status."""
    connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {"User-Agent": agent}
        payload = None
        if body is not None:
            payload, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn with the factory corpus, an index, views from three readers and a bot, and clicks."""
    with gunicorn(tmp_path_factory.mktemp("dashboard"), workers=2) as server:
        assert server.request("POST", "/api/v1/articles", corpus(), admin=True)[0] == 200
        for article_id, readers in VIEWS.items():
            for reader in readers:
                assert (
                    send(server, "POST", f"/api/v1/articles/{article_id}/views", agent=READERS[reader]) == 202
                )
        for _ in range(BOT_HITS):
            assert send(server, "POST", "/api/v1/articles/sleep-1/views", agent=GOOGLEBOT) == 202
        for article_id, section, target in CLICKS:
            click = {"section": section, "target": target}
            assert send(server, "POST", f"/api/v1/articles/{article_id}/clicks", click) == 202
        assert server.request("POST", "/api/v1/admin/reindex", admin=True)[0] == 202
        assert wait_for_job(server)["state"] == "succeeded"
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launched_chromium()


@pytest.fixture
def tab(browser: Browser, server: Server) -> Iterator[Tab]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="en-GB",
        timezone_id="UTC",
        user_agent=DESKTOP_CHROME,
        accept_downloads=True,
    )
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


def admin_get(server: Server, path: str) -> dict[str, Any]:
    status, body = server.request("GET", path, admin=True)
    assert status == 200, (path, body)
    return dict(body)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar at the top of the picture
    page.wait_for_timeout(300)  # let transitions settle for the picture
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def number(value: int) -> str:
    return f"{value:,}"


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_wrong_token_shows_an_error_and_the_right_one_a_strict_httponly_session(
    tab: Tab, server: Server
) -> None:
    page = tab.page
    response = page.goto(f"{tab.url}/admin")
    assert response is not None and response.status == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", name="Sign in to the dashboard")).to_be_visible()
    expect(page.get_by_label("Admin token")).to_be_focused()

    page.get_by_label("Admin token").fill("not-the-token")
    with page.expect_response(f"{tab.url}/admin/sign-in") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    expect(page.get_by_role("alert")).to_contain_text("Wrong token")
    expect(page.get_by_label("Admin token")).to_have_attribute("aria-invalid", "true")
    assert page.request.get(f"{tab.url}/api/v1/admin/reindex").status == 401  # not signed in

    page.get_by_label("Admin token").fill(server.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert page.url == f"{tab.url}/admin"
    (cookie,) = [cookie for cookie in page.context.cookies() if cookie["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["secure"] is False
    assert SESSION_COOKIE not in page.evaluate("document.cookie")
    assert server.token not in page.content()  # the page never holds the token
    # The browser logs the rejected sign-in itself; nothing else may go wrong.
    assert [error for error in tab.errors if "status of 401" not in error] == []


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_dashboard_shows_figures_charts_and_tables_with_data(tab: Tab, server: Server) -> None:
    page = tab.page
    week = admin_get(server, "/api/v1/admin/stats?window=7d&limit=20")
    trending = admin_get(server, "/api/v1/admin/stats?window=trending&limit=10")
    ctr = admin_get(server, "/api/v1/admin/ctr?days=30")
    views = sum(len(readers) for readers in VIEWS.values())
    assert week["total_views"] == views and week["bot_hits"] == BOT_HITS
    assert week["unique_visitors"] == len(READERS)
    tab.open_dashboard(server.token)

    expect(page.locator("#kpi-views")).to_have_text(number(views))
    expect(page.locator("#kpi-visitors")).to_have_text(number(week["unique_visitors"]))
    share = week["bot_hits"] / (week["bot_hits"] + views)
    expect(page.locator("#kpi-bots")).to_have_text(f"{share:.1%}")
    expect(page.locator("#kpi-clicks")).to_have_text(number(len(CLICKS)))

    chart = page.locator("#views-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(chart).to_have_attribute("data-points", str(len(week["series"])))
    expect(chart).to_have_attribute("data-total", str(views))
    expect(chart.locator(".u-legend")).to_contain_text("Visitors")

    rows = page.locator("#top-body tr")
    expect(rows).to_have_count(len(VIEWS))
    top = week["articles"][0]
    expect(rows.first).to_contain_text(top["title"])
    expect(rows.first.locator("td").nth(2)).to_have_text(number(top["views"]))
    expect(rows.first.locator("td").nth(3)).to_have_text(number(top["visitors"]))
    if trending["articles"]:
        expect(page.locator("#trending-body tr")).to_have_count(len(trending["articles"]))
    else:
        expect(page.locator("#trending-body")).to_have_text("Nothing is trending right now")

    ctr_chart = page.locator("#ctr-chart")
    expect(ctr_chart).to_have_attribute("data-points", str(len(ctr["series"])))
    related = page.locator("#ctr-body tr").first
    expect(related).to_contain_text("Related Posts")
    expect(related.locator("td").nth(1)).to_have_text(number(ctr["totals"]["related"]["clicks"]))

    index = admin_get(server, "/readyz")["index"]
    expect(page.locator("#index-version")).to_have_text(index["version"])
    expect(page.locator("#index-articles")).to_have_text(number(index["articles"]))
    ranking = re.compile(r"^TF-IDF( \+ latent 0\.\d\d)? · no embeddings$")
    expect(page.locator("#index-ranking")).to_have_text(ranking)
    expect(page.locator("#job-state")).to_have_attribute("data-state", "succeeded")
    expect(page.locator("#last-updated")).to_contain_text("Updated")
    chart.locator(".u-over").hover()  # the live legend shows the day under the pointer
    screenshot(page, "dashboard-desktop.png")

    assert tab.errors == []


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_windows_switch_and_the_page_fits_a_phone(tab: Tab, server: Server) -> None:
    page = tab.page
    week = admin_get(server, "/api/v1/admin/stats?window=7d&limit=20")
    tab.open_dashboard(server.token)
    chart = page.locator("#views-chart")
    expect(chart).to_have_attribute("data-points", str(len(week["series"])))
    with page.expect_response(lambda response: "window=all" in response.url) as answer:
        page.get_by_text("All time", exact=True).click()
    assert answer.value.status == 200
    expect(chart).to_have_attribute(
        "data-points", str(len(admin_get(server, "/api/v1/admin/stats?window=all")["series"]))
    )
    expect(page.locator("#kpi-views-note")).to_have_text("since the first recorded view")

    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_text("7 days", exact=True).click()
    expect(chart).to_have_attribute("data-points", str(len(week["series"])))
    page.wait_for_timeout(200)  # charts follow the new width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert (
        page.evaluate(
            "Math.max(...[...document.querySelectorAll('canvas')].map(c => c.getBoundingClientRect().right))"
        )
        <= 390
    )
    screenshot(page, "dashboard-phone.png")
    assert tab.errors == []


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_find_an_article_by_title_and_see_its_history(tab: Tab, server: Server) -> None:
    page = tab.page
    history = admin_get(server, "/api/v1/admin/articles/sleep-1/history?days=90")
    tab.open_dashboard(server.token)
    search = page.get_by_role("combobox", name="Find an article by title")
    search.fill("insomnia AND")  # sleep-1 "Insomnia and melatonin: sleep notes 1", in other case
    option = page.get_by_role("option", name=re.compile("Insomnia and melatonin"))
    expect(option).to_have_count(1)
    option.click()
    expect(page.locator("#history-article-title")).to_have_text("Insomnia and melatonin: sleep notes 1")
    chart = page.locator("#history-chart")
    expect(chart).to_have_attribute("data-points", str(len(history["series"])))
    expect(chart).to_have_attribute("data-total", str(len(VIEWS["sleep-1"])))
    expect(page.locator("#history-views")).to_have_text(number(len(VIEWS["sleep-1"])))
    expect(chart.locator("canvas")).to_have_count(1)
    screenshot(page, "dashboard-history.png")

    # A title in a table opens its history too, and the keyboard picks from the list.
    page.locator("#top-body tr").nth(1).get_by_role("button").click()
    expect(page.locator("#history-article-id")).to_have_text("running-2")
    search.fill("sleep notes")
    expect(page.get_by_role("option")).to_have_count(4)
    search.press("ArrowDown")
    search.press("Enter")
    expect(page.locator("#history-article-id")).to_have_text(re.compile(r"^sleep-\d$"))
    assert tab.errors == []


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_export_top_articles_as_csv(tab: Tab, server: Server, tmp_path: Path) -> None:
    page = tab.page
    week = admin_get(server, "/api/v1/admin/stats?window=7d&limit=20")
    tab.open_dashboard(server.token)
    expect(page.locator("#top-body tr")).to_have_count(len(VIEWS))
    with page.expect_download() as download:
        page.get_by_role("button", name="CSV of top articles").click()
    assert re.fullmatch(r"top-articles-7d-\d{4}-\d{2}-\d{2}\.csv", download.value.suggested_filename)
    saved = tmp_path / "top.csv"
    download.value.save_as(saved)
    rows = list(csv.reader(saved.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == ["rank", "id", "title", "views", "visitors"]
    first = week["articles"][0]
    assert rows[1] == ["1", first["id"], first["title"], str(first["views"]), str(first["visitors"])]
    assert len(rows) == 1 + len(VIEWS)
    assert tab.errors == []


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_rebuild_shows_the_jobs_progress_until_the_new_index_serves(tab: Tab, server: Server) -> None:
    page = tab.page
    old_version = admin_get(server, "/readyz")["index"]["version"]
    tab.open_dashboard(server.token)
    expect(page.locator("#index-version")).to_have_text(old_version)

    with page.expect_request(lambda request: request.method == "POST") as posted:
        page.get_by_role("button", name="Rebuild index").click()
    assert posted.value.headers["x-csrftoken"]  # the session's token, not the admin token
    assert "authorization" not in posted.value.headers
    expect(page.get_by_role("button", name="Rebuilding…")).to_be_disabled()
    expect(page.locator("#status")).to_contain_text("Index rebuilt", timeout=30_000)
    job = admin_get(server, "/api/v1/admin/reindex")["job"]
    assert job["state"] == "succeeded" and job["index_version"] != old_version
    expect(page.locator("#job-state")).to_have_attribute("data-state", "succeeded")
    expect(page.locator("#job-version")).to_have_text(job["index_version"])
    expect(page.locator("#index-version")).to_have_text(job["index_version"])
    expect(page.locator("#job-steps li.is-done")).to_have_count(4)
    expect(page.locator("#job-progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_role("button", name="Rebuild index")).to_be_enabled()
    assert tab.errors == []


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_sign_out_returns_to_the_form_and_ends_the_session(tab: Tab, server: Server) -> None:
    page = tab.page
    tab.open_dashboard(server.token)
    assert page.request.get(f"{tab.url}/api/v1/admin/reindex").status == 200
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to the dashboard")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    assert page.request.get(f"{tab.url}/api/v1/admin/reindex").status == 401
    # Without a CSRF token, a session's POST is refused (a form of another site could send one).
    tab.open_dashboard(server.token)
    assert page.request.post(f"{tab.url}/api/v1/admin/reindex").status == 403
    assert tab.errors == []


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_a_link_from_another_site_opens_the_dashboard_signed_in(tab: Tab, server: Server) -> None:
    page = tab.page
    tab.open_dashboard(server.token)
    elsewhere = f"http://localhost:{server.port}/elsewhere"  # another site than 127.0.0.1

    def link_page(route: Route) -> None:
        route.fulfill(content_type="text/html", body=f'<a href="{tab.url}/admin">Dashboard</a>')

    page.route(elsewhere, link_page)
    page.goto(elsewhere)
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert page.url == f"{tab.url}/admin?opened=1"
    assert tab.errors == []


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_an_ended_session_sends_the_page_back_to_the_sign_in_form(tab: Tab, server: Server) -> None:
    page = tab.page
    tab.open_dashboard(server.token)
    page.wait_for_load_state("networkidle")  # the first answers are in
    page.context.clear_cookies()
    page.get_by_role("button", name="Refresh now").click()
    expect(page.get_by_role("status")).to_have_text("Your session has ended. Sign in again to continue.")
    expect(page.get_by_label("Admin token")).to_be_visible()


# -- the page against answers of known shapes (routed), so that it is checked whatever the data --


def days(count: int) -> list[str]:
    end = datetime.now(UTC).date()
    return [(end - timedelta(days=count - 1 - n)).isoformat() for n in range(count)]


def block(clicks: int, views: int) -> dict[str, Any]:
    return {"clicks": clicks, "rate": clicks / views if views else None}


def mocked_answers(page: Page, *, missing: bool = False) -> None:
    """Answer the admin API from made-up figures (or as a server without the newest endpoints)."""
    week = days(8)
    stats = {
        "window": "7d",
        "total_views": 1240,
        "unique_visitors": 860,
        "bot_hits": 310,
        "articles": [
            {
                "id": "sleep-1",
                "title": "Insomnia and melatonin: sleep notes 1",
                "views": 700,
                "visitors": 480,
            },
            {
                "id": "running-2",
                "title": '=HYPERLINK("x"), a title with a comma',
                "views": 540,
                "visitors": 380,
            },
        ],
        "series": [
            {"date": day, "views": 100 + 20 * n, "visitors": 70 + 12 * n} for n, day in enumerate(week)
        ],
        "clicks": {"related": 93, "latest": 21, "popular": 12},
    }
    stats["series"][-1]["views"] = 1240 - sum(point["views"] for point in stats["series"][:-1])
    trending = {
        "window": "trending",
        "total_views": 90,
        "articles": [
            {"id": "running-2", "title": "Running up hills", "views": 90, "visitors": 70, "score": 4.25}
        ],
        "series": [],
        "clicks": {"related": 0, "latest": 0, "popular": 0},
    }
    month = days(30)
    ctr = {
        "days": 30,
        "series": [
            {
                "date": day,
                "views": 40 + n,
                "related": block(4 + n % 5, 40 + n),
                "latest": block(1 + n % 3, 40 + n),
                "popular": block(n % 2, 40 + n),
            }
            for n, day in enumerate(month)
        ],
        "totals": {"related": block(180, 1635), "latest": block(60, 1635), "popular": block(15, 1635)},
    }
    history = {
        "article": {
            "id": "sleep-1",
            "title": "Insomnia and melatonin: sleep notes 1",
            "url": None,
            "published_at": None,
        },
        "series": [
            {"date": day, "views": n % 7, "visitors": n % 5, "clicks": n % 3}
            for n, day in enumerate(days(90))
        ],
    }
    not_found = {"status": 404, "json": {"error": {"code": "not_found", "message": "Not found."}}}

    def admin_api(route: Route) -> None:
        url = route.request.url
        if "/stats?" in url and "window=trending" in url:
            if missing:
                route.fulfill(
                    status=400,
                    json={"error": {"code": "invalid_parameter", "message": "window", "details": {}}},
                )
            else:
                route.fulfill(json=trending)
        elif "/stats?" in url:
            old = ("unique_visitors", "bot_hits") if missing else ()
            route.fulfill(json={key: value for key, value in stats.items() if key not in old})
        elif "/ctr?" in url or "/history?" in url:
            if missing:
                route.fulfill(**not_found)
            else:
                route.fulfill(json=ctr if "/ctr?" in url else history)
        else:
            route.fallback()

    page.route(re.compile(r"/api/v1/admin/(stats|ctr|articles/[^/]+/history)\?"), admin_api)


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_figures_and_exports_of_every_table_from_known_answers(
    tab: Tab, server: Server, tmp_path: Path
) -> None:
    page = tab.page
    mocked_answers(page)
    tab.open_dashboard(server.token)
    expect(page.locator("#kpi-views")).to_have_text("1,240")
    expect(page.locator("#kpi-visitors")).to_have_text("860")
    expect(page.locator("#kpi-visitors-note")).to_have_text("1.44 views per visitor")
    expect(page.locator("#kpi-bots")).to_have_text("20%")  # 310 / (1240 + 310)
    expect(page.locator("#kpi-clicks")).to_have_text("126")
    expect(page.locator("#trending-body tr")).to_have_count(1)
    expect(page.locator("#trending-body")).to_contain_text("4.25")
    expect(page.locator("#ctr-chart")).to_have_attribute("data-points", "30")
    expect(page.locator("#ctr-body tr").first).to_contain_text("11%")  # 180 / 1635
    page.get_by_role("combobox", name="Find an article by title").fill("insomnia")
    page.get_by_role("option").first.click()
    expect(page.locator("#history-chart")).to_have_attribute("data-points", "90")

    def export(label: str) -> list[list[str]]:
        with page.expect_download() as download:
            page.get_by_role("button", name=f"CSV of {label}").click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        return list(csv.reader(saved.read_text(encoding="utf-8-sig").splitlines()))

    top = export("top articles")
    assert top[2] == [
        "2",
        "running-2",
        '\'=HYPERLINK("x"), a title with a comma',
        "540",
        "380",
    ]  # not a formula
    assert export("trending articles") == [
        ["rank", "id", "title", "views", "score"],
        ["1", "running-2", "Running up hills", "90", "4.25"],
    ]
    ctr = export("click-through rates")
    assert ctr[0] == [
        "date",
        "views",
        "related_clicks",
        "related_rate",
        "latest_clicks",
        "latest_rate",
        "popular_clicks",
        "popular_rate",
    ]
    assert len(ctr) == 31
    series = export("views per day")
    assert series[0] == ["date", "views", "visitors"] and len(series) == 9
    history = export("the article's history")
    assert history[0] == ["date", "views", "visitors", "clicks"] and len(history) == 91
    assert tab.errors == []


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_a_server_without_the_newest_endpoints_still_shows_the_rest(tab: Tab, server: Server) -> None:
    page = tab.page
    mocked_answers(page, missing=True)
    tab.open_dashboard(server.token)
    expect(page.locator("#kpi-views")).to_have_text("1,240")
    expect(page.locator("#kpi-visitors")).to_have_text("—")
    expect(page.locator("#kpi-bots-note")).to_have_text("Not counted by this server yet")
    expect(page.locator("#trending-body")).to_have_text("Trending is not available on this server yet.")
    expect(page.locator("#ctr-chart")).to_have_text(
        "Click-through rates are not available on this server yet."
    )
    expect(page.get_by_role("button", name="CSV of click-through rates")).to_be_disabled()
    page.locator("#top-body tr").first.get_by_role("button").click()
    expect(page.locator("#history-chart")).to_have_text(
        "Article history is not available on this server yet."
    )
    expect(page.locator("#status")).to_have_text("")  # no error message for what is not there
    assert [error for error in tab.errors if "status of 40" not in error] == []


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_empty_window_says_so(tab: Tab, server: Server) -> None:
    series = [{"date": day, "views": 0, "visitors": 0} for day in days(3)]
    empty = {
        "window": "7d",
        "total_views": 0,
        "unique_visitors": 0,
        "bot_hits": 0,
        "articles": [],
        "series": series,
        "clicks": {"related": 0, "latest": 0, "popular": 0},
    }
    tab.page.route(re.compile(r"/api/v1/admin/stats\?"), lambda route: route.fulfill(json=empty))
    tab.open_dashboard(server.token)
    expect(tab.page.locator("#top-body")).to_have_text("No views in this window yet")
    expect(tab.page.locator("#views-chart")).to_contain_text("No views in this window yet")
    expect(tab.page.locator("#views-chart")).to_have_attribute("data-points", "3")
    expect(tab.page.locator("#kpi-bots")).to_have_text("—")
    expect(tab.page.get_by_role("button", name="CSV of top articles")).to_be_disabled()


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_a_day_is_labelled_once_and_a_long_title_keeps_its_row_short(tab: Tab, server: Server) -> None:
    page = tab.page
    status, stored = server.request("GET", "/api/v1/articles/baking-0")
    assert status == 200
    long_title = " ".join(["Sourdough"] * 100)  # 999 characters
    assert (
        server.request("PUT", "/api/v1/articles/baking-0", {**stored, "title": long_title}, admin=True)[0]
        == 200
    )
    try:
        tab.open_dashboard(server.token)
        chart = page.locator("#views-chart")
        with page.expect_response(lambda response: "window=24h" in response.url):
            page.get_by_text("24 hours", exact=True).click()
        expect(chart).to_have_attribute("data-points", re.compile(r"^[12]$"))  # one or two days
        labels = str(chart.get_attribute("data-day-labels")).split("|")
        assert labels and len(labels) == len(set(labels)), labels
        row = page.locator("#top-body tr", has_text="Sourdough Sourdough")
        expect(row).to_have_count(1)
        assert row.bounding_box()["height"] < 120  # type: ignore[index]  # three lines, not thirty
        assert tab.errors == []
    finally:
        server.request("PUT", "/api/v1/articles/baking-0", stored, admin=True)


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_the_history_shown_follows_a_refresh_to_the_article_deleted(tab: Tab, server: Server) -> None:
    page = tab.page
    ferry = {**article("garden", 30), "id": "ferry-timetable", "title": "Harbour ferry timetable"}
    assert server.request("PUT", "/api/v1/articles/ferry-timetable", ferry, admin=True)[0] == 201
    tab.open_dashboard(server.token)
    page.get_by_role("combobox", name="Find an article by title").fill("harbour ferry")
    page.get_by_role("option", name=re.compile("Harbour ferry timetable")).click()
    expect(page.locator("#history-article-id")).to_have_text("ferry-timetable")
    assert server.request("DELETE", "/api/v1/articles/ferry-timetable", admin=True)[0] == 204
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator("#history-chart")).to_contain_text("This article no longer exists.")
    assert [error for error in tab.errors if "status of 404" not in error] == []
