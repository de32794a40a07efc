"""gunicorn settings for `make run` and the tests; every value can be overridden from the environment.

Keep-alive matters here: site back ends keep pools of open connections to this service. A
connection the server closes while a client reuses it fails that client's request with
"Connection reset by peer" or "Remote end closed connection without response". So:

- the server keeps idle connections longer than any client keeps them (``keepalive``);
- a refused upload (413, body over MAX_CONTENT_LENGTH) is answered "Connection: close"
  (``pre_request``; a chunked one once the application reads past the limit), its body is
  read and discarded so that the client gets the 413, and the connection is closed in the
  request's thread (``post_request``), not on the worker's event loop, where gunicorn 27's
  lingering close stalls all the worker's other connections past their keep-alive deadline;
  any other unread body, chunked or not, is drained so that "keep-alive" holds.

The hooks use gunicorn 27's request object (pinned in requirements.txt). Settings not named
here can still be given in ``GUNICORN_CMD_ARGS``, e.g. ``GUNICORN_CMD_ARGS="--log-level debug"``.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import importlib
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gunicorn import glogging
from gunicorn.http.errors import ParseException
from pythonjsonlogger.orjson import OrjsonFormatter


def _env(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def _int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def _float(name: str, default: float) -> float:
    return float(_env(name, str(default)))


# 127.0.0.1 only by default: a proxy or load balancer on the host faces the network.
bind = _env("GUNICORN_BIND", f"127.0.0.1:{_env('PORT', '8000')}")
# Processes: each loads its own index; two use two cores and survive the loss of one.
workers = _int("WEB_CONCURRENCY", 2)
# Threads let a worker answer while a request waits on the database, and gthread keeps idle
# keep-alive connections in an event loop without holding a thread for each. Few threads: the
# work is CPU-bound Python, and with many threads the GIL starves the worker's event loop
# (measured with wrk on 2 cores, 4 workers, 100k articles: 16 threads 0.17 of /healthz's
# throughput with p99 3.2 s, 4 threads 0.38 with p99 0.9 s; views 0.39 with 8, 0.44 with 4).
# gthread, with page requests served before view beacons when both wait for a thread (one
# beacon after every GUNICORN_BEACON_EVERY pages, default 8; see service/pages_first.py): a
# beacon has nobody waiting for it. Measured with wrk (bbc-news, 4 workers, 64 connections
# reading lists while 32 send views): recommendations' p99 under views 0.96-1.37x its idle p99
# in six rounds with this worker, 1.35-2.24x with plain gthread; views wait longer meanwhile.
# Its own error answers (requests gunicorn refuses before the app sees them) are JSON in the
# contract's shape, not gunicorn's HTML page (service/server_errors.py).
worker_class = _env("GUNICORN_WORKER_CLASS", "service.pages_first.PagesFirstWorker")
threads = _int("GUNICORN_THREADS", 4)
# The longest request line gunicorn reads (method, URL, version), at its maximum of 8190 bytes
# instead of 4094: a long but legal URL (a 5,000-character id, a long query) reaches the app and
# gets its own answer (404, 400, 200) instead of gunicorn's 414.
limit_request_line = _int("GUNICORN_LIMIT_REQUEST_LINE", 8190)
# Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads new connections
# evenly over them. On one shared socket the worker that wakes first takes them, so pooled
# clients that connect at once piled onto one or two workers (64 connections seen as 44/14/6/0
# on 4 workers) while the others idled; that worker's queue set the p99. A connection waiting
# in a worker's queue when that worker dies is reset (a shared socket would hand it to another).
reuse_port = _env("GUNICORN_REUSE_PORT", "true").lower() in ("1", "true", "yes")
# Open connections per worker, idle kept-alive ones included (each is a file descriptor: keep
# it under `ulimit -n`). Past it, less the threads, responses say "Connection: close" rather
# than promise a keep-alive the worker cannot keep; raise it when more pooled clients connect.
worker_connections = _int("GUNICORN_WORKER_CONNECTIONS", 1000)
# Seconds an idle kept-alive connection stays open. It must be LONGER than the idle timeout of
# every client pool and load balancer in front (AWS ALB: 60 s; nginx upstream keepalive: 60 s;
# urllib3/requests and http.client: none): the side that closes an idle connection first must
# be the client, which then opens a new one. gunicorn's default of 2 s closed connections
# that clients pausing ~2 s were just reusing: their next request failed. Idle connections
# cost a socket in the worker's event loop, no thread.
keepalive = _int("GUNICORN_KEEPALIVE", 75)
# A worker whose event loop has not reported for this long is hung: it is killed and replaced.
# (With gthread a slow request runs in a thread and does not count.)
timeout = _int("GUNICORN_TIMEOUT", 60)
# On SIGTERM, requests in flight get this long to finish.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Off unless asked for (a path, or "-" for stdout): the app logs one line per request itself
# (service/request_log.py), with its request id; in JSON when RELATED_LOG_FORMAT is json.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# Logs are JSON lines under gunicorn unless RELATED_LOG_FORMAT=text: the app's (the workers
# inherit the variable) and gunicorn's own (logger_class below).
os.environ.setdefault("RELATED_LOG_FORMAT", "json")


class JsonLogger(glogging.Logger):
    """gunicorn's own lines (master, workers, the access log if turned on) as JSON objects,
    with the fields of the app's lines (service/request_log.py, not imported here: the master
    does not load the app)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(
                    OrjsonFormatter(
                        ["levelname", "name", "message", "process"],
                        rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
                        timestamp="time",
                    )
                )


