"""Related posts beyond similarity: fallbacks, near-duplicates, editorial control, recency,
distinct lists and freshness between builds."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.reindex import build_index
from tests.api import ids
from tests.api import recommendations as get
from tests.factories import article, corpus


def rebuild(app: Flask) -> None:
    build_index(app.extensions["store"], Path(app.config["MODEL_DIR"]))


def test_similar_items_carry_their_reason_and_the_terms_that_matched(
    seeded: Flask, client: FlaskClient
) -> None:
    related = get(client, "baking-1", limit=3)["related"]
    assert [item["reason"] for item in related] == ["similar"] * 3
    source = client.get("/api/v1/articles/baking-1").json
    for item in related:
        other = client.get(f"/api/v1/articles/{item['id']}").json
        assert item["terms"], item
        for term in item["terms"]:
            assert term in source["body"].lower() + source["title"].lower()
            assert term in other["body"].lower() + other["title"].lower()


def test_a_block_is_never_empty_and_fallbacks_come_in_order(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    loner = {
        "id": "loner",
        "title": "Quantum chromodynamics",
        "body": "Gluons quarks hadrons confinement lattice.",
        "published_at": "2025-06-01T00:00:00Z",
        "tags": ["dough"],
        "category": "physics",
    }
    client.put("/api/v1/articles/loner", json=loner, headers=admin)
    other = {
        **loner,
        "id": "physics-2",
        "title": "Superconductors",
        "body": "Cooper pairs at low temperature.",
    }
    client.put("/api/v1/articles/physics-2", json={**other, "tags": []}, headers=admin)
    client.put("/api/v1/articles/baking-9", json=article("baking", 9, tags=["dough"]), headers=admin)
    client.post("/api/v1/articles/running-3/views")
    related = get(client, "loner", limit=16, distinct="false")["related"]
    reasons = [item["reason"] for item in related]
    assert len(related) == 16 and "similar" not in reasons
    assert reasons == sorted(reasons, key=["same_category", "shared_tags", "popular", "latest"].index)
    assert ids([item for item in related if item["reason"] == "same_category"]) == ["physics-2"]
    assert ids([item for item in related if item["reason"] == "shared_tags"]) == ["baking-9"]
    assert ids([item for item in related if item["reason"] == "popular"]) == ["running-3"]
    assert all(item["score"] == 0.0 and "terms" not in item for item in related)


def test_near_duplicates_never_share_a_list_and_are_not_each_others_related(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    copy = {**article("sleep", 1), "id": "sleep-1-copy", "published_at": "2025-03-01T00:00:00Z"}
    client.put("/api/v1/articles/sleep-1-copy", json=copy, headers=admin)
    rebuild(seeded)
    for viewed in ("sleep-1", "sleep-1-copy"):
        client.post(f"/api/v1/articles/{viewed}/views")
    assert "sleep-1-copy" not in ids(get(client, "sleep-1", limit=20)["related"])
    assert "sleep-1" not in ids(get(client, "sleep-1-copy", limit=20)["related"])
    body = get(client, "garden-0", limit=20, distinct="false", window="all")
    for section in ("related", "latest", "popular"):
        assert len({"sleep-1", "sleep-1-copy"} & set(ids(body[section]))) == 1, section


def test_a_story_filed_again_under_its_title_is_a_near_duplicate_and_under_another_a_related_post(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    original = article("sleep", 1)
    edited = original["body"].replace("bedtime", "evening", 1)  # a word changed: alike, not a copy
    for article_id, title in (
        ("sleep-1-again", original["title"]),
        ("sleep-1-sequel", "Melatonin: more notes"),
    ):
        record = {
            **original,
            "id": article_id,
            "title": title,
            "body": edited,
            "published_at": "2025-03-01T00:00:00Z",
        }
        client.put(f"/api/v1/articles/{article_id}", json=record, headers=admin)
    # scored on the fly (no rebuild): the same title makes the pair one story
    assert "sleep-1" not in ids(get(client, "sleep-1-again", limit=20)["related"])
    assert ids(get(client, "sleep-1-sequel", limit=20)["related"])[0] == "sleep-1"
    rebuild(seeded)  # and built alike
    assert "sleep-1" not in ids(get(client, "sleep-1-again", limit=20)["related"])
    assert "sleep-1-again" not in ids(get(client, "sleep-1", limit=20)["related"])
    sequel = ids(get(client, "sleep-1-sequel", limit=20)["related"])  # the story once, first
    assert sequel[0] in {"sleep-1", "sleep-1-again"} and len({"sleep-1", "sleep-1-again"} & set(sequel)) == 1


def test_pins_come_first_in_order_and_exclusions_apply_at_once(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    url = "/api/v1/admin/articles/sleep-0/editorial"
    response = client.put(
        url, json={"pinned": ["garden-2", "running-1"], "excluded": ["sleep-1"]}, headers=admin
    )
    assert response.status_code == 200
    assert client.get(url, headers=admin).json == {
        "article_id": "sleep-0",
        "pinned": ["garden-2", "running-1"],
        "excluded": ["sleep-1"],
    }
    related = get(client, "sleep-0", limit=5)["related"]
    assert ids(related)[:2] == ["garden-2", "running-1"]
    assert [item["reason"] for item in related[:2]] == ["pinned", "pinned"]
    assert "sleep-1" not in ids(get(client, "sleep-0", limit=15)["related"])
    client.put(url, json={"pinned": [], "excluded": []}, headers=admin)
    assert ids(get(client, "sleep-0", limit=3)["related"])[0].startswith("sleep")


def test_site_wide_exclusions_empty_every_list_of_those_articles(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    client.post("/api/v1/articles/baking-0/views")
    response = client.put(
        "/api/v1/admin/exclusions", json={"categories": ["Baking"], "tags": ["nap"]}, headers=admin
    )
    assert response.json == {"categories": ["baking"], "tags": ["nap"]}
    body = get(client, "baking-1", limit=20, window="all", distinct="false")
    for section in ("related", "latest", "popular"):
        listed = ids(body[section])
        assert not [i for i in listed if i.startswith("baking")], section
        for item_id in listed:
            assert "nap" not in [t.lower() for t in client.get(f"/api/v1/articles/{item_id}").json["tags"]]


def test_lists_do_not_repeat_each_other_unless_asked(seeded: Flask, client: FlaskClient) -> None:
    for viewed in ("sleep-0", "sleep-2", "sleep-3", "garden-0"):
        client.post(f"/api/v1/articles/{viewed}/views")
    body = get(client, "sleep-1", limit=5)
    listed = ids(body["related"]) + ids(body["popular"]) + ids(body["latest"])
    assert len(listed) == len(set(listed)) and len(body["latest"]) == 5
    overlapping = get(client, "sleep-1", limit=5, distinct="false")
    assert set(ids(overlapping["related"])) & set(ids(overlapping["popular"]))


def test_max_age_days_keeps_old_articles_out_of_related(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    fresh = article("running", 8, published_at=now - timedelta(days=3))
    client.put("/api/v1/articles/running-8", json=fresh, headers=admin)
    rebuild(seeded)
    related = get(client, "running-0", limit=10, max_age_days=30)["related"]
    similar = [item for item in related if item["reason"] == "similar"]
    assert ids(similar) == ["running-8"]
    assert all(
        item["published_at"] >= (now - timedelta(days=30)).isoformat()[:10]
        for item in related
        if item["reason"] != "latest"
    )


def test_recency_decay_moves_newer_articles_up(make_app: Any, admin: dict[str, str]) -> None:
    plain = make_app()
    client = plain.test_client()
    records = corpus()
    records.append(article("garden", 8, published_at=datetime.now(UTC) - timedelta(days=1)))
    client.post("/api/v1/articles", json=records, headers=admin)
    rebuild(plain)
    before = ids(get(client, "garden-0", limit=4, sections="related")["related"])
    decayed = make_app(RECENCY_WEIGHT=0.9, RECENCY_HALF_LIFE_DAYS=30).test_client()
    after = ids(get(decayed, "garden-0", limit=4, sections="related")["related"])
    assert after[0] == "garden-8" and before != after


def test_a_new_article_joins_older_articles_lists_without_a_rebuild(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    version = get(client, "sleep-1")["index"]["version"]
    twin = article(
        "sleep", 1, id="sleep-new", title="Melatonin insomnia bedtime", published_at=datetime.now(UTC)
    )
    started = time.monotonic()
    client.put("/api/v1/articles/sleep-new", json=twin, headers=admin)
    body = get(client, "sleep-2", limit=5)
    assert "sleep-new" in ids(body["related"]) and time.monotonic() - started < 5
    assert body["index"]["version"] == version  # no rebuild happened
    moved = article("baking", 1, id="sleep-new", category="baking", published_at=datetime.now(UTC))
    client.put("/api/v1/articles/sleep-new", json=moved, headers=admin)
    assert "sleep-new" not in ids(get(client, "sleep-2", limit=5)["related"])
    assert "sleep-new" in ids(get(client, "baking-2", limit=5)["related"])
    client.delete("/api/v1/articles/sleep-new", headers=admin)
    assert "sleep-new" not in ids(get(client, "baking-2", limit=15)["related"])


def test_enough_changes_start_a_rebuild_by_themselves(make_app: Any, admin: dict[str, str]) -> None:
    app = make_app(AUTO_REBUILD=True, REBUILD_CHANGED_SHARE=0.1)
    client = app.test_client()
    client.post("/api/v1/articles", json=corpus(), headers=admin)  # no index yet: builds
    deadline = time.monotonic() + 30
    while get(client, "sleep-0")["index"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first = get(client, "sleep-0")["index"]["version"]
    client.put("/api/v1/articles/extra-1", json=article("garden", 11, id="extra-1"), headers=admin)
    time.sleep(0.3)
    assert get(client, "sleep-0")["index"]["version"] == first  # 1 of 16 changed: below 10 %
    client.post(
        "/api/v1/articles", json=[article("garden", n, id=f"extra-{n}") for n in (12, 13)], headers=admin
    )
    while get(client, "sleep-0")["index"]["version"] == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert get(client, "sleep-0")["index"]["version"] != first
    # The job goes on after publishing (clearing the overlay): let it end with the test's store.
    while client.get("/api/v1/admin/reindex", headers=admin).json["job"]["state"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/v1/admin/articles/sleep-0/editorial", {"pinned": "garden-1"}, 422),
        ("/api/v1/admin/articles/sleep-0/editorial", {"pinned": ["bad id"]}, 422),
        ("/api/v1/admin/articles/sleep-0/editorial", {"pinned": ["sleep-0"]}, 422),
        ("/api/v1/admin/articles/sleep-0/editorial", {"pinned": ["a"], "excluded": ["a"]}, 422),
        ("/api/v1/admin/articles/sleep-0/editorial", {"pins": []}, 422),
        ("/api/v1/admin/articles/nope/editorial", {"pinned": []}, 404),
        ("/api/v1/admin/exclusions", {"categories": [1]}, 422),
        ("/api/v1/admin/exclusions", ["x"], 422),
    ],
)
def test_bad_editorial_settings_are_refused_and_change_nothing(
    seeded: Flask, client: FlaskClient, admin: dict[str, str], path: str, body: Any, status: int
) -> None:
    before = client.get("/api/v1/admin/articles/sleep-0/editorial", headers=admin).json
    response = client.put(path, json=body, headers=admin)
    assert response.status_code == status and response.json["error"]["code"]
    assert client.get("/api/v1/admin/articles/sleep-0/editorial", headers=admin).json == before
    assert client.get("/api/v1/admin/exclusions", headers=admin).json == {"categories": [], "tags": []}
    assert client.put(path, json=body).status_code == 401


def test_pins_keep_the_editors_order_even_against_their_scores(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    by_score = [item["id"] for item in get(client, "sleep-0", limit=3)["related"]]
    assert len(by_score) == 3
    pinned = [by_score[2], by_score[0]]  # the weaker match first
    client.put("/api/v1/admin/articles/sleep-0/editorial", json={"pinned": pinned}, headers=admin)
    related = get(client, "sleep-0", limit=3)["related"]
    assert ids(related) == [by_score[2], by_score[0], by_score[1]]
    assert [item["reason"] for item in related] == ["pinned", "pinned", "similar"]


def test_shared_tags_fill_past_many_candidates_that_rules_drop(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    """A fallback keeps reading while the rows it reads are dropped (here: too old)."""
    recent = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    loner = {"id": "loner", "title": "Gluons", "body": "Quarks hadrons.", "published_at": recent}
    old_ones = [
        {
            **loner,
            "id": f"old-{n}",
            "title": f"Lattice {n}",
            "body": f"Bosons {n}.",
            "published_at": "2001-01-01",
        }
        for n in range(40)
    ]
    newer = [
        {**loner, "id": f"new-{n}", "title": f"Mesons {n}", "body": "Pions.", "tags": ["x1"]}
        for n in range(2)
    ]
    tagged = [{**record, "tags": ["x1", "x2"]} for record in [loner, *old_ones]]
    assert client.post("/api/v1/articles", json=tagged + newer, headers=admin).status_code == 200
    related = get(client, "loner", limit=5, max_age_days=100, distinct="false")["related"]
    from_tags = [item["id"] for item in related if item["reason"] == "shared_tags"]
    assert sorted(from_tags) == ["new-0", "new-1"]


def test_the_recommender_core_loads_without_the_web_app() -> None:
    code = (
        "import sys, service.recommender, service.recommend, service.catalog;"
        "web = [m for m in ('flask', 'service.app', 'service.api') if m in sys.modules];"
        "assert not web, web"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)


def test_an_editor_pinning_two_copies_of_a_story_sees_both(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    copy = {**article("garden", 1), "id": "garden-1-copy"}  # the story filed again
    client.put("/api/v1/articles/garden-1-copy", json=copy, headers=admin)
    rebuild(seeded)
    assert "garden-1-copy" not in ids(get(client, "garden-1", limit=20)["related"])  # one story
    pins = ["garden-1", "garden-1-copy"]
    client.put("/api/v1/admin/articles/sleep-0/editorial", json={"pinned": pins}, headers=admin)
    assert ids(get(client, "sleep-0", limit=5)["related"])[:2] == pins  # chosen one by one


def test_site_wide_exclusions_are_refused_when_too_long_as_stored(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    # "İ" lower-cased is two characters: 200 of them would be stored as 400
    for field, name in [("categories", "İ" * 200), ("tags", "İ" * 101)]:
        response = client.put("/api/v1/admin/exclusions", json={field: [name]}, headers=admin)
        assert response.status_code == 422, response.json
        assert response.json["error"]["details"][0]["field"] == field
    fits = client.put("/api/v1/admin/exclusions", json={"categories": ["İ" * 100]}, headers=admin)
    assert fits.status_code == 200 and fits.json["categories"] == ["i̇" * 100]
