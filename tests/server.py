"""A real gunicorn server on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
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
        deadline = time.monotonic() + 90  # a loaded 2-core machine boots 4 workers slowly
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


# -- gunicorn's worker processes (Linux /proc) -------------------------------------------------


def worker_pids(server: Server) -> set[int]:
    """The pids of the gunicorn master's children: its workers (Linux ``/proc``)."""
    children: set[int] = set()
    try:
        for task in Path(f"/proc/{server.pid}/task").iterdir():
            children.update(int(pid) for pid in (task / "children").read_text().split())
        return children
    except OSError:
        pass  # no /proc/<pid>/task/*/children (CONFIG_PROC_CHILDREN): scan every process
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == server.pid:
            children.add(int(stat.parent.name))
    return children


def wait_for_workers(
    server: Server, count: int, *, exclude: Iterable[int] = (), timeout: float = 30
) -> set[int]:
    """Wait until the master has ``count`` workers, none of them in ``exclude``; their pids."""
    deadline, old = time.monotonic() + timeout, set(exclude)
    while True:
        pids = worker_pids(server)
        if len(pids) == count and not pids & old:
            return pids
        if time.monotonic() > deadline:
            raise AssertionError(f"gunicorn has workers {sorted(pids)}, wanted {count} new ones")
        time.sleep(0.05)


def _server_socket_inodes(server: Server) -> dict[int, int]:
    """The inodes of the server's ends of open loopback connections, by the client's port."""
    inodes: dict[int, int] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        # local and remote "address:port" in hex; state 01 is ESTABLISHED.
        if int(fields[1].rsplit(":", 1)[1], 16) == server.port and fields[3] == "01" and int(fields[9]):
            inodes[int(fields[2].rsplit(":", 1)[1], 16)] = int(fields[9])
    return inodes


def socket_owners(server: Server, connections: list[HTTPConnection], pids: set[int]) -> list[int | None]:
    """For each open (kept-alive) connection, which of ``pids`` holds the server's end of it, or
    ``None`` when that cannot be told (the connection was closed). One look at ``/proc`` for all."""
    by_port = _server_socket_inodes(server)
    owner_of: dict[int, int] = {}
    for pid in pids:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                target = os.readlink(descriptor)
            except OSError:
                continue
            if target.startswith("socket:["):
                owner_of[int(target[8:-1])] = pid
    owners: list[int | None] = []
    for connection in connections:
        inode = by_port.get(connection.sock.getsockname()[1]) if connection.sock is not None else None
        owners.append(None if inode is None else owner_of.get(inode))
    return owners


def request_on_worker(
    server: Server, method: str, path: str, body: Any = None, *, admin: bool = False, pids: set[int]
) -> tuple[int, Any, int | None]:
    """One request on a fresh connection: its status, its JSON and the pid of the worker of
    ``pids`` that answered (``None`` when it could not be told, e.g. the worker closed it)."""
    connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        status, answer = server.request(method, path, body, admin=admin, connection=connection)
        return status, answer, socket_owners(server, [connection], pids)[0]
    finally:
        connection.close()
