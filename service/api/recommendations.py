"""The three lists of an article page, as JSON and as an HTML fragment, with HTTP caching."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import orjson
from flask import Blueprint, Response, request
from sqlalchemy.exc import SQLAlchemyError

from service.answer_cache import EncodedAnswer
from service.api.fragment import render_fragment
from service.api.http_cache import cacheable
from service.api.params import boolean, choice, integer
from service.api.shapes import recommendations_json
from service.catalog import StoreUnreachable
from service.errors import ArticleNotFound, IndexNotReady, InvalidParameter
from service.index_holder import get_index_holder
from service.recommend import RecommendationRequest, Recommendations, Snapshots, parse_sections, recommend
from service.recommender.artifacts import IndexArtifact
from service.resources import (
    get_answer_cache,
    get_catalog,
    get_fresh_matcher,
    get_popularity,
    get_related_cache,
    get_related_policy,
)
from service.windows import WINDOWS

blueprint = Blueprint("recommendations", __name__, url_prefix="/api/v1/articles")

MAX_RECOMMENDATIONS = 50


@blueprint.get("/<article_id>/recommendations")
def recommendations(article_id: str) -> Response:
    answer = _answer(article_id, "json", lambda lists: orjson.dumps(recommendations_json(lists)))
    return cacheable(answer, "application/json")


@blueprint.get("/<article_id>/recommendations.html")
def recommendations_fragment(article_id: str) -> Response:
    answer = _answer(article_id, "html", lambda lists: render_fragment(lists).encode())
    return cacheable(answer, "text/html")


def _answer(article_id: str, form: str, encode: Callable[[Recommendations], bytes]) -> EncodedAnswer:
    """The encoded answer for the request: from this worker's cache while every snapshot it
    was built from is current, else built and cached. While the store is unreachable, built
    from the last catalog and popular list this worker holds, marked stale and not cached."""
    query = _recommendation_request(article_id)
    now = datetime.now(UTC)
    holder, popularity = get_catalog(), get_popularity()
    try:
        catalog = holder.current()  # the request's one read of the store
        popular = popularity.top(query.window, now)
        stale = False
    except (SQLAlchemyError, StoreUnreachable):
        last = holder.last()
        if last is None:
            raise
        catalog, popular, stale = last, popularity.last(query.window), True
    article = catalog.get(article_id)
    if article is None:
        raise ArticleNotFound(article_id)
    snapshots = Snapshots(catalog, _serving_index(query), popular, now)
    stamp = (catalog.version, snapshots.artifact and snapshots.artifact.version, snapshots.popular.epoch)
    answers, key = get_answer_cache(), (form, *query)
    held = None if stale else answers.get(key, stamp.__eq__)
    answer = None if held is None else EncodedAnswer(*held)
    if answer is None:
        lists = recommend(
            snapshots,
            article,
            query,
            policy=get_related_policy(),
            fresh=get_fresh_matcher(),
            related_cache=get_related_cache(),
        )
        answer = EncodedAnswer.of(encode(replace(lists, stale=stale)))
        if not stale:  # valid until the next scheduled article is published
            answers.put(key, (answer.body, answer.etag), stamp, expires_at=catalog.next_publication(now))
    return answer


def _serving_index(query: RecommendationRequest) -> IndexArtifact | None:
    """The index to answer from. ``None`` before any index is published (``related`` is then
    ``[]``, as the contract says); 503 ``index_not_ready`` for an answer with ``related`` when
    one is published but this worker could not load it (``latest`` and ``popular`` alone are
    still answered)."""
    holder = get_index_holder()
    artifact = holder.current()
    if artifact is None and holder.load_error is not None and "related" in query.sections:
        raise IndexNotReady(
            "The published index could not be loaded (see /readyz); related posts are back once "
            "it is repaired or rebuilt. Ask for sections=latest,popular meanwhile."
        )
    return artifact


def _recommendation_request(article_id: str) -> RecommendationRequest:
    limit = integer(request.args, "limit", default=5, low=1, high=MAX_RECOMMENDATIONS)
    window = choice(request.args, "window", default="7d", allowed=WINDOWS)
    try:
        sections = parse_sections(request.args.get("sections"))
    except ValueError as error:
        raise InvalidParameter(str(error), details={"parameter": "sections"}) from None
    max_age_days = integer(request.args, "max_age_days", default=0, low=1, high=36_500) or None
    distinct = boolean(request.args, "distinct", default=True)
    return RecommendationRequest(article_id, sections, limit, window, max_age_days, distinct)
