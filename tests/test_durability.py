"""A view is acknowledged only once it is committed.

CONTRACT.md (Additions v1.1): an acknowledged view is counted in the stats by the next
request. So a worker must not answer ``202 {"recorded": true}`` before the view is in the
database: a view that is only queued in the worker (for a group commit, say) is lost when the
worker dies. This test runs a load of views against a real gunicorn with 4 workers, kills
every worker with SIGKILL twice during the load (the master starts new ones), and checks that
the stats hold every acknowledged view, and no more than the views sent.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Any

import pytest

from tests.factories import corpus
from tests.server import Server, gunicorn, wait_for_workers

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gunicorn")]

WORKERS = 4
CLIENTS = 16
VIEWED = ("sleep-0", "running-1", "baking-2", "garden-3")
STATS = "/api/v1/admin/stats?window=all&limit=100"


@dataclass
class Tally:
    """What one client sent, by article."""

    acknowledged: Counter[str] = field(default_factory=Counter)  # 202 {"recorded": true}
    unanswered: Counter[str] = field(default_factory=Counter)  # the connection failed: maybe counted
    other: list[tuple[int, bytes]] = field(default_factory=list)  # any other answer


def post_views(server: Server, number: int, tally: Tally, stop: threading.Event) -> None:
    """POST views on a keep-alive connection until ``stop``; reconnect after a failure, and
    never send a request twice."""
    connection = HTTPConnection("127.0.0.1", server.port, timeout=60)
    sent = number
    try:
        while not stop.is_set():
            article_id = VIEWED[sent % len(VIEWED)]
            sent += 1
            try:
                connection.request("POST", f"/api/v1/articles/{article_id}/views", body=b"")
                response = connection.getresponse()
                raw = response.read()
            except (OSError, HTTPException):
                tally.unanswered[article_id] += 1
                connection.close()  # the next request opens a new connection
                continue
            if response.status == 202 and json.loads(raw) == {"recorded": True}:
                tally.acknowledged[article_id] += 1
            else:
                tally.other.append((response.status, raw))
    finally:
        connection.close()


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        time.sleep(0.02)


def stats(server: Server) -> dict[str, Any]:
    """The stats, once a worker answers them."""
    deadline = time.monotonic() + 60
    while True:
        try:
            status, body = server.request("GET", STATS, admin=True)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        assert status == 200, body
        return body


def test_no_acknowledged_view_is_lost_when_every_worker_is_killed(tmp_path: Path, database_url: str) -> None:
    with gunicorn(tmp_path, workers=WORKERS, env={"DATABASE_URL": database_url}) as server:
        assert server.request("POST", "/api/v1/articles", corpus(), admin=True)[0] == 200
        workers = wait_for_workers(server, WORKERS)
        tallies = [Tally() for _ in range(CLIENTS)]
        stop = threading.Event()
        clients = [
            threading.Thread(target=post_views, args=(server, number, tally, stop), daemon=True)
            for number, tally in enumerate(tallies)
        ]

        def acknowledged() -> int:
            return sum(sum(tally.acknowledged.values()) for tally in tallies)

        killed: set[int] = set()
        acknowledged_at_kills: list[int] = []
        for client in clients:
            client.start()
        try:
            for _ in range(2):
                # About a second of load served by the current workers, then SIGKILL for each.
                before = acknowledged()
                wait_until(lambda before=before: acknowledged() >= before + 50, timeout=60, what="views flow")
                time.sleep(1.0)
                acknowledged_at_kills.append(acknowledged())
                for pid in workers:
                    os.kill(pid, signal.SIGKILL)
                killed |= workers
                workers = wait_for_workers(server, WORKERS, exclude=killed, timeout=60)
            # The new workers serve the load for a while before it stops.
            after = acknowledged()
            wait_until(lambda: acknowledged() >= after + 50, timeout=60, what="views flow again")
            time.sleep(0.5)
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=90)
        assert not any(client.is_alive() for client in clients)

        ack: Counter[str] = sum((tally.acknowledged for tally in tallies), Counter())
        unanswered: Counter[str] = sum((tally.unanswered for tally in tallies), Counter())
        other = [answer for tally in tallies for answer in tally.other]
        assert not other, other[:5]
        assert acknowledged_at_kills[0] > 0 and acknowledged_at_kills[1] > acknowledged_at_kills[0]
        assert sum(unanswered.values()) > 0, "the kills cut no request: they tested nothing"

        answer = stats(server)
        counted = {item["id"]: item["views"] for item in answer["articles"]}
        report = {a: (ack[a], counted.get(a, 0), unanswered[a]) for a in VIEWED}
        for article_id in VIEWED:  # acknowledged <= counted <= acknowledged + unanswered
            assert counted.get(article_id, 0) >= ack[article_id], f"acknowledged views were lost: {report}"
            assert counted.get(article_id, 0) <= ack[article_id] + unanswered[article_id], (
                f"views counted twice: {report}"
            )
        assert set(counted) <= set(VIEWED), counted
        total = answer["total_views"]
        assert ack.total() <= total <= ack.total() + unanswered.total(), (total, ack, unanswered)
        assert sum(point["views"] for point in answer["series"]) == total

        # The store is intact: it answers, and counts a new view at once.
        assert server.request("POST", "/api/v1/articles/sleep-1/views") == (202, {"recorded": True})
        again = stats(server)
        assert again["total_views"] == total + 1
        assert {item["id"]: item["views"] for item in again["articles"]}["sleep-1"] == 1
        if database_url.startswith("sqlite:///"):
            path = database_url.removeprefix("sqlite:///")
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
                assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
