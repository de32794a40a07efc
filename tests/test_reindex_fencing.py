"""The reindex lease fences publishing.

A build that lost its lease (its heartbeats were missed and another job took over) stops and
publishes nothing; an index that read the store before the published one is never published;
a holder that lost the lease cannot overwrite its job's outcome; and the lease expires by the
database's clock, whatever the clocks of the processes say.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from service.recommender.artifacts import (
    POINTER_NAME,
    PUBLISH_LOCK_NAME,
    StaleArtifact,
    publish,
    read_pointer,
    read_pointer_document,
)
from service.reindex import Reindexer, build_index
from service.store import Store
from service.store.jobs import GIVEN_UP, LeaseLost

STALE = timedelta(seconds=1)


def published_version(model_dir: Path) -> str:
    pointer = read_pointer(model_dir)
    assert pointer is not None
    return pointer["version"]


def artifact_files(model_dir: Path) -> set[str]:
    return {path.name for path in model_dir.glob("index-*.joblib")}


@pytest.fixture
def model_dir(seeded: Flask) -> Path:
    return Path(seeded.config["MODEL_DIR"])


@pytest.fixture
def other_store(seeded: Flask) -> Iterator[Store]:
    """The same database opened anew, as another process or host would."""
    store = Store.from_url(seeded.config["DATABASE_URL"])
    yield store
    store.dispose()


class PausedBuild:
    """A build in a thread that stops in the middle of fitting until it is resumed."""

    def __init__(self, run: Callable[[Callable[[int, int], None]], Any]) -> None:
        self.paused, self.resumed = threading.Event(), threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

        def progress(done: int, total: int) -> None:
            self.paused.set()
            assert self.resumed.wait(60)

        def target() -> None:
            try:
                self.result = run(progress)
            except BaseException as error:
                self.error = error

        self.thread = threading.Thread(target=target)
        self.thread.start()
        assert self.paused.wait(60), "the build never reached its neighbours"

    def resume(self) -> None:
        self.resumed.set()
        self.thread.join(60)
        assert not self.thread.is_alive()


def missing_heartbeats(store: Store, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """While the returned event is set, ``store``'s heartbeats fail as if its database
    connection hung: the lease is not renewed."""
    missing = threading.Event()
    real = store.jobs.heartbeat

    def heartbeat(job_id: str, *, stale_after: timedelta) -> bool:
        if missing.is_set():
            raise OperationalError("UPDATE leases", {}, Exception("connection timed out"))
        return real(job_id, stale_after=stale_after)

    monkeypatch.setattr(store.jobs, "heartbeat", heartbeat)
    return missing


@pytest.mark.parametrize(
    "heartbeat_every",
    [
        pytest.param(0.05, id="stopped-by-its-heartbeat-before-saving"),
        pytest.param(3600.0, id="refused-by-the-fence-at-the-pointer"),
    ],
)
def test_a_build_that_lost_its_lease_stops_and_publishes_nothing(
    seeded: Flask,
    model_dir: Path,
    other_store: Store,
    monkeypatch: pytest.MonkeyPatch,
    heartbeat_every: float,
) -> None:
    store: Store = seeded.extensions["store"]
    files_before = artifact_files(model_dir)
    missing = missing_heartbeats(store, monkeypatch)
    missing.set()
    first = Reindexer(store, model_dir, stale_after=STALE, heartbeat_every=heartbeat_every)
    build = PausedBuild(first.run)
    first_job = store.jobs.holder()
    assert first_job is not None

    time.sleep(STALE.total_seconds() + 0.3)  # no heartbeat reached the database: the lease expired
    second = Reindexer(other_store, model_dir, stale_after=timedelta(seconds=60)).run()
    assert second.state == "succeeded" and published_version(model_dir) == second.index_version

    missing.clear()  # the first build's database answers again: its next beat finds the lease gone
    time.sleep(0.3)
    build.resume()

    assert published_version(model_dir) == second.index_version  # not replaced by the older build
    assert artifact_files(model_dir) == files_before | {f"index-{second.index_version}.joblib"}
    lost = store.jobs.get(first_job)
    assert lost is not None and lost.state == "failed" and lost.error == GIVEN_UP
    assert lost.index_version is None  # what the second job recorded stands
    assert build.result is not None and build.result.state == "failed"
    won = store.jobs.get(second.id)
    assert won is not None and won.state == "succeeded" and won.index_version == second.index_version


def test_an_index_that_read_the_store_before_the_published_one_is_never_published(
    seeded: Flask, model_dir: Path
) -> None:
    store: Store = seeded.extensions["store"]
    files_before = artifact_files(model_dir)
    older = PausedBuild(lambda progress: build_index(store, model_dir, progress=progress))
    newer = build_index(store, model_dir)  # read the store after the paused one did
    older.resume()
    assert isinstance(older.error, StaleArtifact), older.error
    assert published_version(model_dir) == newer.version
    assert artifact_files(model_dir) == files_before | {newer.file}  # the refused one is removed


def test_the_fence_runs_under_the_publish_lock_and_a_refusal_leaves_the_pointer(
    seeded: Flask, model_dir: Path
) -> None:
    store: Store = seeded.extensions["store"]
    pointer = (model_dir / POINTER_NAME).read_bytes()
    artifact = build_index(store, model_dir)
    observed: list[bool] = []

    def fence() -> None:
        other = os.open(model_dir / PUBLISH_LOCK_NAME, os.O_RDWR)
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            observed.append(False)  # nobody held it
        except BlockingIOError:
            observed.append(True)
        finally:
            os.close(other)
        raise LeaseLost("refused")

    (model_dir / POINTER_NAME).write_bytes(pointer)
    with pytest.raises(LeaseLost):
        publish(model_dir, artifact, fence=fence)
    assert observed == [True]
    assert (model_dir / POINTER_NAME).read_bytes() == pointer


def test_a_holder_that_lost_the_lease_cannot_overwrite_its_jobs_outcome(seeded: Flask) -> None:
    jobs = seeded.extensions["store"].jobs
    assert jobs.claim("old-job", source="api", stale_after=STALE)
    assert jobs.begin("old-job", stale_after=STALE)
    time.sleep(STALE.total_seconds() + 0.3)
    assert jobs.claim("new-job", source="cli", stale_after=timedelta(seconds=60))

    assert not jobs.heartbeat("old-job", stale_after=STALE)
    assert not jobs.begin("old-job", stale_after=STALE)
    assert not jobs.finish("old-job", state="succeeded", index_version="stale", articles=1)
    assert jobs.holder() == "new-job"
    assert jobs.finish("new-job", state="failed", error="its own failure")
    assert not jobs.finish("old-job", state="succeeded", index_version="stale")  # nor after
    old, new = jobs.get("old-job"), jobs.get("new-job")
    assert old is not None and (old.state, old.index_version, old.error) == ("failed", None, GIVEN_UP)
    assert new is not None and (new.state, new.error) == ("failed", "its own failure")


def test_a_job_given_up_for_dead_cannot_come_back(seeded: Flask) -> None:
    jobs = seeded.extensions["store"].jobs
    assert jobs.claim("slow-job", source="api", stale_after=STALE)
    time.sleep(STALE.total_seconds() + 0.3)
    given_up = jobs.latest(stale_after=STALE)  # a reader finds it silent and marks it failed
    assert given_up is not None and given_up.state == "failed"
    assert not jobs.heartbeat("slow-job", stale_after=STALE)  # its lease is not renewed
    assert not jobs.finish("slow-job", state="succeeded", index_version="late")
    job = jobs.get("slow-job")
    assert job is not None and job.state == "failed" and job.index_version is None
    assert jobs.claim("next-job", source="api", stale_after=STALE)


# -- the database's clock ------------------------------------------------------------------------

# The modules that decide anything about jobs and leases, or pass their own clock to them.
CLOCK_USERS = ("service.reindex", "service.store.jobs", "service.api.admin", "service.build_process")


@pytest.fixture
def process_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], None]:
    """Sets how far this process's clock is off (``datetime.now`` in the modules that handle
    leases), as if each step ran in another process on a host with a wrong clock."""
    import importlib  # noqa: PLC0415

    def skew(offset: timedelta) -> None:
        class Skewed(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return datetime.fromtimestamp(time.time(), tz) + offset

        for name in CLOCK_USERS:
            module = importlib.import_module(name)
            if hasattr(module, "datetime"):
                monkeypatch.setattr(module, "datetime", Skewed)

    return skew


@pytest.mark.parametrize(
    ("holder_offset", "contender_offset"),
    [
        pytest.param(timedelta(hours=-2), timedelta(hours=2), id="holder-behind-contender-ahead"),
        pytest.param(timedelta(hours=2), timedelta(hours=-2), id="holder-ahead-contender-behind"),
    ],
)
def test_the_lease_expires_by_the_databases_clock_not_the_processes(
    seeded: Flask,
    client: FlaskClient,
    admin: dict[str, str],
    process_clock: Callable[[timedelta], None],
    holder_offset: timedelta,
    contender_offset: timedelta,
) -> None:
    jobs = seeded.extensions["store"].jobs
    stale = timedelta(seconds=1.5)
    process_clock(holder_offset)
    assert jobs.claim("holder", source="cli", stale_after=stale)
    assert jobs.begin("holder", stale_after=stale)

    process_clock(contender_offset)  # another process: the lease is still held, whatever its clock says
    assert not jobs.claim("contender", source="api", stale_after=stale)
    response = client.post("/api/v1/admin/reindex", headers=admin)
    assert response.status_code == 202 and response.json["job"]["id"] == "holder"
    assert client.get("/api/v1/admin/reindex", headers=admin).json["job"]["state"] == "running"

    process_clock(holder_offset)  # the holder renews for 1.5 s more, by the database's clock
    assert jobs.heartbeat("holder", stale_after=stale)
    process_clock(contender_offset)
    assert not jobs.claim("contender", source="api", stale_after=stale)

    time.sleep(stale.total_seconds() + 0.3)  # no more heartbeats: expired for everyone
    assert jobs.claim("contender", source="api", stale_after=stale)
    holder = jobs.get("holder")
    assert holder is not None and holder.state == "failed"
    process_clock(holder_offset)
    assert not jobs.heartbeat("holder", stale_after=stale)


def test_times_recorded_for_jobs_and_the_pointer_are_the_databases(
    seeded: Flask, model_dir: Path, process_clock: Callable[[timedelta], None]
) -> None:
    process_clock(timedelta(days=-3))
    job = seeded.extensions["reindexer"].run()
    assert job.state == "succeeded"
    real_now = datetime.now(UTC)
    for moment in (job.created_at, job.started_at, job.finished_at, job.heartbeat_at):
        assert moment is not None and abs(moment - real_now) < timedelta(minutes=1)
    pointer = read_pointer_document(model_dir)
    for key in ("store_read_at", "published_at"):
        assert abs(datetime.fromisoformat(pointer[key]) - real_now) < timedelta(minutes=1)
