"""The recommendations endpoint: each rule of the contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.recommend.related import reported_score
from service.reindex import build_index
from tests.api import RECOMMENDATIONS, ids, recommendations
from tests.factories import OWN_WORDS, article

URL = RECOMMENDATIONS


def every_listed_id(body: dict[str, Any]) -> list[list[str]]:
    return [ids(body[section]) for section in ("related", "latest", "popular") if section in body]


def test_three_sections_with_index_metadata(seeded: Flask, client: FlaskClient) -> None:
    for article_id in ("sleep-0", "running-2"):
        client.post(f"/api/v1/articles/{article_id}/views")
    body = recommendations(client, "sleep-1", distinct="false")
    assert body["article"] == {
        "id": "sleep-1",
        "title": body["article"]["title"],
        "url": "https://example.com/sleep-1",
    }
    assert len(body["related"]) == 5 and len(body["latest"]) == 5
    assert ids(body["popular"]) == ["sleep-0", "running-2"] or ids(body["popular"]) == [
        "running-2",
        "sleep-0",
    ]
    assert set(body["index"]) == {"version", "built_at"}
    assert set(body["related"][0]) == {"id", "title", "url", "published_at", "score", "reason", "terms"}
    assert set(body["latest"][0]) == {"id", "title", "url", "published_at"}
    assert set(body["popular"][0]) == {"id", "title", "url", "published_at", "views"}


def test_related_are_the_same_topic_ordered_by_score(seeded: Flask, client: FlaskClient) -> None:
    related = recommendations(client, "baking-1", limit=3)["related"]
    assert {item["id"].split("-")[0] for item in related} == {"baking"}
    scores = [item["score"] for item in related]
    assert scores == sorted(scores, reverse=True) and all(0 < score <= 1 for score in scores)


def test_scores_stay_similarities_when_titles_boost_them(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    """Pages behind one title have their blend multiplied (shared titles, title words): the
    reported score stays in [0, 1] and keeps the list's order."""
    pages = [
        {
            "id": f"faq-{number}",
            "title": "How do I reset my password",
            "body": f"Password reset: {' '.join(OWN_WORDS[number * 8 : number * 8 + 8])} account.",
        }
        for number in range(4)
    ] + [article("sleep", number) for number in range(6)]
    assert client.post("/api/v1/articles", json=pages, headers=admin).status_code == 200
    index = build_index(app.extensions["store"], Path(app.config["MODEL_DIR"])).index
    row = index.row_of("faq-0")
    assert index.scores_[row].max() > 1  # the boosts took the blend past 1
    listed = recommendations(client, "faq-0", limit=5)["related"]
    related = [item for item in listed if item["reason"] == "similar"]
    scores = [item["score"] for item in related]
    assert len(scores) >= 3 and {item["id"] for item in related[:3]} == {"faq-1", "faq-2", "faq-3"}
    assert scores == sorted(scores, reverse=True) and all(0 < score <= 1 for score in scores)


def test_reported_score_keeps_cosines_and_the_order() -> None:
    values = [0.0, 0.05, 0.5, 0.9, 0.95, 1.0, 1.5, 3.0]
    reported = [reported_score(value) for value in values]
    assert reported[:4] == values[:4]
    assert all(low < high for low, high in pairwise(reported))
    assert all(0.9 < value < 1.0 for value in reported[4:])


def test_article_itself_is_never_listed(seeded: Flask, client: FlaskClient) -> None:
    client.post("/api/v1/articles/garden-3/views")
    body = recommendations(client, "garden-3", limit=50, window="all")
    for listed in every_listed_id(body):
        assert "garden-3" not in listed
        assert len(listed) == len(set(listed)), "an article listed twice"


def test_latest_is_newest_first_and_undated_last(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    undated = article("garden", 9, published_at=None, id="undated-garden")
    assert client.put("/api/v1/articles/undated-garden", json=undated, headers=admin).status_code == 201
    latest = recommendations(client, "sleep-0", limit=50, sections="latest")["latest"]
    dates = [item["published_at"] for item in latest]
    assert dates[-1] is None and ids(latest)[-1] == "undated-garden"
    assert dates[:-1] == sorted(dates[:-1], reverse=True)


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        # undated sorts as the first moment of year 1, which is also a date an article may have
        (None, "0001-01-01T00:00:00Z"),
        # a microsecond apart where a float timestamp tells apart only every ~8 µs
        ("0001-01-01T00:00:00.000002Z", "0001-01-01T00:00:00.000003Z"),
    ],
)
def test_latest_and_the_article_list_order_the_earliest_dates_exactly(
    seeded: Flask, client: FlaskClient, admin: dict[str, str], earlier: str | None, later: str
) -> None:
    # ids in the opposite order, so that a tie broken by id would list them the wrong way round
    for article_id, published_at in (("zz-earlier", earlier), ("aa-later", later)):
        record = article("garden", 9, published_at=published_at, id=article_id)
        assert client.put(f"/api/v1/articles/{article_id}", json=record, headers=admin).status_code == 201
    latest = ids(recommendations(client, "sleep-0", limit=50, sections="latest")["latest"])
    listed = [item["id"] for item in client.get("/api/v1/articles?limit=100").get_json()["articles"]]
    for order in (latest, listed):
        assert order.index("aa-later") < order.index("zz-earlier")
    if earlier is None:
        assert latest[-2:] == ["aa-later", "zz-earlier"]
    for article_id in ("zz-earlier", "aa-later"):  # one view each: ties go to the newer article
        assert client.post(f"/api/v1/articles/{article_id}/views").status_code == 202
    popular = ids(recommendations(client, "sleep-0", limit=50, sections="popular", window="all")["popular"])
    assert popular.index("aa-later") < popular.index("zz-earlier")


