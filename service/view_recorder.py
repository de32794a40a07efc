"""Group commit of views: many request threads, one transaction, each answered after it commits.

A request puts its view on a queue and waits. One writer thread per process takes everything
queued, writes it in one transaction and then wakes each waiting request with its outcome.
While a commit runs the next views queue up, so batches grow with the load and a view is
never acknowledged before it is durable.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import Counter
from concurrent.futures import Future
from datetime import datetime

from service.store import Store

log = logging.getLogger(__name__)

_MAX_BATCH = 2000


class ViewRecorder:
    """Records views in group commits; :meth:`record` returns once its view is committed."""

    def __init__(self, store: Store, *, timeout_seconds: float = 10.0) -> None:
        self.store = store
        self.timeout_seconds = timeout_seconds
        self._queue: queue.SimpleQueue[tuple[str, datetime, Future[bool]]] = queue.SimpleQueue()
        self._writer_pid: int | None = None
        self._lock = threading.Lock()

    def record(self, article_id: str, at: datetime) -> bool:
        """Count one view; ``False`` when the article does not exist. Raises the store's errors,
        or ``TimeoutError`` when the commit did not come in time (the view may still count)."""
        self._ensure_writer()
        future: Future[bool] = Future()
        self._queue.put((article_id, at, future))
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

    def _write(self, batch: list[tuple[str, datetime, Future[bool]]]) -> None:
        def collect() -> Counter[tuple[str, datetime]]:
            # Called holding the write lock: views that queued while it was awaited join in.
            while len(batch) < _MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            return Counter((article_id, at) for article_id, at, _ in batch)

        try:
            recorded = self.store.views.record_batch(collect)
        except Exception as error:  # the requests answer for it; the writer goes on
            log.error("views batch of %d failed: %s", len(batch), error)
            return _fail(batch, error)
        for article_id, _, future in batch:
            future.set_result(article_id in recorded)
        return None


def _fail(batch: list[tuple[str, datetime, Future[bool]]], error: Exception) -> None:
    for _, _, future in batch:
        future.set_exception(error)
