"""Demo traffic for the sample site, so that `make run` shows a living Popular list."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from service.store import Store, ViewBatch

# Rows a batch of demo views writes at most: well within the bound parameters a statement may
# carry (PostgreSQL 65,535; SQLite 32,766), at four a row.
_ROWS_PER_BATCH = 5000


def seed_demo_views(
    store: Store, *, now: datetime, days: int = 30, total: int = 3000, seed: int = 7
) -> tuple[int, int]:
    """Record ``total`` made-up views over the last ``days``: a few popular articles, a long
    tail, more traffic recently. Deterministic for a given ``seed``. Returns the views added and
    the days they span: in a store whose views are rolled up already, at most its hourly
    retention, whose days are then rolled up again with them (older days keep only daily rows,
    which the rollup cannot add to)."""
    ids = [
        article.id
        for article in store.articles.iter_all()
        if article.published_at is None or article.published_at <= now
    ]
    if not ids:
        return 0, days
    rolled_up = store.rollup.checkpoint() is not None
    if rolled_up:
        days = min(days, store.rollup.retention_days)
    rng = random.Random(seed)
    rng.shuffle(ids)
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(ids))]
    # Readers, as the beacon counts them (per article and day), from a pool a third the size of
    # the views: the dashboard's visitors and views per visitor look like a site's.
    readers = [rng.getrandbits(62) for _ in range(max(1, total // 3))]
    batch = ViewBatch()
    for article_id in rng.choices(ids, weights=weights, k=total):
        hours_ago = _hours_ago(rng, days)
        batch.add_view(article_id, now - timedelta(hours=hours_ago), visitor=rng.choice(readers))
        if len(batch.views) + len(batch.visitors) >= _ROWS_PER_BATCH:
            _record(store, batch)
            batch = ViewBatch()
    _record(store, batch)
    if rolled_up:
        store.rollup.run(now, reroll_from=(now - timedelta(days=days)).date())
    return total, days


def _record(store: Store, batch: ViewBatch) -> None:
    store.views.record_batch(lambda: batch)


def _hours_ago(rng: random.Random, days: int) -> float:
    """More traffic recently: exponential over the ``days``, drawn again past them (capped at the
    oldest hour instead, ~5 % of the views piled up there)."""
    while (hours := rng.expovariate(1 / (days * 24 / 3))) >= days * 24:
        pass
    return hours
