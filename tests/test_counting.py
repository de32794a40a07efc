"""Counting readers: bots and prefetches apart, unique visitors, the pixel, windows and trending,
the hourly rollup and its pruning, and the admin statistics built on them."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import String, cast, column, func, inspect, select, table

from service.bots import BotDetector, is_bot, is_prefetch
from service.store import Store, ViewBatch
from service.store.schema import article_views, article_visitors, bot_hits, metadata
from service.view_recorder import RollupTrigger
from service.windows import TRENDING_HOURS, WINDOWS, floor_hour, midnight, trending_score, window_start
from tests.factories import corpus

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
VIEWS = "/api/v1/articles/{}/views"
PIXEL = "/api/v1/articles/{}/view.gif"
STATS = "/api/v1/admin/stats"


@pytest.fixture
def stored(app: Flask, client: FlaskClient, admin: dict[str, str]) -> Store:
    """The store with the factory corpus (16 articles published in 2025)."""
    assert client.post("/api/v1/articles", json=corpus(), headers=admin).status_code == 200
    return app.extensions["store"]


def view(client: FlaskClient, article_id: str = "sleep-1", *, ua: str = CHROME, **kwargs: Any) -> Any:
    headers = {"User-Agent": ua, **kwargs.pop("headers", {})}
    return client.post(VIEWS.format(article_id), headers=headers, **kwargs)


def stats(client: FlaskClient, admin: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get(STATS, headers=admin, query_string=params)
    assert response.status_code == 200, response.json
    return response.json


# --- bots and prefetches ----------------------------------------------------------------------

CRAWLERS = {
    "Googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Googlebot smartphone": (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    ),
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "GPTBot": (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; +https://openai.com/gptbot"
    ),
    "facebookexternalhit": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "HeadlessChrome": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/131.0.0.0 Safari/537.36"
    ),
    "AhrefsBot": "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Slackbot": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "YandexBot": "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Scrapy": "Scrapy/2.11.2 (+https://scrapy.org)",
}
READERS = {
    "CUBOT phone": (
        "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.144 Mobile Safari/537.36"
    ),
    "CUBOT_P30 phone": (
        "Mozilla/5.0 (Linux; Android 9; CUBOT_P30) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/87.0.4280.101 Mobile Safari/537.36"
    ),
    "iPhone Safari": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1"
    ),
    "Chrome desktop": CHROME,
    "Firefox": FIREFOX,
    "Samsung Internet": (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36"
    ),
    # Generic HTTP clients are not bots: sites record views from their back ends with them.
    "curl": "curl/8.5.0",
    "python-requests": "python-requests/2.32.3",
    "WordPress back end": "WordPress/6.6; https://example.com",
    "Go back end": "Go-http-client/2.0",
    "no User-Agent": "",
}


@pytest.mark.parametrize("user_agent", CRAWLERS.values(), ids=CRAWLERS.keys())
def test_crawlers_are_bots(user_agent: str) -> None:
    assert is_bot(user_agent)


@pytest.mark.parametrize("user_agent", READERS.values(), ids=READERS.keys())
def test_browsers_phones_and_generic_clients_are_not_bots(user_agent: str) -> None:
    assert not is_bot(user_agent)


def test_the_operators_pattern_adds_bots_and_decisions_are_cached() -> None:
    detector = BotDetector("internal-monitor")
    assert detector.is_bot("Internal-Monitor/1.0") and not detector.is_bot(CHROME)
    assert detector.is_bot(CRAWLERS["Googlebot"])  # the list still applies
    detector.is_bot(CHROME)
    assert detector.is_bot.cache_info().hits >= 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Purpose": "prefetch"},
        {"Sec-Purpose": "prefetch;prerender"},
        {"Sec-Purpose": "prerender"},
        {"Purpose": "prefetch"},
        {"X-Purpose": "preview"},
        {"X-Moz": "prefetch"},
    ],
)
def test_prefetches_are_answered_not_counted_and_counted_as_bot_hits(
    stored: Store, client: FlaskClient, admin: dict[str, str], headers: dict[str, str]
) -> None:
    assert is_prefetch({name.lower(): value for name, value in headers.items()})
    response = view(client, headers=headers)
    assert response.status_code == 202 and response.json == {"recorded": False}
    body = stats(client, admin, window="24h")
    assert (body["total_views"], body["bot_hits"]) == (0, 1)


@pytest.mark.parametrize("name", ["Googlebot", "HeadlessChrome", "GPTBot"])
def test_bot_views_are_answered_not_counted_and_counted_as_bot_hits(
    stored: Store, client: FlaskClient, admin: dict[str, str], name: str
) -> None:
    for _ in range(3):
        response = view(client, ua=CRAWLERS[name])
        assert response.status_code == 202 and response.json == {"recorded": False}
    assert view(client, ua=READERS["CUBOT phone"]).json == {"recorded": True}
    body = stats(client, admin, window="7d")
    assert (body["total_views"], body["unique_visitors"], body["bot_hits"]) == (1, 1, 3)


def test_operator_pattern_from_config(make_app: Callable[..., Flask], admin: dict[str, str]) -> None:
    client = make_app(BOT_USER_AGENT_PATTERN="uptime-checker").test_client()
    client.post("/api/v1/articles", json=corpus(), headers=admin)
    assert view(client, ua="Uptime-Checker/2").json == {"recorded": False}
    assert view(client, ua="curl/8.5.0").json == {"recorded": True}


# --- unique visitors --------------------------------------------------------------------------


def test_a_repeat_view_is_a_view_not_a_visitor(
    stored: Store, client: FlaskClient, admin: dict[str, str]
) -> None:
    for _ in range(2):
        assert view(client, environ_base={"REMOTE_ADDR": "203.0.113.7"}).json == {"recorded": True}
    body = stats(client, admin, window="24h")
    assert (body["total_views"], body["unique_visitors"]) == (2, 1)
    assert body["articles"][0] == {
        "id": "sleep-1",
        "title": body["articles"][0]["title"],
        "views": 2,
        "visitors": 1,
    }
    assert body["series"][-1]["visitors"] == 1


def test_another_browser_or_address_is_another_visitor(
    stored: Store, client: FlaskClient, admin: dict[str, str]
) -> None:
    view(client, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    view(client, ua=FIREFOX, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    view(client, environ_base={"REMOTE_ADDR": "198.51.100.2"})
    view(client, "running-1", environ_base={"REMOTE_ADDR": "198.51.100.2"})  # same reader, other page
    body = stats(client, admin, window="24h")
    assert (body["total_views"], body["unique_visitors"]) == (4, 3)
    visitors = {item["id"]: item["visitors"] for item in body["articles"]}
    assert visitors == {"sleep-1": 3, "running-1": 1}


def test_the_salt_rotates_daily(
    stored: Store, client: FlaskClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = client.application.extensions["visitor_hasher"]
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    assert hasher.visitor("203.0.113.7", CHROME, today) == hasher.visitor("203.0.113.7", CHROME, today)
    assert hasher.visitor("203.0.113.7", CHROME, today) != hasher.visitor("203.0.113.7", CHROME, yesterday)
    now = datetime.now(UTC)
    for moment in (now - timedelta(days=1), now - timedelta(days=1), now):
        monkeypatch.setattr("service.api.beacons._clock", lambda moment=moment: moment)
        view(client, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    body = stats(client, admin, window="7d")
    assert (body["total_views"], body["unique_visitors"]) == (3, 2)  # one reader, two days
    by_day = {point["date"]: (point["views"], point["visitors"]) for point in body["series"]}
    assert by_day[yesterday.isoformat()] == (2, 1) and by_day[today.isoformat()] == (1, 1)


def test_a_configured_secret_makes_every_process_agree_without_the_store(
    make_app: Callable[..., Flask],
) -> None:
    first = make_app(VISITOR_SALT_SECRET="s3cret").extensions["visitor_hasher"]
    second = make_app(VISITOR_SALT_SECRET="s3cret").extensions["visitor_hasher"]
    other = make_app(VISITOR_SALT_SECRET="other").extensions["visitor_hasher"]
    day = date(2026, 3, 10)
    assert first.visitor("203.0.113.7", CHROME, day) == second.visitor("203.0.113.7", CHROME, day)
    assert first.visitor("203.0.113.7", CHROME, day) != other.visitor("203.0.113.7", CHROME, day)


def test_the_stored_salt_is_shared_by_every_worker(make_app: Callable[..., Flask]) -> None:
    first = make_app().extensions["visitor_hasher"]
    second = make_app().extensions["visitor_hasher"]  # another process on the same store
    day = date(2026, 3, 10)
    assert first.visitor("203.0.113.7", CHROME, day) == second.visitor("203.0.113.7", CHROME, day)


def all_text(store: Store) -> str:
    """Every value of every table of the store, as text."""
    chunks = []
    with store.engine.connect() as connection:
        for name in inspect(store.engine).get_table_names():
            columns = [column["name"] for column in inspect(store.engine).get_columns(name)]
            query = select(*(cast(column(c), String) for c in columns)).select_from(table(name))
            chunks += [" ".join(str(value) for value in row) for row in connection.execute(query)]
    return "\n".join(chunks)


def test_no_address_is_stored_anywhere(stored: Store, client: FlaskClient, admin: dict[str, str]) -> None:
    for address in ("203.0.113.77", "2001:db8::1234"):
        view(client, environ_base={"REMOTE_ADDR": address})
        client.get(
            PIXEL.format("running-2"), headers={"User-Agent": CHROME}, environ_base={"REMOTE_ADDR": address}
        )
    view(client, ua=CRAWLERS["Googlebot"], environ_base={"REMOTE_ADDR": "203.0.113.78"})
    assert stats(client, admin, window="24h")["unique_visitors"] == 2
    text = all_text(stored)
    assert "article_visitors" in {t for t in metadata.tables}
    # Not "db8" alone: a hex digest holds it one time in a few hundred.
    for needle in ("203.0.113.77", "203.0.113.78", "2001:db8::1234", "203.0.113", "2001:db8"):
        assert needle not in text
    with stored.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(article_visitors)) == 4


def test_behind_a_trusted_proxy_the_forwarded_address_tells_visitors_apart(
    make_app: Callable[..., Flask], admin: dict[str, str]
) -> None:
    for proxies, expected in ((0, 1), (1, 2)):
        app = make_app(TRUSTED_PROXIES=proxies)
        client = app.test_client()
        client.post("/api/v1/articles", json=corpus(), headers=admin)
        for forwarded in ("203.0.113.7", "198.51.100.2"):
            view(client, headers={"X-Forwarded-For": forwarded}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
        assert stats(client, admin, window="24h")["unique_visitors"] == expected
        app.extensions["store"].dispose()
        with app.extensions["store"].engine.begin() as connection:  # the next app: a clean store
            for name in ("article_visitors", "article_views"):
                connection.execute(metadata.tables[name].delete())


# --- the pixel --------------------------------------------------------------------------------


def test_the_pixel_counts_a_view_and_is_never_cached(
    stored: Store, client: FlaskClient, admin: dict[str, str]
) -> None:
    response = client.get(PIXEL.format("sleep-1"), headers={"User-Agent": CHROME})
    assert response.status_code == 200
    assert response.mimetype == "image/gif" and response.data.startswith(b"GIF89a")
    assert response.headers["Cache-Control"] == "no-store"
    bot = client.get(PIXEL.format("sleep-1"), headers={"User-Agent": CRAWLERS["bingbot"]})
    assert bot.status_code == 200 and bot.mimetype == "image/gif"
    body = stats(client, admin, window="24h")
    assert (body["total_views"], body["unique_visitors"], body["bot_hits"]) == (1, 1, 1)
    missing = client.get(PIXEL.format("no-such-article"))
    assert missing.status_code == 404 and missing.json["error"]["code"] == "article_not_found"


# --- windows and trending with a made-up history ---------------------------------------------


def add_history(store: Store, events: list[tuple[str, datetime, int]]) -> None:
    batch = ViewBatch()
    for article_id, at, count in events:
        batch.add_view(article_id, at, count=count)
    assert store.views.record_batch(lambda: batch)


def favourite_and_riser(now: datetime) -> list[tuple[str, datetime, int]]:
    """``sleep-1``: a perennial favourite, 100 views a day for weeks and 25 in the last 6 hours
    (its usual rate); ``running-2``: 3 views a day, then 10 in the last 6 hours. The daily
    history stops where the last 6 hours begin (yesterday evening, when ``now`` is just after
    midnight)."""
    events = []
    recent = floor_hour(now) - timedelta(hours=TRENDING_HOURS)
    for days_ago in range(1, 22):
        day = midnight(now.date() - timedelta(days=days_ago))
        events += [("sleep-1", day + timedelta(hours=hour), 25) for hour in (3, 9, 15, 21)]
        events.append(("running-2", day + timedelta(hours=12), 3))
    events = [event for event in events if event[1] < recent]
    events += [("sleep-1", floor_hour(now) - timedelta(hours=h), 5) for h in range(5)]
    events += [("running-2", floor_hour(now) - timedelta(hours=h), 2) for h in range(5)]
    return events


def test_trending_prefers_a_rising_article_to_a_perennial_favourite(stored: Store) -> None:
    add_history(stored, favourite_and_riser(NOW))
    # expected_6h: sleep-1 1400/56 = 25, running-2 42/56 = 0.75
    expected = [("running-2", 10), ("sleep-1", 25)]
    assert stored.views.most_viewed("trending", now=NOW, limit=5) == expected
    assert trending_score(10, 42) == pytest.approx(10 / 1.75) and trending_score(25, 1400) == pytest.approx(
        25 / 26
    )
    assert [a for a, _ in stored.views.most_viewed("24h", now=NOW, limit=5)] == ["sleep-1", "running-2"]
    stored.rollup.run(NOW)  # the same answer from the window sums
    assert stored.views.most_viewed("trending", now=NOW, limit=5) == expected
    ranked = stored.views.window_stats("trending", now=NOW, limit=5).articles
    assert [(r.id, round(r.score, 4)) for r in ranked] == [("running-2", 5.7143), ("sleep-1", 0.9615)]


def test_trending_in_recommendations_and_stats(
    stored: Store, client: FlaskClient, admin: dict[str, str]
) -> None:
    add_history(stored, favourite_and_riser(datetime.now(UTC)))
    popular = client.get("/api/v1/articles/baking-1/recommendations?window=trending&sections=popular").json
    assert [item["id"] for item in popular["popular"]] == ["running-2", "sleep-1"]
    assert [item["views"] for item in popular["popular"]] == [10, 25]
    body = stats(client, admin, window="trending")
    assert [(item["id"], item["views"]) for item in body["articles"]] == [("running-2", 10), ("sleep-1", 25)]
    assert body["articles"][0]["score"] > body["articles"][1]["score"] > 0
    assert body["total_views"] == 35
    assert "score" not in stats(client, admin, window="7d")["articles"][0]


def test_every_window_is_accepted_and_others_are_refused(
    stored: Store, client: FlaskClient, admin: dict[str, str]
) -> None:
    for window in WINDOWS:
        assert client.get(f"/api/v1/articles/sleep-1/recommendations?window={window}").status_code == 200
        assert client.get(STATS, headers=admin, query_string={"window": window}).status_code == 200
    for wrong in ("1h", "TRENDING", "365d"):
        assert client.get(f"/api/v1/articles/sleep-1/recommendations?window={wrong}").status_code == 400
        assert client.get(STATS, headers=admin, query_string={"window": wrong}).status_code == 400


# --- rollup and prune: the same counts whatever the buckets -----------------------------------


@dataclass
class History:
    """Views and readers written, to compute every window's expected counts."""

    views: list[tuple[str, datetime, int]] = field(default_factory=list)
    readers: dict[tuple[str, date, int], datetime] = field(default_factory=dict)
    bots: list[datetime] = field(default_factory=list)

    def write(
        self, store: Store, rng: random.Random, ids: list[str], start: datetime, hours: int, per_hour: int
    ) -> None:
        batch = ViewBatch()
        for hour in range(hours):
            moment = start + timedelta(hours=hour)
            for _ in range(rng.randrange(per_hour)):
                article_id = ids[min(int(rng.expovariate(0.4)), len(ids) - 1)]
                reader = rng.randrange(40)
                batch.add_view(article_id, moment, reader)
                self.views.append((article_id, floor_hour(moment), 1))
                key = (article_id, moment.date(), reader)
                self.readers.setdefault(key, floor_hour(moment))
            if rng.random() < 0.3:
                batch.add_bot_hit(moment)
                self.bots.append(floor_hour(moment))
        store.views.record_batch(lambda: batch)

    def expected(
        self, window: str, now: datetime, listed: dict[str, datetime]
    ) -> tuple[list[tuple[str, int]], int, int, int]:
        start = window_start(window, now)
        inside = lambda hour: hour <= now and (start is None or hour >= start)  # noqa: E731
        views: Counter[str] = Counter()
        for article_id, hour, count in self.views:
            if inside(hour):
                views[article_id] += count
        base: Counter[str] = Counter()
        for article_id, hour, count in self.views:
            if now.date() - timedelta(days=14) <= hour.date() < now.date():
                base[article_id] += count

        def score(article_id: str) -> float:
            return (
                trending_score(views[article_id], base[article_id])
                if window == "trending"
                else views[article_id]
            )

        ranked = sorted(views, key=lambda a: (score(a), listed[a], a), reverse=True)
        site_readers = {(day, reader) for (_, day, reader), hour in self.readers.items() if inside(hour)}
        bots = sum(1 for hour in self.bots if inside(hour))
        return [(a, views[a]) for a in ranked], sum(views.values()), len(site_readers), bots


