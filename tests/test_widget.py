"""The embeddable widget (/widget.js) and the demo article page (/demo/<id>): Flask's test client
for the routes, and a real headless Chromium against a real gunicorn for the widget itself."""

from __future__ import annotations

import gzip
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Request, Route, expect

from service.store import Store
from service.widget import STATIC_DIR, Block, Span, body_blocks
from tests.chromium import DESKTOP_CHROME, launched_chromium
from tests.factories import article, corpus
from tests.server import Server, free_port, gunicorn, wait_for_job

WIDGET = STATIC_DIR / "widget.js"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "/tmp/related-artifacts"))
XSS_TITLE = "<img src=x onerror=alert(1)>"
XSS_BODY = "<script>alert(2)</script><p>Plain words about &lt;b&gt;bold&lt;/b&gt; tags.</p>"
# Views seeded so that every article page has a Popular block.
VIEWS = {"sleep-1": 4, "running-2": 3, "baking-0": 2, "garden-3": 1}
TITLES = {record["id"]: record["title"] for record in corpus()}
BODIES = {record["id"]: record["body"].removeprefix("<p>").removesuffix("</p>") for record in corpus()}


def browser_test(test: Callable[..., None]) -> Callable[..., None]:
    """A test that drives Chromium against the module's gunicorn (slow, one xdist worker)."""
    return pytest.mark.slow(pytest.mark.xdist_group("gunicorn")(test))


# -- the routes, through Flask's test client ---------------------------------------------------


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """These tests are about pages, not stores: SQLite only."""
    return sqlite_url


def test_root_redirects_to_the_demo_article(client: FlaskClient, make_app: Callable[..., Flask]) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/demo/kratom-withdrawal-restless-legs"
    other = make_app(DEMO_ARTICLE="sleep-1").test_client().get("/")
    assert other.headers["Location"] == "/demo/sleep-1"


def test_unknown_article_is_an_html_404(client: FlaskClient) -> None:
    response = client.get("/demo/no-such-article")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "We couldn’t find that article" in page
    assert "<script" not in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_demo_page_shows_the_article_with_the_widget_and_no_inline_script(
    seeded: Flask, client: FlaskClient
) -> None:
    response = client.get("/demo/sleep-1")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'<h1 class="post-title">{TITLES["sleep-1"]}</h1>' in page
    assert '<time datetime="2025-01-13T09:00:00Z">January 13, 2025</time>' in page
    assert '<li class="tag">sleep</li>' in page
    assert '<div class="more-blocks" data-related-posts="sleep-1" data-href="/demo/{id}"></div>' in page
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/widget.js" async>']
    headers = response.headers
    assert "script-src 'self';" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    with client.get("/demo/static/demo.css") as stylesheet:
        assert stylesheet.status_code == 200 and stylesheet.mimetype == "text/css"


def test_demo_page_escapes_markup_in_title_body_and_tags(client: FlaskClient, admin: dict[str, str]) -> None:
    record = article("sleep", 9, title=XSS_TITLE, body=XSS_BODY, tags=["<b>tag</b>"], category="<i>c</i>")
    assert client.put("/api/v1/articles/sleep-9", json=record, headers=admin).status_code == 201
    page = client.get("/demo/sleep-9").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<p>Plain words about &lt;b&gt;bold&lt;/b&gt; tags.</p>" in page
    assert "&lt;b&gt;tag&lt;/b&gt;" in page and "&lt;i&gt;c&lt;/i&gt;" in page
    assert "<img" not in page and "alert(2)" not in page and "<b>" not in page and "<i>" not in page


