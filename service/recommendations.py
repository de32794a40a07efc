"""Assembling the three lists under an article: related, latest and popular."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.articles import Article, isoformat
from service.recommender.artifacts import IndexArtifact
from service.store import Store
from service.windows import window_start

SECTIONS = ("related", "latest", "popular")


@dataclass(frozen=True)
class RecommendationRequest:
    article_id: str
    sections: tuple[str, ...] = SECTIONS
    limit: int = 5
    window: str = "7d"


def related_candidates(artifact: IndexArtifact, article: Article) -> list[tuple[str, float]]:
    """Scored neighbours of ``article`` from the index, best first.

    An article indexed with its current content reads its precomputed row; one added or
    changed since the build is vectorized now and scored with one sparse product.
    """
    index = artifact.index
    row = index.row_of(article.id)
    if row is not None and index.content_hashes_[row] == article.content_hash():
        return index.neighbours(row)
    return index.similar_to(article.to_document())


def related(
    store: Store, artifact: IndexArtifact | None, article: Article, *, limit: int, now: datetime
) -> list[dict[str, Any]]:
    """The ``limit`` most similar published articles, each with its cosine ``score``."""
    if artifact is None:
        return []
    candidates = [(id_, score) for id_, score in related_candidates(artifact, article) if id_ != article.id]
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    # Look up candidates in batches a little larger than needed: most are published, so one
    # small query usually suffices; deleted or future ones make us read further down.
    batch = limit + 5
    for start in range(0, len(candidates), batch):
        chunk = candidates[start : start + batch]
        published = store.articles.published_summaries([id_ for id_, _ in chunk], now=now)
        for article_id, score in chunk:
            summary = published.get(article_id)
            if summary is None or article_id in seen:
                continue
            seen.add(article_id)
            items.append({**summary.to_json(), "score": round(score, 4)})
            if len(items) == limit:
                return items
    return items


def recommend(
    store: Store,
    artifact: IndexArtifact | None,
    article: Article,
    request: RecommendationRequest,
    *,
    now: datetime,
) -> dict[str, Any]:
    """The recommendations body of CONTRACT.md for one article."""
    answer: dict[str, Any] = {
        "article": {"id": article.id, "title": article.title, "url": article.url},
    }
    if "related" in request.sections:
        answer["related"] = related(store, artifact, article, limit=request.limit, now=now)
    if "latest" in request.sections:
        latest = store.articles.latest(limit=request.limit, now=now, exclude=[article.id])
        answer["latest"] = [summary.to_json() for summary in latest]
    if "popular" in request.sections:
        popular = store.views.popular(
            since=window_start(request.window, now),
            now=now,
            limit=request.limit,
            exclude=[article.id],
        )
        answer["popular"] = [{**item.article.to_json(), "views": item.views} for item in popular]
    answer["index"] = index_info(artifact)
    return answer


def index_info(artifact: IndexArtifact | None) -> dict[str, Any] | None:
    if artifact is None:
        return None
    return {"version": artifact.version, "built_at": isoformat(artifact.built_at)}


def parse_sections(value: str | None) -> Sequence[str]:
    """Validate the ``sections`` parameter; raises ``ValueError`` with a reason."""
    if value is None:
        return SECTIONS
    names = [name.strip() for name in value.split(",")]
    unknown = [name for name in names if name not in SECTIONS]
    if not value.strip() or unknown:
        raise ValueError(f"sections must be a non-empty comma-separated subset of {', '.join(SECTIONS)}")
    return tuple(dict.fromkeys(names))
