"""SharedRead: one read for the threads that wait, never an answer older than the asking."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine

from service.store.changes import ChangeFeed
from service.store.shared_read import SharedRead


class _GatedReads:
    """A read that counts its calls and, while ``gate`` is clear, blocks inside each one."""

    def __init__(self) -> None:
        self.calls = 0
        self.inside = threading.Event()
        self.gate = threading.Event()
        self.fail = False

    def __call__(self) -> int:
        self.calls += 1
        number = self.calls
        self.inside.set()
        assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError(f"read {number} failed")
        return number


def _wait_until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def _ask_during_a_read(
    reads: _GatedReads, shared: SharedRead[int], pool: ThreadPoolExecutor, askers: int
) -> tuple[Future[int], list[Future[int]]]:
    """Start read 1 and hold it; ``askers`` threads ask meanwhile and wait; returns their futures."""
    first = pool.submit(shared)
    assert reads.inside.wait(10)
    waiting = [pool.submit(shared) for _ in range(askers)]
    _wait_until(lambda: shared.waiting == askers)
    return first, waiting


def test_threads_that_ask_during_a_read_share_the_next_one_and_never_get_the_earlier() -> None:
    reads = _GatedReads()
    shared = SharedRead(reads)
    with ThreadPoolExecutor(4) as pool:
        first, waiting = _ask_during_a_read(reads, shared, pool, 3)
        reads.gate.set()
        assert first.result(10) == 1
        # read 1 began before they asked: it may miss what they wrote just before, so they share read 2
        assert [future.result(10) for future in waiting] == [2, 2, 2]
    assert reads.calls == 2


def test_a_thread_alone_always_reads_anew() -> None:
    reads = _GatedReads()
    reads.gate.set()
    shared = SharedRead(reads)
    assert [shared(), shared(), shared()] == [1, 2, 3]


def test_a_failed_read_fails_every_thread_that_waited_for_it_and_the_next_read_runs() -> None:
    reads = _GatedReads()
    shared = SharedRead(reads)
    with ThreadPoolExecutor(4) as pool:
        first, waiting = _ask_during_a_read(reads, shared, pool, 2)
        reads.fail = True
        reads.gate.set()
        for future in [first, *waiting]:
            with pytest.raises(RuntimeError, match="failed"):
                future.result(10)
    reads.fail = False
    assert shared() == 3


@pytest.mark.parametrize(
    ("url", "reads_for_four"), [("postgresql+psycopg://db.invalid/x", 2), ("sqlite://", 4)]
)
def test_the_change_feed_shares_a_servers_reads_and_not_sqlites(
    url: str, reads_for_four: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _GatedReads()
    monkeypatch.setattr(ChangeFeed, "_read_version", lambda _feed: reads())
    feed = ChangeFeed(create_engine(url))  # no connection is opened: every read is the gated one
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(feed.version)
        assert reads.inside.wait(10)
        others = [pool.submit(feed.version) for _ in range(3)]
        # the others ask while read 1 is held: each waits for a shared read, or is inside its own
        _wait_until(lambda: reads.calls + getattr(feed._read, "waiting", 0) == 4)
        reads.gate.set()
        answers = [future.result(10) for future in [first, *others]]
    assert reads.calls == reads_for_four
    assert answers[0] == 1 and min(answers[1:]) >= 2  # none answered from the read before it asked