def test_demo_page_shows_markdown_links_as_links_and_their_text_escaped(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    body = 'See [iron & "ferritin"](https://example.com/iron?a=1&b=2) or [1 < 2](javascript:alert(1)).'
    record = article("sleep", 9, body=body)
    assert client.put("/api/v1/articles/sleep-9", json=record, headers=admin).status_code == 201
    page = client.get("/demo/sleep-9").get_data(as_text=True)
    assert '<a href="https://example.com/iron?a=1&amp;b=2">iron &amp; &#34;ferritin&#34;</a>' in page
    assert "[1 &lt; 2](javascript:alert(1))" in page  # not a link: text, escaped
    assert 'href="javascript' not in page


@pytest.mark.parametrize(
    ("body", "blocks"),
    [
        (
            "One line\nwraps on.\n\nTwo.",
            [Block("p", ((Span("One line wraps on."),),)), Block("p", ((Span("Two."),),))],
        ),
        (
            "## Why\n- **Walk:** daily\n- *rest*\n\n1. first\n2. second",
            [
                Block("h", ((Span("Why"),),), level=2),
                Block("ul", ((Span("Walk:", "strong"), Span(" daily")), (Span("rest", "em"),))),
                Block("ol", ((Span("first"),), (Span("second"),))),
            ],
        ),
        ("Salt < 5 g & 2 * 3 * 4", [Block("p", ((Span("Salt < 5 g & 2 * 3 * 4"),),))]),
        (
            "See [the *iron* guide](https://example.com/iron) and [ours](/kb/1), not"
            " [this](javascript:alert(1)) or [that](//evil.example).",
            [
                Block(
                    "p",
                    (
                        (
                            Span("See "),
                            Span("the *iron* guide", "a", "https://example.com/iron"),
                            Span(" and "),
                            Span("ours", "a", "/kb/1"),
                            Span(", not [this](javascript:alert(1)) or [that](//evil.example)."),
                        ),
                    ),
                )
            ],
        ),
        (
            "<h2>Title</h2><p>a <b>b</b>\nc</p><script>x()</script><ul><li>one</li><li>two</li></ul>",
            [Block("p", ((Span(text),),)) for text in ("Title", "a b c", "one", "two")],
        ),
        ("", []),
    ],
    ids=["paragraphs", "light-markdown", "text-with-symbols", "links", "html-as-text", "empty"],
)
def test_body_becomes_blocks_of_text(body: str, blocks: list[Block]) -> None:
    assert body_blocks(body) == blocks


def test_widget_script_is_javascript_cached_and_revalidated(client: FlaskClient) -> None:
    with client.get("/widget.js") as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/javascript; charset=utf-8"
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert response.get_data() == WIDGET.read_bytes()
        etag = response.headers["ETag"]
    with client.get("/widget.js", headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304
        assert again.headers["ETag"] == etag and again.get_data() == b""
    with client.get("/widget.js", headers={"If-None-Match": '"other"'}) as changed:
        assert changed.status_code == 200
    with client.get("/widget.js", headers={"Accept-Encoding": "gzip"}) as compressed:
        assert compressed.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(compressed.get_data()) == WIDGET.read_bytes()


def test_widget_is_under_6_kb_gzipped() -> None:
    size = len(gzip.compress(WIDGET.read_bytes(), compresslevel=9))
    assert size < 6144, f"widget.js is {size} bytes gzipped"


def test_widget_builds_no_markup_from_strings() -> None:
    source = WIDGET.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("):
        assert sink not in source


# -- the widget in Chromium, against gunicorn ---------------------------------------------------


@dataclass
class Site:
    server: Server
    store: Store  # the server's database, read directly for what the API does not show

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


@dataclass
class OtherSite:
    """Another origin (a loopback port of its own) whose pages embed the widget."""

    url: str
    pages: dict[str, str]

    def page(self, path: str, html: str) -> str:
        self.pages[path] = html
        return f"{self.url}{path}"


@dataclass
class Tab:
    """A page in a fresh browser context, with what it reported."""

    page: Page
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def sent(self, tail: str) -> list[Request]:
        return [request for request in self.requests if request.url.split("?")[0].endswith(tail)]


@pytest.fixture(scope="module")
def other_site() -> Iterator[OtherSite]:
    """A plain HTTP server for another site's pages, on 127.0.0.1 like the service (a page of
    a public origin may not reach a loopback service at all: Chromium's local network access)."""
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            html = pages.get(self.path)
            body = (html if html is not None else "Not found").encode()
            self.send_response(200 if html is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield OtherSite(f"http://127.0.0.1:{server.server_address[1]}", pages)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, other_site: OtherSite) -> Iterator[Site]:
    """gunicorn with the factory corpus, an index and a few views; the other site may call it."""
    folder = tmp_path_factory.mktemp("widget")
    with gunicorn(folder, workers=2, env={"CORS_ORIGINS": other_site.url}) as server:
        assert server.request("POST", "/api/v1/articles", corpus(), admin=True)[0] == 200
        for article_id, count in VIEWS.items():
            for _ in range(count):
                assert server.request("POST", f"/api/v1/articles/{article_id}/views")[0] == 202
        assert server.request("POST", "/api/v1/admin/reindex", admin=True)[0] == 202
        assert wait_for_job(server)["state"] == "succeeded"
        store = Store.from_url(f"sqlite:///{folder / 'server.db'}")
        try:
            yield Site(server, store)
        finally:
            store.engine.dispose()


def embedding_page(body: str, script_src: str, *, scripts: int = 1) -> str:
    """Another site's article page: ``body`` and the widget's script tag (``scripts`` times)."""
    tags = f'<script src="{script_src}" async></script>' * scripts
    return (
        '<!doctype html><html lang="en-US"><head><meta charset="utf-8"><title>A site</title>'
        '<link rel="icon" href="data:,"></head>'
        f"<body>{body}{tags}</body></html>"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launched_chromium()


@pytest.fixture
def tab(browser: Browser, site: Site) -> Iterator[Tab]:
    # Headless Chromium's own User-Agent says HeadlessChrome: a bot, whose views are not counted.
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="UTC", user_agent=DESKTOP_CHROME
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    tab = Tab(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            tab.errors.append(message.text)

    def on_request(request: Request) -> None:  # (a bound method is no Playwright handler)
        tab.requests.append(request)

    def on_dialog(dialog: Dialog) -> None:
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    page.on("dialog", on_dialog)
    page.on("request", on_request)
    yield tab
    context.close()


def views(site: Site, article_id: str) -> int:
    status, body = site.server.request("GET", "/api/v1/admin/stats?window=24h&limit=100", admin=True)
    assert status == 200
    return sum(entry["views"] for entry in body["articles"] if entry["id"] == article_id)


def link_target(page: Page, link: Any) -> str:
    """The article id a block's link leads to, read from its href (``/demo/{id}``)."""
    path = page.evaluate("(href) => new URL(href).pathname", link.get_attribute("href"))
    match = re.fullmatch(r"/demo/([^/]+)", path)
    assert match, f"{path} is not a demo article page"
    return match.group(1)


def wait_until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@browser_test
def test_demo_page_shows_the_article_and_three_blocks_with_working_links(tab: Tab, site: Site) -> None:
    page = tab.page
    response = page.goto(f"{site.url}/demo/sleep-1")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLES["sleep-1"])
    expect(page.locator(".post-body")).to_have_text(BODIES["sleep-1"])
    container = page.locator("[data-related-posts]")
    expect(container).to_have_class(re.compile(r"\brp-ready\b"))
    blocks = container.locator(".rp-blocks > .rp-block")
    expect(blocks).to_have_count(3)
    assert [blocks.nth(i).get_attribute("data-section") for i in range(3)] == ["related", "latest", "popular"]
    expect(blocks.locator(".rp-heading")).to_have_text(["Related Posts", "Latest Posts", "Popular Posts"])
    assert page.locator("style#rp-style").count() == 1

    links = container.locator(".rp-link")
    assert links.count() >= 10
    for index in range(links.count()):
        link = links.nth(index)
        target = link_target(page, link)
        assert target != "sleep-1" and target in TITLES
        assert link.get_attribute("data-target") == target
        expect(link).to_have_text(TITLES[target])
    dates = container.locator(".rp-item time.rp-date")
    assert dates.count() == links.count()
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", dates.first.inner_text())

    first = container.locator(".rp-block--related .rp-link").first
    target = link_target(page, first)
    first.click()
    expect(page).to_have_url(f"{site.url}/demo/{target}")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLES[target])
    expect(page.locator("[data-related-posts].rp-ready .rp-block")).not_to_have_count(0)
    assert tab.errors == []


@browser_test
def test_a_page_view_sends_one_view_beacon(tab: Tab, site: Site) -> None:
    page, url = tab.page, f"{site.url}/demo/garden-2"
    before = views(site, "garden-2")
    for load in (1, 2):
        with page.expect_response(lambda response: response.url.endswith("/garden-2/views")) as beacon:
            if load == 1:
                page.goto(url)
            else:
                page.reload()
        assert beacon.value.status == 202 and beacon.value.request.method == "POST"
        expect(page.locator("[data-related-posts]")).to_have_class(re.compile(r"\brp-ready\b"))
        page.wait_for_timeout(300)  # room for a second beacon, if there were one
        assert len(tab.sent("/garden-2/views")) == load
        assert views(site, "garden-2") == before + load
    assert tab.errors == []


@browser_test
def test_a_reload_shows_popular_posts_as_they_are_now(tab: Tab, site: Site) -> None:
    """Other readers' views are in the next page's Popular Posts (the contract lets popular lag 2 s):
    the browser keeps the answer but asks again (a week-old copy of a list is no answer)."""
    page = tab.page
    page.goto(f"{site.url}/demo/garden-0")
    popular = page.locator("[data-related-posts].rp-ready .rp-block--popular .rp-link")
    expect(popular.first).to_be_visible()
    assert link_target(page, popular.first) != "baking-3"
    for _ in range(25):  # more than any article has
        assert site.server.request("POST", "/api/v1/articles/baking-3/views")[0] == 202
    page.wait_for_timeout(2_100)
    page.reload()
    expect(popular.first).to_have_attribute("data-target", "baking-3")
    assert tab.errors == []


@browser_test
def test_on_another_site_two_blocks_and_the_script_twice_count_one_view(
    tab: Tab, site: Site, other_site: OtherSite
) -> None:
    page = tab.page
    before = views(site, "garden-1")
    url = other_site.page(
        "/twice.html",
        embedding_page(
            '<h1>Twice</h1><div id="top" data-related-posts="garden-1" data-sections="related"'
            ' data-limit="2"></div><div id="bottom" data-related-posts="garden-1"'
            ' data-sections="latest,popular" data-window="all"'
            ' data-headings="latest:New on the blog|popular:Most: read"></div>',
            f"{site.url}/widget.js",
            scripts=2,
        ),
    )
    page.goto(url)
    expect(page.locator("#top.rp-ready .rp-block")).to_have_count(1)
    expect(page.locator("#top .rp-item")).to_have_count(2)
    expect(page.locator("#bottom.rp-ready .rp-heading")).to_have_text(["New on the blog", "Most: read"])
    # Without data-href, the links are the articles' own URLs.
    assert page.locator("#top .rp-link").first.get_attribute("href").startswith("https://example.com/")
    assert page.locator("style#rp-style").count() == 1
    page.wait_for_timeout(500)
    assert len(tab.sent("/garden-1/views")) == 1
    assert len(tab.sent("/garden-1/recommendations")) == 2
    wait_until(lambda: views(site, "garden-1") == before + 1)
    assert tab.errors == []


@browser_test
def test_a_click_on_a_related_link_is_recorded(tab: Tab, site: Site) -> None:
    page = tab.page
    page.goto(f"{site.url}/demo/baking-1")
    link = page.locator("[data-related-posts].rp-ready .rp-block--related .rp-link").first
    target = link_target(page, link)
    assert site.store.clicks.counts("baking-1") == []
    with page.expect_request(lambda request: request.url.endswith("/baking-1/clicks")) as click:
        link.click()
    assert click.value.method == "POST"
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLES[target])  # navigation went on
    wait_until(lambda: bool(site.store.clicks.counts("baking-1")))
    counts = site.store.clicks.counts("baking-1")
    assert [(count.section, count.target_id, count.clicks) for count in counts] == [("related", target, 1)]
    assert tab.errors == []


@browser_test
def test_when_the_index_is_not_ready_the_other_blocks_still_show(tab: Tab, site: Site) -> None:
    """A server that could not load its index answers 503 for related: the widget asks again
    for the other sections."""
    page = tab.page
    not_ready = {"error": {"code": "index_not_ready", "message": "The published index could not be loaded."}}

    def refuse_related(route: Any) -> None:
        if "related" in route.request.url.split("sections=", 1)[1].split("&", 1)[0]:
            route.fulfill(status=503, json=not_ready, headers={"Retry-After": "30"})
        else:
            route.continue_()

    page.route(re.compile(r"/recommendations\?"), refuse_related)
    page.goto(f"{site.url}/demo/sleep-1")
    container = page.locator("[data-related-posts]")
    expect(container).to_have_class(re.compile(r"\brp-ready\b"))
    blocks = container.locator(".rp-blocks > .rp-block")
    expect(blocks).to_have_count(2)
    assert [blocks.nth(i).get_attribute("data-section") for i in range(2)] == ["latest", "popular"]
    sent = tab.sent("/sleep-1/recommendations")
    assert [request.url.split("sections=", 1)[1].split("&", 1)[0] for request in sent] == [
        "related,latest,popular",
        "latest,popular",
    ]
    # The browser itself logs the 503; the widget raises and logs nothing.
    assert tab.errors == [
        "Failed to load resource: the server responded with a status of 503 (Service Unavailable)"
    ]


@browser_test
def test_markup_in_a_title_is_shown_as_text_everywhere(tab: Tab, site: Site) -> None:
    newest = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    record = article("running", 8, title=XSS_TITLE, body=XSS_BODY, published_at=newest)
    assert site.server.request("PUT", "/api/v1/articles/running-8", record, admin=True)[0] == 201
    page = tab.page
    page.goto(f"{site.url}/demo/baking-2")  # the newest article is in another topic's lists
    link = page.locator('[data-related-posts] .rp-link[data-target="running-8"]')
    expect(link).to_have_text(XSS_TITLE)
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(XSS_TITLE)
    expect(page.locator(".post-body")).to_have_text("Plain words about <b>bold</b> tags.")
    assert XSS_TITLE in page.title()
    expect(page.locator("[data-related-posts].rp-ready")).to_have_count(1)
    page.wait_for_timeout(300)
    assert page.evaluate("document.querySelectorAll('img, .post-body *').length") == 1  # the <p>
    scripts = page.evaluate("[...document.scripts].map((script) => new URL(script.src).pathname)")
    assert scripts == ["/widget.js"]
    assert tab.dialogs == []
    assert tab.errors == []


@browser_test
def test_a_right_to_left_or_very_long_title_stays_within_its_item(tab: Tab, site: Site) -> None:
    """An unclosed right-to-left override in a title does not carry the date after it to its
    left, and a title of 1,000 characters takes four lines, not a screen (its whole text stays
    the link's)."""
    newest = datetime.now(UTC) - timedelta(minutes=30)
    titles = {"garden-8": "\u202eReversed until the end", "garden-9": "Long " + "word " * 199}
    for number, (article_id, title) in enumerate(titles.items()):
        record = article(
            "garden", 8 + number, title=title, published_at=(newest - timedelta(minutes=number)).isoformat()
        )
        assert site.server.request("PUT", f"/api/v1/articles/{article_id}", record, admin=True)[0] == 201
    page = tab.page
    for source in ("widget", "fragment"):  # (an article is in one of the blocks: any of them)
        if source == "widget":
            page.goto(f"{site.url}/demo/baking-2")
            items = page.locator("[data-related-posts].rp-ready .rp-item")
        else:
            page.goto(f"{site.url}/api/v1/articles/baking-2/recommendations.html")
            items = page.locator(".rp-item")
        reversed_item = items.filter(has=page.locator('[data-target="garden-8"]'))
        link, date = reversed_item.locator(".rp-link"), reversed_item.locator("time.rp-date")
        assert link.get_attribute("dir") == "auto"
        title_box, date_box = link.bounding_box(), date.bounding_box()
        assert title_box and date_box
        if source == "widget":  # the date under the title
            assert date_box["y"] >= title_box["y"] + title_box["height"] - 1
        else:  # unstyled, on the title's line: after it, not turned to its left
            assert date_box["x"] >= title_box["x"] + title_box["width"] - 1, (title_box, date_box)
    page.goto(f"{site.url}/demo/baking-2")
    long_link = page.locator(
        '[data-related-posts].rp-ready .rp-block--latest .rp-link[data-target="garden-9"]'
    )
    expect(long_link).to_have_text(titles["garden-9"].strip())
    box, line = (
        long_link.bounding_box(),
        page.evaluate("(l) => parseFloat(getComputedStyle(l).lineHeight)", long_link.element_handle()),
    )
    assert box and box["height"] <= 4 * line + 1, (box, line)
    assert tab.errors == []


def mock_item(article_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": article_id, "title": f"Title of {article_id}", "url": None, "published_at": None, **fields}


@browser_test
def test_options_order_links_and_unsafe_urls(tab: Tab, site: Site) -> None:
    answer = {
        "article": {"id": "mock", "title": "Mock", "url": None},
        "related": [
            mock_item("js", url="javascript:alert(3)", title=XSS_TITLE),
            mock_item("js-upper", url=" JAVASCRIPT:alert(4)"),
            mock_item("data", url="data:text/html,<script>alert(5)</script>"),
            mock_item("no-url"),
        ],
        "latest": [],
        "popular": [
            mock_item("web", url="https://example.org/a?b=1", published_at="2025-03-03T10:00:00Z", views=3),
            mock_item("path", url="/articles/path", published_at="not a date", views=2),
        ],
        "index": None,
    }
    page = tab.page
    asked: list[str] = []

    def recommendations(route: Route) -> None:
        asked.append(route.request.url)
        route.fulfill(json=answer)

    page.route(re.compile(r"/api/v1/articles/mock%20id/recommendations\?"), recommendations)
    html = (
        '<!doctype html><html lang="en-US"><body><div id="blocks" data-related-posts="mock id" data-limit="3"'
        ' data-sections="popular, related,latest,bogus" data-window="30d" data-beacon="false"></div>'
        f'<script src="{site.url}/widget.js"></script></body></html>'
    )
    page.route(f"{site.url}/site/mock.html", lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(f"{site.url}/site/mock.html")
    blocks = page.locator("#blocks.rp-ready .rp-block")
    expect(blocks).to_have_count(2)  # an empty list makes no block
    query = "limit=3&sections=popular,related,latest&window=30d"
    assert asked == [f"{site.url}/api/v1/articles/mock%20id/recommendations?{query}"]
    assert [blocks.nth(i).get_attribute("data-section") for i in range(2)] == ["popular", "related"]

    popular = page.locator(".rp-block--popular .rp-item")
    expect(popular.locator("a.rp-link")).to_have_count(2)
    assert popular.nth(0).locator("a").get_attribute("href") == "https://example.org/a?b=1"
    assert popular.nth(1).locator("a").get_attribute("href") == f"{site.url}/articles/path"
    expect(popular.nth(0).locator("time.rp-date")).to_have_text("Mar 3, 2025")
    assert popular.nth(0).locator("time").get_attribute("datetime") == "2025-03-03T10:00:00Z"
    expect(popular.nth(1).locator("time")).to_have_count(0)  # an unreadable date is left out

    related = page.locator(".rp-block--related .rp-item")
    expect(related).to_have_count(3)  # at most data-limit, even if the answer holds more
    expect(related.locator("a")).to_have_count(0)  # javascript: and data: targets are not links
    expect(related.locator("span.rp-link")).to_have_text([XSS_TITLE, "Title of js-upper", "Title of data"])
    related.first.locator("span").click()
    page.wait_for_timeout(300)
    assert tab.sent("/views") == [] and tab.sent("/clicks") == []  # no beacon; a text is no link
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert tab.dialogs == []
    assert tab.errors == []


SITE_CONTENT = """
  <h1>The site's own article</h1>
  <p>Text that must show whatever the service does.</p>
  <div id="blocks" data-related-posts="sleep-1" data-timeout="800"><p id="fallback">Loading…</p></div>
  <button id="counter" type="button">0</button>
  <script>
    document.getElementById("counter").addEventListener("click", function (event) {
      event.target.textContent = String(Number(event.target.textContent) + 1);
    });
    setTimeout(function () { window.siteTimerRan = true; }, 1200);
  </script>
"""


@browser_test
@pytest.mark.parametrize("failure", ["down", "slow"])
def test_site_keeps_working_when_the_service_is_down_or_slow(
    tab: Tab, site: Site, other_site: OtherSite, failure: str
) -> None:
    page = tab.page
    if failure == "down":  # the script loads (from a cache, say) but its service refuses connections
        origin = f"http://127.0.0.1:{free_port()}"
        script = {"path": WIDGET, "content_type": "text/javascript"}
        page.route(f"{origin}/widget.js", lambda route: route.fulfill(**script))
    else:  # the service answers the script and the views, never the recommendations
        origin = site.url
        page.route(re.compile(r"/recommendations\?"), lambda route: None)  # left hanging
    page.goto(other_site.page(f"/{failure}.html", embedding_page(SITE_CONTENT, f"{origin}/widget.js")))
    expect(page.get_by_role("heading", level=1)).to_have_text("The site's own article")
    blocks = page.locator("#blocks")
    expect(blocks).to_have_class(re.compile(r"\brp-failed\b"), timeout=5_000)
    assert page.locator(".rp-blocks").count() == 0
    expect(page.locator("#fallback")).to_have_text("Loading…")  # the site's own placeholder stays
    page.locator("#counter").click()
    page.locator("#counter").click()
    expect(page.locator("#counter")).to_have_text("2")
    page.wait_for_function("window.siteTimerRan === true")
    assert len(tab.sent("/sleep-1/recommendations")) == 1
    # The browser itself logs each refused connection (the recommendations and the view beacon);
    # the page's scripts, the widget included, raise nothing and log nothing.
    refused = ["Failed to load resource: net::ERR_CONNECTION_REFUSED"] * 2
    assert tab.errors == (refused if failure == "down" else [])
    assert tab.dialogs == []


@browser_test
def test_demo_page_looks_right_on_a_desktop_and_a_phone(tab: Tab, site: Site) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = tab.page
    page.goto(f"{site.url}/demo/sleep-2")
    blocks = page.locator("[data-related-posts].rp-ready .rp-block")
    expect(blocks).to_have_count(3)
    tops = [blocks.nth(i).bounding_box()["y"] for i in range(3)]  # type: ignore[index]
    assert len(set(tops)) == 1, "three columns side by side on a desktop"
    desktop = ARTIFACTS / "demo-desktop.png"
    page.screenshot(path=str(desktop), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(blocks).to_have_count(3)
    lefts = {blocks.nth(i).bounding_box()["x"] for i in range(3)}  # type: ignore[index]
    assert len(lefts) == 1, "one column on a phone"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    phone = ARTIFACTS / "demo-phone.png"
    page.screenshot(path=str(phone), full_page=True)

    for picture, width in ((desktop, 1280), (phone, 390)):
        data = picture.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000
        assert int.from_bytes(data[16:20], "big") == width
    assert tab.errors == []
