"""Public and admin endpoints on articles: reading, listing, writing and deleting them."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from service.api.auth import admin_required
from service.api.body import json_body
from service.api.params import integer
from service.api.shapes import summary_json
from service.articles import Article, ArticleValidationError, parse_article
from service.errors import ArticleNotFound, InvalidArticle, StoreUnavailable
from service.freshness import learn_neighbours, rebuild_if_due
from service.index_holder import get_index_holder
from service.recommender.artifacts import IndexArtifact
from service.reindex import get_reindexer
from service.resources import (
    get_catalog,
    get_store,
)
from service.store import Store

log = logging.getLogger(__name__)

blueprint = Blueprint("articles", __name__, url_prefix="/api/v1/articles")

MAX_RECOMMENDATIONS = 50
MAX_PAGE = 100


def _now() -> datetime:
    return datetime.now(UTC)


def _after_write(written: list[Article]) -> None:
    """Put the written articles in related lists at once, and rebuild when enough has changed.

    The write has committed, but it is acknowledged only once every worker's next answer reflects
    it: a store error while recording its neighbours answers 503 (the write is stored; sent again,
    as PUT and bulk POST may be, it is recorded). Whatever else fails is logged and the client
    still gets its 2xx (the next rebuild catches up)."""
    store, artifact, now = get_store(), get_index_holder().current(), _now()
    try:
        _learn_neighbours(store, artifact, written, now=now)
        config = current_app.config
        if config["AUTO_REBUILD"]:
            rebuild_if_due(
                store,
                artifact,
                get_reindexer(),
                changed_share=float(config["REBUILD_CHANGED_SHARE"]),
                max_age=timedelta(hours=float(config["REBUILD_MAX_AGE_HOURS"])),
                now=now,
            )
    except StoreUnavailable:
        raise
    except Exception:  # the write is durable: never turn its answer into a 500
        log.exception("work after a committed write failed; the next rebuild catches up")


def _learn_neighbours(
    store: Store, artifact: IndexArtifact | None, written: list[Article], *, now: datetime
) -> None:
    try:
        learn_neighbours(store, artifact, written, now=now)
    except SQLAlchemyError as error:
        log.exception("recording the neighbours of a committed write failed")
        raise StoreUnavailable(
            "The article is stored but not yet in related lists: the store failed. Send it again."
        ) from error


def _article_or_404(article_id: str) -> Article:
    article = get_store().articles.get(article_id)
    if article is None:
        raise ArticleNotFound(article_id)
    return article


@blueprint.get("")
def list_articles() -> dict[str, Any]:
    limit = integer(request.args, "limit", default=50, low=1, high=MAX_PAGE)
    offset = integer(request.args, "offset", default=0, low=0, high=999_999_999)
    catalog, now = get_catalog().current(), _now()
    return {
        "articles": [summary_json(summary) for summary in catalog.page(now, offset=offset, limit=limit)],
        "total": catalog.count_published(now),
    }


@blueprint.get("/<article_id>")
def get_article(article_id: str) -> dict[str, Any]:
    return _article_or_404(article_id).to_json()


@blueprint.put("/<article_id>")
@admin_required
def put_article(article_id: str) -> tuple[dict[str, Any], int]:
    record = json_body()
    try:
        article = parse_article(record, article_id=article_id)
    except ArticleValidationError as error:
        raise InvalidArticle(
            "The article is not valid.", details=[e.to_json() for e in error.errors]
        ) from None
    counts = get_store().articles.upsert_many([article], now=_now())
    _after_write([article])
    return article.to_json(), 201 if counts.created else 200


@blueprint.post("")
@admin_required
def bulk_upsert() -> dict[str, int]:
    records = json_body()
    if not isinstance(records, list):
        raise InvalidArticle(
            "The body must be a JSON array of articles.",
            details=[{"index": None, "id": None, "field": "body", "message": "must be a JSON array"}],
        )
    parsed: list[Article] = []
    problems: list[dict[str, Any]] = []
    for position, record in enumerate(records):
        try:
            parsed.append(parse_article(record))
        except ArticleValidationError as error:
            problems.extend({**e.to_json(), "index": position} for e in error.errors)
    if problems:
        raise InvalidArticle(
            f"{len({p['index'] for p in problems})} of {len(records)} articles are not valid; "
            "none was stored.",
            details=problems,
        )
    counts = get_store().articles.upsert_many(parsed, now=_now())
    _after_write(parsed)
    return {"created": counts.created, "updated": counts.updated}


@blueprint.delete("/<article_id>")
@admin_required
def delete_article(article_id: str) -> Response:
    if not get_store().articles.delete(article_id, now=_now()):
        raise ArticleNotFound(article_id)
    _after_write([])
    response = Response(status=204)
    del response.headers["Content-Type"]  # no content, so no type (Flask's default: text/html)
    return response
