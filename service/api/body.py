"""Reading a JSON request body: 415 for another type, 413 when too large, 400 when malformed."""

from __future__ import annotations

from typing import Any

from flask import request

from service.errors import InvalidJson, MalformedJson, UnsupportedMediaType
from service.json_documents import TooDeep, load_document


def json_body() -> Any:
    """The request's JSON document."""
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    return _parse(request.get_data(cache=False))  # raises 413 past MAX_CONTENT_LENGTH


def beacon_json() -> Any:
    """The request's JSON document, whatever its content type: browsers send beacons as
    ``text/plain`` so that they stay simple cross-origin requests (no preflight)."""
    return _parse(request.get_data(cache=False))


def _parse(raw: bytes) -> Any:
    try:
        return load_document(raw)
    except TooDeep as error:
        raise InvalidJson(f"The body is {error}.") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedJson(f"The body is not valid JSON: {error}.") from None
