"""Index artifacts under faults: damaged files, a full disk, kill -9, failed loads.

Each fault test asserts that nothing acknowledged is lost: the previous index keeps serving
(or, with none, the contract's answer without one, never a 500), every stored article is still
stored, and the next reindex publishes an index of all of them.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import joblib
import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.index_holder import IndexHolder
from service.recommender import Document, RelatedIndex
from service.recommender import artifacts as artifacts_module
from service.recommender.artifacts import (
    POINTER_NAME,
    ArtifactError,
    ArtifactIntegrityError,
    IndexArtifact,
    load_artifact,
    manifest_name,
    new_version,
    prune_artifacts,
    publish,
    read_pointer,
    remove_stale_temporaries,
    save_artifact,
    sha256_of,
)
from service.reindex import build_index
from tests.api import RECOMMENDATIONS, recommendations, wait_for_reindex
from tests.conftest import ADMIN_TOKEN
from tests.factories import article, corpus

ROOT = Path(__file__).resolve().parent.parent
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Artifacts do not depend on the store: SQLite only."""
    return sqlite_url


def model_dir_of(app: Flask) -> Path:
    return Path(app.config["MODEL_DIR"])


def temporaries(model_dir: Path) -> list[str]:
    return sorted(path.name for path in model_dir.iterdir() if path.name.endswith(".tmp"))


def index_files(model_dir: Path) -> list[str]:
    return sorted(path.name for path in model_dir.glob("index-*"))


def published_articles(app: Flask) -> int:
    """Articles in the index the pointer names, loaded the way a worker loads it."""
    model_dir = model_dir_of(app)
    return load_artifact(model_dir, read_pointer(model_dir) or {}).articles


def unpublished_artifact(model_dir: Path) -> IndexArtifact:
    """A new, valid artifact of a small index, saved but not published."""
    documents = [Document(f"doc-{n}", f"Sourdough bread {n}", "flour yeast oven dough") for n in range(6)]
    built_at = datetime.now(UTC)
    return save_artifact(
        model_dir,
        RelatedIndex().fit(documents),
        version=new_version(built_at),
        built_at=built_at,
        fingerprint="f",
    )


def _rewrite_manifest(model_dir: Path, file: str, **changes: Any) -> None:
    path = model_dir / manifest_name(file)
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def truncate(model_dir: Path, file: str) -> None:
    path = model_dir / file
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_byte(model_dir: Path, file: str) -> None:
    path = model_dir / file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def manifest_lies(model_dir: Path, file: str) -> None:
    _rewrite_manifest(model_dir, file, sha256="0" * 64)


def no_manifest(model_dir: Path, file: str) -> None:
    (model_dir / manifest_name(file)).unlink()


def other_sklearn(model_dir: Path, file: str) -> None:
    _rewrite_manifest(model_dir, file, sklearn_version="0.24.2")


def garbage_with_its_checksum(model_dir: Path, file: str) -> None:
    """Not a pickle, with a manifest that matches it (as a bug of our own writer would be)."""
    path = model_dir / file
    path.write_bytes(b"not a pickle at all")
    _rewrite_manifest(model_dir, file, size=path.stat().st_size, sha256=sha256_of(path))


# damage, what /readyz and the log say, whether joblib may unpickle the file
DAMAGES = [
    pytest.param(truncate, "truncated or damaged", False, id="truncated"),
    pytest.param(flip_a_byte, "fails its checksum", False, id="corrupt"),
    pytest.param(manifest_lies, "fails its checksum", False, id="checksum-mismatch"),
    pytest.param(no_manifest, "has no usable manifest", False, id="no-manifest"),
    pytest.param(other_sklearn, "built with scikit-learn 0.24.2", False, id="other-sklearn"),
    pytest.param(garbage_with_its_checksum, "is unreadable", True, id="unpicklable"),
]