logger_class = JsonLogger if os.environ["RELATED_LOG_FORMAT"].strip().lower() == "json" else glogging.Logger

# Metrics (service/metrics.py): prometheus_client's multiprocess mode. Each worker writes its
# counters to memory-mapped files in PROMETHEUS_MULTIPROC_DIR and /metrics, answered by any
# worker, adds up the files of all of them. The variable must be set before a worker imports
# prometheus_client, so here, as the configuration is read: a given folder is emptied at start
# (on_starting), else a fresh temporary one is made and removed at exit (on_exit).
_METRICS_DIR_OWNER = "RELATED_METRICS_DIR_OWNER"  # pid of the master that made the folder
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip():
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="related-metrics-")
    os.environ[_METRICS_DIR_OWNER] = str(os.getpid())
# gunicorn's control socket has one fixed path per user: several servers on one machine
# (tests, benchmarks, a second site) would take it from each other. We do not use it.
control_socket_disable = _env("GUNICORN_CONTROL_SOCKET_DISABLE", "true").lower() in ("1", "true", "yes")

# Not gunicorn settings (gunicorn ignores unknown names); used by the hooks below.
# A request body the application did not read (a refused upload, a beacon's body) is read and
# discarded up to this many bytes and seconds, so that the client, which usually sends its
# whole body before it reads the answer, gets the answer (413) instead of a reset. Beyond
# either bound the connection is closed with what is left unread.
_drain_bytes = _int("GUNICORN_DRAIN_BYTES", 64 * 1024 * 1024)
_drain_seconds = _float("GUNICORN_DRAIN_SECONDS", 10.0)
# How often a thread holding the GIL hands it over (Python's default: 5 ms). A thread back from
# a socket write or a database read waits up to this long for the GIL while the worker's other
# threads compute. Measured with wrk (bbc-news, 4 workers, 2 cores, same-run /healthz ratios):
# 5 ms: recommendations 0.57 with p99 272 ms, views 0.43; 0.5 ms: 0.66 with p99 140 ms, but
# views 0.34 (the view writer thread loses the GIL too often); 2 ms: 0.70 with p99 206 ms
# (within 2 x /healthz p99 + 5 ms), views 0.44.
_switch_interval = _float("GUNICORN_SWITCH_INTERVAL", 0.002)
# Before a connection is closed, how long the server waits for the client to close its side
# after reading the answer (RFC 9112 section 9.6 "lingering close").
_linger_seconds = _float("GUNICORN_LINGER_SECONDS", 2.0)


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Load the published index and the catalog as the worker starts: no request waits for them.

    The index holder's ``warm`` loads now, then starts the worker's background loader thread;
    the catalog's starts a thread that follows the store's writes, then loads.
    """
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", {})
    for name in ("index_holder", "catalog"):
        if name in extensions:  # what a worker loads later (new index, new catalog) as well
            extensions[name].after_load = gc.freeze
    for name, method in (("index_holder", "warm"), ("catalog", "warm")):
        if name in extensions:
            try:
                getattr(extensions[name], method)()
            except Exception:  # the index's loader thread, or the catalog's first request, retries
                worker.log.exception("could not load %s at start", name)
    # What is loaded now lives as long as the worker: keep it out of the cyclic garbage
    # collector's full passes (100k articles: pauses of up to 0.25 s, 0.09 s once frozen), and
    # so is each index and whole catalog loaded later. Measured in process on the 100k index
    # with the catalog loaded after start: request p99 32 ms unfrozen, 2.7 ms frozen.
    gc.freeze()


def _content_length(req: Any) -> int | None:
    for name, value in req.headers:
        if name == "CONTENT-LENGTH":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _chunked(req: Any) -> bool:
    """Whether the request's body is chunked (gunicorn 27 answers any other Transfer-Encoding 400)."""
    return any(name == "TRANSFER-ENCODING" for name, _ in req.headers)


