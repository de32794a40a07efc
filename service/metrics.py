"""Prometheus metrics: ``GET /metrics`` and the counters the rest of the service feeds.

Counters and histograms belong to the process (as Prometheus client metrics do): requests,
beacons and reindex jobs are counted wherever they happen, by the module functions below.

- One process (the Flask test client, the ``flask`` CLI): the values live in memory and
  ``/metrics`` reports them.
- Under gunicorn, ``gunicorn.conf.py`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder
  before any worker starts, so prometheus_client writes each worker's values to memory-mapped
  files there, and ``/metrics`` (answered by any one worker) adds up the files of every worker,
  the dead ones' counters included (``child_exit`` forgets their live gauges).

What describes the index (version, age, size) is read from the app's index holder when
``/metrics`` is scraped (:class:`IndexCollector`), not counted on every request.
"""

from __future__ import annotations

import functools
import glob
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, values
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from service.index_holder import IndexHolder

# Request latency from 0.5 ms (a cached answer) to 5 s (a request stuck behind the database).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# A rebuild takes seconds on the sample corpus and minutes on 100k articles.
BUILD_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
# A client may send any method token; the label keeps to these (bounded cardinality).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
# Requests that matched no route (404, 405 on an unknown path) share one endpoint label.
UNMATCHED = "unmatched"
_EXTENSION = "metrics"


class Metrics:
    """The process's counters and histograms; :func:`process_metrics` gives the one instance."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Counter(
            "related_http_requests",
            "HTTP requests answered, by Flask endpoint (not raw path), method and status.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "related_http_request_duration_seconds",
            "Time from routing to the response, by Flask endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.views = Counter("related_views_recorded", "Page views recorded (committed).", registry=registry)
        self.clicks = Counter(
            "related_clicks_recorded",
            "Clicks on recommendations recorded, by list.",
            ["section"],
            registry=registry,
        )
        self.bot_hits = Counter(
            "related_bot_hits",
            'Beacons from known bots, answered {"recorded": false}, by beacon.',
            ["beacon"],
            registry=registry,
        )
        self.reindex_jobs = Counter(
            "related_reindex_jobs",
            "Reindex jobs run by this service, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.build_duration = Histogram(
            "related_index_build_duration_seconds",
            "Time to build, save and publish an index (successful builds).",
            buckets=BUILD_BUCKETS,
            registry=registry,
        )
        # (endpoint, method, status) -> the counter's and histogram's children: a dict lookup
        # on the hot path instead of prometheus_client's locked, validating labels().
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "other"  # a client's made-up methods: one key
        key = (endpoint, method, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(endpoint, method, str(status)), self.latency.labels(endpoint))
            self._children[key] = children  # a race creates the same children twice: harmless
        children[0].inc()
        children[1].observe(seconds)


def multiprocess_mode() -> bool:
    """Whether prometheus_client writes values to files (``PROMETHEUS_MULTIPROC_DIR`` was set
    when it was imported)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


@functools.cache
def process_metrics() -> Metrics:
    """The process's metrics, made on first use.

    In multiprocess mode they are in no registry (``/metrics`` reads every worker's files);
    otherwise in one registry of their own, that each app's ``/metrics`` registry includes.
    """
    if not multiprocess_mode():
        return Metrics(CollectorRegistry(auto_describe=True))
    # A process started outside gunicorn with the variable set (a CLI run) may find no folder.
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    return Metrics(None)


# -- what the rest of the service counts (each call a few microseconds) -----------------------


def count_beacon(beacon: str, *, recorded: bool, section: str | None = None) -> None:
    """A beacon answered: ``beacon`` is ``"views"`` or ``"clicks"``; ``recorded=False`` for a bot."""
    metrics = process_metrics()
    if not recorded:
        metrics.bot_hits.labels(beacon).inc()
    elif beacon == "views":
        metrics.views.inc()
    else:
        metrics.clicks.labels(section or "unknown").inc()


def reindex_finished(outcome: str, seconds: float | None = None) -> None:
    """A reindex job ended ``"succeeded"`` or ``"failed"``; ``seconds``: its build's duration."""
    metrics = process_metrics()
    metrics.reindex_jobs.labels(outcome).inc()
    if seconds is not None and outcome == "succeeded":
        metrics.build_duration.observe(seconds)


