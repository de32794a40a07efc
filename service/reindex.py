"""Building and publishing the index: one function, run by the CLI and by the admin API."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from service import metrics
from service.recommender import RelatedIndex
from service.recommender.artifacts import (
    IndexArtifact,
    load_artifact,
    new_version,
    prune_artifacts,
    publish,
    read_pointer,
    save_artifact,
)
from service.recommender.neighbours import ProgressCallback
from service.store import Job, Store
from service.store.articles import corpus_fingerprint

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def build_index(
    store: Store,
    model_dir: Path,
    *,
    params: dict[str, Any] | None = None,
    keep_artifacts: int = 3,
    progress: ProgressCallback | None = None,
) -> IndexArtifact:
    """Build an index of every stored article, save it and publish it.

    Neighbours learned since the last build (the overlay) that this build has read are cleared.
    """
    started = utcnow()
    documents = [article.to_document() for article in store.articles.iter_all()]
    index = RelatedIndex(**(params or {})).fit(documents, progress=progress)
    built_at = utcnow()
    artifact = save_artifact(
        model_dir,
        index,
        version=new_version(built_at),
        built_at=built_at,
        fingerprint=corpus_fingerprint(zip(index.ids_, index.content_hashes_)),
    )
    publish(model_dir, artifact)
    store.overlay.clear_before(started, now=utcnow())
    prune_artifacts(model_dir, keep=keep_artifacts)
    log.info("published index %s with %d articles", artifact.version, artifact.articles)
    return artifact


def published_fingerprint(model_dir: Path) -> str | None:
    """The corpus fingerprint of the published index, or ``None`` when there is none."""
    pointer = read_pointer(model_dir)
    if pointer is None:
        return None
    return load_artifact(model_dir, pointer).fingerprint


class ReindexBusy(RuntimeError):
    """Another reindex job holds the lease."""


@dataclass
class Reindexer:
    """Runs :func:`build_index` as a recorded job, one at a time across all processes."""

    store: Store
    model_dir: Path
    params: dict[str, Any] = field(default_factory=dict)
    keep_artifacts: int = 3
    stale_after: timedelta = timedelta(seconds=60)
    heartbeat_every: float = 5.0

    def start(self) -> tuple[Job, bool]:
        """Start a job in a background thread; ``(running job, False)`` if one is under way."""
        job_id = str(uuid.uuid4())
        if not self.store.jobs.claim(job_id, source="api", now=utcnow(), stale_after=self.stale_after):
            job = self.store.jobs.latest(now=utcnow(), stale_after=self.stale_after)
            if job is not None and job.state in ("queued", "running"):
                return job, False
            return self.start()  # the holder finished in between: try again
        thread = threading.Thread(
            target=self._execute, args=(job_id, None), name=f"reindex-{job_id[:8]}", daemon=True
        )
        thread.start()
        job = self.store.jobs.get(job_id)
        assert job is not None
        return job, True

    def run(self, progress: ProgressCallback | None = None) -> Job:
        """Run a job in this thread (the CLI); raises :class:`ReindexBusy` if one is under way."""
        job_id = str(uuid.uuid4())
        if not self.store.jobs.claim(job_id, source="cli", now=utcnow(), stale_after=self.stale_after):
            raise ReindexBusy("another reindex job is running")
        self._execute(job_id, progress)
        job = self.store.jobs.get(job_id)
        assert job is not None
        return job

    def _execute(self, job_id: str, progress: ProgressCallback | None) -> None:
        started = utcnow()
        stop = threading.Event()
        beat = self._heartbeat(job_id, stop)
        self.store.jobs.heartbeat(
            job_id, now=utcnow(), stale_after=self.stale_after, state="running", started_at=utcnow()
        )
        beat.start()
        try:
            artifact = build_index(
                self.store,
                self.model_dir,
                params=self.params,
                keep_artifacts=self.keep_artifacts,
                progress=progress,
            )
        except Exception as error:  # the job records any failure; the old index keeps serving
            log.exception("reindex job %s failed", job_id)
            stop.set()
            beat.join()
            self.store.jobs.finish(job_id, now=utcnow(), state="failed", error=_describe(error))
            metrics.reindex_finished("failed")
            return
        stop.set()
        beat.join()
        self.store.jobs.finish(
            job_id,
            now=utcnow(),
            state="succeeded",
            articles=artifact.articles,
            index_version=artifact.version,
        )
        metrics.reindex_finished("succeeded", (utcnow() - started).total_seconds())

    def _heartbeat(self, job_id: str, stop: threading.Event) -> threading.Thread:
        def beat() -> None:
            while not stop.wait(self.heartbeat_every):
                try:
                    self.store.jobs.heartbeat(job_id, now=utcnow(), stale_after=self.stale_after)
                except Exception:  # a missed beat is retried; the build must go on
                    log.warning("reindex heartbeat failed", exc_info=True)

        return threading.Thread(target=beat, name=f"reindex-heartbeat-{job_id[:8]}", daemon=True)


def _describe(error: Exception) -> str:
    # Shown to admins: the kind of failure and its message, never a traceback. A database
    # error's text holds the SQL (and, without hide_parameters, its values): only its class
    # is shown; the log line of the failure has the rest, parameters hidden (make_engine).
    if isinstance(error, SQLAlchemyError) or type(error).__module__.split(".")[0] in ("psycopg", "sqlite3"):
        return f"The article store failed during the build ({type(error).__name__}); see the server log."
    return f"{type(error).__name__}: {error}"[:500]


def init_app(app: Flask) -> None:
    app.extensions["reindexer"] = Reindexer(
        store=app.extensions["store"],
        model_dir=Path(app.config["MODEL_DIR"]),
        params=dict(app.config["INDEX_PARAMS"]),
        keep_artifacts=int(app.config["KEEP_ARTIFACTS"]),
        stale_after=timedelta(seconds=float(app.config["REINDEX_STALE_SECONDS"])),
        heartbeat_every=float(app.config["REINDEX_HEARTBEAT_SECONDS"]),
    )


def get_reindexer() -> Reindexer:
    reindexer: Reindexer = current_app.extensions["reindexer"]
    return reindexer
