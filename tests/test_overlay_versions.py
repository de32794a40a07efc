"""Fresh articles never vanish: learned neighbours outlive the build that takes them in.

Workers adopt a newly published index within a moment, not at once. A fresh article is in an
older article's list on the old index only through the overlay, so the overlay is not cleared
when a build publishes: entries go once an index that has them has been published for the
grace period, at a later build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.reindex import build_index
from service.store import Store
from tests.api import recommendations
from tests.factories import article

FRESH = "sleep-new"
OLDER = "sleep-2"  # an indexed article whose list the fresh one joins


def similar(client: FlaskClient, article_id: str) -> list[str]:
    """The ids in ``article_id``'s related list that are there for their similarity."""
    related = recommendations(client, article_id, limit=5, sections="related")["related"]
    return [item["id"] for item in related if item["reason"] == "similar"]


def served(client: FlaskClient) -> str:
    return str(recommendations(client, OLDER, sections="related")["index"]["version"])


def write_fresh_article(client: FlaskClient, admin: dict[str, str]) -> None:
    """A new article on the topic of OLDER's (not a near-duplicate of any: those share a list slot)."""
    fresh = article("sleep", 5, id=FRESH, published_at=datetime.now(UTC))
    assert client.put(f"/api/v1/articles/{FRESH}", json=fresh, headers=admin).status_code == 201


def learned(store: Store) -> set[str]:
    """The articles whose lists hold the fresh article through the overlay."""
    return {
        article_id
        for article_id, entries in store.overlay.all().items()
        if FRESH in {e.neighbour_id for e in entries}
    }


@pytest.fixture
def lagging_worker(seeded: Flask, make_app: Callable[..., Flask]) -> Iterator[FlaskClient]:
    """A worker of the same store and model directory that loaded the published index and looks
    for a new one only once an hour: one that has not switched yet."""
    app = make_app(INDEX_RELOAD_SECONDS=3600.0)
    client = app.test_client()
    served(client)  # loads the published index
    yield client
    app.extensions["index_holder"].close()


def test_a_fresh_article_stays_in_lists_of_a_worker_still_serving_the_previous_index(
    seeded: Flask, client: FlaskClient, admin: dict[str, str], lagging_worker: FlaskClient
) -> None:
    store, model_dir = seeded.extensions["store"], Path(seeded.config["MODEL_DIR"])
    old_version = served(lagging_worker)
    write_fresh_article(client, admin)
    assert FRESH in similar(lagging_worker, OLDER) and FRESH in similar(client, OLDER)

    new = build_index(store, model_dir)  # takes the fresh article in, and is published
    assert served(client) == new.version  # this worker switched
    assert served(lagging_worker) == old_version  # that one has not yet
    assert FRESH in similar(lagging_worker, OLDER)  # still listed there, through the overlay
    assert FRESH in similar(client, OLDER)  # and here, through the index
    assert OLDER in learned(store)


@pytest.mark.parametrize("runs_as", ["build_index", "job"])
def test_learned_neighbours_go_once_an_index_that_has_them_was_published_for_the_grace_period(
    seeded: Flask, client: FlaskClient, admin: dict[str, str], runs_as: str
) -> None:
    store, model_dir = seeded.extensions["store"], Path(seeded.config["MODEL_DIR"])
    reindexer = seeded.extensions["reindexer"]

    def rebuild(grace: timedelta) -> Any:
        if runs_as == "job":
            reindexer.overlay_grace = grace
            job = reindexer.run()
            assert job.state == "succeeded", job
            return job
        return build_index(store, model_dir, overlay_grace=grace)

    write_fresh_article(client, admin)
    assert OLDER in learned(store)
    rebuild(timedelta(0))  # it replaces the index the entries were learned against: they stay
    assert OLDER in learned(store)
    rebuild(timedelta(hours=1))  # it replaces one that has them, published a moment ago: they stay
    assert OLDER in learned(store)
    rebuild(timedelta(0))  # it replaces one that has them, published long enough: they go
    assert learned(store) == set()
    assert FRESH in similar(client, OLDER)  # from the index now


def test_an_edit_during_a_build_keeps_its_learned_neighbours(
    seeded: Flask, client: FlaskClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, model_dir = seeded.extensions["store"], Path(seeded.config["MODEL_DIR"])
    real_iter_all = store.articles.iter_all

    def iter_all() -> Any:  # the fresh article is written just after the build read the store
        articles = list(real_iter_all())
        write_fresh_article(client, admin)
        return iter(articles)

    monkeypatch.setattr(store.articles, "iter_all", iter_all)
    first = build_index(store, model_dir, overlay_grace=timedelta(0))
    monkeypatch.undo()
    assert FRESH not in first.index.ids_ and OLDER in learned(store)
    build_index(store, model_dir, overlay_grace=timedelta(0))  # entries learned after `first` read stay
    assert OLDER in learned(store) and FRESH in similar(client, OLDER)
