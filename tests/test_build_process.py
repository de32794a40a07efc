"""Builds do not run inside web workers: the API starts each job in a build process of its own.

The build process is a child of the worker that accepted the request, in a session of its own;
it writes the job's heartbeats and publishes; killing the worker does not end it, and a build
process that dies has its job marked failed while the previous index keeps serving.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.articles import parse_article
from service.build_process import build_environment
from service.recommender.artifacts import POINTER_NAME, read_pointer
from service.store import Store
from tests.api import recommendations
from tests.factories import TOPICS, article, corpus
from tests.server import Server, gunicorn, wait_for_job, wait_for_workers


def build_processes(job_id: str) -> list[int]:
    """The pids of processes running job ``job_id`` (``flask … reindex --job ID``), from /proc."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--job" in arguments and job_id.encode() in arguments:
            found.append(int(cmdline.parent.name))
    return found


def the_build_process(job_id: str, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while not (found := build_processes(job_id)):
        assert time.monotonic() < deadline, f"no build process runs job {job_id}"
        time.sleep(0.01)
    assert len(found) == 1, found
    return found[0]


def parent_of(pid: int) -> int:
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def kill_leftovers() -> Iterator[list[int]]:
    """Build processes a failed test may leave behind, killed (by pid) at the end."""
    pids: list[int] = []
    yield pids
    deadline = time.monotonic() + 30  # one that recorded its outcome is exiting: let it
    for pid in pids:
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def job_of(client: FlaskClient, admin: dict[str, str]) -> dict[str, Any]:
    return dict(client.get("/api/v1/admin/reindex", headers=admin).json["job"])


def wait_for(client: FlaskClient, admin: dict[str, str], timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (job := job_of(client, admin))["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, "the reindex job did not finish"
        time.sleep(0.1)
    return job


@pytest.fixture
def process_app(make_app: Callable[..., Flask], admin: dict[str, str]) -> Flask:
    """A test app whose reindex jobs run in build processes, as under gunicorn; corpus stored,
    an index published by a first job."""
    app = make_app(REINDEX_RUNNER="process")
    client = app.test_client()
    assert client.post("/api/v1/articles", json=corpus(), headers=admin).status_code == 200
    assert client.post("/api/v1/admin/reindex", headers=admin).status_code == 202
    first = wait_for(client, admin)
    assert first["state"] == "succeeded", first
    return app


def test_a_reindex_from_the_api_runs_in_a_build_process_of_its_own(
    process_app: Flask, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch, kill_leftovers: list[int]
) -> None:
    client = process_app.test_client()
    before = recommendations(client, "sleep-0")["index"]["version"]

    def not_here(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the index was built in the web process")

    monkeypatch.setattr("service.reindex.build_index", not_here)
    started = time.monotonic()
    response = client.post("/api/v1/admin/reindex", headers=admin)
    assert response.status_code == 202 and time.monotonic() - started < 2  # answered at once
    job = response.json["job"]
    assert job["state"] == "queued"
    build = the_build_process(job["id"])
    kill_leftovers.append(build)
    assert build != os.getpid() and parent_of(build) == os.getpid()
    assert os.getsid(build) == build  # a session of its own: no signal to ours reaches it
    assert client.post("/api/v1/admin/reindex", headers=admin).json["job"]["id"] == job["id"]

    done = wait_for(client, admin)
    assert done["id"] == job["id"] and done["state"] == "succeeded", done
    assert done["started_at"] and done["articles"] == len(corpus())
    assert recommendations(client, "sleep-0")["index"]["version"] == done["index_version"] != before


def test_a_killed_build_process_fails_its_job_and_the_previous_index_keeps_serving(
    process_app: Flask, admin: dict[str, str], kill_leftovers: list[int]
) -> None:
    client = process_app.test_client()
    model_dir = Path(process_app.config["MODEL_DIR"])
    pointer, before = (model_dir / POINTER_NAME).read_bytes(), recommendations(client, "sleep-0")
    job = client.post("/api/v1/admin/reindex", headers=admin).json["job"]
    build = the_build_process(job["id"])
    kill_leftovers.append(build)
    os.kill(build, signal.SIGKILL)  # as the out-of-memory killer would

    failed = wait_for(client, admin, timeout=30)
    assert failed["id"] == job["id"] and failed["state"] == "failed"
    assert failed["error"] == "the build process was killed by signal 9"
    assert (model_dir / POINTER_NAME).read_bytes() == pointer
    assert recommendations(client, "sleep-0") == before
    assert not list(model_dir.glob(".*.tmp"))
    assert client.post("/api/v1/admin/reindex", headers=admin).status_code == 202
    assert wait_for(client, admin)["state"] == "succeeded"


def test_the_build_process_gets_the_apps_configuration(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(
        INDEX_PARAMS={"title_weight": 2}, KEEP_ARTIFACTS=5, REINDEX_STALE_SECONDS=7.5, OVERLAY_GRACE_SECONDS=9
    )
    env = build_environment(app.config, {"PATH": "/bin", "RELATED_KEEP_ARTIFACTS": "1"})
    assert env["PATH"] == "/bin"
    assert env["DATABASE_URL"] == app.config["DATABASE_URL"] and env["MODEL_DIR"] == app.config["MODEL_DIR"]
    assert "RELATED_ADMIN_TOKEN" not in env and app.config["ADMIN_TOKEN"] not in env.values()

    for name, value in env.items():  # what the build process's create_app() reads
        if name.startswith("RELATED_") or name in ("DATABASE_URL", "MODEL_DIR"):
            monkeypatch.setenv(name, value)
    child = create_app()
    try:
        for name in ("DATABASE_URL", "MODEL_DIR", "INDEX_PARAMS", "SQLITE_SYNCHRONOUS", "AUTO_REBUILD"):
            assert child.config[name] == app.config[name], name
        reindexer = child.extensions["reindexer"]
        assert reindexer.params == {"title_weight": 2} and reindexer.keep_artifacts == 5
        assert reindexer.stale_after.total_seconds() == 7.5 and reindexer.overlay_grace.total_seconds() == 9
    finally:
        child.extensions["store"].dispose()


def test_index_parameters_no_build_could_use_are_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}", "MODEL_DIR": str(tmp_path / "m")}
    for value, message in [('{"closest_weigh": 0.15}', "closest_weigh"), ("[0.15]", "JSON object")]:
        monkeypatch.setenv("RELATED_INDEX_PARAMS", value)
        with pytest.raises(ValueError, match=message):
            create_app(config)
    monkeypatch.setenv("RELATED_INDEX_PARAMS", '{"closest_weight": 0.15, "closest_lead": null}')
    app = create_app(config)
    try:
        assert app.extensions["reindexer"].params == {"closest_weight": 0.15, "closest_lead": None}
    finally:
        app.extensions["store"].dispose()


# -- under gunicorn ------------------------------------------------------------------------------


def store_articles(database_url: str, per_topic: int) -> None:
    """Enough articles that a build takes seconds, written before the server starts."""
    store = Store.from_url(database_url)
    try:
        store.create_schema()
        batch = [parse_article(article(topic, n)) for topic in TOPICS for n in range(per_topic)]
        store.articles.upsert_many(batch, now=datetime.now(UTC))
    finally:
        store.dispose()


def served_version(server: Server) -> str | None:
    index = server.request("GET", "/readyz")[1]["index"]
    return None if index is None else str(index["version"])


@pytest.mark.slow
@pytest.mark.xdist_group("gunicorn")
def test_killing_the_gunicorn_worker_does_not_kill_its_build(
    tmp_path: Path, kill_leftovers: list[int]
) -> None:
    store_articles(f"sqlite:///{tmp_path / 'server.db'}", per_topic=1500)
    with gunicorn(tmp_path, workers=2, env={"RELATED_AUTO_REBUILD": "false"}) as server:
        workers = wait_for_workers(server, 2)
        status, answer = server.request("POST", "/api/v1/admin/reindex", admin=True)
        assert status == 202
        job_id = answer["job"]["id"]
        build = the_build_process(job_id)
        kill_leftovers.append(build)
        worker = parent_of(build)
        assert worker in workers and build not in workers | {server.pid}
        assert os.getsid(build) == build

        deadline = time.monotonic() + 60
        while server.request("GET", "/api/v1/admin/reindex", admin=True)[1]["job"]["state"] != "running":
            assert time.monotonic() < deadline, "the build never started"
            time.sleep(0.05)
        os.kill(worker, signal.SIGKILL)  # the worker that started it dies mid-build
        wait_for_workers(server, 2, exclude={worker})
        assert alive(build) and parent_of(build) != worker

        job = wait_for_job(server, timeout=180)
        assert job["id"] == job_id and job["state"] == "succeeded", job
        assert job["articles"] == 4 * 1500
        pointer = read_pointer(tmp_path / "models")
        assert pointer is not None and pointer["version"] == job["index_version"]
        deadline = time.monotonic() + 30
        while served_version(server) != job["index_version"]:
            assert time.monotonic() < deadline, "the workers did not load the new index"
            time.sleep(0.2)
        for _ in range(10):  # fresh connections reach both workers
            assert served_version(server) == job["index_version"]
