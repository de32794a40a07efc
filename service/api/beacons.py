"""What the page reports: a view per page view, and clicks on recommendations."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, request

from service import metrics
from service.api.body import beacon_json
from service.bots import is_bot
from service.errors import ArticleNotFound, InvalidParameter, StoreUnavailable
from service.recommend import SECTIONS
from service.resources import get_catalog, get_store, get_view_recorder

blueprint = Blueprint("beacons", __name__, url_prefix="/api/v1/articles")


@blueprint.post("/<article_id>/views")
def record_view(article_id: str) -> tuple[dict[str, bool], int]:
    # A beacon: any body and content type are accepted, and none is read. The writer has the
    # last word on whether the article exists (it may be deleted meanwhile).
    if not get_catalog().knows(article_id):
        raise ArticleNotFound(article_id)
    if _from_bot():
        if get_catalog().current().get(article_id) is None:  # nothing is written: ask now
            raise ArticleNotFound(article_id)
        metrics.count_beacon("views", recorded=False)
        return {"recorded": False}, 202
    try:
        recorded = get_view_recorder().record(article_id, datetime.now(UTC))
    except TimeoutError:
        raise StoreUnavailable("The view could not be committed in time.") from None
    if not recorded:
        raise ArticleNotFound(article_id)
    metrics.count_beacon("views", recorded=True)
    return {"recorded": True}, 202


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
    return is_bot(request.user_agent.string, current_app.config["BOT_USER_AGENT_PATTERN"])
