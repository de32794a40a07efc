"""The OpenAPI 3.1 document of every endpoint, written by hand in ``openapi.yaml``.

It is read and encoded once per app, on the first request for it, and kept in
``app.extensions["openapi"]``; ``tests/test_openapi.py`` checks it against the app's routes and
every answer against it.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson
import yaml
from flask import Blueprint, Flask, Response, current_app

blueprint = Blueprint("openapi", __name__, url_prefix="/api/v1")

_EXTENSION = "openapi"


def load_document() -> dict[str, Any]:
    """The document as a dict, read from the package's ``openapi.yaml``."""
    text = resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def _encoded(app: Flask) -> bytes:
    # A race between two first requests builds it twice, harmlessly: the bytes are the same.
    body: bytes | None = app.extensions.get(_EXTENSION)
    if body is None:
        body = orjson.dumps(load_document())
        app.extensions[_EXTENSION] = body
    return body


@blueprint.get("/openapi.json")
def openapi_document() -> Response:
    return Response(_encoded(current_app), mimetype="application/json")


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
