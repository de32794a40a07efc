"""Fixtures: real stores (SQLite and PostgreSQL), apps, clients and a built index."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from service import create_app
from service.reindex import build_index
from service.resources import close_resources
from service.store import Store
from tests.factories import corpus
from tests.postgres import fresh_schema

ADMIN_TOKEN = "test-admin-token"
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL URL; skips (fails under CI=true) when the server is unreachable."""
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI but unreachable at {POSTGRES_URL}: {error}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}; set TEST_POSTGRES_URL to run these")
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema, dropped afterwards."""
    with fresh_schema(postgres_server, prefix="test") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that uses it runs once on SQLite and once on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def make_app(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        config = {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "MODEL_DIR": str(tmp_path / "models"),
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "INDEX_RELOAD_SECONDS": 0.0,
            "AUTO_REBUILD": False,  # tests of it turn it on
            **overrides,
        }
        app = create_app(config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        close_resources(app)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def store(app: Flask) -> Store:
    return app.extensions["store"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def seeded(app: Flask, client: FlaskClient, admin: dict[str, str]) -> Flask:
    """The app with the factory corpus stored and an index built from it."""
    response = client.post("/api/v1/articles", json=corpus(), headers=admin)
    assert response.status_code == 200, response.json
    build_index(app.extensions["store"], Path(app.config["MODEL_DIR"]))
    return app


def shared_corpus(name: str) -> Path:
    """A corpus from ../shared/data, or skip when ../shared is not beside the repo."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/data is only beside the repo in CI and dev)")
    return path
