"""The application factory: the one composition root of the web service and its CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from service import (
    api,
    cli,
    dashboard,
    errors,
    http_extensions,
    index_holder,
    metrics,
    proxies,
    reindex,
    request_log,
    resources,
    widget,
)
from service.config import load_config


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config (defaults, environment, ``test_config``), store, index, routes."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    load_config(app, test_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    request_log.init_app(app)  # logging first; its after-request hook runs last

    errors.init_app(app)
    resources.init_app(app)
    index_holder.init_app(app)
    metrics.init_app(app)  # before http_extensions: the latency includes compression
    reindex.init_app(app)
    api.init_app(app)
    http_extensions.init_app(app)
    dashboard.init_app(app)
    widget.init_app(app)
    cli.init_app(app)
    proxies.init_app(app)  # last: the outermost layer of the WSGI app
    return app
