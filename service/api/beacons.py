"""What the page reports: a view per page view (beacon or pixel), and clicks on recommendations."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from flask import Blueprint, Response, request

from service import metrics
from service.api.body import beacon_json
from service.bots import is_prefetch
from service.errors import ArticleNotFound, InvalidParameter, StoreUnavailable
from service.recommend import SECTIONS
from service.resources import (
    get_bot_detector,
    get_catalog,
    get_store,
    get_view_recorder,
    get_visitor_hasher,
)

blueprint = Blueprint("beacons", __name__, url_prefix="/api/v1/articles")

# A transparent 1x1 GIF: the no-JavaScript view counter.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _clock() -> datetime:
    """Now (tests replace it to view on other days)."""
    return datetime.now(UTC)


@blueprint.post("/<article_id>/views")
def record_view(article_id: str) -> tuple[dict[str, bool], int]:
    # A beacon: any body and content type are accepted, and none is read.
    return {"recorded": _count_view(article_id)}, 202


@blueprint.get("/<article_id>/view.gif")
def view_pixel(article_id: str) -> Response:
    """The view beacon for pages without JavaScript: ``<img src=".../view.gif">``."""
    _count_view(article_id)
    response = Response(PIXEL, status=200, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store"  # every page view fetches it again
    return response


def _count_view(article_id: str) -> bool:
    """Count a page view of ``article_id``; ``False`` (counted as a bot hit) for bots and
    prefetches. The writer has the last word on whether the article exists (it may be deleted
    meanwhile)."""
    if not get_catalog().knows(article_id):
        raise ArticleNotFound(article_id)
    now = _clock()
    user_agent = request.user_agent.string
    try:
        if _from_bot() or is_prefetch(request.headers):
            if get_catalog().current().get(article_id) is None:  # nothing is written: ask now
                raise ArticleNotFound(article_id)
            get_view_recorder().record_bot_hit(now)
            metrics.count_beacon("views", recorded=False)
            return False
        visitor = get_visitor_hasher().visitor(request.remote_addr, user_agent, now.date())
        recorded = get_view_recorder().record(article_id, now, visitor)
    except TimeoutError:
        raise StoreUnavailable("The view could not be committed in time.") from None
    if not recorded:
        raise ArticleNotFound(article_id)
    metrics.count_beacon("views", recorded=True)
    return True


@blueprint.post("/<article_id>/clicks")
def record_click(article_id: str) -> tuple[dict[str, bool], int]:
    """A click on ``target`` in the article's ``section`` list; JSON whatever the content type."""
    section, target = _click(beacon_json())
    catalog = get_catalog()
    for known in (article_id, target):
        if not catalog.knows(known):
            raise ArticleNotFound(known)
    if _from_bot():
        metrics.count_beacon("clicks", recorded=False)
        return {"recorded": False}, 202
    if not get_store().clicks.record(article_id, section=section, target_id=target, at=datetime.now(UTC)):
        missing = article_id if catalog.current().get(article_id) is None else target
        raise ArticleNotFound(missing)
    metrics.count_beacon("clicks", recorded=True, section=section)
    return {"recorded": True}, 202


def _click(document: object) -> tuple[str, str]:
    """``(section, target)`` of a click body ``{"section", "target"}``."""
    if not isinstance(document, dict):
        raise InvalidParameter(
            'The body must be a JSON object {"section", "target"}.', details={"parameter": "body"}
        )
    section, target = document.get("section"), document.get("target")
    if section not in SECTIONS:
        raise InvalidParameter(
            f"section must be one of {', '.join(SECTIONS)}.", details={"parameter": "section"}
        )
    if not isinstance(target, str) or not target:
        raise InvalidParameter("target must be an article id.", details={"parameter": "target"})
    return section, target


def _from_bot() -> bool:
    return get_bot_detector().is_bot(request.user_agent.string)
