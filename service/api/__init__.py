"""The HTTP API: thin blueprints that parse input, call the store and the core, return dicts."""

from __future__ import annotations

from flask import Flask

from service.api import admin, articles, auth, beacons, editorial, health, recommendations


def init_app(app: Flask) -> None:
    app.register_blueprint(recommendations.blueprint)
    app.register_blueprint(beacons.blueprint)
    app.register_blueprint(articles.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(editorial.blueprint)
    app.register_blueprint(health.blueprint)
    auth.limit_failed_authentication(app)
