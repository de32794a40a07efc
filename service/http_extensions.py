"""HTTP around every answer: compression (Flask-Compress) and cross-origin access (Flask-CORS)."""

from __future__ import annotations

from flask import Flask
from flask_compress import Compress
from flask_cors import CORS

# What a site's pages call from the browser: the lists, their fragment, the beacons and the
# API description. Nothing else, so no admin or write endpoint ever answers another origin.
PUBLIC_PATHS = (
    r"^/api/v1/articles/[^/]+/(recommendations|recommendations\.html|views|clicks)$",
    r"^/api/v1/openapi\.json$",
)
COMPRESSED_TYPES = ["application/json", "text/html", "text/css", "application/javascript", "text/javascript"]


def init_app(app: Flask) -> None:
    """Compress text answers the client accepts compressed; allow ``CORS_ORIGINS`` (if any) on
    the public paths, preflight included."""
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
