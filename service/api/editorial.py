"""Admin endpoints for editorial control of related lists, applied at query time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint

from service.api.auth import admin_required
from service.api.body import json_body
from service.api.shapes import editorial_json, exclusions_json
from service.articles import MAX_CATEGORY, is_article_id, unstorable
from service.errors import ArticleNotFound, InvalidArticle
from service.resources import get_store
from service.store import ArticleEditorial, SiteExclusions, Store

blueprint = Blueprint("editorial", __name__, url_prefix="/api/v1/admin")

MAX_IDS = 100


def _problem(field: str, message: str, article_id: str | None = None) -> dict[str, Any]:
    return {"index": None, "id": article_id, "field": field, "message": message}


def _strings(body: dict[str, Any], field: str, problems: list[dict[str, Any]], *, ids: bool) -> list[str]:
    value = body.get(field, [])
    if (
        not isinstance(value, list)
        or not all(isinstance(item, str) for item in value)
        or len(value) > MAX_IDS
    ):
        problems.append(_problem(field, f"must be a list of at most {MAX_IDS} strings"))
        return []
    if ids and not all(is_article_id(item) for item in value):
        problems.append(_problem(field, "every entry must be an article id"))
    elif not ids and not all(
        # as stored: trimmed and lower-cased ("İ" lower-cased is two characters)
        item.strip() and len(item.strip().lower()) <= MAX_CATEGORY and not unstorable(item)
        for item in value
    ):
        problems.append(
            _problem(
                field,
                f"every entry must be 1-{MAX_CATEGORY} characters (lower-cased) without U+0000 or "
                "lone surrogates",
            )
        )
    return list(dict.fromkeys(item.strip() for item in value if item.strip()))


def _name(item: str) -> bool:
    """Whether ``item`` can be a category or tag name on every store."""
    return 1 <= len(item.strip()) <= MAX_CATEGORY and not unstorable(item)


def _object_body(fields: tuple[str, ...]) -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise InvalidArticle(
            "The body must be a JSON object.", details=[_problem("body", "must be a JSON object")]
        )
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise InvalidArticle(
            f"Unknown fields: {', '.join(unknown)}.",
            details=[_problem(name, f"unknown field; use {', '.join(fields)}") for name in unknown],
        )
    return body


def _store_with(article_id: str) -> Store:
    """The store, once it is known to hold ``article_id`` (else 404)."""
    store = get_store()
    if not store.articles.exists(article_id):
        raise ArticleNotFound(article_id)
    return store


@blueprint.get("/articles/<article_id>/editorial")
@admin_required
def get_article_editorial(article_id: str) -> dict[str, Any]:
    store = _store_with(article_id)
    return editorial_json(article_id, store.editorial.for_article(article_id))


@blueprint.put("/articles/<article_id>/editorial")
@admin_required
def put_article_editorial(article_id: str) -> dict[str, Any]:
    store = _store_with(article_id)
    body = _object_body(("pinned", "excluded"))
    problems: list[dict[str, Any]] = []
    pinned = _strings(body, "pinned", problems, ids=True)
    excluded = _strings(body, "excluded", problems, ids=True)
    if article_id in pinned or article_id in excluded:
        problems.append(_problem("pinned", "an article cannot be its own related post", article_id))
    if set(pinned) & set(excluded):
        problems.append(_problem("excluded", "an id cannot be both pinned and excluded"))
    if problems:
        raise InvalidArticle("The editorial settings are not valid.", details=problems)
    editorial = ArticleEditorial(pinned, excluded)
    store.editorial.set_for_article(article_id, editorial, now=datetime.now(UTC))
    return editorial_json(article_id, editorial)


@blueprint.get("/exclusions")
@admin_required
def get_exclusions() -> dict[str, Any]:
    return exclusions_json(get_store().editorial.site())


@blueprint.put("/exclusions")
@admin_required
def put_exclusions() -> dict[str, Any]:
    body = _object_body(("categories", "tags"))
    problems: list[dict[str, Any]] = []
    categories = _strings(body, "categories", problems, ids=False)
    tags = _strings(body, "tags", problems, ids=False)
    if problems:
        raise InvalidArticle("The exclusions are not valid.", details=problems)
    exclusions = SiteExclusions(
        categories=frozenset(value.lower() for value in categories),
        tags=frozenset(value.lower() for value in tags),
    )
    get_store().editorial.set_site(exclusions, now=datetime.now(UTC))
    return exclusions_json(exclusions)