class _ChunkedBody:
    """A chunked request body as the application reads it (``wsgi.input``).

    - Once the application has read more than ``limit`` bytes (None: no limit), the answer says
      "Connection: close". The application reads a chunked body up to one byte past
      MAX_CONTENT_LENGTH and answers 413 when that byte exists (service/api/body.py): the
      connection is then closed as for a Content-Length over the limit.
    - A malformed chunk is raised as an ``OSError``, which a WSGI application takes for a
      broken request (werkzeug: 400), not as gunicorn's ``ParseException``, which it took for
      its own fault (500); the connection closes (where the next request starts is unknown).

    post_request puts gunicorn's own body back: what it drains, the application did not read.
    """

    def __init__(self, body: Any, req: Any, limit: int | None) -> None:
        self.body, self._req, self._left = body, req, limit

    def _seen(self, data: bytes) -> bytes:
        if self._left is not None:
            self._left -= len(data)
            if self._left < 0:
                self._req.force_close()
        return data

    def _call(self, method: Any, size: int | None) -> Any:
        try:
            return method(size)
        except ParseException as error:
            self._req.force_close()
            raise OSError(f"malformed request body: {error}") from error

    def read(self, size: int | None = None) -> bytes:
        return self._seen(self._call(self.body.read, size))

    def readline(self, size: int | None = None) -> bytes:
        return self._seen(self._call(self.body.readline, size))

    def readlines(self, size: int | None = None) -> list[bytes]:
        return [self._seen(line) for line in self._call(self.body.readlines, size)]

    def __iter__(self) -> _ChunkedBody:
        return self

    def __next__(self) -> bytes:
        if line := self.readline():
            return line
        raise StopIteration

    def __getattr__(self, name: str) -> Any:  # the rest of gunicorn's body (``failed``, …)
        return getattr(self.body, name)


def pre_request(worker, req):  # type: ignore[no-untyped-def]
    """Answer a body the application will refuse (413) with "Connection: close".

    The application refuses a body longer than MAX_CONTENT_LENGTH without reading it. gunicorn
    would still announce "Connection: keep-alive", then fail to drain a large body and close
    the connection anyway: the client's pool reuses a dead connection. Saying "close" up front
    is honest, and RFC 9110 section 15.5.14 allows it. A chunked body has no length to check
    here: it says "close" once the application reads past the limit (``_ChunkedBody``).
    """
    limit = getattr(getattr(worker, "wsgi", None), "config", {}).get("MAX_CONTENT_LENGTH")
    length = _content_length(req)
    if limit is not None and length is not None and length > limit:
        req.force_close()
    elif length is None and _chunked(req) and getattr(req, "body", None) is not None:
        req.body = _ChunkedBody(req.body, req, limit)


def _drain(req: Any, sock: socket.socket) -> bool:
    """Read and discard the rest of the request body, within bounds; whether it was all read."""
    deadline, drained, prior = time.monotonic() + _drain_seconds, 0, sock.gettimeout()
    try:
        while drained <= _drain_bytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            sock.settimeout(remaining)
            chunk = req.body.read(64 * 1024)
            if not chunk:
                return True
            drained += len(chunk)
        return False
    except Exception:  # a timeout, a reset, a malformed chunk: the connection is done
        return False
    finally:
        with contextlib.suppress(OSError):
            sock.settimeout(prior)


