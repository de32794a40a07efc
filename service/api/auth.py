"""Admin authentication: the bearer token, the dashboard's signed session, CSRF, and the limit on
failed attempts.

An admin request is authenticated by EITHER ``Authorization: Bearer <ADMIN_TOKEN>`` (scripts,
curl) OR the session cookie that signing in to the dashboard sets (``POST /admin/sign-in``). A
session-authenticated request that changes something (POST, PUT, PATCH, DELETE) must also carry
the session's CSRF token (``X-CSRFToken`` header, or the ``csrf_token`` form field), else 403.

The session is Flask's signed cookie. Its key is ``SECRET_KEY`` or, when that is not set, derived
from ``ADMIN_TOKEN`` (HMAC-SHA256 with a fixed label), so every worker and every replica that
shares the token accepts the same cookie without more configuration. The session holds a
fingerprint of the token it was signed in with: changing ``ADMIN_TOKEN`` ends every session,
``SECRET_KEY`` or not. It also holds a random id: signing out records the id in the store until
the session would have expired, so a copy of the cookie is refused everywhere from then on.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import math
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar, cast

from flask import Flask, Request, Response, current_app, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_wtf.csrf import CSRFError, CSRFProtect
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy.exc import SQLAlchemyError

from service.errors import AdminDisabled, TooManyRequests, Unauthorized, error_response
from service.resources import get_store

log = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., Any])

# Fixed labels: the derived key and the fingerprint are distinct functions of the token, and
# neither reveals it.
SECRET_KEY_LABEL = b"related-posts/dashboard/session-signing-key/v1"
FINGERPRINT_LABEL = b"related-posts/dashboard/session-token-fingerprint/v1"
SESSION_ADMIN = "admin"  # the session key that holds the token's fingerprint once signed in
SESSION_ID = "sid"  # the session key that holds its random id, recorded when signed out
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LIMIT_EXTENSION = "admin_auth_limit"


# -- the token and the session ----------------------------------------------------------------


def admin_token() -> str:
    """The configured token; 503 ``admin_disabled`` when there is none."""
    token = current_app.config.get("ADMIN_TOKEN")
    if not token:
        raise AdminDisabled("Admin endpoints are disabled: set ADMIN_TOKEN to enable them.")
    return str(token)


def token_matches(given: str) -> bool:
    """Whether ``given`` is the admin token (constant time)."""
    return hmac.compare_digest(given.encode("utf-8"), admin_token().encode("utf-8"))


def derived_secret_key(token: str) -> str:
    """The session signing key used when ``SECRET_KEY`` is not set: the same wherever the token is."""
    return hmac.new(token.encode("utf-8"), SECRET_KEY_LABEL, hashlib.sha256).hexdigest()


def _fingerprint(token: str) -> str:
    return hmac.new(token.encode("utf-8"), FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:32]


def start_admin_session() -> None:
    """Sign the browser in: a fresh session (a new CSRF token too) that lasts
    ``PERMANENT_SESSION_LIFETIME`` from now."""
    session.clear()
    session[SESSION_ADMIN] = _fingerprint(admin_token())
    session[SESSION_ID] = secrets.token_urlsafe(24)
    session.permanent = True


def end_admin_session() -> None:
    """Sign the browser out, and refuse a copy of its cookie anywhere until it would expire."""
    session_id = session.get(SESSION_ID)
    if has_admin_session() and isinstance(session_id, str):
        now = datetime.now(UTC)
        lifetime = current_app.permanent_session_lifetime
        try:
            get_store().sessions.revoke(session_id, expires_at=now + lifetime, now=now)
        except SQLAlchemyError as error:  # this browser is signed out all the same
            log.warning("could not record the end of a dashboard session: %s", error)
    session.clear()


def has_admin_session() -> bool:
    """Whether the request carries a session signed in with the current token and not signed out."""
    token = current_app.config.get("ADMIN_TOKEN")
    held, session_id = session.get(SESSION_ADMIN), session.get(SESSION_ID)
    if not token or not isinstance(held, str) or not isinstance(session_id, str):
        return False
    if not hmac.compare_digest(held.encode("ascii", "replace"), _fingerprint(str(token)).encode("ascii")):
        return False
    try:
        return not get_store().sessions.is_revoked(session_id)
    except SQLAlchemyError as error:  # cannot tell: not signed in (the bearer token still works)
        log.warning("could not check the dashboard session: %s", error)
        return False


def protect_from_csrf() -> None:
    """Raise :class:`CSRFError` unless a state-changing request carries the session's CSRF token."""
    csrf = cast(CSRFProtect, current_app.extensions["csrf"])
    csrf.protect()


def check_admin() -> None:
    """Raise unless the request carries the admin bearer token, or a signed-in dashboard session
    (with its CSRF token when the request changes something).

    An ``Authorization`` header, when sent, decides alone: a wrong one is 401 even with a session.
    """
    token = admin_token()
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8"), token.encode("utf-8")
        ):
            _refuse("A valid admin bearer token is required.")
        return
    if has_admin_session():
        if request.method not in SAFE_METHODS:
            protect_from_csrf()
        return
    _refuse("A valid admin bearer token (or a signed-in dashboard session) is required.")


