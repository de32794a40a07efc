"""Offline quality: precision@k and hit@k of related posts against withheld labels (category or tags)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from service.articles import parse_article
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
    hit: float  # the share of labelled articles with at least one relevant among their top k
    seconds: float


# What makes two articles relevant to each other: the same category, or a shared tag.
Label = Literal["category", "tags"]
LABELS: tuple[Label, ...] = ("category", "tags")


def _labels_of(record: dict[str, Any], label: Label) -> frozenset[str]:
    if label == "tags":
        tags = record.get("tags")
        if not isinstance(tags, list):
            return frozenset()
        return frozenset(tag.strip().lower() for tag in tags if isinstance(tag, str) and tag.strip())
    category = record.get("category")
    return frozenset([category]) if isinstance(category, str) and category else frozenset()


def evaluate_corpus(
    path: Path,
    *,
    k: int,
    workdir: Path,
    params: dict[str, Any] | None = None,
    embed: DocumentEmbeddings | None = None,
    label: Label = "category",
) -> EvaluationReport:
    """Import ``path`` into a temporary store without labels, build, and score ``related``.

    Records are identified by position (ids from other systems may use characters the
    article id does not allow); ``category`` and ``tags`` are withheld from the index and
    ``label`` says what is relevant: the same ``category`` (the default), or a shared tag
    (``tags``). precision@k is the share of an article's top ``k`` related posts relevant to it,
    over ``k``, and hit@k the share of articles with at least one, over the labelled articles.
    """
    started = time.perf_counter()
    labels: dict[str, frozenset[str]] = {}

    def withhold_labels(position: int, record: Any) -> Any:
        if not isinstance(record, dict):
            return record
        article_id = f"doc-{position}"
        parse_article({**record, "id": article_id})  # the labels too, as import-corpus checks them
        labels[article_id] = _labels_of(record, label)
        return {**record, "id": article_id, "category": None, "tags": []}

    parsed = parse_records(read_corpus(path), prepare=withhold_labels)
    store = Store.from_url(f"sqlite:///{workdir / 'evaluate.db'}")
    try:
        store.create_schema()
        now = datetime.now(UTC)
        store.articles.upsert_many(parsed.articles, now=now)
        artifact = build_index(store, workdir / "models", params=params, embed=embed)
        total, hits, evaluated = 0.0, 0, 0
        snapshots = Snapshots(CatalogHolder(store).load(), artifact, PopularList.of(0, ()), now)
        related = RelatedList(snapshots, RelatedPolicy(), FreshMatcher.for_store(store))
        for article in parsed.articles:
            own = labels.get(article.id)
            summary = snapshots.catalog.get(article.id)
            if not own or summary is None:
                continue
            items = related.items(summary, RecommendationRequest(article.id, sections=("related",), limit=k))
            relevant = sum(bool(own & labels.get(item.summary.id, frozenset())) for item in items)
            total += relevant / k
            hits += relevant > 0
            evaluated += 1
    finally:
        store.dispose()
    return EvaluationReport(
        articles=len(parsed.articles),
        evaluated=evaluated,
        skipped=parsed.invalid,
        precision=total / evaluated if evaluated else 0.0,
        hit=hits / evaluated if evaluated else 0.0,
        seconds=time.perf_counter() - started,
    )
