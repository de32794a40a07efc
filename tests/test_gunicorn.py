"""End to end against a real gunicorn with two workers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path

import pytest

from tests.factories import article, corpus
from tests.server import gunicorn, wait_for_job

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gunicorn")]


def test_views_reindex_and_hot_reload_across_workers(tmp_path: Path) -> None:
    with gunicorn(tmp_path, workers=2) as server:
        assert server.request("POST", "/api/v1/articles", corpus(), admin=True)[0] == 200
        assert server.request("POST", "/api/v1/admin/reindex", admin=True)[0] == 202
        first = wait_for_job(server)
        assert first["state"] == "succeeded"

        threads, per_thread = 8, 60

        def post_views(_: int) -> int:
            connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
            try:
                return sum(
                    server.request("POST", "/api/v1/articles/sleep-1/views", connection=connection)[1][
                        "recorded"
                    ]
                    for _ in range(per_thread)
                )
            finally:
                connection.close()

        with ThreadPoolExecutor(threads) as pool:
            assert sum(pool.map(post_views, range(threads))) == threads * per_thread
        stats = server.request("GET", "/api/v1/admin/stats?window=24h", admin=True)[1]
        assert stats["total_views"] == threads * per_thread
        top = stats["articles"][0]
        # one client (one address, one User-Agent): one visitor
        assert top == {"id": "sleep-1", "title": top["title"], "views": 480, "visitors": 1}

        fresh = article("baking", 20, id="brand-new-bread", title="Sourdough bread crust and yeast")
        assert server.request("PUT", "/api/v1/articles/brand-new-bread", fresh, admin=True)[0] == 201
        status, body = server.request("GET", "/api/v1/articles/brand-new-bread/recommendations?limit=4")
        assert status == 200 and body["latest"][0]["id"] != "brand-new-bread"
        assert {item["id"].split("-")[0] for item in body["related"]} == {"baking"}

        server.request("POST", "/api/v1/admin/reindex", admin=True)
        second = wait_for_job(server)
        assert second["state"] == "succeeded" and second["articles"] == 17
        time.sleep(0.5)  # each worker checks the pointer every 0.2 s
        for _ in range(20):  # new connections land on both workers
            body = server.request("GET", "/api/v1/articles/baking-1/recommendations?limit=10")[1]
            assert body["index"]["version"] == second["index_version"]
            assert "brand-new-bread" in [item["id"] for item in body["related"]]


def test_a_second_server_on_a_port_in_use_refuses_to_start(tmp_path: Path) -> None:
    # Each worker listens with SO_REUSEPORT: without the check a second server would bind beside
    # the first and the kernel would split the first one's connections between them.
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with gunicorn(tmp_path / "first", workers=1) as first:
        second = gunicorn(tmp_path / "second", workers=1, env={"PORT": str(first.port)})
        with pytest.raises(RuntimeError, match="already in use by another server"), second:
            pass
        assert first.request("GET", "/healthz")[0] == 200


def test_the_master_loads_the_libraries_its_workers_share(tmp_path: Path) -> None:
    # gunicorn.conf.py imports them in the master, so that each worker forks with them loaded
    # instead of importing them again (~2.4 s of CPU apiece).
    with gunicorn(tmp_path, workers=1) as server:
        mapped = Path(f"/proc/{server.pid}/maps").read_text()
        assert "/scipy/sparse/" in mapped and "/sklearn/" in mapped, "scipy and sklearn are not loaded"
        assert server.request("GET", "/healthz")[0] == 200
