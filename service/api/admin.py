"""Admin endpoints: reindex jobs, view and click statistics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, request

from service.api.auth import admin_required
from service.api.params import choice, integer
from service.api.shapes import job_json
from service.recommend import SECTIONS
from service.reindex import get_reindexer
from service.resources import get_store
from service.windows import WINDOWS, window_start

blueprint = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


@blueprint.post("/reindex")
@admin_required
def start_reindex() -> tuple[dict[str, Any], int]:
    job, _started = get_reindexer().start()
    return {"job": job_json(job)}, 202


@blueprint.get("/reindex")
@admin_required
def latest_reindex() -> dict[str, Any]:
    reindexer = get_reindexer()
    job = get_store().jobs.latest(now=datetime.now(UTC), stale_after=reindexer.stale_after)
    return {"job": None if job is None else job_json(job)}


@blueprint.get("/stats")
@admin_required
def stats() -> dict[str, Any]:
    window = choice(request.args, "window", default="7d", allowed=WINDOWS)
    limit = integer(request.args, "limit", default=20, low=1, high=100)
    now = datetime.now(UTC)
    since = window_start(window, now)
    store = get_store()
    result = store.views.stats(since=since, now=now, limit=limit)
    clicks = store.clicks.by_section(since=since)
    return {
        "window": window,
        "total_views": result.total_views,
        "articles": [
            {"id": article_id, "title": title, "views": views} for article_id, title, views in result.articles
        ],
        "series": [{"date": day.isoformat(), "views": views} for day, views in result.series],
        "clicks": {section: clicks.get(section, 0) for section in SECTIONS},
    }
