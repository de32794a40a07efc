"""A real gunicorn server on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    port: int
    token: str
    pid: int = 0  # the gunicorn master

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        admin: bool = False,
        connection: HTTPConnection | None = None,
    ) -> tuple[int, Any]:
        """One request; JSON in and out. Reuses ``connection`` when given (keep-alive)."""
        own = connection is None
        conn = connection or HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"Bearer {self.token}"} if admin else {}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            if own:
                conn.close()
        return response.status, json.loads(raw) if raw else None


@contextmanager
def gunicorn(tmp_path: Path, *, workers: int = 2, env: dict[str, str] | None = None) -> Iterator[Server]:
    """Serve the app with gunicorn until the block ends."""
    port, token = free_port(), "server-test-token"
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'server.db'}",
        "MODEL_DIR": str(tmp_path / "models"),
        "ADMIN_TOKEN": token,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "RELATED_INDEX_RELOAD_SECONDS": "0.2",
        **(env or {}),
    }
    # The server's log goes to a file: an unread pipe fills up and blocks every process that
    # logs. The file also shows the server's side of a failed test.
    log_path = tmp_path / f"gunicorn-{port}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=environment,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = Server(port, token, process.pid)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if server.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start: {log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log_file.close()


def wait_for_job(server: Server, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = server.request("GET", "/api/v1/admin/reindex", admin=True)[1]["job"]
        if job and job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError("reindex job did not finish")
