"""Demo traffic for the sample site, so that `make run` shows a living Popular list."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from service.store import Store


def seed_demo_views(store: Store, *, now: datetime, days: int = 30, total: int = 3000, seed: int = 7) -> int:
    """Record ``total`` made-up views over the last ``days``: a few popular articles, a long
    tail, more traffic recently. Deterministic for a given ``seed``. Returns views added."""
    ids = [
        article.id
        for article in store.articles.iter_all()
        if article.published_at is None or article.published_at <= now
    ]
    if not ids:
        return 0
    rng = random.Random(seed)
    rng.shuffle(ids)
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(ids))]
    counts: dict[tuple[str, datetime], int] = {}
    for article_id in rng.choices(ids, weights=weights, k=total):
        hours_ago = min(rng.expovariate(1 / (days * 24 / 3)), days * 24 - 1)
        key = (article_id, now - timedelta(hours=hours_ago))
        counts[key] = counts.get(key, 0) + 1
    store.views.add_counts(counts)
    return total
