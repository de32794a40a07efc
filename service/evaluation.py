"""Offline quality: precision@k of related posts against withheld category labels."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.catalog import CatalogHolder
from service.corpus import read_corpus
from service.importer import parse_records
from service.popularity import PopularList
from service.recommend import FreshMatcher, RecommendationRequest, RelatedPolicy, Snapshots
from service.recommend.related import RelatedList
from service.recommender.embeddings import DocumentEmbeddings
from service.reindex import build_index
from service.store import Store


@dataclass(frozen=True)
class EvaluationReport:
    articles: int
    evaluated: int
    skipped: int
    precision: float
    seconds: float


def evaluate_corpus(
    path: Path,
    *,
    k: int,
    workdir: Path,
    params: dict[str, Any] | None = None,
    embed: DocumentEmbeddings | None = None,
) -> EvaluationReport:
    """Import ``path`` into a temporary store without labels, build, and score ``related``.

    Records are identified by position (ids from other systems may use characters the
    article id does not allow); ``category`` and ``tags`` are withheld from the index and
    ``category`` is the label: precision@k is the share of an article's top ``k`` related
    posts in its own category, over ``k``, averaged over the labelled articles.
    """
    started = time.perf_counter()
    labels: dict[str, str | None] = {}

    def withhold_labels(position: int, record: Any) -> Any:
        if not isinstance(record, dict):
            return record
        article_id = f"doc-{position}"
        labels[article_id] = record.get("category")
        return {**record, "id": article_id, "category": None, "tags": []}

    parsed = parse_records(read_corpus(path), prepare=withhold_labels)
    store = Store.from_url(f"sqlite:///{workdir / 'evaluate.db'}")
    try:
        store.create_schema()
        now = datetime.now(UTC)
        store.articles.upsert_many(parsed.articles, now=now)
        artifact = build_index(store, workdir / "models", params=params, embed=embed)
        total, evaluated = 0.0, 0
        snapshots = Snapshots(CatalogHolder(store).load(), artifact, PopularList.of(0, ()), now)
        related = RelatedList(snapshots, RelatedPolicy(), FreshMatcher.for_store(store))
        for article in parsed.articles:
            label = labels.get(article.id)
            summary = snapshots.catalog.get(article.id)
            if not label or summary is None:
                continue
            items = related.items(summary, RecommendationRequest(article.id, sections=("related",), limit=k))
            total += sum(labels.get(item.summary.id) == label for item in items) / k
            evaluated += 1
    finally:
        store.dispose()
    return EvaluationReport(
        articles=len(parsed.articles),
        evaluated=evaluated,
        skipped=parsed.invalid,
        precision=total / evaluated if evaluated else 0.0,
        seconds=time.perf_counter() - started,
    )