def _refuse(message: str) -> NoReturn:
    """401, or 429 once the client is past the limit of failed authentications."""
    wait = count_failed_authentication()
    if wait is not None:
        raise TooManyRequests(
            "Too many failed admin authentications from this address; retry later.", retry_after=wait
        )
    raise Unauthorized(message)


def admin_required(view: View) -> View:
    """Check the token or session before the view reads anything, the body included."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_admin()
        return view(*args, **kwargs)

    return cast(View, wrapper)


# -- app set-up -------------------------------------------------------------------------------


def init_session(app: Flask) -> None:
    """Sessions and CSRF tokens for the dashboard.

    CSRF is not checked on every request (``WTF_CSRF_CHECK_DEFAULT`` off): public beacons and
    bearer-token clients have no session to forge. It is checked where a session authenticates
    (``check_admin``) and on the dashboard's forms."""
    token = app.config.get("ADMIN_TOKEN")
    if not app.config.get("SECRET_KEY") and token:
        app.config["SECRET_KEY"] = derived_secret_key(str(token))
    app.session_interface = CookielessFastPath()
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    # A token is valid as long as its session (PERMANENT_SESSION_LIFETIME), not one hour.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    CSRFProtect(app)

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> Response:
        return error_response(403, "csrf_failed", f"{error.description} Reload the dashboard and try again.")


class CookielessFastPath(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building a signer for requests with no cookie.

    Nearly every request (the site's API calls, beacons, health checks) carries no session
    cookie; Flask's interface would still derive a signer for each (measured: about a tenth of
    a /healthz request's time in process)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if self.get_cookie_name(app) not in request.cookies and app.secret_key:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Never start a session in answer to another site's request.

        The session cookie is ``SameSite=Strict``: a request from another site's page (a link, a
        form) comes without it even when the admin is signed in. A new session cookie set in its
        answer (the sign-in form's CSRF token) would replace the signed-in one: any site could
        sign the admin out. The sign-in form such a request gets works after a reload."""
        if (
            request.headers.get("Sec-Fetch-Site") == "cross-site"
            and self.get_cookie_name(app) not in request.cookies
        ):
            return
        super().save_session(app, session, response)


class FailedAuthentications:
    """Failed admin authentications per client address, limited to ``ADMIN_AUTH_LIMIT`` (in the
    notation of the ``limits`` library, e.g. ``300 per minute``; fixed windows).

    Only failures are counted, and only failures are refused: a request with the right token
    (or a signed-in session) never reaches this limit, so an admin is never locked out by
    guesses from the same address (a shared NAT, or a check that probes every admin endpoint
    for its 401 first). Missing and wrong credentials answer 401 up to the limit, then 429 with
    ``Retry-After`` until the window has passed.

    Why the right token is still answered while its address is throttled: the limit cannot be
    what keeps the token secret. It is a long random string (``make run`` makes one of 144
    bits); at 300 guesses a minute from each of a million addresses, finding it would take
    longer than the universe has existed, refused or not. A short token would not be saved by
    the limit either (it is per address, and per worker with ``memory://``). What the limit
    does is bound the load and log noise of sustained guessing.

    Counts live in ``RATELIMIT_STORAGE_URI``: ``memory://`` per worker process, ``redis://…``
    shared by all workers and replicas; should that store fail, failures still answer 401 (and
    are logged)."""

    def __init__(self, limit: str, storage_uri: str) -> None:
        self.limits: list[RateLimitItem] = parse_many(limit)
        self._counter = FixedWindowRateLimiter(storage_from_string(storage_uri, wrap_exceptions=True))

    def record(self, address: str) -> int | None:
        """Count a failure from ``address``: the seconds it must wait if past the limit, else None."""
        try:
            past = [item for item in self.limits if not self._counter.hit(item, "admin-auth", address)]
            if not past:
                return None
            reset = max(
                self._counter.get_window_stats(item, "admin-auth", address).reset_time for item in past
            )
        except StorageError:
            log.exception("the count of failed admin authentications is unavailable")
            return None
        return max(1, math.ceil(reset - time.time()))


def count_failed_authentication() -> int | None:
    """Count the request's failed authentication: the seconds its client must wait when past
    the limit, else None (then the failure is answered 401)."""
    limit = cast(FailedAuthentications, current_app.extensions[_LIMIT_EXTENSION])
    return limit.record(request.remote_addr or "unknown")


def limit_failed_authentication(app: Flask) -> None:
    """Limit failed admin authentications per client address (:class:`FailedAuthentications`)."""
    app.extensions[_LIMIT_EXTENSION] = FailedAuthentications(
        app.config["ADMIN_AUTH_LIMIT"], app.config["RATELIMIT_STORAGE_URI"]
    )
