"""Serving a 100k-article index from several gunicorn workers: memory and latency.

Run as ``python -m bench.memory [NAME] [WORKERS]``: imports the corpus into a temporary SQLite
store, builds the index, serves it with gunicorn and reads each worker's memory from
``/proc/PID/smaps``: its RSS, its proportional share (PSS), and the resident part of the
memory-mapped artifact, which the workers share through the page cache.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import corpora
from bench.metrics import percentiles
from bench.serving import lookup_latency, recommendations_load
from service import create_app
from service.articles import Article
from service.recommender.artifacts import load_artifact, read_pointer
from service.reindex import build_index
from service.store import Store
from tests.server import gunicorn


def worker_memory(pid: int, artifact_file: str) -> dict[str, float]:
    """RSS, PSS and the resident artifact mapping of one process, in MB."""
    totals = {"rss": 0, "pss": 0, "artifact_rss": 0}
    in_artifact = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and "-" in fields[0]:  # a mapping header
            in_artifact = fields[-1].endswith(artifact_file)
        elif fields[0] == "Rss:":
            totals["rss"] += int(fields[1])
            if in_artifact:
                totals["artifact_rss"] += int(fields[1])
        elif fields[0] == "Pss:":
            totals["pss"] += int(fields[1])
    return {key: value / 1024 for key, value in totals.items()}


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{pid}\n" in status:
                found.append(int(entry.name))
    return found


def request_latency(root: Path, ids: list[str], samples: int = 3000, seed: int = 2) -> dict[str, float]:
    """Seconds per whole recommendations request through the Flask test client, on articles drawn
    uniformly at random (distinct, so each is its first request: nothing comes from a cache)."""
    app = create_app({"DATABASE_URL": f"sqlite:///{root / 'server.db'}", "MODEL_DIR": str(root / "models")})
    client = app.test_client()
    client.get(f"/api/v1/articles/{ids[0]}/recommendations")  # load the catalog and the index
    timings = []
    for article_id in random.Random(seed).sample(ids, min(samples, len(ids))):
        started = time.perf_counter()
        response = client.get(f"/api/v1/articles/{article_id}/recommendations")
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_data(as_text=True)
    app.extensions["store"].dispose()
    return percentiles(timings)


def measure(name: str = "imdb-reviews", workers: int = 4) -> dict[str, Any]:
    corpus = corpora.load(name)
    now = datetime.now(UTC)
    articles = [
        Article(id=f"a{document.id}", title=document.title or "untitled", body=document.body)
        for document in corpus.documents
    ]
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        root = Path(tmp)
        store = Store.from_url(f"sqlite:///{root / 'server.db'}")
        store.create_schema()
        store.articles.upsert_many(articles, now=now)
        artifact = build_index(store, root / "models", params={"n_jobs": 2})
        loaded = load_artifact(root / "models", read_pointer(root / "models") or {})
        lookup = lookup_latency(loaded.index)
        store.dispose()
        in_process = request_latency(root, [article.id for article in articles])
        env = {"DATABASE_URL": f"sqlite:///{root / 'server.db'}", "MODEL_DIR": str(root / "models")}
        with gunicorn(root, workers=workers, env=env) as server:
            ids = [article.id for article in articles]
            load = recommendations_load(server, ids, clients=8, requests_per_client=250)
            pids = children_of(server.pid)
            memory = [worker_memory(pid, artifact.file) for pid in pids]
        artifact_mb = (root / "models" / artifact.file).stat().st_size / 2**20
    return {
        "documents": len(articles),
        "workers": len(pids),
        "lookup": lookup,
        "request_in_process": in_process,
        "http": load,
        "artifact_mb": artifact_mb,
        "per_worker_mb": memory,
    }


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "imdb-reviews"
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    print(json.dumps(measure(name, workers)))
