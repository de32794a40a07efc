"""Each worker's popular lists: re-read in the background, never served past their lag."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

from service.popularity import Popularity
from service.shared_lists import SharedLists

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


class SlowViews:
    """``most_viewed`` answering the next of ``answers``; while ``gate`` is clear, it waits."""

    def __init__(self, *answers: list[tuple[str, int]] | Exception) -> None:
        self.answers = list(answers)
        self.gate = threading.Event()
        self.gate.set()
        self.reads = 0
        self.threads: list[str] = []

    def most_viewed(self, window: str, *, now: datetime, limit: int) -> list[tuple[str, int]]:
        self.threads.append(threading.current_thread().name)
        self.gate.wait(10)
        self.reads += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeStore:
    def __init__(self, views: SlowViews) -> None:
        self.views = views


def popularity(views: SlowViews, max_lag: float) -> Popularity:
    return Popularity(FakeStore(views), max_lag_seconds=max_lag)  # type: ignore[arg-type]


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_list_half_its_lag_old_is_served_while_a_background_thread_reads_the_next() -> None:
    views = SlowViews([("a", 2)], [("b", 3)])
    popular = popularity(views, max_lag=0.4)
    first = popular.top("7d", NOW)
    assert first.rows == (("a", 2),) and views.threads == ["MainThread"]
    time.sleep(0.25)  # past half the lag, within it
    views.gate.clear()  # the store is slow now
    started = time.monotonic()
    assert popular.top("7d", NOW) is first  # answered at once with the list held
    assert popular.top("7d", NOW) is first  # one read at a time: no second thread
    assert time.monotonic() - started < 0.1
    views.gate.set()
    wait_until(lambda: popular.last("7d").rows == (("b", 3),))
    assert views.reads == 2 and views.threads[1] == "popular-7d"
    assert popular.last("7d").epoch > first.epoch


def test_a_list_past_its_lag_is_read_again_while_the_request_waits() -> None:
    views = SlowViews([("a", 2)], [("b", 3)])
    popular = popularity(views, max_lag=0.2)
    popular.top("7d", NOW)
    time.sleep(0.25)
    assert popular.top("7d", NOW).rows == (("b", 3),)
    assert views.threads == ["MainThread", "MainThread"]


def test_an_unchanged_list_keeps_its_epoch() -> None:
    views = SlowViews([("a", 2)], [("a", 2)])
    popular = popularity(views, max_lag=0.0)  # every request reads
    assert popular.top("7d", NOW).epoch == popular.top("7d", NOW).epoch
    assert views.reads == 2


def test_a_failed_background_read_is_retried_by_the_first_request_past_the_lag(
    caplog: pytest.LogCaptureFixture,
) -> None:
    views = SlowViews([("a", 2)], RuntimeError("store down"), RuntimeError("still down"), [("c", 1)])
    popular = popularity(views, max_lag=0.3)
    first = popular.top("7d", NOW)
    time.sleep(0.2)
    assert popular.top("7d", NOW) is first
    wait_until(lambda: views.reads == 2)
    wait_until(lambda: "store down" in caplog.text)
    time.sleep(0.15)  # now past the lag: the request reads, and the store's error reaches it
    with pytest.raises(RuntimeError, match="still down"):
        popular.top("7d", NOW)
    assert popular.last("7d") is first  # what a stale answer falls back on
    assert popular.top("7d", NOW).rows == (("c", 1),)


def shared_pair(tmp_path: Path, views: SlowViews, max_lag: float) -> tuple[Popularity, Popularity]:
    """Two processes' popularity (each with its own lock files open) sharing one folder."""
    folder = tmp_path / "popular"
    return tuple(  # type: ignore[return-value]
        Popularity(FakeStore(views), max_lag_seconds=max_lag, shared=SharedLists.in_folder(folder))  # type: ignore[arg-type]
        for _ in range(2)
    )


def test_workers_sharing_a_folder_read_the_store_once_between_them(tmp_path: Path) -> None:
    views = SlowViews([("a", 2)], [("b", 3)])
    first, second = shared_pair(tmp_path, views, max_lag=0.6)
    assert first.top("7d", NOW).rows == (("a", 2),)
    assert second.top("7d", NOW).rows == (("a", 2),)  # from the folder
    assert views.reads == 1
    time.sleep(0.65)  # past the lag: the next request reads, the other worker takes its list
    assert second.top("7d", NOW).rows == (("b", 3),)
    assert first.top("7d", NOW).rows == (("b", 3),)
    assert views.reads == 2


def test_a_worker_waits_for_the_one_reading_the_store_and_takes_its_list(tmp_path: Path) -> None:
    views = SlowViews([("a", 2)])
    first, second = shared_pair(tmp_path, views, max_lag=1.0)
    views.gate.clear()
    reader = threading.Thread(target=first.top, args=("7d", NOW))
    reader.start()
    wait_until(lambda: views.threads)  # the first worker is reading the store
    waiting = threading.Thread(target=second.top, args=("7d", NOW))
    waiting.start()
    time.sleep(0.1)
    assert waiting.is_alive()  # on the lock, not on the store: the store is read once
    views.gate.set()
    reader.join(5)
    waiting.join(5)
    assert views.reads == 1 and second.last("7d").rows == (("a", 2),)


def test_a_shared_list_past_the_lag_or_malformed_is_not_taken(tmp_path: Path) -> None:
    views = SlowViews([("a", 2)], [("b", 3)], [("c", 4)])
    first, second = shared_pair(tmp_path, views, max_lag=1.0)
    first.top("7d", NOW)
    assert second.shared is not None
    second.shared.write("7d", time.time() - 1.5, (("old", 9),))  # its read began too long ago
    assert second.top("7d", NOW).rows == (("b", 3),)
    (tmp_path / "popular" / "7d.json").write_bytes(b'{"read_at": "soon", "rows": 3}')
    third = Popularity(FakeStore(views), max_lag_seconds=1.0, shared=SharedLists(tmp_path / "popular"))  # type: ignore[arg-type]
    assert third.top("7d", NOW).rows == (("c", 4),)
    assert views.reads == 3


def test_an_unusable_folder_leaves_each_worker_reading_the_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    assert SharedLists.in_folder(blocker / "popular") is None
    views = SlowViews([("a", 2)], [("b", 3)])
    gone = SharedLists(tmp_path / "removed")  # no lock file, no list can be written there
    first, second = (Popularity(FakeStore(views), max_lag_seconds=1.0, shared=gone) for _ in range(2))  # type: ignore[arg-type]
    assert first.top("7d", NOW).rows == (("a", 2),)
    assert second.top("7d", NOW).rows == (("b", 3),)
    assert views.reads == 2 and "could not share the popular list 7d" in caplog.text


def test_each_store_has_its_own_folder(tmp_path: Path) -> None:
    one = SharedLists.for_store(tmp_path, make_url("postgresql+psycopg://app:secret@db/site"))
    same = SharedLists.for_store(tmp_path, make_url("postgresql+psycopg://app:other@db/site"))
    other = SharedLists.for_store(tmp_path, make_url("postgresql+psycopg://app:secret@db/staging"))
    assert one is not None and same is not None and other is not None
    assert one.folder == same.folder != other.folder
    assert one.folder.parent == tmp_path / "popular" and one.folder.is_dir()
    assert "secret" not in str(one.folder)
