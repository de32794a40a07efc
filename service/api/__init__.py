"""The HTTP API: thin blueprints that parse input, call the store and the core, return dicts."""

from __future__ import annotations

from typing import Any

from flask import Flask

from service.api import admin, articles, auth, beacons, editorial, health, openapi, recommendations
from service.articles import unstorable
from service.errors import ArticleNotFound

_API_BLUEPRINTS = {"recommendations", "beacons", "articles", "admin", "editorial"}


def init_app(app: Flask) -> None:
    app.url_value_preprocessor(_refuse_unstorable_ids)
    app.register_blueprint(recommendations.blueprint)
    app.register_blueprint(beacons.blueprint)
    app.register_blueprint(articles.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(editorial.blueprint)
    app.register_blueprint(health.blueprint)
    openapi.init_app(app)
    auth.limit_failed_authentication(app)


def _refuse_unstorable_ids(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """An id holding U+0000 or a lone surrogate names no article (PostgreSQL cannot even be
    asked): 404 before any store is. A PUT of one is refused by validation (422)."""
    article_id = (values or {}).get("article_id")
    in_api = (endpoint or "").partition(".")[0] in _API_BLUEPRINTS  # pages answer their own 404
    if (
        in_api
        and isinstance(article_id, str)
        and unstorable(article_id)
        and endpoint != "articles.put_article"
    ):
        raise ArticleNotFound(article_id)
