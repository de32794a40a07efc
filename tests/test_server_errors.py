"""Requests gunicorn refuses before the app sees them get JSON errors, not gunicorn's HTML page;
long but legal URLs reach the app."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from service.server_errors import json_error_answer
from tests.server import Server, gunicorn

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gunicorn")]


def raw_request(line: bytes, *headers: bytes) -> bytes:
    """A request line and header lines as sent on the wire (no body)."""
    return b"\r\n".join([line, b"Host: test", *headers]) + b"\r\n\r\n"


# (name, raw request, status, code); each was answered with gunicorn's HTML page
REFUSED = [
    (
        "request line over 8190 bytes",
        raw_request(b"GET /?q=" + b"a" * 9000 + b" HTTP/1.1"),
        414,
        "uri_too_long",
    ),
    (
        "raw non-ASCII bytes in the path",
        raw_request(b"GET /api/v1/articles/caf\xc3\xa9 HTTP/1.1"),
        400,
        "bad_request",
    ),
    (
        "control character in a header",
        raw_request(b"GET /healthz HTTP/1.1", b"X-Test: a\x01b"),
        400,
        "bad_request",
    ),
    (
        "Content-Length with Transfer-Encoding",
        raw_request(
            b"POST /api/v1/articles/a/views HTTP/1.1", b"Content-Length: 5", b"Transfer-Encoding: chunked"
        )
        + b"0\r\n\r\n",
        400,
        "bad_request",
    ),
    ("not HTTP", b"HELLO\r\n\r\n", 400, "bad_request"),
    (
        "header over 8190 bytes",
        raw_request(b"GET /healthz HTTP/1.1", b"X-Big: " + b"a" * 9000),
        431,
        "request_header_fields_too_large",
    ),
    (
        "unknown transfer coding",
        raw_request(b"POST /api/v1/articles/a/views HTTP/1.1", b"Transfer-Encoding: foo"),
        501,
        "not_implemented",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gunicorn(tmp_path_factory.mktemp("server-errors"), workers=1) as running:
        yield running


def exchange(server: Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` on a raw socket, read until the server closes: status, headers, body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(request)
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines)}
    return int(status_line.split(" ")[1]), headers, body


def assert_json_error(headers: dict[str, str], body: bytes, code: str) -> None:
    """The contract's error shape, ``{"error": {"code", "message", "details"?}}``, with ``code``."""
    assert headers["content-type"] == "application/json", body
    assert int(headers["content-length"]) == len(body)
    answer = json.loads(body)
    assert list(answer) == ["error"]
    assert set(answer["error"]) - {"details"} == {"code", "message"}
    assert answer["error"]["code"] == code and answer["error"]["message"]


@pytest.mark.parametrize(
    ("name", "request_bytes", "status", "code"), REFUSED, ids=[case[0] for case in REFUSED]
)
def test_what_gunicorn_refuses_is_answered_in_json(
    server: Server, name: str, request_bytes: bytes, status: int, code: str
) -> None:
    answered, headers, body = exchange(server, request_bytes)
    assert answered == status, body
    assert headers["connection"] == "close" and headers["x-request-id"]
    assert_json_error(headers, body, code)


def test_a_long_but_legal_url_reaches_the_app(server: Server) -> None:
    """Up to 8190 bytes of request line: a 5,000-character id is the app's 404, a long query its 200
    (both were gunicorn's 414)."""
    long_id = raw_request(b"GET /api/v1/articles/" + b"a" * 5000 + b" HTTP/1.1", b"Connection: close")
    status, headers, body = exchange(server, long_id)
    assert status == 404
    assert_json_error(headers, body, "article_not_found")
    long_query = raw_request(
        b"GET /api/v1/articles?ignored=" + b"q" * 7000 + b" HTTP/1.1", b"Connection: close"
    )
    status, headers, body = exchange(server, long_query)
    assert status == 200 and json.loads(body)["total"] == 0


def test_a_server_fault_tells_nothing_of_itself() -> None:
    answer = json_error_answer(b"HTTP/1.1 500 Internal Server Error", RuntimeError("secret internals"))
    assert b"secret" not in answer and b'"internal_error"' in answer
    assert json_error_answer(b"HTTP/1.1 501 Bad Request", ValueError("x")).startswith(
        b"HTTP/1.1 501 Not Implemented\r\n"
    )


def test_a_malformed_chunk_read_by_the_app_is_a_400_and_closes(server: Server) -> None:
    """gunicorn raises its own parse error inside the app's read of the body: the app took it
    for its own fault (500 internal_error, "Connection: keep-alive", then closed)."""
    put = raw_request(
        b"PUT /api/v1/articles/a HTTP/1.1",
        f"Authorization: Bearer {server.token}".encode(),
        b"Content-Type: application/json",
        b"Transfer-Encoding: chunked",
    )
    status, headers, body = exchange(server, put + b"zz\r\n{}\r\n0\r\n\r\n")
    assert (status, headers["connection"]) == (400, "close"), body
    assert_json_error(headers, body, "bad_request")