def check_windows(store: Store, history: History, now: datetime, listed: dict[str, datetime]) -> None:
    for window in WINDOWS:
        ranked, total, readers, bots = history.expected(window, now, listed)
        assert store.views.most_viewed(window, now=now, limit=50) == ranked, window
        got = store.views.window_stats(window, now=now, limit=50)
        assert (got.total_views, got.unique_visitors, got.bot_hits) == (total, readers, bots), window
        assert [(a.id, a.views) for a in got.articles] == ranked, window
        per_article = Counter(
            a
            for (a, _, _), hour in history.readers.items()
            if hour <= now and (window_start(window, now) is None or hour >= window_start(window, now))
        )
        assert {a.id: a.visitors for a in got.articles} == {a: per_article[a] for a, _ in ranked}, window


@pytest.fixture
def listed(stored: Store) -> dict[str, datetime]:
    return {record["id"]: datetime.fromisoformat(record["published_at"]) for record in corpus()}


@pytest.mark.parametrize("ranked_by", ["pages", "whole window"])
def test_rollup_and_prune_keep_every_window_exact(
    stored: Store, listed: dict[str, datetime], ranked_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made-up views over 40 days, then rollups hour after hour and day after day: every window
    (views, visitors, bot hits, ranking) stays what the raw history says, whether the ranking
    is settled by reading the stored sums best first or (as when views are flat) by the
    database over the whole window."""
    if ranked_by == "whole window":
        monkeypatch.setattr(stored.views, "whole_window_after_rows", 0)
    rng, history = random.Random(9), History()
    ids = sorted(listed)
    rng.shuffle(ids)
    start = midnight(NOW.date() - timedelta(days=40))
    history.write(stored, rng, ids, start, 40 * 24 + 15, 4)
    check_windows(stored, history, NOW, listed)  # no rollup yet: straight from the hourly rows

    report = stored.rollup.run(NOW)
    assert report.rebuilt and report.checkpoint == datetime(2026, 3, 10, 15, tzinfo=UTC)
    assert report.kept_from == midnight(NOW.date() - timedelta(days=14)) and report.rows_pruned > 0
    with stored.engine.connect() as connection:
        oldest = connection.scalar(select(func.min(article_views.c.hour)))
        assert oldest >= report.kept_from
        assert connection.scalar(select(func.min(bot_hits.c.hour))) is not None
    check_windows(stored, history, NOW, listed)
    assert not stored.rollup.run(NOW).advanced  # once an hour at most

    now = NOW
    for step in (
        timedelta(minutes=50),
        timedelta(hours=3),
        timedelta(hours=9),
        timedelta(days=1, hours=2),
        timedelta(hours=30),
    ):
        history.write(
            stored, rng, ids, floor_hour(now) + timedelta(hours=1), int(step / timedelta(hours=1)), 4
        )
        now += step
        check_windows(stored, history, now, listed)  # the sums plus the hours since the checkpoint
        stored.rollup.run(now)
        check_windows(stored, history, now, listed)


def test_prune_cli_rolls_up_and_reports(app: Flask, stored: Store) -> None:
    add_history(
        stored, [("sleep-1", datetime.now(UTC) - timedelta(days=20), 4), ("sleep-1", datetime.now(UTC), 1)]
    )
    result = app.test_cli_runner().invoke(args=["prune"])
    assert result.exit_code == 0, result.output
    assert "hourly rows pruned" in result.output.splitlines()[-1]
    assert stored.views.window_stats("all", now=datetime.now(UTC), limit=5).total_views == 5
    with stored.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(article_views)) == 1


def test_a_deleted_article_leaves_the_sums(stored: Store, client: FlaskClient, admin: dict[str, str]) -> None:
    add_history(
        stored, [("sleep-1", datetime.now(UTC) - timedelta(days=2), 9), ("sleep-2", datetime.now(UTC), 1)]
    )
    stored.rollup.run(datetime.now(UTC))
    assert client.delete("/api/v1/articles/sleep-1", headers=admin).status_code == 204
    assert stored.views.most_viewed("7d", now=datetime.now(UTC), limit=5) == [("sleep-2", 1)]


# --- history and click-through ----------------------------------------------------------------


def test_article_history_is_zero_filled_with_views_visitors_and_clicks(
    stored: Store, client: FlaskClient, admin: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    add_history(stored, [("sleep-1", now - timedelta(days=3), 7)])
    view(client, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    view(client, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    client.post("/api/v1/articles/sleep-1/clicks", json={"section": "related", "target": "sleep-2"})
    body = client.get("/api/v1/admin/articles/sleep-1/history?days=5", headers=admin).json
    assert body["article"]["id"] == "sleep-1" and body["article"]["url"] == "https://example.com/sleep-1"
    assert [point["date"] for point in body["series"]] == [
        (now.date() - timedelta(days=offset)).isoformat() for offset in range(4, -1, -1)
    ]
    assert body["series"][1] == {"date": body["series"][1]["date"], "views": 7, "visitors": 0, "clicks": 0}
    assert body["series"][-1] == {"date": now.date().isoformat(), "views": 2, "visitors": 1, "clicks": 1}
    stored.rollup.run(now + timedelta(days=1))  # the same from the daily rows
    again = client.get("/api/v1/admin/articles/sleep-1/history?days=5", headers=admin).json
    assert again == body
    assert len(client.get("/api/v1/admin/articles/sleep-1/history", headers=admin).json["series"]) == 90
    missing = client.get("/api/v1/admin/articles/nope/history", headers=admin)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "article_not_found"
    for days in ("0", "3661", "x"):
        assert (
            client.get(f"/api/v1/admin/articles/sleep-1/history?days={days}", headers=admin).status_code
            == 400
        )
    assert client.get("/api/v1/admin/articles/sleep-1/history").status_code == 401


def test_click_through_rate_per_day_and_in_total(
    stored: Store, client: FlaskClient, admin: dict[str, str]
) -> None:
    for _ in range(4):
        view(client)
    for section, target in (("related", "sleep-2"), ("related", "sleep-3"), ("popular", "running-1")):
        client.post("/api/v1/articles/sleep-1/clicks", json={"section": section, "target": target})
    body = client.get("/api/v1/admin/ctr?days=7", headers=admin).json
    assert body["days"] == 7 and len(body["series"]) == 7
    today = body["series"][-1]
    assert today["date"] == datetime.now(UTC).date().isoformat() and today["views"] == 4
    assert today["related"] == {"clicks": 2, "rate": 0.5}
    assert today["latest"] == {"clicks": 0, "rate": 0.0} and today["popular"] == {"clicks": 1, "rate": 0.25}
    assert body["series"][0]["related"] == {"clicks": 0, "rate": 0.0}
    assert body["totals"] == {
        "views": 4,
        "related": {"clicks": 2, "rate": 0.5},
        "latest": {"clicks": 0, "rate": 0.0},
        "popular": {"clicks": 1, "rate": 0.25},
    }
    assert client.get("/api/v1/admin/ctr?days=0", headers=admin).status_code == 400
    assert client.get("/api/v1/admin/ctr").status_code == 401


def test_stats_series_add_up_and_visitors_never_exceed_views(
    stored: Store, client: FlaskClient, admin: dict[str, str]
) -> None:
    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.2"):
        view(client, environ_base={"REMOTE_ADDR": address})
    for window in WINDOWS:
        body = stats(client, admin, window=window)
        assert sum(point["views"] for point in body["series"]) == body["total_views"] == 3
        assert sum(point["visitors"] for point in body["series"]) == body["unique_visitors"] == 2
        assert all(item["visitors"] <= item["views"] for item in body["articles"])


@pytest.fixture(autouse=True)
def _no_background_rollup(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Rollups run where the tests say, not from the view writer."""
    monkeypatch.setattr("service.view_recorder.RollupTrigger.poke", lambda self, now=None: None)
    yield


def test_only_the_worker_that_rolls_up_says_so(stored: Store, caplog: pytest.LogCaptureFixture) -> None:
    """Workers whose triggers found the same hour due run one after the other (the writer
    lock): the first rolls up and logs it at INFO, the next finds nothing left, DEBUG only."""
    add_history(stored, [("sleep-1", datetime.now(UTC) - timedelta(hours=3), 2)])
    caplog.set_level(logging.DEBUG, logger="service.view_recorder")
    now = datetime.now(UTC)
    assert stored.rollup.due(now)
    for trigger in (RollupTrigger(stored), RollupTrigger(stored)):
        trigger._running.acquire()  # as poke() does before it starts the run's thread
        trigger._run(now)
    said = [r.levelno for r in caplog.records if "rolled up" in r.getMessage()]
    assert said == [logging.INFO, logging.DEBUG]
    assert not stored.rollup.due(now)
