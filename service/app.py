"""The application factory: the one composition root of the web service and its CLI."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

from service import api, cli, dashboard, errors, http_extensions, index_holder, reindex, resources, widget
from service.config import load_config


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config (defaults, environment, ``test_config``), store, index, routes."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    load_config(app, test_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if not app.debug and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    errors.init_app(app)
    resources.init_app(app)
    index_holder.init_app(app)
    reindex.init_app(app)
    api.init_app(app)
    http_extensions.init_app(app)
    dashboard.init_app(app)
    widget.init_app(app)
    cli.init_app(app)
    return app
