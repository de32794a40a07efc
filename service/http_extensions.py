"""HTTP around every answer: compression (Flask-Compress), cross-origin access (Flask-CORS) and
the security headers (``nosniff`` on every answer, the rest on HTML)."""

from __future__ import annotations

import re

from flask import Flask, Response, request
from flask_compress import Compress
from flask_cors import CORS

# What a site's pages call from the browser: the lists, their fragment, the beacons and the
# API description. Nothing else, so no admin or write endpoint ever answers another origin.
# (``\Z``, not ``$``, which also matches before a final newline.)
PUBLIC_PATHS = (
    r"^/api/v1/articles/[^/]+/(recommendations|recommendations\.html|views|clicks)\Z",
    r"^/api/v1/openapi\.json\Z",
)
_PUBLIC = re.compile("|".join(PUBLIC_PATHS))
# Every answer: a browser must not take JSON, a script or a style sheet for another type.
NO_SNIFFING = ("X-Content-Type-Options", "nosniff")
# Every HTML answer gets these unless its view set its own (the dashboard and the demo page
# allow their own scripts and styles; a fragment needs nothing).
HTML_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
COMPRESSED_TYPES = ["application/json", "text/html", "text/css", "application/javascript", "text/javascript"]


def init_app(app: Flask) -> None:
    """Compress text answers the client accepts compressed; allow ``CORS_ORIGINS`` (if any) on
    the public paths, preflight included."""
    app.after_request(_secure)
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    Compress(app)
    origins = app.config["CORS_ORIGINS"]
    if isinstance(origins, str):  # RELATED_CORS_ORIGINS or a test mapping may give one string
        origins = [origin.strip() for origin in origins.split(",") if origin.strip()]
    if origins:
        CORS(
            app,
            resources={path: {} for path in PUBLIC_PATHS},
            origins=origins,
            methods=["GET", "HEAD", "POST", "OPTIONS"],
            allow_headers=["Content-Type", "If-None-Match"],
            expose_headers=["ETag"],
            max_age=600,
        )
        app.after_request(_vary_by_origin)


def _secure(response: Response) -> Response:
    response.headers.setdefault(*NO_SNIFFING)
    if response.mimetype == "text/html":
        for name, value in HTML_SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def _vary_by_origin(response: Response) -> Response:
    """A public answer differs by ``Origin`` (the CORS header is there for allowed ones only),
    whatever the Origin of this request: a shared cache must not hand one site's answer to
    another."""
    if _PUBLIC.match(request.path):
        response.vary.add("Origin")
    return response
