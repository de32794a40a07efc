"""Every gunicorn worker creates the schema as it boots: that must be safe when they race."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from typing import Any

import pytest

from service.store import Store

pytestmark = pytest.mark.slow


def create_schema_at_once(url: str, start: Any) -> None:
    store = Store.from_url(url)
    start.wait()  # every process issues its CREATE TABLEs at the same moment
    try:
        store.create_schema()
    finally:
        store.dispose()


def test_processes_creating_the_schema_at_once_all_succeed(database_url: str) -> None:
    # Fresh processes, as gunicorn's workers are, forked from a server that imported the store
    # once (spawned, each would import it again: ~2.5 s of CPU apiece).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["service.store"])
    start = context.Barrier(6)
    processes = [context.Process(target=create_schema_at_once, args=(database_url, start)) for _ in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0] * 6
    store = Store.from_url(database_url)
    try:
        assert store.articles.count_published(now=datetime.now(UTC)) == 0  # the tables are there
    finally:
        store.dispose()
