"""Errors the service answers with, and the one handler that renders all of them."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from service.catalog import StoreUnreachable

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """An error with an HTTP status and a stable snake_case code."""

    status = 400
    code = "bad_request"
    retry_after: int | None = None  # seconds, sent as Retry-After (a 503 the client may retry)

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidParameter(ServiceError):
    status, code = 400, "invalid_parameter"


class MalformedJson(ServiceError):
    status, code = 400, "malformed_json"


class InvalidJson(ServiceError):
    status, code = 400, "invalid_json"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class TooManyRequests(ServiceError):
    status, code = 429, "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ArticleNotFound(ServiceError):
    status, code = 404, "article_not_found"

    def __init__(self, article_id: str) -> None:
        super().__init__(f"No article with id {article_id!r}.")


class UnsupportedMediaType(ServiceError):
    status, code = 415, "unsupported_media_type"


class InvalidArticle(ServiceError):
    status, code = 422, "invalid_article"


class AdminDisabled(ServiceError):
    status, code = 503, "admin_disabled"


class IndexNotReady(ServiceError):
    status, code = 503, "index_not_ready"
    retry_after = 30  # seconds: a load is retried with backoff, a rebuild takes a while


class StoreUnavailable(ServiceError):
    status, code = 503, "store_unavailable"


# Codes for werkzeug's own exceptions (routing, body size, methods).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    """The contract's error body ``{"error": {"code", "message", "details"?}}``."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    response = jsonify({"error": error})
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    """Register handlers so that every error, Flask's own included, has the JSON shape."""

    @app.errorhandler(ServiceError)
    def handle_service_error(error: ServiceError) -> Response:
        response = error_response(error.status, error.code, error.message, error.details)
        if isinstance(error, Unauthorized):
            response.headers["WWW-Authenticate"] = "Bearer"
        if error.retry_after is not None:
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_CODES.get(status, error.name.lower().replace(" ", "_"))
        response = error_response(status, code, error.description or error.name)
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(StoreUnreachable)
    def handle_store_unreachable(error: StoreUnreachable) -> Response:
        return error_response(503, "store_unavailable", "The article store is not answering.")

    @app.errorhandler(DBAPIError)
    def handle_database_error(error: DBAPIError) -> Response:
        log.error("database error: %s", error)
        if error.connection_invalidated or isinstance(error, OperationalError):
            return error_response(503, "store_unavailable", "The article store is not answering.")
        return error_response(500, "internal_error", "An unexpected error occurred.")

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "An unexpected error occurred.")