def _linger_close(sock: socket.socket) -> None:
    """Half-close, give the client time to read the answer and close, then stop reading.

    gunicorn 27 (gthread) does this lingering close itself, but on the worker's event-loop
    thread: while a client holds a closed-by-us connection open, that thread waits up to 2 s
    and serves no connection of the worker; their keep-alive deadlines pass meanwhile, and
    the loop then closes them, resetting those whose request had arrived. Done here, in the
    request's thread, the socket is left shut both ways and gunicorn's close is immediate.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline, discarded = time.monotonic() + _linger_seconds, 0
        while (remaining := deadline - time.monotonic()) > 0 and discarded < 1024 * 1024:
            sock.settimeout(remaining)
            if not (data := sock.recv(64 * 1024)):
                break
            discarded += len(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)


def post_request(worker, req, environ, resp):  # type: ignore[no-untyped-def]
    """After the answer went out: drain an unread body; close lingering if the connection ends.

    Runs in the request's thread. A fully drained body leaves the connection clean for the
    next request (gunicorn's own drain stops at 64 KiB and then closes a connection it had
    announced as kept alive).
    """
    if isinstance(body := getattr(req, "body", None), _ChunkedBody):
        req.body = body.body  # what is drained from now on, the application did not read
    sock = environ.get("gunicorn.socket")
    if sys.exc_info()[0] is not None or resp is None or sock is None or req.version >= (2, 0):
        return  # gunicorn answers the error itself; HTTP/2 has its own framing
    try:
        drained = not (_chunked(req) or _content_length(req)) or _drain(req, sock)
        if not drained or resp.should_close():
            _linger_close(sock)
    except Exception:
        worker.log.exception("post_request: closing the connection failed")


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    """Hand the GIL over every ``_switch_interval`` seconds instead of Python's 5 ms."""
    sys.setswitchinterval(_switch_interval)


def _port_in_use(host: str, port: int) -> bool:
    """Whether a server listens on ``host:port`` (a bind without SO_REUSEPORT fails)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT, not a listener
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


# The libraries every worker imports, about 2.4 s of CPU each (scipy alone 1 s): imported once
# in the master, they are in every worker it forks. Measured with 4 workers on 2 cores: the
# first answer 3.5 s after start instead of 5.9 s; a worker that replaces a dead one serves
# sooner (the tests that kill workers, the consistency and the replica tests: 174-180 s
# instead of 240-255 s), and the workers share those pages. Only libraries: the service's
# own modules are imported by each worker, so that new workers (`kill -HUP`) run a deploy's code.
_SHARED_LIBRARIES = (
    "numpy",
    "scipy.sparse",
    "sklearn.cluster",
    "sklearn.decomposition",
    "sklearn.feature_extraction.text",
    "sklearn.preprocessing",
    "joblib",
    "sqlalchemy",
    "psycopg",
    "alembic",
    "flask",
    "limits",
    "prometheus_client",
)


def on_starting(server):  # type: ignore[no-untyped-def]
    """Refuse a port another server listens on; start the metrics from zero; import the
    libraries the workers share (``_SHARED_LIBRARIES``).

    With ``reuse_port`` the workers' sockets would bind beside another server's on the same
    port (a second `make run`, an old server still up) and the kernel would split connections
    between the two, silently: so a master that is not a binary upgrade (USR2) exits instead,
    as it would without ``reuse_port``. The metrics: what an earlier server left in a given
    folder is removed (not by an upgrade's master, whose old master's workers still count).
    """
    if server.cfg.reuse_port and not server.master_pid:
        for address in server.cfg.address:
            if isinstance(address, tuple) and address[1] and _port_in_use(address[0], address[1]):
                server.log.error("%s:%s is already in use by another server", address[0], address[1])
                sys.exit(1)
        # gunicorn's own "Listening at" line is empty: each worker opens its own socket
        server.log.info("workers will listen at %s (SO_REUSEPORT)", ", ".join(server.cfg.bind))
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    if not server.master_pid:
        for stale in folder.glob("*.db"):
            stale.unlink(missing_ok=True)
    for library in _SHARED_LIBRARIES:
        importlib.import_module(library)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """A worker is gone: drop its live gauges from the metrics (its counters still count)."""
    from prometheus_client import multiprocess  # noqa: PLC0415 - only the master runs this

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # type: ignore[no-untyped-def]
    """Remove the temporary metrics folder this master made (not when a new master took over)."""
    if os.environ.get(_METRICS_DIR_OWNER) == str(os.getpid()) and not getattr(server, "reexec_pid", 0):
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
