"""The three blocks as an HTML fragment: the JSON answer's lists, escaped, same parameters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.articles import parse_article
from service.store import Store
from tests.api import ids, recommendations
from tests.factories import article

FRAGMENT = "/api/v1/articles/{}/recommendations.html"


class Blocks(HTMLParser):
    """Sections, headings and links of a fragment, and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self.headings: list[str] = []
        self.hrefs: list[str] = []
        self.texts: list[str] = []
        self._section = ""
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "section":
            self._section = str(attributes["data-section"])
            self.sections[self._section] = []
        if tag == "h2":
            self._in_heading = True
        if "data-target" in attributes:
            self.sections[self._section].append(str(attributes["data-target"]))
        if tag == "a":
            self.hrefs.append(str(attributes["href"]))

    def handle_endtag(self, tag: str) -> None:
        self._in_heading = False

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self.headings.append(data)
        self.texts.append(data)


def blocks(client: FlaskClient, article_id: str, **params: object) -> Blocks:
    response = client.get(FRAGMENT.format(article_id), query_string=params)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    parser = Blocks()
    parser.feed(response.get_data(as_text=True))
    return parser


@pytest.fixture
def client(seeded: Flask) -> FlaskClient:
    return seeded.test_client()


def test_fragment_shows_the_lists_of_the_json_answer(client: FlaskClient) -> None:
    for viewed in ("running-2", "running-2", "baking-1"):
        assert client.post(f"/api/v1/articles/{viewed}/views").status_code == 202
    expected = recommendations(client, "sleep-1", limit=3)
    fragment = blocks(client, "sleep-1", limit=3)
    assert fragment.sections == {
        section: ids(expected[section]) for section in ("related", "latest", "popular")
    }
    assert fragment.headings == ["Related Posts", "Latest Posts", "Popular Posts"]
    assert fragment.hrefs[0] == expected["related"][0]["url"]
    assert expected["popular"]


def test_empty_lists_show_no_block(client: FlaskClient) -> None:
    assert "popular" not in blocks(client, "sleep-1").sections  # nothing viewed yet


def test_fragment_takes_the_same_parameters(client: FlaskClient) -> None:
    fragment = blocks(client, "sleep-1", sections="latest", limit=2)
    assert list(fragment.sections) == ["latest"]
    assert fragment.sections["latest"] == ids(
        recommendations(client, "sleep-1", sections="latest", limit=2)["latest"]
    )


@pytest.mark.parametrize(("params", "status"), [({"limit": 0}, 400), ({"window": "1y"}, 400), ({}, 404)])
def test_fragment_errors_are_json(client: FlaskClient, params: dict[str, object], status: int) -> None:
    article_id = "nope" if status == 404 else "sleep-1"
    response = client.get(FRAGMENT.format(article_id), query_string=params)
    assert response.status_code == status
    assert response.json["error"]["code"]


def test_fragment_escapes_titles(client: FlaskClient, admin: dict[str, str]) -> None:
    hostile = article(
        "sleep", 9, title='<img src=x onerror=alert(1)> & "friends"', published_at="2026-06-01T00:00:00Z"
    )
    assert client.put("/api/v1/articles/sleep-9", json=hostile, headers=admin).status_code == 201
    response = client.get(FRAGMENT.format("running-1"), query_string={"sections": "latest"})
    html = response.get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; &#34;friends&#34;" in html
    fragment = blocks(client, "running-1", sections="latest")
    assert "img" not in fragment.tags
    assert fragment.sections["latest"][0] == "sleep-9"
    assert '<img src=x onerror=alert(1)> & "friends"' in fragment.texts


def test_fragment_links_only_to_web_pages(client: FlaskClient, store: Store) -> None:
    # The API refuses such URLs (contract v1.1); a store written before the limits may hold them.
    legacy = parse_article(article("sleep", 9, published_at="2026-06-01T00:00:00Z"))
    store.articles.upsert_many([replace(legacy, url="javascript:alert(2)")], now=datetime.now(UTC))
    fragment = blocks(client, "running-1", sections="latest")
    assert fragment.sections["latest"][0] == "sleep-9"
    assert fragment.hrefs  # the other items are links
    assert not any(href.startswith("javascript") for href in fragment.hrefs)