@pytest.fixture
def unpickled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files joblib.load is asked to read (a spy; they are still loaded)."""
    names: list[str] = []
    real_load = joblib.load

    def spy(filename: Any, *args: Any, **kwargs: Any) -> Any:
        names.append(Path(filename).name)
        return real_load(filename, *args, **kwargs)

    monkeypatch.setattr(artifacts_module.joblib, "load", spy)
    return names


@pytest.mark.parametrize(("damage", "reason", "may_unpickle"), DAMAGES)
def test_a_damaged_artifact_is_refused_the_previous_index_serves_and_a_reindex_repairs_it(
    seeded: Flask,
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    unpickled: list[str],
    damage: Callable[[Path, str], None],
    reason: str,
    may_unpickle: bool,
) -> None:
    model_dir, store = model_dir_of(seeded), seeded.extensions["store"]
    before = recommendations(client, "sleep-0")
    broken = unpublished_artifact(model_dir)
    damage(model_dir, broken.file)
    publish(model_dir, broken)

    during = recommendations(client, "sleep-0")
    assert during["index"] == before["index"] and during["related"] == before["related"]
    # Acknowledged while the published index is broken: it must be in the repaired index.
    assert client.put("/api/v1/articles/sleep-9", json=article("sleep", 9), headers=ADMIN).status_code == 201
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["index"].items() >= before["index"].items()
    assert reason in ready.json["index_error"] and broken.file in ready.json["index_error"]
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(reason in message and broken.file in message for message in logged), caplog.text
    assert (broken.file in unpickled) is may_unpickle  # nothing unverified is ever unpickled
    for path in ("/api/v1/articles/sleep-0/recommendations.html", "/api/v1/articles/sleep-9", "/metrics"):
        assert client.get(path).status_code < 500, path

    repaired = seeded.test_cli_runner().invoke(args=["reindex", "--if-changed"])
    assert repaired.exit_code == 0, repaired.output
    assert "cannot be used, rebuilding it" in repaired.output and reason in repaired.output
    after = recommendations(client, "sleep-0")
    assert after["index"]["version"] not in (before["index"]["version"], broken.version)
    assert client.get("/readyz").json["index_error"] is None
    stored = len(list(store.articles.iter_all()))
    assert stored == len(corpus()) + 1 == published_articles(seeded)
    assert "sleep-9" in [item["id"] for item in recommendations(client, "sleep-1")["related"]]


@pytest.mark.parametrize(
    "pointer", ["{not json", '{"file": "../index-x.joblib"}', '{"file": "index-gone.joblib"}']
)
def test_reindex_if_changed_rebuilds_when_the_pointer_is_unusable(
    seeded: Flask, client: FlaskClient, pointer: str
) -> None:
    before = recommendations(client, "sleep-0")
    (model_dir_of(seeded) / POINTER_NAME).write_text(pointer)
    assert recommendations(client, "sleep-0")["index"] == before["index"]
    assert client.get("/readyz").json["index_error"]
    result = seeded.test_cli_runner().invoke(args=["reindex", "--if-changed"])
    assert result.exit_code == 0 and "cannot be used, rebuilding it" in result.output, result.output
    assert recommendations(client, "sleep-0")["index"] != before["index"]
    assert client.get("/readyz").json["index_error"] is None


def test_a_first_start_with_a_damaged_artifact_refuses_related_serves_latest_and_popular(
    seeded: Flask, make_app: Callable[..., Flask]
) -> None:
    model_dir = model_dir_of(seeded)
    broken = unpublished_artifact(model_dir)
    flip_a_byte(model_dir, broken.file)
    publish(model_dir, broken)
    client = make_app().test_client()  # a new worker: no previous index to fall back on

    for path in ("recommendations", "recommendations.html", "recommendations?sections=related"):
        refused = client.get(f"/api/v1/articles/sleep-0/{path}")
        assert refused.status_code == 503 and refused.json["error"]["code"] == "index_not_ready"
        assert refused.headers["Retry-After"] == "30"
    answer = recommendations(client, "sleep-0", sections="latest,popular")
    assert answer["latest"] and answer["popular"] is not None and "related" not in answer
    fragment = client.get("/api/v1/articles/sleep-0/recommendations.html?sections=latest,popular")
    assert fragment.status_code == 200 and "Latest Posts" in fragment.text
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["index"] is None
    assert "fails its checksum" in ready.json["index_error"]
    assert any("fails its checksum" in problem for problem in ready.json["problems"])

    assert client.post("/api/v1/admin/reindex", headers=ADMIN).status_code == 202
    assert wait_for_reindex(client, ADMIN)["state"] == "succeeded"
    assert client.get("/readyz").status_code == 200
    assert recommendations(client, "sleep-0")["related"]


def test_no_index_at_all_is_the_contracts_answer_without_an_index(app: Flask, client: FlaskClient) -> None:
    assert client.post("/api/v1/articles", json=corpus(), headers=ADMIN).status_code == 200
    answer = recommendations(client, "sleep-0")
    assert answer["related"] == [] and answer["index"] is None and answer["latest"]
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["index_error"] is None


@pytest.mark.parametrize("stage", ["artifact", "manifest", "pointer"])
def test_a_full_disk_while_saving_keeps_the_previous_index_and_leaves_no_temporary_file(
    seeded: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    model_dir = model_dir_of(seeded)
    pointer, files = (model_dir / POINTER_NAME).read_bytes(), index_files(model_dir)
    before = recommendations(client, "sleep-0")

    def disk_full(path: str, data: bytes) -> None:
        with open(path, "wb") as handle:  # part of it reaches the disk, then no more space
            handle.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    if stage == "artifact":
        real_dump = joblib.dump

        def dump(value: Any, filename: str, *args: Any, **kwargs: Any) -> Any:
            real_dump(value, filename, *args, **kwargs)
            disk_full(filename, Path(filename).read_bytes())

        monkeypatch.setattr(artifacts_module.joblib, "dump", dump)
    else:
        real_writer, calls = artifacts_module._text_writer, []

        def text_writer(text: str) -> Callable[[str], None]:
            calls.append(text)  # the manifest's is written first, then the pointer's
            if len(calls) == (1 if stage == "manifest" else 2):
                return lambda path: disk_full(path, text.encode())
            return real_writer(text)

        monkeypatch.setattr(artifacts_module, "_text_writer", text_writer)

    assert client.post("/api/v1/admin/reindex", headers=ADMIN).status_code == 202
    job = wait_for_reindex(client, ADMIN)
    assert job["state"] == "failed" and "No space left on device" in job["error"]
    assert (model_dir / POINTER_NAME).read_bytes() == pointer
    assert temporaries(model_dir) == []
    if stage != "pointer":  # saved but unpublished artifacts (with their manifests) may stay
        assert index_files(model_dir) == files
    assert recommendations(client, "sleep-0") == before
    assert client.get("/readyz").json["index_error"] is None

    monkeypatch.undo()
    assert client.post("/api/v1/admin/reindex", headers=ADMIN).status_code == 202
    assert wait_for_reindex(client, ADMIN)["state"] == "succeeded"
    assert recommendations(client, "sleep-0")["index"] != before["index"]
    assert published_articles(seeded) == len(corpus())


# Run in the reindex subprocess: write the artifact's temporary file half, then hang there, so
# that the test can kill the process -9 in the middle of saving.
HANG_WHILE_SAVING = """
import sys, time, joblib
real_dump = joblib.dump
def dump(value, filename, *args, **kwargs):
    real_dump(value, filename, *args, **kwargs)
    if str(filename).endswith(".tmp"):
        with open(filename, "r+b") as handle:
            handle.truncate(handle.seek(0, 2) // 2)
        print("SAVING", flush=True)
        time.sleep(600)
joblib.dump = dump
from flask.cli import main
sys.argv = ["flask", "--app", "wsgi", "reindex"]
main()
"""


@pytest.fixture
def reindex_process(seeded: Flask) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        env = {
            **os.environ,
            "DATABASE_URL": seeded.config["DATABASE_URL"],
            "MODEL_DIR": seeded.config["MODEL_DIR"],
            "RELATED_REINDEX_STALE_SECONDS": "1",
            "RELATED_REINDEX_HEARTBEAT_SECONDS": "0.2",
        }
        process = subprocess.Popen(
            [sys.executable, "-c", HANG_WHILE_SAVING],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()


def wait_for_line(process: subprocess.Popen[str], wanted: str, timeout: float = 120) -> None:
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            if lines.get(timeout=remaining).strip() == wanted:
                return
        except queue.Empty:
            break
    raise AssertionError(f"the reindex process never printed {wanted!r} (exit code {process.poll()})")


def test_a_reindex_killed_while_saving_leaves_the_previous_index_and_the_next_one_succeeds(
    seeded: Flask,
    client: FlaskClient,
    make_app: Callable[..., Flask],
    reindex_process: Callable[[], subprocess.Popen[str]],
) -> None:
    model_dir, store = model_dir_of(seeded), seeded.extensions["store"]
    pointer, before = (model_dir / POINTER_NAME).read_bytes(), recommendations(client, "sleep-0")

    process = reindex_process()
    wait_for_line(process, "SAVING")
    left = temporaries(model_dir)
    assert len(left) == 1 and left[0].startswith(".index-")
    assert remove_stale_temporaries(model_dir) == []  # its writer is alive: its file stays
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL

    assert (model_dir / POINTER_NAME).read_bytes() == pointer
    assert recommendations(client, "sleep-0") == before
    assert temporaries(model_dir) == left  # until the next start or build
    restarted = make_app(REINDEX_STALE_SECONDS=1.0)  # the next start removes it
    assert temporaries(model_dir) == []
    time.sleep(1.2)  # the killed job's lease expires
    killed = store.jobs.latest(now=datetime.now(UTC), stale_after=timedelta(seconds=1))
    assert killed is not None and killed.state == "failed"

    result = restarted.test_cli_runner().invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    after = recommendations(restarted.test_client(), "sleep-0")
    assert after["index"] != before["index"] and after["related"]
    assert published_articles(seeded) == len(corpus()) == len(list(store.articles.iter_all()))
    assert temporaries(model_dir) == []


def test_only_abandoned_temporary_files_of_the_writer_are_removed(
    seeded: Flask, make_app: Callable[..., Flask]
) -> None:
    model_dir = model_dir_of(seeded)
    abandoned = [".index-20250101T000000Z-abc123.joblib.k2j4_9zq.tmp", ".CURRENT.a1b2c3d4.tmp"]
    # The first is a live writer's (locked); the others are not the writer's names.
    kept = [
        ".index-20250101T000000Z-def456.manifest.json.locked00.tmp",
        "notes.tmp",
        ".other.abcdefgh.tmp",
        "index-x.joblib.tmp",
        ".CURRENT.UPPER123.tmp",
    ]
    for name in abandoned + kept:
        (model_dir / name).write_bytes(b"partial")
    live_writer = os.open(model_dir / kept[0], os.O_RDONLY)
    try:
        fcntl.flock(live_writer, fcntl.LOCK_EX)
        make_app()  # the app starts
        assert temporaries(model_dir) == sorted(kept)
        (model_dir / abandoned[0]).write_bytes(b"partial")
        build_index(seeded.extensions["store"], model_dir)  # a build starts
        assert temporaries(model_dir) == sorted(kept)
    finally:
        os.close(live_writer)
    assert remove_stale_temporaries(model_dir) == [kept[0]]


def test_the_manifest_records_what_was_written_and_the_pointer_names_it(seeded: Flask) -> None:
    model_dir = model_dir_of(seeded)
    pointer = json.loads((model_dir / POINTER_NAME).read_text())
    manifest = json.loads((model_dir / pointer["manifest"]).read_text())
    artifact = model_dir / pointer["file"]
    assert pointer["manifest"] == manifest_name(pointer["file"])
    assert manifest["file"] == pointer["file"] and manifest["version"] == pointer["version"]
    assert manifest["sha256"] == sha256_of(artifact) and manifest["size"] == artifact.stat().st_size
    assert manifest["manifest_format"] == 1 and manifest["format"] == artifacts_module.FORMAT_VERSION
    assert manifest["sklearn_version"] and manifest["articles"] == len(corpus()) and manifest["fingerprint"]


def test_an_artifact_reached_through_a_symlink_out_of_the_model_dir_is_never_unpickled(
    tmp_path: Path, unpickled: list[str]
) -> None:
    model_dir, elsewhere = tmp_path / "models", tmp_path / "elsewhere"
    artifact = unpublished_artifact(elsewhere)  # a valid artifact and manifest, but not here
    model_dir.mkdir()
    (model_dir / artifact.file).symlink_to(elsewhere / artifact.file)
    (model_dir / manifest_name(artifact.file)).write_bytes(
        (elsewhere / manifest_name(artifact.file)).read_bytes()
    )
    publish(model_dir, artifact)
    with pytest.raises(ArtifactError, match="leads out of the model directory"):
        load_artifact(model_dir, read_pointer(model_dir) or {})
    (model_dir / artifact.file).unlink()
    (model_dir / artifact.file).mkdir()
    with pytest.raises(ArtifactError, match="not a regular file"):
        load_artifact(model_dir, read_pointer(model_dir) or {})
    (model_dir / POINTER_NAME).write_text(
        json.dumps({"file": artifact.file, "manifest": "../m.manifest.json"})
    )
    with pytest.raises(ArtifactError, match="manifest"):
        read_pointer(model_dir)
    assert unpickled == []


def test_a_failed_load_is_retried_with_backoff_and_a_new_pointer_at_once(
    seeded: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = model_dir_of(seeded)
    holder = IndexHolder(model_dir, reload_seconds=0)
    holder.refresh(now=0.0)
    served = holder.current()
    assert served is not None
    broken = unpublished_artifact(model_dir)
    truncate(model_dir, broken.file)
    publish(model_dir, broken)
    attempts: list[float] = []
    real_load = load_artifact

    def counted(*args: Any, **kwargs: Any) -> IndexArtifact:
        attempts.append(now)
        return real_load(*args, **kwargs)

    monkeypatch.setattr("service.index_holder.load_artifact", counted)
    for step in range(0, 4000):  # a check every 0.1 s for 400 s
        now = 100.0 + step / 10
        holder.refresh(now=now)
    gaps = [round(b - a, 1) for a, b in pairwise(attempts)]
    assert gaps == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60]
    assert holder.failures == len(attempts) and holder.load_error
    assert holder.current() is served  # the previous index served throughout

    repaired = build_index(seeded.extensions["store"], model_dir)  # a new pointer: tried at once
    holder.refresh(now=now)
    reloaded = holder.current()
    assert attempts[-1] == now and reloaded is not None and reloaded.version == repaired.version
    assert (holder.load_error, holder.failures) == (None, 0)


def test_loading_runs_on_the_loader_thread_once_per_version_never_on_a_request(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(INDEX_RELOAD_SECONDS=0.05)
    client, store, model_dir = app.test_client(), app.extensions["store"], model_dir_of(app)
    holder: IndexHolder = app.extensions["index_holder"]
    loads: list[str] = []
    real_load = load_artifact

    def spy(*args: Any, **kwargs: Any) -> IndexArtifact:
        loads.append(threading.current_thread().name)
        return real_load(*args, **kwargs)

    monkeypatch.setattr("service.index_holder.load_artifact", spy)
    try:
        assert client.post("/api/v1/articles", json=corpus(), headers=ADMIN).status_code == 200
        for _ in range(2):
            version = build_index(store, model_dir).version
            deadline = time.monotonic() + 10
            while (recommendations(client, "sleep-0")["index"] or {}).get("version") != version:
                assert time.monotonic() < deadline, "the loader never picked up the new index"
                time.sleep(0.02)
            for _ in range(20):
                assert client.get(RECOMMENDATIONS.format("sleep-1")).status_code == 200
        time.sleep(0.2)  # more checks of an unchanged pointer load nothing
        assert loads == ["index-loader", "index-loader"]
    finally:
        holder.close()


def test_a_process_without_an_index_waits_for_its_loader_only_while_one_can_be_loaded(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(INDEX_RELOAD_SECONDS=30.0)  # the loader's own checks come too late here
    client, holder = app.test_client(), app.extensions["index_holder"]
    try:
        assert client.post("/api/v1/articles", json=corpus(), headers=ADMIN).status_code == 200
        assert recommendations(client, "sleep-0")["index"] is None  # nothing published: no wait
        version = build_index(app.extensions["store"], model_dir_of(app)).version
        assert recommendations(client, "sleep-0")["index"]["version"] == version  # woken, waited for
    finally:
        holder.close()

    broken = unpublished_artifact(model_dir_of(app))
    flip_a_byte(model_dir_of(app), broken.file)
    publish(model_dir_of(app), broken)
    fresh = make_app(INDEX_RELOAD_SECONDS=30.0)
    try:
        started = time.monotonic()
        for _ in range(5):  # once its load failed, no request waits for it
            refused = fresh.test_client().get("/api/v1/articles/sleep-0/recommendations")
            assert refused.status_code == 503 and refused.json["error"]["code"] == "index_not_ready"
        assert time.monotonic() - started < 5
        assert "fails its checksum" in (fresh.extensions["index_holder"].load_error or "")
    finally:
        fresh.extensions["index_holder"].close()


def test_pruning_keeps_the_configured_number_of_artifacts_with_their_manifests(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(KEEP_ARTIFACTS=2)
    model_dir, runner = model_dir_of(app), app.test_cli_runner()
    assert app.test_client().post("/api/v1/articles", json=corpus(1), headers=ADMIN).status_code == 200
    versions = []
    for _ in range(4):
        assert runner.invoke(args=["reindex"]).exit_code == 0
        versions.append((read_pointer(model_dir) or {})["version"])
    kept = versions[-2:]  # the last two built (names of one second do not sort by time)
    expected = sorted(f"index-{v}{suffix}" for v in kept for suffix in (".joblib", ".manifest.json"))
    assert index_files(model_dir) == expected

    # The published artifact stays even behind newer ones, and orphan manifests go.
    oldest = load_artifact(model_dir, {"file": f"index-{kept[0]}.joblib"})  # a rollback
    publish(model_dir, oldest)
    newer = unpublished_artifact(model_dir)
    (model_dir / "index-20000101T000000Z-orphan.manifest.json").write_text("{}")
    prune_artifacts(model_dir, keep=1)
    assert index_files(model_dir) == sorted(
        f"{name.removesuffix('.joblib')}{suffix}"
        for name in (oldest.file, newer.file)
        for suffix in (".joblib", ".manifest.json")
    )


def test_integrity_errors_are_typed(tmp_path: Path) -> None:
    artifact = unpublished_artifact(tmp_path)
    flip_a_byte(tmp_path, artifact.file)
    with pytest.raises(ArtifactIntegrityError):
        load_artifact(tmp_path, {"file": artifact.file})
