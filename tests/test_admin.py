"""Admin: view statistics and background reindex jobs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from service.store import Store
from tests.api import wait_for_reindex
from tests.test_dashboard import SESSION_COOKIE, session_cookie, sign_in


def test_stats_totals_top_articles_and_a_zero_filled_series(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    views = seeded.extensions["store"].views
    now = datetime.now(UTC)
    views.record("sleep-0", at=now, count=4)
    views.record("sleep-1", at=now - timedelta(days=3), count=2)
    views.record("sleep-2", at=now - timedelta(days=20), count=7)
    body = client.get("/api/v1/admin/stats?window=7d&limit=5", headers=admin).json
    assert body["window"] == "7d" and body["total_views"] == 6
    assert body["articles"] == [
        {"id": "sleep-0", "title": body["articles"][0]["title"], "views": 4, "visitors": 0},
        {"id": "sleep-1", "title": body["articles"][1]["title"], "views": 2, "visitors": 0},
    ]
    days = [point["date"] for point in body["series"]]
    assert days[-1] == now.date().isoformat()
    assert all((datetime.fromisoformat(b) - datetime.fromisoformat(a)).days == 1 for a, b in pairwise(days))
    assert sum(point["views"] for point in body["series"]) == body["total_views"]
    by_day = {point["date"]: point["views"] for point in body["series"]}
    assert by_day[(now - timedelta(days=3)).date().isoformat()] == 2
    assert list(by_day.values()).count(0) == len(by_day) - 2
    everything = client.get("/api/v1/admin/stats?window=all&limit=1", headers=admin).json
    assert everything["total_views"] == 13 and [a["id"] for a in everything["articles"]] == ["sleep-2"]


def test_stats_without_views_is_zero_and_still_has_a_series(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    body = client.get("/api/v1/admin/stats?window=24h", headers=admin).json
    assert body["total_views"] == 0 and body["articles"] == []
    assert body["series"] and all(point["views"] == 0 for point in body["series"])


def test_reindex_job_runs_in_the_background_and_publishes(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    assert client.get("/api/v1/admin/reindex", headers=admin).json == {"job": None}
    before = client.get("/api/v1/articles/sleep-0/recommendations").json["index"]["version"]
    response = client.post("/api/v1/admin/reindex", headers=admin)
    assert response.status_code == 202
    job = response.json["job"]
    assert job["state"] in ("queued", "running", "succeeded")
    assert set(job) >= {"id", "state", "started_at", "finished_at", "articles", "index_version", "error"}
    done = wait_for_reindex(client, admin)
    assert done["id"] == job["id"] and done["state"] == "succeeded"
    assert done["articles"] == 16 and done["error"] is None and done["finished_at"]
    after = client.get("/api/v1/articles/sleep-0/recommendations").json["index"]["version"]
    assert after == done["index_version"] != before


def test_a_second_reindex_while_one_runs_returns_the_running_job(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    store: Store = seeded.extensions["store"]
    reindexer = seeded.extensions["reindexer"]
    # Hold the lease as another process's running job would.
    assert store.jobs.claim(
        "other-job", source="cli", now=datetime.now(UTC), stale_after=reindexer.stale_after
    )
    response = client.post("/api/v1/admin/reindex", headers=admin)
    assert response.status_code == 202 and response.json["job"]["id"] == "other-job"
    assert client.get("/api/v1/admin/reindex", headers=admin).json["job"]["id"] == "other-job"


def test_a_job_whose_worker_died_is_marked_failed(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    store: Store = seeded.extensions["store"]
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    store.jobs.claim("dead-job", source="api", now=long_ago, stale_after=timedelta(seconds=60))
    job = client.get("/api/v1/admin/reindex", headers=admin).json["job"]
    assert job["id"] == "dead-job" and job["state"] == "failed" and job["error"]
    # Its lease has expired too, so a new job can start.
    response = client.post("/api/v1/admin/reindex", headers=admin)
    assert response.json["job"]["id"] != "dead-job"
    assert wait_for_reindex(client, admin)["state"] == "succeeded"


def test_a_failed_build_is_recorded_and_the_old_index_keeps_serving(
    seeded: Flask, client: FlaskClient, admin: dict[str, str], monkeypatch: Any
) -> None:
    before = client.get("/api/v1/articles/sleep-0/recommendations").json

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr("service.reindex.save_artifact", disk_full)
    client.post("/api/v1/admin/reindex", headers=admin)
    job = wait_for_reindex(client, admin)
    assert job["state"] == "failed" and "No space left" in job["error"]
    after = client.get("/api/v1/articles/sleep-0/recommendations").json
    assert after["index"] == before["index"] and after["related"] == before["related"]


def test_a_signed_out_session_is_refused_everywhere_even_replayed(
    make_app: Callable[..., Flask], client: FlaskClient
) -> None:
    csrf = sign_in(client)
    copied = session_cookie(client)
    assert copied is not None and client.get("/api/v1/admin/stats").status_code == 200
    assert client.post("/admin/sign-out", data={"csrf_token": csrf}).status_code == 303
    for replayed in (client, make_app().test_client()):  # this worker, and another one
        replayed.set_cookie(SESSION_COOKIE, copied)
        assert replayed.get("/api/v1/admin/stats").status_code == 401
        assert 'action="/admin/sign-in"' in replayed.get("/admin").get_data(as_text=True)
        assert (
            replayed.put("/api/v1/admin/exclusions", json={}, headers={"X-CSRFToken": csrf}).status_code
            == 401
        )
    sign_in(client)  # a new session works
    assert client.get("/api/v1/admin/stats").status_code == 200
