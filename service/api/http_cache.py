"""HTTP caching of encoded answers: a strong ETag, ``Cache-Control`` and ``304 Not Modified``."""

from __future__ import annotations

from flask import Response, current_app, request

from service.answer_cache import EncodedAnswer

# Flask-Compress gives a compressed body the ETag "<etag>:<algorithm>"; a client that holds
# one of those has the same answer.
_COMPRESSED_SUFFIXES = (":gzip", ":br", ":zstd", ":deflate")


def cacheable(answer: EncodedAnswer, mimetype: str) -> Response:
    """``answer`` as a response that caches may keep and must revalidate (``no-cache``), or serve
    ``HTTP_CACHE_MAX_AGE`` seconds when that is set; ``304`` with an empty body when the client's
    ``If-None-Match`` holds its ETag."""
    held = _held_validator(answer.etag)
    if held is None:
        response = Response(answer.body, mimetype=mimetype)
        response.set_etag(answer.etag)
    else:
        response = Response(status=304)
        response.set_etag(held)
    max_age = int(current_app.config["HTTP_CACHE_MAX_AGE"])
    response.headers["Cache-Control"] = f"public, max-age={max_age}" if max_age > 0 else "no-cache"
    return response


def _held_validator(etag: str) -> str | None:
    """The client's validator of ``etag`` (plain or of a compressed body), if it sent one."""
    if "If-None-Match" not in request.headers:
        return None
    validators = request.if_none_match
    if validators.star_tag:
        return etag
    for held in validators.as_set(include_weak=True):  # If-None-Match compares weakly (RFC 9110)
        if held and (held == etag or (held.startswith(etag) and held[len(etag) :] in _COMPRESSED_SUFFIXES)):
            return held
    return None
