"""The JSON shapes of the API: records of the store and the core, turned into dicts."""

from __future__ import annotations

from typing import Any

from service.articles import isoformat
from service.recommend import Item, Recommendations
from service.recommender.artifacts import IndexArtifact
from service.store import ArticleEditorial, ArticleSummary, Job, SiteExclusions


def summary_json(summary: ArticleSummary) -> dict[str, Any]:
    """An article as lists show it: ``{"id", "title", "url", "published_at"}``."""
    return {
        "id": summary.id,
        "title": summary.title,
        "url": summary.url,
        "published_at": isoformat(summary.published_at),
    }


def item_json(item: Item) -> dict[str, Any]:
    """A list item: the summary plus what its list adds (score, reason, terms or views)."""
    shaped = summary_json(item.summary)
    if item.score is not None:
        shaped["score"] = round(item.score, 4)
    if item.reason is not None:
        shaped["reason"] = item.reason
    if item.terms is not None:
        shaped["terms"] = list(item.terms)
    if item.views is not None:
        shaped["views"] = item.views
    return shaped


def index_json(artifact: IndexArtifact | None) -> dict[str, Any] | None:
    if artifact is None:
        return None
    return {"version": artifact.version, "built_at": isoformat(artifact.built_at)}


def recommendations_json(answer: Recommendations) -> dict[str, Any]:
    """The recommendations body of CONTRACT.md, lists in the contract's order."""
    article = answer.article
    shaped: dict[str, Any] = {"article": {"id": article.id, "title": article.title, "url": article.url}}
    for section, items in answer.lists.items():
        shaped[section] = [item_json(item) for item in items]
    shaped["index"] = index_json(answer.artifact)
    if answer.stale:  # the store is unreachable: the lists as this worker last knew them
        shaped["stale"] = True
    return shaped


def job_json(job: Job) -> dict[str, Any]:
    """The contract's job object (plus ``source``: ``api`` or ``cli``, and
    ``plain_text_articles``: bodies the HTML parser failed on, indexed as plain text)."""
    return {
        "id": job.id,
        "state": job.state,
        "source": job.source,
        "started_at": isoformat(job.started_at),
        "finished_at": isoformat(job.finished_at),
        "articles": job.articles,
        "index_version": job.index_version,
        "error": job.error,
        "plain_text_articles": job.plain_text_articles,
    }


def editorial_json(article_id: str, editorial: ArticleEditorial) -> dict[str, Any]:
    return {"article_id": article_id, "pinned": list(editorial.pinned), "excluded": list(editorial.excluded)}


def exclusions_json(exclusions: SiteExclusions) -> dict[str, Any]:
    return {"categories": sorted(exclusions.categories), "tags": sorted(exclusions.tags)}
