"""Learned neighbours never depend on every indexed article still being stored.

A write records the new or edited article in the lists of its most similar indexed articles.
Some of those may have been deleted since the build (or while the write runs): they are skipped,
and the others still list the new article at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from service.articles import Article, parse_article
from service.store import OverlayEntry, Store
from tests.api import recommendations
from tests.factories import article

FRESH = "sleep-new"
OLDER = "sleep-2"  # an indexed article whose list the fresh one joins
GONE = "sleep-1"  # an indexed article among the fresh one's neighbours, deleted before it is written


def similar(client: FlaskClient, article_id: str) -> list[str]:
    related = recommendations(client, article_id, limit=5, sections="related")["related"]
    return [item["id"] for item in related if item["reason"] == "similar"]


def fresh_article(number: int = 5, **fields: object) -> dict[str, object]:
    return article("sleep", number, id=FRESH, published_at=datetime.now(UTC), **fields)


def lists_holding(store: Store, neighbour_id: str) -> set[str]:
    """The articles whose lists hold ``neighbour_id`` through the overlay."""
    return {
        article_id
        for article_id, entries in store.overlay.all().items()
        if neighbour_id in {entry.neighbour_id for entry in entries}
    }


def test_a_new_article_joins_related_lists_after_an_indexed_article_was_deleted(
    seeded: Flask, client: FlaskClient, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    store = seeded.extensions["store"]
    assert GONE in seeded.extensions["index_holder"].current().index.ids_
    assert client.delete(f"/api/v1/articles/{GONE}", headers=admin).status_code == 204

    assert client.put(f"/api/v1/articles/{FRESH}", json=fresh_article(), headers=admin).status_code == 201
    assert FRESH in similar(client, OLDER)
    learned = lists_holding(store, FRESH)
    assert OLDER in learned and GONE not in learned
    assert "work after a committed write failed" not in caplog.text


def test_a_bulk_write_joins_related_lists_after_an_indexed_article_was_deleted(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    assert client.delete(f"/api/v1/articles/{GONE}", headers=admin).status_code == 204
    batch = [fresh_article(), article("baking", 7, published_at=datetime.now(UTC))]
    assert client.post("/api/v1/articles", json=batch, headers=admin).json == {"created": 2, "updated": 0}
    assert FRESH in similar(client, OLDER)
    assert "baking-7" in similar(client, "baking-1")


def test_an_edit_moves_its_learned_neighbours_after_an_article_it_was_learned_in_was_deleted(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    store = seeded.extensions["store"]
    assert client.put(f"/api/v1/articles/{FRESH}", json=fresh_article(), headers=admin).status_code == 201
    assert GONE in lists_holding(store, FRESH)
    assert client.delete(f"/api/v1/articles/{GONE}", headers=admin).status_code == 204

    baking = article("baking", 5, id=FRESH, published_at=datetime.now(UTC))  # now about bread
    assert client.put(f"/api/v1/articles/{FRESH}", json=baking, headers=admin).status_code == 200
    assert FRESH in similar(client, "baking-1") and FRESH not in similar(client, OLDER)


def test_entries_of_missing_articles_are_skipped_and_the_others_written(store: Store) -> None:
    now = datetime.now(UTC)
    store.articles.upsert_many([_stored("target-a"), _stored("target-b"), _stored("fresh")], now=now)
    entries = [
        OverlayEntry("target-a", "fresh", 0.5, 0.5),
        OverlayEntry("never-stored", "fresh", 0.4, 0.4),  # a target that is not stored
        OverlayEntry("target-b", "fresh", 0.3, 0.3),
        OverlayEntry("target-a", "not-stored-either", 0.2, 0.2),  # a new article deleted meanwhile
    ]
    store.overlay.replace(["fresh", "not-stored-either"], entries, now=now)
    learned = store.overlay.all()
    assert {article_id: [e.neighbour_id for e in found] for article_id, found in learned.items()} == {
        "target-a": ["fresh"],
        "target-b": ["fresh"],
    }


def test_a_store_failure_while_learning_is_no_acknowledgement_and_a_retry_completes_the_write(
    seeded: Flask, client: FlaskClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = seeded.extensions["store"]
    real_replace = store.overlay.replace

    def unreachable(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT INTO neighbour_overlay", None, ConnectionError("server closed"))

    monkeypatch.setattr(store.overlay, "replace", unreachable)
    response = client.put(f"/api/v1/articles/{FRESH}", json=fresh_article(), headers=admin)
    assert response.status_code == 503 and response.json["error"]["code"] == "store_unavailable"
    assert client.get(f"/api/v1/articles/{FRESH}").status_code == 200  # stored all the same

    monkeypatch.setattr(store.overlay, "replace", real_replace)
    assert client.put(f"/api/v1/articles/{FRESH}", json=fresh_article(), headers=admin).status_code == 200
    assert FRESH in similar(client, OLDER)


def _stored(article_id: str) -> Article:
    return parse_article(article("garden", 1, id=article_id))
