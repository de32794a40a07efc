"""Keeping related lists fresh between builds, and deciding when to rebuild.

A write scores the new or edited articles against the current index (one batch of sparse
products) and records them in the overlay of the articles they are most similar to, so
those articles list them at once in every worker. The next build takes them in; their entries
stay until every worker serves an index that has them (a build drops those learned before the
index it replaces read the store, once that index has been published for a grace period:
service.reindex), so a worker still serving the older index for a moment keeps listing them.
Deleted articles leave every list at once through the store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from service.articles import Article
from service.recommender.artifacts import IndexArtifact
from service.reindex import Reindexer
from service.store import OverlayEntry, Store

log = logging.getLogger(__name__)

# Each written article joins the lists of this many of its most similar articles.
LEARNED_NEIGHBOURS = 20
# Larger writes wait for the rebuild they trigger instead.
MAX_LEARNED_BATCH = 2000


def learn_neighbours(
    store: Store, artifact: IndexArtifact | None, written: Sequence[Article], *, now: datetime
) -> None:
    """Record each written article in the lists of the indexed articles it is most similar to."""
    if artifact is None or not written or len(written) > MAX_LEARNED_BATCH:
        return
    index = artifact.index
    documents = [article.to_document() for article in written]
    entries = [
        OverlayEntry(
            article_id=neighbour.id, neighbour_id=article.id, score=neighbour.score, cosine=neighbour.cosine
        )
        for article, neighbours in zip(written, index.similar_to_many(documents, LEARNED_NEIGHBOURS))
        for neighbour in neighbours
        if neighbour.id != article.id
    ]
    store.overlay.replace([article.id for article in written], entries, now=now)


def rebuild_if_due(
    store: Store,
    artifact: IndexArtifact | None,
    reindexer: Reindexer,
    *,
    changed_share: float,
    max_age: timedelta,
    now: datetime,
) -> bool:
    """Start a background rebuild when enough changed since the build; ``True`` if one started."""
    if artifact is None:
        total, _, _ = store.articles.changes_since(now)
        due = total > 0
    else:
        total, created, updated = store.articles.changes_since(artifact.built_at)
        deleted = max(0, artifact.articles - (total - created))
        changed = updated + deleted
        share = changed / max(artifact.articles, 1)
        due = changed > 0 and (share >= changed_share or now - artifact.built_at >= max_age)
    if not due:
        return False
    job, started = reindexer.start()
    if started:
        log.info("started rebuild job %s: enough changed since the last build", job.id)
    return started
