"""Publishing a new index: workers pick it up by themselves, and serving never stops."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from service.catalog import CatalogHolder
from service.index_holder import IndexHolder
from service.recommender.artifacts import POINTER_NAME
from service.reindex import build_index
from tests.factories import article


def test_holder_loads_each_new_version_and_keeps_the_old_one_when_a_load_fails(seeded: Flask) -> None:
    model_dir = Path(seeded.config["MODEL_DIR"])
    holder = IndexHolder(model_dir, reload_seconds=0)
    first = holder.current()
    assert first is not None
    second = build_index(seeded.extensions["store"], model_dir)
    assert holder.current().version == second.version != first.version  # type: ignore[union-attr]
    (model_dir / "index-20990101T000000Z-broken.joblib").write_bytes(b"not a pickle")
    (model_dir / POINTER_NAME).write_text(
        '{"version": "broken", "file": "index-20990101T000000Z-broken.joblib"}'
    )
    assert holder.current().version == second.version  # type: ignore[union-attr]
    assert holder.load_error


def test_holders_report_each_load_so_a_worker_can_freeze_it(seeded: Flask) -> None:
    """gunicorn.conf.py freezes what a worker loads (gc.freeze) through these callbacks."""
    model_dir = Path(seeded.config["MODEL_DIR"])
    loads: list[str] = []
    holder = IndexHolder(model_dir, reload_seconds=0)
    holder.after_load = lambda: loads.append("index")
    assert holder.current() is not None and loads == ["index"]
    # Loaded ready to serve: the lookups a request needs were built by the loader.
    assert {"_rows", "_names"} <= set(vars(holder.current().index))  # type: ignore[union-attr]
    assert holder.current() is not None and loads == ["index"]  # the same version: no new load
    (model_dir / POINTER_NAME).write_text('{"version": "gone", "file": "index-missing.joblib"}')
    holder.current()
    assert loads == ["index"] and holder.load_error  # a failed load reports nothing
    build_index(seeded.extensions["store"], model_dir)
    holder.current()
    assert loads == ["index", "index"]

    catalogs = CatalogHolder(seeded.extensions["store"])
    catalogs.after_load = lambda: loads.append("catalog")
    assert catalogs.current().summaries and loads[-1] == "catalog"
    catalogs.current()
    assert loads.count("catalog") == 1  # the store did not change: nothing read again


def test_a_warm_catalog_follows_the_stores_writes_without_a_request(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    catalogs = CatalogHolder(seeded.extensions["store"], follow_seconds=0.05)
    catalogs.warm()
    try:
        before = catalogs.last()
        assert before is not None and before.get("sleep-9") is None
        assert client.post("/api/v1/articles", json=[article("sleep", 9)], headers=admin).status_code == 200
        deadline = time.monotonic() + 5
        while (held := catalogs.last()) is None or held.get("sleep-9") is None:
            assert time.monotonic() < deadline, "the follower did not read the new article"
            time.sleep(0.02)
        assert held.version > before.version
    finally:
        catalogs.close()


def test_readyz_reports_the_index_and_a_failed_load(seeded: Flask, client: FlaskClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["index"]["version"]
    model_dir = Path(seeded.config["MODEL_DIR"])
    (model_dir / POINTER_NAME).write_text('{"version": "gone", "file": "index-missing.joblib"}')
    still = client.get("/readyz")
    assert still.status_code == 200 and "missing" in still.json["index_error"]


def test_readyz_is_503_before_the_first_index(app: Flask, client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["index"] is None
    assert client.get("/healthz").status_code == 200


def test_requests_during_reindexing_all_succeed_and_then_see_the_new_version(seeded: Flask) -> None:
    store, model_dir = seeded.extensions["store"], Path(seeded.config["MODEL_DIR"])
    statuses: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        client = seeded.test_client()
        while not stop.is_set():
            statuses.append(client.get("/api/v1/articles/sleep-0/recommendations").status_code)

    readers = [threading.Thread(target=serve) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for _ in range(3):
            latest = build_index(store, model_dir)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert statuses and set(statuses) == {200}
    served = seeded.test_client().get("/api/v1/articles/sleep-0/recommendations").json
    assert served["index"]["version"] == latest.version
