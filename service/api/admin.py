"""Admin endpoints: reindex jobs, view and click statistics, article history, click-through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, request

from service.api.auth import admin_required
from service.api.params import choice, integer
from service.api.shapes import job_json
from service.articles import isoformat
from service.errors import ArticleNotFound
from service.recommend import SECTIONS
from service.reindex import get_reindexer
from service.resources import get_store
from service.windows import TRENDING, WINDOWS, midnight

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


MAX_DAYS = 3660


@blueprint.get("/stats")
@admin_required
def stats() -> dict[str, Any]:
    window = choice(request.args, "window", default="7d", allowed=WINDOWS)
    limit = integer(request.args, "limit", default=20, low=1, high=100)
    now = datetime.now(UTC)
    store = get_store()
    result = store.views.window_stats(window, now=now, limit=limit)
    clicks = store.clicks.by_section(since=result.start)
    articles = []
    for ranked in result.articles:
        shaped: dict[str, Any] = {
            "id": ranked.id,
            "title": ranked.title,
            "views": ranked.views,
            "visitors": ranked.visitors,
        }
        if window == TRENDING:
            shaped["score"] = round(ranked.score, 4)
        articles.append(shaped)
    return {
        "window": window,
        "total_views": result.total_views,
        "unique_visitors": result.unique_visitors,
        "bot_hits": result.bot_hits,
        "articles": articles,
        "series": [
            {"date": point.day.isoformat(), "views": point.views, "visitors": point.visitors}
            for point in result.series
        ],
        "clicks": {section: clicks.get(section, 0) for section in SECTIONS},
    }


@blueprint.get("/articles/<article_id>/history")
@admin_required
def article_history(article_id: str) -> dict[str, Any]:
    """One article's views, visitors and clicks per UTC day, zero-filled, oldest first."""
    days = integer(request.args, "days", default=90, low=1, high=MAX_DAYS)
    store = get_store()
    article = store.articles.get(article_id)
    if article is None:
        raise ArticleNotFound(article_id)
    now = datetime.now(UTC)
    first = now.date() - timedelta(days=days - 1)
    counts = store.views.history(article_id, first=first, now=now)
    clicks = store.clicks.daily_of(article_id, since=midnight(first))
    return {
        "article": {
            "id": article.id,
            "title": article.title,
            "url": article.url,
            "published_at": isoformat(article.published_at),
        },
        "series": [
            {
                "date": day.isoformat(),
                "views": counts.get(day, (0, 0))[0],
                "visitors": counts.get(day, (0, 0))[1],
                "clicks": clicks.get(day, 0),
            }
            for day in (first + timedelta(days=offset) for offset in range(days))
        ],
    }


@blueprint.get("/ctr")
@admin_required
def click_through() -> dict[str, Any]:
    """Clicks on each list per view of an article page, per UTC day and over the days."""
    days = integer(request.args, "days", default=30, low=1, high=MAX_DAYS)
    store = get_store()
    now = datetime.now(UTC)
    first = now.date() - timedelta(days=days - 1)
    views = store.views.site_days(first=first, now=now)
    clicks = store.clicks.daily_by_section(since=midnight(first))
    series, totals, total_views = [], dict.fromkeys(SECTIONS, 0), 0
    for day in (first + timedelta(days=offset) for offset in range(days)):
        day_views = views[day].views if day in views else 0
        day_clicks = clicks.get(day, {})
        point: dict[str, Any] = {"date": day.isoformat(), "views": day_views}
        for section in SECTIONS:
            point[section] = _rate(day_clicks.get(section, 0), day_views)
            totals[section] += day_clicks.get(section, 0)
        total_views += day_views
        series.append(point)
    return {
        "days": days,
        "series": series,
        "totals": {"views": total_views, **{s: _rate(totals[s], total_views) for s in SECTIONS}},
    }


def _rate(clicks: int, views: int) -> dict[str, Any]:
    return {"clicks": clicks, "rate": round(clicks / views, 6) if views else 0.0}
