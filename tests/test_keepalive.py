"""Keep-alive clients against a real gunicorn: no connection of theirs is ever reset.

Site back ends keep pools of open connections to the service and reuse them after pauses.
With gunicorn's defaults (see gunicorn.conf.py) they got "Connection reset by peer" and
"Remote end closed connection without response": gunicorn closed connections idle for 2 s
while clients were reusing them, and a refused upload (413) whose client kept its connection
open stalled the worker's event loop for 2 s, after which the loop closed the worker's other
kept-alive connections, requests already sent on them included.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from typing import Any

import pytest

from tests.server import Server, gunicorn

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gunicorn")]

LIMIT = 64 * 1024  # RELATED_MAX_CONTENT_LENGTH in these tests: an oversized upload stays cheap

# What the pooled clients ask, and the status each must get. The beacon's body is not read
# by the application (and the article does not exist): the server drains it.
REQUESTS = [
    ("GET", "/api/v1/articles?limit=1", None, 200),
    ("GET", "/healthz", None, 200),
    ("POST", "/api/v1/articles/no-such-article/views", b"v" * 3000, 404),
]


@dataclass
class Traffic:
    answered: int = 0
    failures: list[str] = field(default_factory=list)


@contextmanager
def pooled_clients(server: Server, clients: int, pause: tuple[float, float]) -> Iterator[Traffic]:
    """Until the block ends, ``clients`` threads each reuse one kept-alive connection, pausing
    a random time in ``pause`` between requests, as a site back end's pool does."""
    traffic, stop, lock = Traffic(), threading.Event(), threading.Lock()

    def client(number: int) -> None:
        rng = random.Random(number)
        connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            while not stop.is_set():
                method, path, body, expected = rng.choice(REQUESTS)
                try:
                    connection.request(method, path, body=body)
                    response = connection.getresponse()
                    response.read()
                    outcome = None if response.status == expected else f"status {response.status}"
                except (OSError, HTTPException) as error:  # resets, RemoteDisconnected
                    outcome = repr(error)
                    connection.close()  # a pool drops a failed connection
                with lock:
                    traffic.answered += outcome is None
                    if outcome:
                        traffic.failures.append(f"client {number}: {method} {path}: {outcome}")
                stop.wait(rng.uniform(*pause))
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield traffic
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=40)