def test_future_article_is_stored_but_in_no_list(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    future = datetime.now(UTC) + timedelta(days=30)
    record = article("sleep", 7, published_at=future, id="sleep-future")
    assert client.put("/api/v1/articles/sleep-future", json=record, headers=admin).status_code == 201
    assert client.post("/api/v1/articles/sleep-future/views").status_code == 202
    build_index(seeded.extensions["store"], Path(seeded.config["MODEL_DIR"]))
    body = recommendations(client, "sleep-1", limit=50, window="all")
    for listed in every_listed_id(body):
        assert "sleep-future" not in listed
    assert "sleep-future" not in ids(client.get("/api/v1/articles?limit=100").json["articles"])
    assert client.get("/api/v1/articles/sleep-future").json["title"] == record["title"]


def test_deleted_article_leaves_every_list_at_once(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    client.post("/api/v1/articles/running-1/views")
    before = recommendations(client, "running-0", limit=50, window="all", distinct="false")
    assert all("running-1" in listed for listed in every_listed_id(before))
    assert client.delete("/api/v1/articles/running-1", headers=admin).status_code == 204
    after = recommendations(client, "running-0", limit=50, window="all")
    for listed in every_listed_id(after):
        assert "running-1" not in listed
    assert client.get("/api/v1/articles/running-1").status_code == 404


def test_popular_orders_by_views_and_ties_go_to_the_newer(seeded: Flask, client: FlaskClient) -> None:
    for article_id, views in (("baking-0", 1), ("baking-3", 1), ("garden-1", 3)):
        for _ in range(views):
            client.post(f"/api/v1/articles/{article_id}/views")
    popular = recommendations(client, "sleep-0", sections="popular")["popular"]
    assert [(item["id"], item["views"]) for item in popular] == [
        ("garden-1", 3),
        ("baking-3", 1),
        ("baking-0", 1),
    ]


def test_popular_counts_only_views_inside_the_window(seeded: Flask, client: FlaskClient) -> None:
    views = seeded.extensions["store"].views
    now = datetime.now(UTC)
    views.record("garden-0", at=now - timedelta(hours=30), count=5)
    views.record("garden-1", at=now - timedelta(days=10), count=9)
    views.record("garden-2", at=now, count=1)

    def popular(window: str) -> list[tuple[str, int]]:
        items = recommendations(client, "sleep-0", sections="popular", window=window)["popular"]
        return [(item["id"], item["views"]) for item in items]

    assert popular("24h") == [("garden-2", 1)]
    assert popular("7d") == [("garden-0", 5), ("garden-2", 1)]
    assert popular("30d") == popular("all") == [("garden-1", 9), ("garden-0", 5), ("garden-2", 1)]


@pytest.mark.parametrize("limit", [1, 3, 12])
def test_limit_applies_to_each_section(seeded: Flask, client: FlaskClient, limit: int) -> None:
    for article_id in ("sleep-0", "sleep-2", "running-0", "running-1", "baking-0"):
        client.post(f"/api/v1/articles/{article_id}/views")
    body = recommendations(client, "garden-0", limit=limit, distinct="false")
    assert len(body["related"]) == min(limit, 15)
    assert len(body["latest"]) == min(limit, 15)
    assert len(body["popular"]) == min(limit, 5)


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ("related", {"related"}),
        ("latest,popular", {"latest", "popular"}),
        ("popular,related,latest", {"related", "latest", "popular"}),
    ],
)
def test_only_the_sections_asked_for(
    seeded: Flask, client: FlaskClient, sections: str, expected: set[str]
) -> None:
    body = recommendations(client, "sleep-0", sections=sections)
    assert set(body) - {"article", "index"} == expected


def test_new_article_gets_related_before_the_next_build(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    fresh = article(
        "baking", 11, id="new-bread", title="Sourdough bread and yeast", published_at=datetime.now(UTC)
    )
    assert client.put("/api/v1/articles/new-bread", json=fresh, headers=admin).status_code == 201
    body = recommendations(client, "new-bread", limit=3)
    assert {item["id"].split("-")[0] for item in body["related"]} == {"baking"}
    assert ids(recommendations(client, "sleep-0", sections="latest", limit=1)["latest"]) == ["new-bread"]


def test_edited_article_is_scored_by_its_new_text(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    moved = article("running", 2, id="garden-2", category="running")
    assert client.put("/api/v1/articles/garden-2", json=moved, headers=admin).status_code == 200
    related = recommendations(client, "garden-2", limit=3)["related"]
    assert {item["id"].split("-")[0] for item in related} == {"running"}


def test_before_any_index_related_is_empty_and_lists_still_served(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    for number in range(3):
        client.put(f"/api/v1/articles/sleep-{number}", json=article("sleep", number), headers=admin)
    client.post("/api/v1/articles/sleep-2/views")
    body = recommendations(client, "sleep-0", distinct="false")
    assert body["related"] == [] and body["index"] is None
    assert ids(body["latest"]) == ["sleep-2", "sleep-1"]
    assert ids(body["popular"]) == ["sleep-2"]


def test_unknown_article_is_404(seeded: Flask, client: FlaskClient) -> None:
    response = client.get(URL.format("no-such-article"))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "article_not_found"


def test_unknown_parameters_are_ignored(seeded: Flask, client: FlaskClient) -> None:
    assert client.get(URL.format("sleep-0"), query_string={"utm_source": "x"}).status_code == 200
