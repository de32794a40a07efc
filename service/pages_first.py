"""A gunicorn worker that serves page requests before view beacons when both are waiting.

Every article page makes two calls: its lists, which the page (or its back end) waits for, and
a view beacon, which nobody waits for (``navigator.sendBeacon``). On a saturated machine both
queue for the same worker threads, so a burst of beacons would delay the pages. This worker is
gunicorn's ``gthread`` worker with a thread pool of two lanes: a request whose first bytes say
it is a beacon (``POST .../views``, ``.../clicks``, ``GET .../view.gif``) goes to the beacon
lane, every other request to the page lane. A free thread takes the oldest page request,
except that while pages are waiting every ``beacon_every + 1``-th request it takes is a beacon:
beacons are delayed under load, never starved, and served at once when no page is waiting.

The request is classified by peeking at the bytes already in the socket (``MSG_PEEK``, nothing
is consumed): a connection with nothing to read yet, TLS, or HTTP/2 goes to the page lane.
"""

from __future__ import annotations

import collections
import os
import re
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

from service.server_errors import JsonErrors

# The request line of a beacon of this service (see service/api/beacons.py).
BEACON_REQUEST = re.compile(rb"^(?:POST [^ ?]*/(?:views|clicks)|GET [^ ?]*/view\.gif)[ ?]")
_PEEK_BYTES = 512
# Under load, one beacon per this many page requests (measured in README, "gunicorn").
DEFAULT_BEACON_EVERY = 8


def is_beacon(first_bytes: bytes) -> bool:
    """Whether a request starting with ``first_bytes`` is a view or click beacon."""
    return BEACON_REQUEST.match(first_bytes) is not None


def peek_is_beacon(sock: socket.socket) -> bool:
    """Whether the request waiting in ``sock`` is a beacon; ``False`` when it cannot tell."""
    try:
        return is_beacon(sock.recv(_PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except (OSError, ValueError):  # nothing to read yet, a closed socket, TLS (no flags allowed)
        return False


_Task = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class TwoLaneExecutor(Executor):
    """A thread pool of ``max_workers`` threads with a page lane and a beacon lane (see the
    module's docstring); ``is_low(*args, **kwargs)`` says whether a task is a beacon."""

    def __init__(
        self,
        max_workers: int,
        *,
        is_low: Callable[..., bool],
        beacon_every: int = DEFAULT_BEACON_EVERY,
        name: str = "request",
    ) -> None:
        if max_workers < 1 or beacon_every < 1:
            raise ValueError("max_workers and beacon_every must be at least 1")
        self.beacon_every = beacon_every
        self._is_low = is_low
        self._pages: collections.deque[_Task] = collections.deque()
        self._beacons: collections.deque[_Task] = collections.deque()
        self._pages_in_a_row = 0
        self._ready = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{number}", daemon=True)
            for number in range(max_workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        low = self._is_low(*args, **kwargs)
        with self._ready:
            if self._stopping:
                raise RuntimeError("cannot submit after shutdown")
            (self._beacons if low else self._pages).append((future, fn, args, kwargs))
            self._ready.notify()
        return future

    def _next(self) -> _Task | None:
        """The next task (``None``: stop), waiting for one; called holding ``_ready``."""
        while not (self._pages or self._beacons or self._stopping):
            self._ready.wait()
        if self._pages and (not self._beacons or self._pages_in_a_row < self.beacon_every):
            self._pages_in_a_row += 1
            return self._pages.popleft()
        self._pages_in_a_row = 0
        return self._beacons.popleft() if self._beacons else None

    def _serve(self) -> None:
        while True:
            with self._ready:
                task = self._next()
            if task is None:
                return
            future, fn, args, kwargs = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:  # handed to the future, as ThreadPoolExecutor does
                future.set_exception(error)
            else:
                future.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking tasks; the threads finish what is queued (unless ``cancel_futures``)."""
        with self._ready:
            self._stopping = True
            if cancel_futures:
                for lane in (self._pages, self._beacons):
                    while lane:
                        lane.popleft()[0].cancel()
            self._ready.notify_all()
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()


class PagesFirstWorker(JsonErrors, ThreadWorker):
    """gunicorn's ``gthread`` worker with :class:`TwoLaneExecutor` as its thread pool; a beacon
    is taken after every ``GUNICORN_BEACON_EVERY`` (default 8) page requests while pages wait.
    Requests gunicorn refuses itself are answered in JSON (:class:`JsonErrors`)."""

    def get_thread_pool(self) -> Executor:
        beacon_every = int(os.environ.get("GUNICORN_BEACON_EVERY", "").strip() or DEFAULT_BEACON_EVERY)
        return TwoLaneExecutor(self.cfg.threads, is_low=_connection_is_beacon, beacon_every=beacon_every)


def _connection_is_beacon(conn: Any) -> bool:
    """Whether gunicorn's connection ``conn`` (a ``TConn``) carries a beacon as its next request."""
    try:
        parser = getattr(conn, "parser", None)
        if getattr(conn, "is_http2", False) or (parser is not None and parser.unreader.buf.getvalue()):
            return False  # HTTP/2 streams; bytes already read ahead (rare): no cheap look
        return peek_is_beacon(conn.sock)
    except Exception:  # a connection unlike gunicorn 27's: serve it as a page, never fail the loop
        return False
