"""GET /metrics: requests, beacons, reindex jobs and the index, in one process and under gunicorn.

Counters belong to the process (as Prometheus client metrics do), so the tests that use the
Flask test client compare values before and after what they do.
"""

from __future__ import annotations

import os
import signal
import statistics
import struct
import time
from collections.abc import Callable, Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from service import metrics
from service.recommender.artifacts import POINTER_NAME
from tests.api import wait_for_reindex
from tests.factories import corpus
from tests.server import Server, gunicorn, request_on_worker, wait_for_job, wait_for_workers

BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HEALTHZ = {"endpoint": "health.healthz", "method": "GET", "status": "200"}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Metrics do not depend on the store: SQLite only."""
    return sqlite_url


def samples(exposition: str) -> Iterator[tuple[str, dict[str, str], float]]:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value


def value(exposition: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
    return sum(
        sample_value
        for sample_name, sample_labels, sample_value in samples(exposition)
        if sample_name == name and labels.items() <= sample_labels.items()
    )


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


def test_requests_are_counted_by_endpoint_and_status_with_a_latency_histogram(client: FlaskClient) -> None:
    before = scrape(client)
    for _ in range(5):
        assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/articles/no-such-article-xyz").status_code == 404
    assert client.get("/no/such/route/secret-looking-path").status_code == 404
    after = scrape(client)

    requests = "related_http_requests_total"
    assert value(after, requests, **HEALTHZ) - value(before, requests, **HEALTHZ) == 5
    article = {"endpoint": "articles.get_article", "status": "404"}
    assert value(after, requests, **article) - value(before, requests, **article) == 1
    unmatched = {"endpoint": metrics.UNMATCHED, "status": "404"}
    assert value(after, requests, **unmatched) - value(before, requests, **unmatched) >= 1
    # Labels are endpoints, never raw paths: the set of series stays bounded.
    assert "no-such-article-xyz" not in after and "secret-looking-path" not in after

    histogram = "related_http_request_duration_seconds"
    healthz = {"endpoint": "health.healthz"}
    assert value(after, f"{histogram}_count", **healthz) - value(before, f"{histogram}_count", **healthz) == 5
    buckets = {
        labels["le"]: sample_value
        for name, labels, sample_value in samples(after)
        if name == f"{histogram}_bucket" and labels["endpoint"] == "health.healthz"
    }
    assert (
        buckets["0.0005"]
        <= buckets["5.0"]
        == buckets["+Inf"]
        == value(after, f"{histogram}_count", **healthz)
    )
    assert 0 < value(after, f"{histogram}_sum", **healthz) < 5 * value(after, f"{histogram}_count", **healthz)


def test_an_unknown_method_is_one_bounded_label(client: FlaskClient) -> None:
    assert client.open("/healthz", method="BREW").status_code == 405
    exposition = scrape(client)
    assert 'method="BREW"' not in exposition
    unmatched = {"endpoint": metrics.UNMATCHED, "method": "other", "status": "405"}
    assert value(exposition, "related_http_requests_total", **unmatched) >= 1
    for number in range(50):  # nor does each made-up method keep an entry of its own
        client.open("/healthz", method=f"BREW{number}")
    held = metrics.process_metrics()._children
    assert [method for _, method, _ in held if method.startswith("BREW")] == []


def test_the_app_registry_shows_request_counts(app: Flask, client: FlaskClient) -> None:
    registry = app.extensions["metrics"]
    before = registry.get_sample_value("related_http_requests_total", HEALTHZ) or 0.0
    client.get("/healthz")
    client.get("/healthz")
    assert registry.get_sample_value("related_http_requests_total", HEALTHZ) == before + 2
    assert registry.get_sample_value(
        "related_http_request_duration_seconds_count", {"endpoint": "health.healthz"}
    )


def test_index_gauges_describe_the_served_index(seeded: Flask, client: FlaskClient) -> None:
    exposition = scrape(client)
    version = client.get("/readyz").json["index"]["version"]
    assert value(exposition, "related_index_info", version=version) == 1
    assert value(exposition, "related_index_articles") == len(corpus())
    assert 0 <= value(exposition, "related_index_age_seconds") < 600
    assert abs(value(exposition, "related_index_built_timestamp_seconds") - time.time()) < 600
    assert value(exposition, "related_index_loaded") == 1
    assert value(exposition, "related_index_load_failing") == 0

    model_dir = Path(seeded.config["MODEL_DIR"])
    (model_dir / POINTER_NAME).write_text('{"version": "gone", "file": "index-missing.joblib"}')
    failing = scrape(client)
    assert value(failing, "related_index_load_failing") == 1
    assert value(failing, "related_index_info", version=version) == 1  # the old one still serves


def test_no_index_yet_is_a_zero_gauge_and_no_info(client: FlaskClient) -> None:
    exposition = scrape(client)
    assert value(exposition, "related_index_loaded") == 0
    assert "related_index_info" not in exposition


def test_views_bot_hits_and_clicks_are_counted(seeded: Flask, client: FlaskClient) -> None:
    before = scrape(client)
    for _ in range(3):
        assert client.post("/api/v1/articles/sleep-1/views").json == {"recorded": True}
    assert client.post("/api/v1/articles/sleep-1/views", headers={"User-Agent": BOT}).json == {
        "recorded": False
    }
    click = {"section": "related", "target": "sleep-2"}
    assert client.post("/api/v1/articles/sleep-1/clicks", json=click).status_code == 202
    assert client.post("/api/v1/articles/sleep-1/clicks", json=click, headers={"User-Agent": BOT}).json == {
        "recorded": False
    }
    assert client.post("/api/v1/articles/no-such/views").status_code == 404  # not a view
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("related_views_recorded_total") == 3
    assert delta("related_bot_hits_total", beacon="views") == 1
    assert delta("related_bot_hits_total", beacon="clicks") == 1
    assert delta("related_clicks_recorded_total", section="related") == 1


def test_reindex_jobs_are_counted_by_outcome_with_the_build_duration(
    seeded: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    before = scrape(client)
    assert client.post("/api/v1/admin/reindex", headers=admin).status_code == 202
    assert wait_for_reindex(client, admin)["state"] == "succeeded"
    after = scrape(client)
    jobs = "related_reindex_jobs_total"
    assert value(after, jobs, outcome="succeeded") - value(before, jobs, outcome="succeeded") == 1
    assert value(after, jobs, outcome="failed") == value(before, jobs, outcome="failed")
    builds = "related_index_build_duration_seconds_count"
    assert value(after, builds) - value(before, builds) == 1


def test_a_failed_job_is_counted_and_shows_admins_no_sql(
    seeded: Flask,
    client: FlaskClient,
    admin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = seeded.extensions["store"]
    secret = "secret-body-text-4711"

    def broken_read(*_: Any, **__: Any) -> Iterator[Any]:
        with store.engine.connect() as connection:  # a real database error, with a parameter
            connection.execute(text("SELECT body FROM no_such_table WHERE body = :body"), {"body": secret})
        yield from ()

    monkeypatch.setattr(store.articles, "iter_all", broken_read)
    before = scrape(client)
    assert client.post("/api/v1/admin/reindex", headers=admin).status_code == 202
    job = wait_for_reindex(client, admin)
    assert job["state"] == "failed"
    assert "OperationalError" in job["error"]
    for leak in ("SELECT", "no_such_table", secret, "[SQL"):
        assert leak not in job["error"]
    assert secret not in caplog.text  # the engine hides parameters in what is logged
    assert "no_such_table" in caplog.text  # but the server log has the detail
    after = scrape(client)
    jobs = "related_reindex_jobs_total"
    assert value(after, jobs, outcome="failed") - value(before, jobs, outcome="failed") == 1


def test_readyz_lists_what_is_not_ready(
    app: Flask, client: FlaskClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = client.get("/readyz")
    assert waiting.status_code == 503
    assert len(waiting.json["problems"]) == 1 and "No index" in waiting.json["problems"][0]

    model_dir = Path(app.config["MODEL_DIR"])
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / POINTER_NAME).write_text('{"version": "gone", "file": "index-missing.joblib"}')
    monkeypatch.setattr(app.extensions["store"], "ping", lambda: False)
    broken = client.get("/readyz").json
    assert broken["ready"] is False
    assert [problem.split(" ")[1] for problem in broken["problems"]] == ["article", "published"]
    assert "index-missing.joblib" in broken["problems"][1]

    monkeypatch.undo()
    (model_dir / POINTER_NAME).unlink()
    assert client.post("/api/v1/articles", json=corpus(), headers=admin).status_code == 200
    assert client.post("/api/v1/admin/reindex", headers=admin).status_code == 202
    assert wait_for_reindex(client, admin)["state"] == "succeeded"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["problems"] == []
    index = ready.json["index"]
    assert index["articles"] == len(corpus())
    assert index["embedding_weight"] == 0.0  # built without the optional embeddings
    assert 0.0 <= index["latent_weight"] <= 0.5


def test_metrics_can_be_turned_off(make_app: Callable[..., Flask]) -> None:
    client = make_app(METRICS_ENABLED=False).test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/healthz").status_code == 200


def test_metrics_is_public_and_never_cross_origin(make_app: Callable[..., Flask]) -> None:
    client = make_app(CORS_ORIGINS=["https://www.example.com"]).test_client()
    response = client.get("/metrics", headers={"Origin": "https://www.example.com"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_the_per_request_cost_of_the_metrics_hook_is_small(make_app: Callable[..., Flask]) -> None:
    """2,000 /healthz through the test client with and without metrics, interleaved in rounds.

    The difference of two such runs is noisy on a shared machine, so it is only reported
    (``-rP``); what is asserted is the time spent in the hook itself, measured inside.
    """
    off = make_app(METRICS_ENABLED=False, LOG_REQUESTS=False).test_client()
    on_app = make_app(METRICS_ENABLED=True, LOG_REQUESTS=False)
    on = on_app.test_client()
    spent: list[float] = []
    timed = [_timed(function, spent) for function in (metrics._started, metrics._observed)]
    on_app.before_request_funcs[None] = [
        timed[0] if f is metrics._started else f for f in on_app.before_request_funcs[None]
    ]
    on_app.after_request_funcs[None] = [
        timed[1] if f is metrics._observed else f for f in on_app.after_request_funcs[None]
    ]
    rounds, per_round = 10, 200
    for client in (off, on):
        for _ in range(100):
            client.get("/healthz")
    spent.clear()
    times: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(rounds):
        for name, client in (("off", off), ("on", on)):
            started = time.perf_counter()
            for _ in range(per_round):
                client.get("/healthz")
            times[name].append((time.perf_counter() - started) / per_round * 1e6)
    # Per request: the two halves of the hook (before and after the view), median of each.
    hook_us = (statistics.median(spent[0::2]) + statistics.median(spent[1::2])) * 1e6
    off_us, on_us = statistics.median(times["off"]), statistics.median(times["on"])
    print(
        f"/healthz x{rounds * per_round}: {off_us:.1f} us without metrics, {on_us:.1f} us with "
        f"(median of {rounds} rounds; difference {on_us - off_us:+.1f} us); "
        f"inside the metrics hook {hook_us:.1f} us per request"
    )
    assert len(spent) == 2 * rounds * per_round
    assert hook_us < 50


def _timed(function: Callable[..., Any], spent: list[float]) -> Callable[..., Any]:
    # The thread's CPU time: a thread that another process or thread preempts does not count.
    def timed(*args: Any) -> Any:
        started = time.thread_time()
        try:
            return function(*args)
        finally:
            spent.append(time.thread_time() - started)

    return timed


# -- under gunicorn: multiprocess mode ------------------------------------------------------------


def gunicorn_metrics(server: Server) -> str:
    connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        connection.close()


def test_a_worker_file_being_created_is_skipped_not_a_failed_scrape(tmp_path: Path) -> None:
    """A worker booting creates its file empty, then sizes it: a scrape (or another worker's
    boot) reading the folder at that moment must not fail."""
    written = MmapedDict(str(tmp_path / "counter_101.db"))
    written.write_value(
        mmap_key("related_views_recorded_total", "related_views_recorded_total", (), (), "h"), 3, 0
    )
    written.close()
    (tmp_path / "counter_102.db").touch()  # another worker's, not sized yet
    with pytest.raises(struct.error):
        list(MultiProcessCollector(None, path=str(tmp_path)).collect())  # prometheus_client alone
    families = list(metrics.WorkerFilesCollector(None, path=str(tmp_path)).collect())
    samples = {sample.name: sample.value for family in families for sample in family.samples}
    assert samples == {"related_views_recorded_total": 3}


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_gunicorn_metrics_add_up_every_worker(tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"left by an earlier server")
    with gunicorn(tmp_path, workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(folder)}) as server:
        assert not (folder / "counter_999999.db").exists()  # emptied at start
        pids = wait_for_workers(server, 2)
        assert server.request("POST", "/api/v1/articles", corpus(), admin=True)[0] == 200
        assert server.request("POST", "/api/v1/admin/reindex", admin=True)[0] == 202
        assert wait_for_job(server)["state"] == "succeeded"

        # Fresh connections spread over the workers; go on until both have answered.
        answered_by: dict[int, int] = {}
        sent = 0
        while sent < 60 or len(answered_by) < 2:
            status, _, pid = request_on_worker(server, "GET", "/healthz", pids=pids)
            assert status == 200
            sent += 1
            if pid is not None:
                answered_by[pid] = answered_by.get(pid, 0) + 1
            assert sent < 2000, f"one worker answered every request: {answered_by}"
        for _ in range(4):
            assert server.request("POST", "/api/v1/articles/sleep-1/views")[1] == {"recorded": True}

        exposition = gunicorn_metrics(server)
        assert value(exposition, "related_http_requests_total", **HEALTHZ) >= sent
        assert (
            value(exposition, "related_http_request_duration_seconds_count", endpoint="health.healthz")
            >= sent
        )
        assert value(exposition, "related_views_recorded_total") == 4
        assert value(exposition, "related_reindex_jobs_total", outcome="succeeded") == 1
        assert value(exposition, "related_index_build_duration_seconds_count") == 1
        version = server.request("GET", "/readyz")[1]["index"]["version"]
        assert value(exposition, "related_index_info", version=version) == 1
        assert value(exposition, "related_index_articles") == len(corpus())
        assert {path.name.split("_")[-1] for path in folder.glob("counter_*.db")} >= {
            f"{pid}.db" for pid in pids
        }

        # A worker that dies takes nothing away: its counts stay in the sum.
        victim = next(iter(pids))
        counted = value(exposition, "related_http_requests_total", **HEALTHZ)
        os.kill(victim, signal.SIGKILL)  # as an out-of-memory killer would
        wait_for_workers(server, 2, exclude={victim})
        later = gunicorn_metrics(server)
        assert value(later, "related_http_requests_total", **HEALTHZ) >= counted