def put_oversized(server: Server, connection: HTTPConnection, size: int) -> tuple[int, str | None, Any]:
    """PUT an article of about ``size`` bytes on ``connection``; status, Connection, JSON."""
    body = b'{"title": "' + b"x" * size + b'"}'
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    connection.request("PUT", "/api/v1/articles/too-big", body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.getheader("Connection"), json.loads(response.read())


def put_raw_and_hold(server: Server, body: bytes, hold: float) -> bytes:
    """PUT ``body`` on a raw socket, read until the server closes, keep the socket open for
    ``hold`` seconds more (a client that ignores "Connection: close"); all that came back."""
    head = (
        "PUT /api/v1/articles/too-big HTTP/1.1\r\nHost: test\r\n"
        f"Authorization: Bearer {server.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(head + body)
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
        time.sleep(hold)
    return received


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module: a worker takes seconds to boot."""
    directory = tmp_path_factory.mktemp("keepalive")
    with gunicorn(directory, workers=2, env={"RELATED_MAX_CONTENT_LENGTH": str(LIMIT)}) as running:
        yield running


def test_refused_upload_resets_no_connection(server: Server) -> None:
    """Oversized uploads on one connection while pooled connections make requests."""
    problems: list[str] = []
    # Pauses well under any keep-alive timeout: what fails here is the 413's doing.
    with pooled_clients(server, clients=6, pause=(0, 1)) as traffic:
        uploader = HTTPConnection("127.0.0.1", server.port, timeout=30)
        # Just over the limit, then more than the socket buffers hold (the client is still
        # sending when the 413 is written); the uploader's pool keeps the connection a
        # while, then reuses it (http.client reconnects when told "Connection: close").
        for size, idle in ((LIMIT + 40_000, 2.5), (8 * 1024 * 1024, 0.5)):
            try:
                status, connection, answer = put_oversized(server, uploader, size)
                if (status, connection, answer["error"]["code"]) != (413, "close", "payload_too_large"):
                    problems.append(f"upload of {size} bytes: {status} {connection} {answer}")
                time.sleep(idle)
                if (reused := server.request("GET", "/healthz", connection=uploader)[0]) != 200:
                    problems.append(f"request after the 413: {reused}")
            except (OSError, HTTPException) as error:
                problems.append(f"upload of {size} bytes, or the request after it: {error!r}")
                uploader.close()
        uploader.close()

        # A client that keeps the connection open after the 413, and whose refused body is
        # made of requests: none of them may be answered, only the upload (with a 413).
        smuggled = b"GET /api/v1/articles/smuggled HTTP/1.1\r\nHost: test\r\n\r\n"
        received = put_raw_and_hold(server, smuggled * (2 * LIMIT // len(smuggled)), hold=1.0)
        head, _, answer_bytes = received.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.lower().partition(": ")[::2] for line in lines[1:])
        one_413 = received.count(b"HTTP/1.1 ") == 1 and lines[0].startswith("HTTP/1.1 413")
        closed = headers.get("connection") == "close"
        if not (one_413 and closed and len(answer_bytes) == int(headers.get("content-length", -1))):
            problems.append(f"raw upload answered with {received[:300]!r}")
    problems.extend(traffic.failures)
    assert problems == [], "\n".join(problems)
    assert traffic.answered > 20


def test_pooled_clients_pausing_between_requests_are_never_reset(server: Server) -> None:
    """Clients pausing 0-3 s between requests on their kept-alive connections."""
    with pooled_clients(server, 8, pause=(0, 3)) as traffic:
        time.sleep(8)
    assert traffic.failures == [], "\n".join(traffic.failures)
    assert traffic.answered > 20


def send_chunked(
    server: Server, connection: HTTPConnection, method: str, path: str, body: bytes
) -> tuple[int, str | None, Any]:
    """Send ``body`` with ``Transfer-Encoding: chunked`` (no Content-Length), as the admin;
    the answer's status, Connection header and JSON."""
    chunks = (body[start : start + 16 * 1024] for start in range(0, len(body), 16 * 1024))
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    connection.request(method, path, body=chunks, headers=headers, encode_chunked=True)
    response = connection.getresponse()
    return response.status, response.getheader("Connection"), json.loads(response.read())


def test_an_oversized_chunked_upload_is_413_and_closes_the_connection(server: Server) -> None:
    """A chunked body has no Content-Length to refuse up front: it was cut at the limit and the
    first LIMIT bytes stored (a JSON document padded with spaces still parses)."""
    title, path = b'{"title": "chunked"}', "/api/v1/articles/chunked"
    connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        # just over, and more than the lingering close discards: the rest is drained
        for size in (LIMIT + 1024, 4 * 1024 * 1024):
            over = title + b" " * (size - len(title))
            status, header, answer = send_chunked(server, connection, "PUT", path, over)
            assert (status, header) == (413, "close"), answer
            assert answer["error"]["code"] == "payload_too_large"
            assert server.request("GET", path)[0] == 404
        # exactly at the limit is taken, and the connection is kept
        exact = title + b" " * (LIMIT - len(title))
        status, header, answer = send_chunked(server, connection, "PUT", path, exact)
        assert (status, header, answer["title"]) == (201, "keep-alive", "chunked")
        # a body the application does not read (a beacon's) is drained, whatever its size
        beacon = "/api/v1/articles/no-such-article/views"
        status, header, answer = send_chunked(server, connection, "POST", beacon, b"v" * 2 * LIMIT)
        assert (status, header, answer["error"]["code"]) == (404, "keep-alive", "article_not_found")
        assert server.request("GET", "/healthz", connection=connection)[0] == 200
    finally:
        connection.close()