# -- read at scrape time ------------------------------------------------------------------------


class IndexCollector(Collector):
    """The index the answering worker serves, described when ``/metrics`` is scraped."""

    def __init__(self, holder: IndexHolder) -> None:
        self.holder = holder

    def describe(self) -> Iterator[Metric]:
        # Registering calls describe(), else collect(): nothing may be loaded at app creation.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        artifact = self.holder.current()
        loaded = GaugeMetricFamily("related_index_loaded", "1 when an index is loaded and serving.")
        loaded.add_metric([], 0.0 if artifact is None else 1.0)
        yield loaded
        failing = GaugeMetricFamily(
            "related_index_load_failing",
            "1 when the published index could not be loaded (an older one, or none, serves).",
        )
        failing.add_metric([], 0.0 if self.holder.load_error is None else 1.0)
        yield failing
        if artifact is None:
            return
        info = InfoMetricFamily("related_index", "The index served: its version and build time.")
        info.add_metric([], {"version": artifact.version, "built_at": artifact.built_at.isoformat()})
        yield info
        built = artifact.built_at.timestamp()
        yield GaugeMetricFamily(
            "related_index_built_timestamp_seconds",
            "When the served index was built (Unix time).",
            value=built,
        )
        yield GaugeMetricFamily(
            "related_index_age_seconds",
            "Seconds since the served index was built.",
            value=time.time() - built,
        )
        yield GaugeMetricFamily(
            "related_index_articles", "Articles in the served index.", value=float(artifact.articles)
        )


class WorkerFilesCollector(multiprocess.MultiProcessCollector):
    """Every worker's metric files, summed; a file another worker is creating at that moment
    (empty until prometheus_client sizes it) is skipped instead of failing the scrape, or the
    boot of a worker, with a ``struct.error``."""

    _HEADER_BYTES = 8  # the used-bytes counter and padding at the start of every file

    def collect(self) -> Iterable[Metric]:
        files = [
            path for path in glob.glob(os.path.join(self._path, "*.db")) if _size(path) >= self._HEADER_BYTES
        ]
        return self.merge(files, accumulate=True)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:  # removed meanwhile (a dead worker's file, cleaned up)
        return 0


def scrape_registry(holder: IndexHolder) -> CollectorRegistry:
    """What an app's ``/metrics`` reports: the process's (or every worker's) metrics and the index."""
    registry = CollectorRegistry(auto_describe=True)
    if multiprocess_mode():
        WorkerFilesCollector(registry)
    else:
        metrics = process_metrics()
        for collector in (
            metrics.requests,
            metrics.latency,
            metrics.views,
            metrics.clicks,
            metrics.bot_hits,
            metrics.reindex_jobs,
            metrics.build_duration,
        ):
            registry.register(collector)
    registry.register(IndexCollector(holder))
    return registry


# -- the endpoint and the request hook ------------------------------------------------------------

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
def metrics_endpoint() -> Response:
    """Prometheus text format (public, like /healthz: counts and the index version, no content)."""
    registry: CollectorRegistry = current_app.extensions[_EXTENSION]
    response = Response(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response.headers["Cache-Control"] = "no-store"
    return response


# The start time rides in the WSGI environ: one dict access (``g`` costs a context lookup more).
_STARTED = "related.metrics_started"


def _started() -> None:
    request.environ[_STARTED] = time.perf_counter()


def _observed(response: Response) -> Response:
    # The request object itself, not the proxy: each proxied attribute costs a context lookup.
    current = request._get_current_object()  # type: ignore[attr-defined]
    started = current.environ.get(_STARTED)
    if started is not None:
        rule = current.url_rule
        process_metrics().observe_request(
            UNMATCHED if rule is None else rule.endpoint,
            current.method,
            response.status_code,
            time.perf_counter() - started,
        )
    return response


def init_app(app: Flask) -> None:
    """Serve ``/metrics`` and count every request, unless ``METRICS_ENABLED`` is false.

    Call it before the extensions that change responses (compression, CORS): after-request
    functions run in reverse order, so the latency then includes their work.
    """
    if not app.config["METRICS_ENABLED"]:
        return
    app.extensions[_EXTENSION] = scrape_registry(app.extensions["index_holder"])
    app.before_request(_started)
    app.after_request(_observed)
    app.register_blueprint(blueprint)
