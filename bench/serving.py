"""Serving speed: the in-process related lookup, and the HTTP endpoint under concurrent load."""

from __future__ import annotations

import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from bench.metrics import percentiles
from service.recommender import RelatedIndex
from tests.server import Server, gunicorn, wait_for_job


def lookup_latency(index: RelatedIndex, samples: int = 20_000, seed: int = 1) -> dict[str, float]:
    """Seconds per ``neighbours(row_of(id))`` call, the per-request index work of ``related``."""
    rng = random.Random(seed)
    ids = [index.ids_[rng.randrange(index.size)] for _ in range(samples)]
    timings = []
    for article_id in ids:
        started = time.perf_counter()
        index.neighbours(index.row_of(article_id))  # type: ignore[arg-type]
        timings.append(time.perf_counter() - started)
    return percentiles(timings)


def recommendations_load(
    server: Server, ids: list[str], *, clients: int, requests_per_client: int
) -> dict[str, float]:
    """Latency percentiles and throughput of random articles' recommendations, ``clients`` at once."""

    def client_run(client: int) -> list[float]:
        rng = random.Random(client)
        connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
        timings = []
        for _ in range(requests_per_client):
            path = f"/api/v1/articles/{rng.choice(ids)}/recommendations"
            started = time.perf_counter()
            status, _ = server.request("GET", path, connection=connection)
            timings.append(time.perf_counter() - started)
            assert status == 200
        connection.close()
        return timings

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        timings = [t for chunk in pool.map(client_run, range(clients)) for t in chunk]
    return {**percentiles(timings), "requests_per_second": len(timings) / (time.perf_counter() - started)}


def http_load(
    records: list[dict[str, Any]], *, workers: int = 2, clients: int = 8, requests_per_client: int = 300
) -> dict[str, Any]:
    """Recommendations latency and throughput against gunicorn, and view writes counted exactly."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-http-") as tmp,
        gunicorn(Path(tmp), workers=workers) as server,
    ):
        for start in range(0, len(records), 1000):
            status, body = server.request(
                "POST", "/api/v1/articles", records[start : start + 1000], admin=True
            )
            assert status == 200, body
        server.request("POST", "/api/v1/admin/reindex", admin=True)
        assert wait_for_job(server, timeout=600)["state"] == "succeeded"
        time.sleep(1.5)
        ids = [record["id"] for record in records]
        recommendations = recommendations_load(
            server, ids, clients=clients, requests_per_client=requests_per_client
        )

        def views(client: int) -> int:
            connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
            recorded = sum(
                server.request(
                    "POST", f"/api/v1/articles/{ids[client % len(ids)]}/views", connection=connection
                )[1]["recorded"]
                for _ in range(requests_per_client)
            )
            connection.close()
            return recorded

        views_started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            recorded = sum(pool.map(views, range(clients)))
        views_elapsed = time.perf_counter() - views_started
        counted = server.request("GET", "/api/v1/admin/stats?window=24h&limit=1", admin=True)[1][
            "total_views"
        ]
    return {
        "recommendations": recommendations,
        "views": {
            "sent": clients * requests_per_client,
            "recorded": recorded,
            "counted": counted,
            "writes_per_second": recorded / views_elapsed,
        },
        "workers": workers,
        "clients": clients,
        "articles": len(records),
    }
