"""Each worker's caches (catalog, popular lists, answers, related lists) never serve a stale list:
every write shows in the next answer, popular lags views by at most its refresh interval."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.recommend import Item
from service.recommend.assemble import _held, _unheld
from service.reindex import build_index
from tests.api import ids
from tests.api import recommendations as get
from tests.factories import article


@pytest.fixture
def warm(seeded: Flask, client: FlaskClient) -> Callable[[], dict[str, Any]]:
    """Ask for baking-1's lists twice (so that they are cached) and return a fresh asker."""

    def ask() -> dict[str, Any]:
        return get(client, "baking-1", limit=10, distinct="false")

    ask()
    assert ask() == ask()
    return ask


def test_a_new_article_is_in_the_next_cached_answer(
    warm: Callable[[], dict[str, Any]], client: FlaskClient, admin: dict[str, str]
) -> None:
    fresh = article("baking", 30, published_at=datetime.now(UTC) - timedelta(minutes=1))
    assert client.put(f"/api/v1/articles/{fresh['id']}", json=fresh, headers=admin).status_code == 201
    answer = warm()
    assert ids(answer["latest"])[0] == fresh["id"]
    assert fresh["id"] in ids(answer["related"])


def test_a_changed_title_and_a_deletion_show_at_once(
    warm: Callable[[], dict[str, Any]], client: FlaskClient, admin: dict[str, str]
) -> None:
    neighbour = ids(warm()["related"])[0]
    record = client.get(f"/api/v1/articles/{neighbour}").json
    client.put(f"/api/v1/articles/{neighbour}", json={**record, "title": "Renamed loaf"}, headers=admin)
    titles = {item["id"]: item["title"] for item in warm()["related"]}
    assert titles[neighbour] == "Renamed loaf"
    assert client.delete(f"/api/v1/articles/{neighbour}", headers=admin).status_code == 204
    answer = warm()
    assert all(neighbour not in ids(answer[section]) for section in ("related", "latest", "popular"))


def test_editorial_settings_show_at_once(
    warm: Callable[[], dict[str, Any]], client: FlaskClient, admin: dict[str, str]
) -> None:
    before = ids(warm()["related"])
    url = "/api/v1/admin/articles/baking-1/editorial"
    client.put(url, json={"pinned": ["garden-3"], "excluded": [before[0]]}, headers=admin)
    after = ids(warm()["related"])
    assert after[0] == "garden-3" and before[0] not in after
    client.put("/api/v1/admin/exclusions", json={"categories": ["garden"]}, headers=admin)
    answer = warm()
    assert not any(item.startswith("garden") for item in ids(answer["latest"]))


def test_a_scheduled_article_appears_when_its_time_comes(
    warm: Callable[[], dict[str, Any]], client: FlaskClient, admin: dict[str, str]
) -> None:
    soon = article("baking", 31, published_at=datetime.now(UTC) + timedelta(seconds=1.5))
    client.put(f"/api/v1/articles/{soon['id']}", json=soon, headers=admin)
    assert soon["id"] not in ids(warm()["latest"])
    time.sleep(1.6)
    assert ids(warm()["latest"])[0] == soon["id"]


def test_popular_lags_views_by_at_most_its_max_lag(make_app: Callable[..., Flask]) -> None:
    app = make_app(POPULAR_MAX_LAG_SECONDS=0.5)
    client = app.test_client()
    admin = {"Authorization": "Bearer test-admin-token"}
    client.post("/api/v1/articles", json=[article("sleep", n) for n in range(3)], headers=admin)
    client.post("/api/v1/articles/sleep-1/views")
    assert ids(get(client, "sleep-0")["popular"]) == ["sleep-1"]
    client.post("/api/v1/articles/sleep-2/views")
    client.post("/api/v1/articles/sleep-2/views")
    deadline = time.monotonic() + 0.5
    while ids(get(client, "sleep-0")["popular"])[0] != "sleep-2":
        assert time.monotonic() < deadline + 0.3, "popular lagged the views for too long"
        time.sleep(0.05)
    assert client.get("/api/v1/admin/stats?window=24h", headers=admin).json["total_views"] == 3


def test_a_related_list_that_fell_back_on_popular_follows_it(make_app: Callable[..., Flask]) -> None:
    app = make_app(POPULAR_MAX_LAG_SECONDS=0.0, MIN_SCORE=0.99)  # nothing is similar enough
    client = app.test_client()
    admin = {"Authorization": "Bearer test-admin-token"}
    records = [article("garden", n, category=None, tags=[]) for n in range(4)]
    client.post("/api/v1/articles", json=records, headers=admin)
    build_index(app.extensions["store"], Path(app.config["MODEL_DIR"]))
    client.post("/api/v1/articles/garden-2/views")
    first = get(client, "garden-0", sections="related", limit=1)["related"]
    assert [(item["id"], item["reason"]) for item in first] == [("garden-2", "popular")]
    for _ in range(2):
        client.post("/api/v1/articles/garden-3/views")
    second = get(client, "garden-0", sections="related", limit=1)["related"]
    assert [(item["id"], item["reason"]) for item in second] == [("garden-3", "popular")]


def test_cached_answers_stay_out_of_the_garbage_collector(
    warm: Callable[[], dict[str, Any]], seeded: Flask, client: FlaskClient
) -> None:
    """Held answers and related lists are plain tuples of strings, numbers and bytes, which
    CPython stops tracking: full caches add nothing to a full collection's pause."""
    for article_id in ("sleep-1", "running-2", "garden-3"):
        get(client, article_id)
        get(client, article_id, limit=10, sections="related")
    entries = [
        (key, entry)
        for name in ("answer_cache", "related_cache")
        for key, entry in seeded.extensions[name]._entries.items()
    ]
    assert len(entries) >= 8
    gc.collect()
    gc.collect()  # a collection untracks a tuple once the tuples inside it are untracked
    assert [pair for pair in entries if gc.is_tracked(pair[0]) or gc.is_tracked(pair[1])] == []


def test_a_held_related_list_reads_back_as_plain_python(seeded: Flask) -> None:
    catalog = seeded.extensions["catalog"].current()
    summary = catalog.get("sleep-1")
    assert summary is not None
    snapshots = SimpleNamespace(catalog=catalog)
    items = [Item(summary, np.float32(0.25), "similar", (np.str_("sleep"), "rest"), None)]
    [held] = _unheld(_held(items), snapshots)  # type: ignore[arg-type]
    assert held == Item(summary, 0.25, "similar", ("sleep", "rest"), None)
    assert type(held.score) is float and all(type(term) is str for term in held.terms or ())
    gone = SimpleNamespace(catalog=SimpleNamespace(get=lambda _: None))
    assert _unheld(_held(items), gone) is None  # type: ignore[arg-type]
