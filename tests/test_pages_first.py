"""The gunicorn worker that serves page requests before view beacons (service/pages_first.py)."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import CancelledError

import pytest

from service.pages_first import TwoLaneExecutor, _connection_is_beacon, is_beacon, peek_is_beacon


@pytest.mark.parametrize(
    ("request_line", "beacon"),
    [
        (b"POST /api/v1/articles/a-1/views HTTP/1.1\r\n", True),
        (b"POST /api/v1/articles/a-1/views?ref=x HTTP/1.1\r\n", True),
        (b"POST /api/v1/articles/a-1/clicks HTTP/1.1\r\n", True),
        (b"GET /api/v1/articles/a-1/view.gif HTTP/1.1\r\n", True),
        (b"GET /api/v1/articles/a-1/recommendations HTTP/1.1\r\n", False),
        (b"GET /api/v1/articles/a-1/views HTTP/1.1\r\n", False),  # not a beacon: 405 as a page
        (b"POST /api/v1/articles HTTP/1.1\r\n", False),  # an import
        (b"POST /api/v1/articles/views-of-spring HTTP/1.1\r\n", False),
        (b"POST /api/v1/articles/a-1/viewsx HTTP/1.1\r\n", False),
        (b"POST /api/v1/artic", False),  # not all of the request line has arrived
        (b"", False),
    ],
)
def test_beacons_are_told_from_their_request_line(request_line: bytes, beacon: bool) -> None:
    assert is_beacon(request_line) is beacon


def test_peeking_reads_nothing_off_the_socket() -> None:
    client, server = socket.socketpair()
    with client, server:
        assert peek_is_beacon(server) is False  # nothing sent yet: no wait, a page
        request = b"POST /api/v1/articles/a-1/views HTTP/1.1\r\nHost: x\r\n\r\n"
        client.sendall(request)
        assert peek_is_beacon(server) is True
        assert peek_is_beacon(server) is True
        assert server.recv(len(request)) == request
        client.close()
        assert peek_is_beacon(server) is False  # closed


def _run_queued(executor: TwoLaneExecutor, tasks: list[str]) -> list[str]:
    """Queue ``tasks`` ("p…" pages, "b…" beacons) behind a beacon holding the only thread (so
    no page has been taken before them); the order in which the thread then runs them."""
    hold, held = threading.Event(), threading.Event()
    order: list[str] = []

    def blocker(_: str) -> None:
        held.set()
        hold.wait(10)

    executor.submit(blocker, "b-holding")
    assert held.wait(10)
    futures = [executor.submit(order.append, name) for name in tasks]
    hold.set()
    for future in futures:
        future.result(timeout=10)
    return order


def _executor(beacon_every: int) -> TwoLaneExecutor:
    return TwoLaneExecutor(1, is_low=lambda name: name.startswith("b"), beacon_every=beacon_every)


def test_pages_go_first_and_a_beacon_follows_every_few_pages() -> None:
    executor = _executor(beacon_every=2)
    try:
        order = _run_queued(executor, ["b1", "b2", "b3", "p1", "p2", "p3", "p4", "p5"])
    finally:
        executor.shutdown()
    assert order == ["p1", "p2", "b1", "p3", "p4", "b2", "p5", "b3"]


def test_beacons_run_in_order_at_once_when_no_page_waits() -> None:
    executor = _executor(beacon_every=8)
    try:
        assert _run_queued(executor, ["b1", "b2", "b3"]) == ["b1", "b2", "b3"]
        assert executor.submit(str.upper, "p-after").result(timeout=10) == "P-AFTER"
    finally:
        executor.shutdown()


def test_a_failing_task_fails_its_future_and_the_thread_goes_on() -> None:
    executor = _executor(beacon_every=8)
    try:
        failed = executor.submit(lambda name: 1 / 0, "page")
        with pytest.raises(ZeroDivisionError):
            failed.result(timeout=10)
        assert executor.submit(str.upper, "page").result(timeout=10) == "PAGE"
    finally:
        executor.shutdown()


def test_shutdown_runs_what_is_queued_or_cancels_it_and_refuses_more() -> None:
    executor = _executor(beacon_every=8)
    assert _run_queued(executor, ["p1", "b1"]) == ["p1", "b1"]
    executor.shutdown(wait=True)
    with pytest.raises(RuntimeError):
        executor.submit(print, "page")

    executor = _executor(beacon_every=8)
    hold, held = threading.Event(), threading.Event()
    executor.submit(lambda _: (held.set(), hold.wait(10)), "page")
    assert held.wait(10)
    queued = [executor.submit(print, name) for name in ("p1", "b1")]
    executor.shutdown(wait=False, cancel_futures=True)
    hold.set()
    for future in queued:
        with pytest.raises(CancelledError):
            future.result(timeout=10)
    executor.shutdown(wait=True)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        TwoLaneExecutor(0, is_low=bool)
    with pytest.raises(ValueError):
        TwoLaneExecutor(1, is_low=bool, beacon_every=0)


def test_a_connection_that_cannot_be_looked_at_is_served_as_a_page() -> None:
    class Odd:
        parser = None

        @property
        def sock(self) -> socket.socket:
            raise RuntimeError("no socket")

    assert _connection_is_beacon(Odd()) is False
    client, server = socket.socketpair()
    with client, server:
        client.sendall(b"POST /api/v1/articles/a-1/clicks HTTP/1.1\r\n\r\n")
        connection = type("Connection", (), {"parser": None, "is_http2": False, "sock": server})()
        assert _connection_is_beacon(connection) is True
        connection.is_http2 = True
        assert _connection_is_beacon(connection) is False
