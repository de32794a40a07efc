"""The admin bearer token."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request

from service.errors import AdminDisabled, Unauthorized

View = TypeVar("View", bound=Callable[..., Any])


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

    return wrapper  # type: ignore[return-value]
