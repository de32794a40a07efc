"""Clicks on recommendations: counted per article, list, clicked article and hour."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.store import ClickCount, Store

CLICKS = "/api/v1/articles/{}/clicks"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture
def client(seeded: Flask) -> FlaskClient:
    return seeded.test_client()


def click(client: FlaskClient, article_id: str, body: Any, **kwargs: Any) -> Any:
    return client.post(CLICKS.format(article_id), json=body, **kwargs)


def test_click_is_counted_per_section_and_target(client: FlaskClient, store: Store) -> None:
    for section, target in [("related", "sleep-2"), ("related", "sleep-2"), ("latest", "running-3")]:
        response = click(client, "sleep-1", {"section": section, "target": target})
        assert response.status_code == 202
        assert response.json == {"recorded": True}
    assert store.clicks.counts("sleep-1") == [
        ClickCount("related", "sleep-2", 2),
        ClickCount("latest", "running-3", 1),
    ]
    assert store.clicks.counts("sleep-2") == []


def test_click_sent_as_text_plain_is_read_as_json(client: FlaskClient, store: Store) -> None:
    # what navigator.sendBeacon sends for a CORS-simple request
    response = client.post(
        CLICKS.format("sleep-1"),
        data='{"section": "popular", "target": "baking-0"}',
        content_type="text/plain",
    )
    assert response.status_code == 202
    assert store.clicks.counts("sleep-1") == [ClickCount("popular", "baking-0", 1)]


@pytest.mark.parametrize(
    ("article_id", "body", "missing"),
    [
        ("nope", {"section": "related", "target": "sleep-2"}, "nope"),
        ("sleep-1", {"section": "related", "target": "nope"}, "nope"),
    ],
)
def test_unknown_article_or_target_is_404(
    client: FlaskClient, store: Store, article_id: str, body: dict[str, str], missing: str
) -> None:
    response = click(client, article_id, body)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "article_not_found"
    assert missing in response.json["error"]["message"]
    assert store.clicks.by_section(since=None) == {}


@pytest.mark.parametrize(
    "body",
    [
        {"section": "trending", "target": "sleep-2"},
        {"section": None, "target": "sleep-2"},
        {"target": "sleep-2"},
        {"section": "related"},
        {"section": "related", "target": 7},
        {"section": "related", "target": ""},
        ["related", "sleep-2"],
        "related",
    ],
)
def test_bad_click_is_400(client: FlaskClient, store: Store, body: Any) -> None:
    response = click(client, "sleep-1", body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_parameter"
    assert store.clicks.by_section(since=None) == {}


def test_malformed_click_body_is_400(client: FlaskClient) -> None:
    response = client.post(CLICKS.format("sleep-1"), data=b"{not json", content_type="text/plain")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed_json"


def test_bot_click_is_answered_not_counted(client: FlaskClient, store: Store) -> None:
    response = click(
        client, "sleep-1", {"section": "related", "target": "sleep-2"}, headers={"User-Agent": BOT}
    )
    assert response.status_code == 202
    assert response.json == {"recorded": False}
    assert store.clicks.by_section(since=None) == {}


def test_clicks_on_a_deleted_article_go_with_it(
    client: FlaskClient, store: Store, admin: dict[str, str]
) -> None:
    assert click(client, "sleep-1", {"section": "related", "target": "sleep-2"}).status_code == 202
    assert client.delete("/api/v1/articles/sleep-2", headers=admin).status_code == 204
    assert store.clicks.counts("sleep-1") == []
    response = click(client, "sleep-1", {"section": "related", "target": "sleep-2"})
    assert response.status_code == 404


def test_stats_give_clicks_per_section(client: FlaskClient, admin: dict[str, str]) -> None:
    assert click(client, "sleep-1", {"section": "related", "target": "sleep-2"}).status_code == 202
    assert click(client, "running-1", {"section": "related", "target": "running-2"}).status_code == 202
    assert click(client, "sleep-1", {"section": "popular", "target": "running-2"}).status_code == 202
    stats = client.get("/api/v1/admin/stats", headers=admin).json
    assert stats["clicks"] == {"related": 2, "latest": 0, "popular": 1}
