"""Each worker's view of the published index, reloaded by a background thread."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from flask import Flask, current_app

from service.recommender.artifacts import (
    ArtifactError,
    IndexArtifact,
    load_artifact,
    read_pointer,
    remove_stale_temporaries,
)

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0
# A request in a process that holds no index yet waits at most this long for the loader to load
# a published one.
FIRST_LOAD_WAIT_SECONDS = 10.0


class IndexHolder:
    """Holds the loaded artifact; requests only read it (:meth:`current`), never load one.

    A loader thread, started at the first use in each process (so again in each worker after a
    fork), reads the pointer every ``reload_seconds`` and loads a newly published artifact
    completely before swapping the reference: requests see the old index or the new one. When
    a load fails the old one keeps serving, ``load_error`` says why (``/readyz`` shows it) and
    the log says so; the same pointer is tried again after 1, 2, 4 … up to 60 s, a new pointer
    at once. A gunicorn worker calls :meth:`warm` before it serves. A process that holds no
    index yet (not warmed: ``flask run``, a test client; or the first index was just published)
    wakes its loader and lets a request wait for it, up to ``FIRST_LOAD_WAIT_SECONDS``, rather
    than answer as if none were published; once a load has failed, requests no longer wait.
    With ``reload_seconds=0`` (the tests) there is no thread: each access checks the pointer in
    the caller's thread, so a test sees a new index at once.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        reload_seconds: float = 1.0,
        first_retry_seconds: float = FIRST_RETRY_SECONDS,
        max_retry_seconds: float = MAX_RETRY_SECONDS,
    ) -> None:
        self.model_dir = model_dir
        self.reload_seconds = reload_seconds
        self.first_retry_seconds = first_retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.load_error: str | None = None
        self.failures = 0  # consecutive failed loads of the published pointer
        # Called after an index is loaded (a gunicorn worker freezes it out of the cyclic
        # garbage collector's passes: gunicorn.conf.py).
        self.after_load: Callable[[], object] | None = None
        self._artifact: IndexArtifact | None = None
        self._failed_pointer: object = None
        self._retry_at = float("-inf")
        self._lock = threading.Lock()  # one load at a time
        self._loader_lock = threading.Lock()
        self._loader_pid: int | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()  # check the pointer now, not at the next interval
        self._attempted = threading.Condition()  # notified after each check of the pointer
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(ref))

    def current(self) -> IndexArtifact | None:
        """The artifact to serve now, or ``None`` before one could be loaded."""
        if self.reload_seconds <= 0:
            # Tests: while one thread loads, the others go on serving what is held.
            self.refresh(wait=self._artifact is None)
        else:
            self._ensure_loader()
            if self._artifact is None:
                self._await_first_index()
        return self._artifact

    def _await_first_index(self) -> None:
        """No index is held: when one is published that has not failed to load, wake the loader
        and wait (bounded) until it has tried."""
        try:
            pointer = read_pointer(self.model_dir)
        except ArtifactError:
            return
        if pointer is None or _key(pointer) == self._failed_pointer:
            return
        deadline = time.monotonic() + FIRST_LOAD_WAIT_SECONDS
        with self._attempted:
            self._wake.set()
            while self._artifact is None and self._failed_pointer != _key(pointer):
                if (remaining := deadline - time.monotonic()) <= 0 or not self._attempted.wait(remaining):
                    return

    def warm(self) -> IndexArtifact | None:
        """Load the published index now, in this thread, then keep it current in the background
        (a gunicorn worker calls it before it serves a request)."""
        self.refresh()
        if self.reload_seconds > 0:
            self._ensure_loader()
        return self._artifact

    def close(self) -> None:
        """Stop this process's loader thread."""
        self._stop.set()
        self._wake.set()

    def refresh(self, *, wait: bool = True, now: float | None = None) -> None:
        """Load the published artifact if it is not the one held and not waiting for a retry."""
        if not self._lock.acquire(blocking=wait):
            return
        try:
            self._refresh(time.monotonic() if now is None else now)
        finally:
            self._lock.release()
            with self._attempted:
                self._attempted.notify_all()

    def _refresh(self, now: float) -> None:
        try:
            pointer = read_pointer(self.model_dir)
        except ArtifactError as error:
            self._failed(str(error), error, now)
            return
        if pointer is None or (self._artifact is not None and pointer["file"] == self._artifact.file):
            self._succeeded()
            return
        key = _key(pointer)
        if key == self._failed_pointer and now < self._retry_at:
            return  # the same pointer failed: wait for its retry
        try:
            artifact = load_artifact(self.model_dir, pointer)
            artifact.index.prepare()  # build the lookups now, not on a request
        except Exception as error:  # ArtifactError, or anything a damaged artifact raises
            self._failed(key, error, now)
            return
        self._artifact = artifact
        self._succeeded()
        log.info("serving index %s (%d articles)", artifact.version, artifact.articles)
        if self.after_load is not None:
            self.after_load()

    def _succeeded(self) -> None:
        self.load_error, self.failures, self._failed_pointer = None, 0, None

    def _failed(self, key: object, error: Exception, now: float) -> None:
        if key != self._failed_pointer:  # a new pointer: its retries start from the first delay
            self.failures = 0
        self._failed_pointer = key
        self.failures += 1
        delay = min(self.first_retry_seconds * 2 ** (self.failures - 1), self.max_retry_seconds)
        self._retry_at = now + delay
        self.load_error = str(error)
        serving = f"still serving index {self._artifact.version}" if self._artifact else "no index is served"
        log.error(
            "could not load the published index (attempt %d, next in %.0f s), %s: %s",
            self.failures,
            delay,
            serving,
            error,
            exc_info=not isinstance(error, ArtifactError | OSError),
        )

    def _ensure_loader(self) -> None:
        # A thread does not survive fork(): each gunicorn worker starts its own.
        if self._loader_pid == os.getpid():
            return
        with self._loader_lock:
            if self._loader_pid != os.getpid():
                thread = threading.Thread(
                    target=_load_forever,
                    args=(weakref.ref(self), self._stop, self._wake, self.reload_seconds),
                    name="index-loader",
                    daemon=True,
                )
                thread.start()
                self._loader_pid = os.getpid()


def _key(pointer: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pointer.items()))


def _load_forever(
    ref: weakref.ref[IndexHolder], stop: threading.Event, wake: threading.Event, interval: float
) -> None:
    # Holds the holder only while it refreshes: a holder no app uses any more ends its thread.
    while not stop.is_set():
        holder = ref()
        if holder is None:
            return
        try:
            holder.refresh()
        except Exception:  # the loop must go on; refresh logs what it expected
            log.exception("index loader: unexpected failure")
        del holder
        wake.wait(interval)
        wake.clear()


def _after_fork(ref: weakref.ref[IndexHolder]) -> None:
    # A lock held by a parent's thread at fork time would never be released in the child.
    holder = ref()
    if holder is not None:
        holder._lock = threading.Lock()
        holder._loader_lock = threading.Lock()
        holder._attempted = threading.Condition()


def init_app(app: Flask) -> None:
    model_dir = Path(app.config["MODEL_DIR"])
    remove_stale_temporaries(model_dir)  # what a build killed in an earlier run left
    app.extensions["index_holder"] = IndexHolder(
        model_dir, reload_seconds=float(app.config["INDEX_RELOAD_SECONDS"])
    )


def get_index_holder() -> IndexHolder:
    holder: IndexHolder = current_app.extensions["index_holder"]
    return holder
