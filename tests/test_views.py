"""The views beacon: counting, bots, and no lost counts under concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from service.bots import is_bot
from service.store.schema import article_views
from tests.factories import article


@pytest.fixture
def one_article(client: FlaskClient, admin: dict[str, str]) -> str:
    client.put("/api/v1/articles/sleep-1", json=article("sleep", 1), headers=admin)
    return "sleep-1"


def total_views(app: Flask) -> int:
    return app.extensions["store"].views.stats(now=datetime.now(UTC), limit=1).total_views


def test_a_view_is_recorded_whatever_the_body(app: Flask, client: FlaskClient, one_article: str) -> None:
    url = f"/api/v1/articles/{one_article}/views"
    assert client.post(url).json == {"recorded": True}
    assert client.post(url, data="garbage", content_type="text/plain").status_code == 202
    assert client.post(url, data=b"\x00\xff", content_type="application/octet-stream").status_code == 202
    assert total_views(app) == 3


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "facebookexternalhit/1.1",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    ],
)
def test_known_bots_are_answered_but_not_counted(
    app: Flask, client: FlaskClient, one_article: str, user_agent: str
) -> None:
    response = client.post(f"/api/v1/articles/{one_article}/views", headers={"User-Agent": user_agent})
    assert response.status_code == 202 and response.json == {"recorded": False}
    assert total_views(app) == 0


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        "curl/8.5.0",
        "WordPress/6.6; https://example.com",
        "",
    ],
)
def test_readers_and_site_back_ends_are_not_bots(user_agent: str) -> None:
    assert not is_bot(user_agent)


def test_concurrent_views_are_all_counted(app: Flask, one_article: str) -> None:
    threads, per_thread = 8, 40

    def post_views(_: int) -> int:
        client = app.test_client()
        return sum(
            client.post(f"/api/v1/articles/{one_article}/views").json["recorded"] for _ in range(per_thread)
        )

    with ThreadPoolExecutor(threads) as pool:
        recorded = sum(pool.map(post_views, range(threads)))
    assert recorded == threads * per_thread
    assert total_views(app) == threads * per_thread


def test_every_write_path_counts_an_hour_in_one_row(app: Flask, one_article: str) -> None:
    """The group commit writes through the driver: its hours must be the very keys execute() writes."""
    views, now = app.extensions["store"].views, datetime.now(UTC)
    views.add_counts({(one_article, now): 1})
    assert views.record_batch(lambda: {(one_article, now): 2, ("missing", now): 1}) == {one_article}
    assert views.record_batch(lambda: {(one_article, now): 3}) == {one_article}
    with app.extensions["store"].engine.connect() as connection:
        rows = connection.execute(select(article_views.c.views)).scalars().all()
    assert rows == [6]


def test_a_view_the_store_cannot_write_answers_503_and_is_not_acknowledged(
    app: Flask, client: FlaskClient, one_article: str
) -> None:
    with app.extensions["store"].engine.begin() as connection:
        connection.execute(text("DROP TABLE article_views"))
    response = client.post(f"/api/v1/articles/{one_article}/views")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "store_unavailable"


def test_a_view_of_an_article_deleted_meanwhile_is_404_and_counts_nothing(
    app: Flask, client: FlaskClient, admin: dict[str, str], one_article: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's catalog still holds the article when the view arrives; the store no longer
    does (deleted by another worker in between): the store has the last word, no foreign-key 500."""
    assert client.post(f"/api/v1/articles/{one_article}/views").status_code == 202
    assert client.delete(f"/api/v1/articles/{one_article}", headers=admin).status_code == 204
    monkeypatch.setattr(app.extensions["catalog"], "knows", lambda article_id: True)  # the race
    response = client.post(f"/api/v1/articles/{one_article}/views")
    assert response.status_code == 404 and response.json["error"]["code"] == "article_not_found"
    with app.extensions["store"].engine.connect() as connection:
        assert connection.execute(select(article_views.c.views)).scalars().all() == []
