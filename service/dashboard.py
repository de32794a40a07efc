"""The admin dashboard at ``/admin``: a sign-in form, then a page whose script reads the admin JSON
API with the session that signing in set (see ``service/api/auth.py``).

Routes: ``GET /admin`` (the sign-in form or the dashboard), ``POST /admin/sign-in`` and
``POST /admin/sign-out`` (forms with a CSRF token), and ``GET /admin/articles/search`` (find
an article by title for its history chart).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response as BaseResponse

from service.api import auth
from service.api.auth import admin_required
from service.api.shapes import summary_json
from service.errors import InvalidParameter
from service.resources import get_catalog
from service.store import ArticleSummary

blueprint = Blueprint(
    "dashboard",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/admin/static",
)

# The page embeds no data and runs only its own files (the vendored chart library included), so
# it can forbid everything else: no inline script or style attribute, no third-party origin, no
# framing, forms posted only to this origin. Referrer-Policy same-origin, not no-referrer: over
# HTTPS the CSRF check also wants the Referer to name this host (Flask-WTF's strict mode).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The page holds a CSRF token and the signed-in state: never kept by a cache.
    "Cache-Control": "no-store",
}
SEARCH_LIMIT = 20
SEARCH_MAX_LENGTH = 200
# What the sign-in form says when the dashboard sends the admin back to it (?reason=…).
REASONS = {
    "expired": "Your session has ended. Sign in again to continue.",
    "signed-out": "You have signed out.",
}


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    response.headers.update(SECURITY_HEADERS)
    return response


def _sign_in_form(status: int = 200, *, error: str = "", notice: str = "") -> Response:
    return _page("admin_sign_in.html", status, error=error, notice=notice)


def _admin_enabled() -> bool:
    return bool(current_app.config.get("ADMIN_TOKEN"))


@blueprint.get("/admin")
def dashboard() -> Response:
    """The dashboard when signed in, else the sign-in form."""
    if not _admin_enabled():
        return _page("admin_disabled.html")
    if auth.has_admin_session():
        return _page("dashboard.html")
    # A link followed from another site arrives without the SameSite=Strict cookie, which the
    # browser does send when the page reloads itself: reload once instead of asking to sign in
    # (and instead of replacing the cookie with a signed-out one). Once: ?opened marks the reload.
    if (
        request.headers.get("Sec-Fetch-Site") == "cross-site"
        and request.headers.get("Sec-Fetch-Mode") == "navigate"
        and "opened" not in request.args
    ):
        return _page("admin_reload.html")
    return _sign_in_form(notice=REASONS.get(request.args.get("reason", ""), ""))


@blueprint.post("/admin/sign-in")
def sign_in() -> BaseResponse:
    if not _admin_enabled():
        return _page("admin_disabled.html", 503)
    auth.protect_from_csrf()
    if not auth.token_matches(request.form.get("token", "").strip()):
        # counted like a wrong bearer token; the right one is never refused
        wait = auth.count_failed_authentication()
        if wait is not None:
            refused = _sign_in_form(
                429, error="Too many failed sign-ins from this address. Wait a minute, then try again."
            )
            refused.headers["Retry-After"] = str(wait)
            return refused
        return _sign_in_form(
            401, error="Wrong token: the server rejected it. Check ADMIN_TOKEN and try again."
        )
    auth.start_admin_session()
    return redirect(url_for(".dashboard"), 303)


@blueprint.post("/admin/sign-out")
def sign_out() -> BaseResponse:
    if not _admin_enabled():  # nothing to sign out of (and maybe no key to write a session with)
        return redirect(url_for(".dashboard"), 303)
    auth.protect_from_csrf()
    auth.end_admin_session()
    return redirect(url_for(".dashboard", reason="signed-out"), 303)


@blueprint.get("/admin/articles/search")
@admin_required
def search_articles() -> dict[str, Any]:
    """Up to 20 articles (published or not) whose title holds ``q``, case-insensitively: titles
    that start with it first, then those with a word that does, then the rest; newest first."""
    query = request.args.get("q", "").strip()
    if not query or len(query) > SEARCH_MAX_LENGTH:
        raise InvalidParameter(
            f"q must hold 1 to {SEARCH_MAX_LENGTH} characters.", details={"parameter": "q"}
        )
    matches = find_by_title(get_catalog().current().summaries.values(), query)
    return {"articles": [summary_json(summary) for summary in matches]}


def find_by_title(
    summaries: Iterable[ArticleSummary], query: str, *, limit: int = SEARCH_LIMIT
) -> list[ArticleSummary]:
    """The best ``limit`` matches of ``query`` among ``summaries`` (see :func:`search_articles`)."""
    needle = query.casefold()
    ranked: list[tuple[int, float, str, ArticleSummary]] = []
    for summary in summaries:
        title = summary.title.casefold()
        position = title.find(needle)
        if position < 0:
            continue
        if position == 0:
            rank = 0
        elif not title[position - 1].isalnum():
            rank = 1
        else:
            rank = 2
        ranked.append((rank, -summary.listed_at.timestamp(), summary.id, summary))
    ranked.sort(key=lambda match: match[:3])
    return [match[3] for match in ranked[:limit]]


# -- errors of the forms: pages, not JSON ---------------------------------------------------


@blueprint.errorhandler(CSRFError)
def csrf_failed(error: CSRFError) -> Response:
    if request.endpoint == "dashboard.sign_in":
        return _sign_in_form(403, error="The sign-in form had expired. Enter the token again.")
    return _page(
        "admin_message.html",
        403,
        title="That form had expired",
        message="Nothing was changed. Go back to the dashboard and try again.",
    )


def init_app(app: Flask) -> None:
    auth.init_session(app)
    app.register_blueprint(blueprint)
