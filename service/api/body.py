"""Reading a JSON request body: 415 for another type, 413 when too large, 400 when malformed."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from service.errors import InvalidJson, MalformedJson, UnsupportedMediaType
from service.json_documents import TooDeep, load_document


def json_body() -> Any:
    """The request's JSON document."""
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    return _parse(read_body())


def beacon_json() -> Any:
    """The request's JSON document, whatever its content type: browsers send beacons as
    ``text/plain`` so that they stay simple cross-origin requests (no preflight)."""
    return _parse(read_body())


def read_body() -> bytes:
    """The whole body; 413 past ``MAX_CONTENT_LENGTH``, chunked bodies included.

    werkzeug refuses a ``Content-Length`` over the limit before reading, but reads a body without
    one (``Transfer-Encoding: chunked``) only up to the limit and returns those bytes as if they
    were all of it. One byte more from the server's stream tells a body that ends at the limit
    from a longer one (gunicorn.conf.py then closes the connection after the 413)."""
    data = request.get_data(cache=False)
    limit = request.max_content_length
    if limit is not None and request.content_length is None and len(data) >= limit and _more():
        raise RequestEntityTooLarge()
    return data


def _more() -> bool:
    """Whether the server's stream holds another byte of the body (a broken one is 400, as
    werkzeug answers a body that breaks off while it reads)."""
    try:
        return bool(request.input_stream.read(1))
    except (OSError, ValueError):
        raise ClientDisconnected() from None


def _parse(raw: bytes) -> Any:
    try:
        return load_document(raw)
    except TooDeep as error:
        raise InvalidJson(f"The body is {error}.") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedJson(f"The body is not valid JSON: {error}.") from None
