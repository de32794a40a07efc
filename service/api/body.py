"""Reading a JSON request body: 415 for another type, 413 when too large, 400 when malformed."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from service.errors import MalformedJson, UnsupportedMediaType


def json_body() -> Any:
    """The request's JSON document."""
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    raw = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedJson(f"The body is not valid JSON: {error}.") from None
