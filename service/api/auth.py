"""The admin bearer token, and the limit on failed attempts to give it."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from service.errors import AdminDisabled, Unauthorized

View = TypeVar("View", bound=Callable[..., Any])


def _failed_authentication(response: Response) -> bool:
    return response.status_code == 401


def check_admin() -> None:
    """Raise unless the request carries ``Authorization: Bearer <ADMIN_TOKEN>``."""
    token = current_app.config.get("ADMIN_TOKEN")
    if not token:
        raise AdminDisabled("Admin endpoints are disabled: set ADMIN_TOKEN to enable them.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8"), str(token).encode("utf-8")
    ):
        raise Unauthorized("A valid admin bearer token is required.")


def admin_required(view: View) -> View:
    """Check the token before the view reads anything, the body included."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_admin()
        return view(*args, **kwargs)

    wrapper.admin_only = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def limit_failed_authentication(app: Flask) -> None:
    """Limit failed admin authentications per client address across every admin endpoint of
    ``app`` (call it once the blueprints are registered).

    Only answers 401 count, so an admin with the right token is never slowed; past
    ``ADMIN_AUTH_LIMIT``, every admin request of that client answers 429 until the window has
    passed. Counts live in ``RATELIMIT_STORAGE_URI``: ``memory://`` is per worker process,
    ``redis://…`` shared by all workers and replicas."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        default_limits=[],
        headers_enabled=True,
        storage_uri=app.config["RATELIMIT_STORAGE_URI"],
    )
    limited = limiter.shared_limit(
        app.config["ADMIN_AUTH_LIMIT"],
        scope="admin-auth",
        deduct_when=_failed_authentication,
        error_message="Too many failed admin authentications from this address; retry later.",
    )
    for endpoint, view in list(app.view_functions.items()):
        if getattr(view, "admin_only", False):
            app.view_functions[endpoint] = cast(Callable[..., Any], limited(view))
