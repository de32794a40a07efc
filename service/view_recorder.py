"""Group commit of views: many request threads, one transaction, each answered after it commits.

A request puts its view (with its reader's visitor hash), or a bot hit, on a queue and waits.
One writer thread per process takes everything queued, writes it in one transaction (a
multi-row statement per table, see ``ViewRepository.record_batch``) and then wakes each waiting
request with its outcome. While a commit runs the next views queue up, so batches grow with the
load and a view is never acknowledged before it is durable.

After a batch the writer checks, at most once a minute, whether an hour is waiting to be rolled
up; if so a background thread runs the rollup (``service/store/rollup.py``), so the service
rolls up and prunes by itself, at most once an hour, without delaying views.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from concurrent.futures import Future, InvalidStateError
from datetime import UTC, datetime

from service.store import Store, ViewBatch

log = logging.getLogger(__name__)

_MAX_BATCH = 2000
# (article id, or None for a bot hit; moment; visitor hash or None; the waiting request)
_Entry = tuple[str | None, datetime, int | None, Future[bool]]


class RollupTrigger:
    """Starts the rollup in a background thread when an hour is due, checking at most once
    per ``check_seconds`` (one cheap read)."""

    def __init__(self, store: Store, *, check_seconds: float = 60.0, enabled: bool = True) -> None:
        self.store = store
        self.check_seconds = check_seconds
        self.enabled = enabled
        # The first check comes a check interval after start: a process that only lives for a
        # moment (a CLI command, a test) leaves the rollup to the long-lived ones.
        self._checked = time.monotonic()
        self._running = threading.Lock()

    def poke(self, now: datetime | None = None) -> None:
        if not self.enabled or time.monotonic() - self._checked < self.check_seconds:
            return
        self._checked = time.monotonic()
        moment = now or datetime.now(UTC)
        try:
            due = self.store.rollup.due(moment)
        except Exception as error:  # the store is down: the next check will tell
            log.warning("could not check the views rollup: %s", error)
            return
        if due and self._running.acquire(blocking=False):
            threading.Thread(target=self._run, args=(moment,), name="views-rollup", daemon=True).start()

    def _run(self, now: datetime) -> None:
        try:
            report = self.store.rollup.run(now)
            # Every worker checks; the first to take the writer lock rolls up, the others find
            # nothing left to do and say so quietly.
            log.log(
                logging.INFO if report.advanced else logging.DEBUG,
                "views rolled up to %s: %d days, %d hourly rows pruned",
                report.checkpoint,
                report.days_rolled,
                report.rows_pruned,
            )
        except Exception:  # logged; the next check tries again
            log.exception("views rollup failed")
        finally:
            self._running.release()


class ViewRecorder:
    """Records views in group commits; :meth:`record` returns once its view is committed."""

    def __init__(
        self, store: Store, *, timeout_seconds: float = 10.0, rollups: RollupTrigger | None = None
    ) -> None:
        self.store = store
        self.timeout_seconds = timeout_seconds
        self.rollups = rollups
        self._queue: queue.SimpleQueue[_Entry] = queue.SimpleQueue()
        self._writer_pid: int | None = None
        self._lock = threading.Lock()

    def record(self, article_id: str, at: datetime, visitor: int | None = None) -> bool:
        """Count one view (by reader ``visitor``, when known); ``False`` when the article does
        not exist. Raises the store's errors, or ``TimeoutError`` when its view was not written
        in time: then it never counts, so a client may send it again (unless its commit had
        begun and did not end within a second timeout)."""
        return self._wait((article_id, at, visitor, Future()))

    def record_bot_hit(self, at: datetime) -> None:
        """Count one request of a bot or a prefetch; returns once committed (raises like
        :meth:`record`)."""
        self._wait((None, at, None, Future()))

    def _wait(self, entry: _Entry) -> bool:
        self._ensure_writer()
        self._queue.put(entry)
        future = entry[3]
        try:
            return future.result(timeout=self.timeout_seconds)
        except TimeoutError:
            if future.cancel():
                raise  # still queued: the writer leaves it out, it never counts
            # Taken into a batch whose commit has begun: its outcome is that commit's.
            return future.result(timeout=self.timeout_seconds)

    def _ensure_writer(self) -> None:
        # A thread does not survive fork(): each gunicorn worker starts its own.
        if self._writer_pid == os.getpid():
            return
        with self._lock:
            if self._writer_pid != os.getpid():
                threading.Thread(target=self._write_forever, name="view-writer", daemon=True).start()
                self._writer_pid = os.getpid()

    def _write_forever(self) -> None:
        while True:
            self._write([self._queue.get()])
            if self.rollups is not None:
                self.rollups.poke()

    def _write(self, batch: list[_Entry]) -> None:
        def collect() -> ViewBatch:
            # Called holding the write lock: views that queued while it was awaited join in.
            while len(batch) < _MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            # A request that stopped waiting cancelled its view; the others cannot cancel now.
            batch[:] = [entry for entry in batch if entry[3].set_running_or_notify_cancel()]
            counts = ViewBatch()
            for article_id, at, visitor, _ in batch:
                if article_id is None:
                    counts.add_bot_hit(at)
                else:
                    counts.add_view(article_id, at, visitor)
            return counts

        try:
            recorded = self.store.views.record_batch(collect)
        except Exception as error:  # the requests answer for it; the writer goes on
            log.error("views batch of %d failed: %s", len(batch), error)
            return _fail(batch, error)
        for article_id, _, _, future in batch:
            future.set_result(article_id is None or article_id in recorded)
        return None


def _fail(batch: list[_Entry], error: Exception) -> None:
    for *_, future in batch:
        with contextlib.suppress(InvalidStateError):  # cancelled by a request that stopped waiting
            future.set_exception(error)
