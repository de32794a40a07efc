"""HTTP load with wrk: the hot endpoints as ratios to the same server's /healthz, in one run.

python -m bench.http --corpus bbc-news [--database sqlite|postgres] [--duration 10] [--quick]
                     [--skip-views] [--skip-recommendations]

The machine is shared and noisy, so only ratios within one run count: every scenario runs against
one gunicorn (4 workers) with the same wrk settings and the same Lua script (a random path from a
list per request, statuses counted per thread) as its /healthz baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from bench import corpora
from bench.databases import fresh_postgres_schema
from tests.server import Server, gunicorn, request_on_worker, wait_for_job, worker_pids

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORKERS = 4
THREADS = 2
READ_CONNECTIONS = 64
REVALIDATED = 5000  # articles whose ETag the revalidation load sends
WRITE_CONNECTIONS = 32
WARMUP_S = 3.0
QUICK = {"limit": 300, "duration": 2.0, "warmup": 1.0}
CHUNK = 1000
# Targets: the share of /healthz throughput each endpoint should reach.
RECOMMENDATIONS_SHARE = {"imdb-reviews": 0.40}
DEFAULT_RECOMMENDATIONS_SHARE = 0.60
VIEWS_SHARE = 0.50
P99_SLACK_S = 0.005
SOCKET_ERRORS = ("connect", "read", "write", "timeout")  # wrk prints them only when any occurred
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
INSTALL_WRK = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk"

# Each wrk thread loads the paths (a line: a path, or a path, a tab and the ETag to send as
# If-None-Match), draws one uniformly per request and counts statuses; `done` prints every
# thread's counts, which wrk's own summary does not break down.
LUA_SCRIPT = """\
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  paths, etags, sent, statuses = {}, {}, 0, {}
  for line in io.lines(args[1]) do
    local path, etag = line:match("^([^\t]+)\t?(.*)$")
    paths[#paths + 1] = path
    etags[#paths] = etag ~= "" and etag or nil
  end
  math.randomseed(tonumber(args[2]) * 1000 + id)
  for _ = 1, 10 do math.random() end  -- the first draws after seeding are poorly mixed
end

function request()
  sent = sent + 1
  local drawn = math.random(#paths)
  local etag = etags[drawn]
  return wrk.format(method, paths[drawn], etag and {["If-None-Match"] = etag} or nil)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("bench-sent %d\\n", thread:get("sent")))
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("bench-status %d %d\\n", status, count))
    end
  end
end
"""


class WrkUnavailable(RuntimeError):
    """wrk is missing and could not be installed."""


@dataclass(frozen=True)
class WrkRun:
    """One wrk run, parsed from its ``--latency`` output; times in seconds."""

    connections: int
    requests: int
    seconds: float
    requests_per_second: float
    p50: float
    p90: float
    p99: float
    non_2xx_3xx: int
    socket_errors: dict[str, int]
    sent: int
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.non_2xx_3xx + sum(self.socket_errors.values())

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "errors": self.errors,
        }


@dataclass(frozen=True)
class Load:
    """What one wrk process sends: a Lua script drawing from a file of paths."""

    script: Path
    paths: Path
    method: str
    connections: int


def ensure_wrk() -> str:
    """The path of wrk, installed from Debian when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if not shutil.which("apt-get") or os.geteuid() != 0:
        raise WrkUnavailable(f"wrk is not installed; install it as root with: {INSTALL_WRK}")
    print("installing wrk…", file=sys.stderr)
    done = subprocess.run(["sh", "-c", INSTALL_WRK], capture_output=True, text=True, check=False)
    found = shutil.which("wrk")
    if done.returncode != 0 or not found:
        raise WrkUnavailable(f"installing wrk failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}")
    return found


def _seconds(value: str, unit: str) -> float:
    return float(value) * UNITS[unit]


def parse_wrk(output: str, connections: int) -> WrkRun:
    """Throughput, latency percentiles, errors and the Lua hooks' counts from wrk's output."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if total is None or rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    latency = {
        int(m[1]): _seconds(m[2], m[3])
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    statuses: dict[int, int] = {}
    for m in re.finditer(r"^bench-status (\d+) (\d+)$", output, re.MULTILINE):
        statuses[int(m[1])] = statuses.get(int(m[1]), 0) + int(m[2])
    return WrkRun(
        connections=connections,
        requests=int(total[1]),
        seconds=_seconds(total[2], total[3]),
        requests_per_second=float(rate[1]),
        p50=latency.get(50, float("nan")),
        p90=latency.get(90, float("nan")),
        p99=latency.get(99, float("nan")),
        non_2xx_3xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=dict(zip(SOCKET_ERRORS, map(int, sockets.groups()) if sockets else [0] * 4)),
        # wrk calls the first thread's request() once more, to verify the script, before the run
        sent=max(0, sum(int(m[1]) for m in re.finditer(r"^bench-sent (\d+)$", output, re.MULTILINE)) - 1),
        statuses=statuses,
    )


def start_wrk(server: Server, load: Load, *, duration: float, seed: int) -> subprocess.Popen[str]:
    """Start wrk in the background (it takes whole seconds; the timeout keeps slow answers measured)."""
    command = [
        "wrk",
        f"--threads={THREADS}",
        f"--connections={load.connections}",
        f"--duration={max(1, round(duration))}s",
        "--timeout=30s",
        "--latency",
        f"--script={load.script}",
        f"http://127.0.0.1:{server.port}/",
        "--",
        str(load.paths),
        str(seed),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_wrk(process: subprocess.Popen[str], load: Load) -> WrkRun:
    output, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}:\n{output}")
    return parse_wrk(output, load.connections)


def measure(server: Server, load: Load, *, duration: float, warmup: float, seed: int) -> WrkRun:
    """A warm-up run (discarded), then the measured run."""
    if warmup > 0:
        finish_wrk(start_wrk(server, load, duration=warmup, seed=seed + 500), load)
    return finish_wrk(start_wrk(server, load, duration=duration, seed=seed), load)


def make_load(folder: Path, name: str, paths: list[str], *, method: str, connections: int) -> Load:
    """Write the paths file and a Lua script for one kind of request."""
    paths_file = folder / f"{name}.paths"
    paths_file.write_text("\n".join(paths) + "\n", encoding="utf-8")
    script = folder / f"{name}.lua"
    script.write_text(f'method = "{method}"\n' + LUA_SCRIPT, encoding="utf-8")
    return Load(script, paths_file, method, connections)


def current_etags(server: Server, paths: list[str]) -> list[tuple[str, str]]:
    """Each path with the ETag of its answer now, as a site's cache would hold it."""
    found = []
    connection = HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for path in paths:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            found.append((path, str(response.headers["ETag"])))
    finally:
        connection.close()
    return found


def corpus_records(name: str, *, limit: int | None) -> list[dict[str, Any]]:
    """The corpus as API records, with the ids bench/__main__.py's HTTP load uses."""
    corpus = corpora.load(name, limit=limit)
    return [
        {"id": f"a{document.id}", "title": document.title or "untitled", "body": document.body}
        for document in corpus.documents
    ]


@contextmanager
def database_env(database: str) -> Iterator[dict[str, str]]:
    """Server environment for ``database``: the default SQLite file, or a fresh PostgreSQL schema."""
    if database == "sqlite":
        yield {}
        return
    with fresh_postgres_schema() as url:
        yield {"DATABASE_URL": url}


def load_articles(server: Server, records: list[dict[str, Any]]) -> dict[str, float]:
    """Bulk-import ``records``, rebuild the index through the API and let the workers load it."""
    started = time.perf_counter()
    for start in range(0, len(records), CHUNK):
        status, body = server.request("POST", "/api/v1/articles", records[start : start + CHUNK], admin=True)
        if status != 200:
            raise RuntimeError(f"bulk import failed at record {start}: {status} {body}")
    imported = time.perf_counter()
    server.request("POST", "/api/v1/admin/reindex", admin=True)
    job = wait_for_job(server, timeout=3600)
    if job["state"] != "succeeded":
        raise RuntimeError(f"reindex failed: {job}")
    reindexed = time.perf_counter()
    wait_for_every_worker(server, job["index_version"])
    return {
        "import_s": imported - started,
        "reindex_s": reindexed - imported,
        "workers_loaded_s": time.perf_counter() - reindexed,
    }


def wait_for_every_worker(server: Server, version: str, timeout: float = 600) -> None:
    """Until every worker serves index ``version``: each loads it in its own loader thread (a
    100k index takes seconds per worker), and a benchmark run during that measures the loading."""
    deadline, pids = time.monotonic() + timeout, worker_pids(server)
    serving: set[int] = set()
    while serving != pids:
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers {sorted(pids - serving)} did not load index {version}")
        _, answer, pid = request_on_worker(server, "GET", "/readyz", pids=pids)
        if pid is not None and (answer.get("index") or {}).get("version") == version:
            serving.add(pid)
        time.sleep(0.05)


def total_views(server: Server) -> int:
    status, body = server.request("GET", "/api/v1/admin/stats?window=24h&limit=1", admin=True)
    if status != 200:
        raise RuntimeError(f"stats failed: {status} {body}")
    return int(body["total_views"])


def views_scenario(server: Server, views: Load, *, duration: float, warmup: float) -> dict[str, Any]:
    """Views under load, and whether every acknowledged view was counted once.

    wrk stops with a request in flight on each connection; the server may still count those, so
    strict equality needs none in flight, and ``consistent`` (acknowledged <= counted <= sent) is
    what a lost or doubly counted view breaks.
    """
    if warmup > 0:
        finish_wrk(start_wrk(server, views, duration=warmup, seed=503), views)
    time.sleep(1.0)  # requests wrk abandoned at the end of the warm-up finish
    before = total_views(server)
    run = finish_wrk(start_wrk(server, views, duration=duration, seed=3), views)
    time.sleep(1.0)
    counted = total_views(server) - before
    acknowledged = run.statuses.get(202, 0)
    count = {
        "sent": run.sent,
        "acknowledged": acknowledged,
        "counted": counted,
        "in_flight_at_stop": run.sent - sum(run.statuses.values()),
        "exact": counted == acknowledged,
        "consistent": acknowledged <= counted <= run.sent,
    }
    return {"run": run, "count": count}


def concurrent_scenario(server: Server, reads: Load, writes: Load, *, duration: float) -> dict[str, WrkRun]:
    """Recommendations measured while a views load, started a second earlier, runs throughout."""
    background = start_wrk(server, writes, duration=duration + 2, seed=4)
    time.sleep(1.0)
    reads_run = finish_wrk(start_wrk(server, reads, duration=duration, seed=5), reads)
    return {"recommendations": reads_run, "views": finish_wrk(background, writes)}


# Each endpoint's /healthz runs: the same connections, measured before and after it.
BASELINES = {
    "recommendations": ("healthz_64", "healthz_64_after"),
    "recommendations_304": ("healthz_64", "healthz_64_after"),
    "views": ("healthz_32", "healthz_32_after"),
    "recommendations_under_views": ("healthz_64", "healthz_64_after"),
    "views_during_recommendations": ("healthz_32", "healthz_32_after"),
}


def baseline(runs: dict[str, dict[str, Any]], scenario: str) -> dict[str, float] | None:
    """The mean req/s and p99 of ``scenario``'s /healthz runs; None for /healthz itself."""
    found = [runs[name] for name in BASELINES.get(scenario, ()) if name in runs]
    if not found:
        return None
    return {key: sum(run[key] for run in found) / len(found) for key in ("requests_per_second", "p99")}


def measured_baseline(runs: dict[str, dict[str, Any]], scenario: str) -> dict[str, float]:
    """:func:`baseline` of a scenario that is judged against /healthz; ``ValueError`` without it."""
    found = baseline(runs, scenario)
    if found is None:
        raise ValueError(f"no /healthz run to compare {scenario} with")
    return found


def checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value and whether it passed."""
    runs, found = report["scenarios"], []

    def check(scenario: str, name: str, measured: float, target: float, passed: bool) -> None:
        found.append(
            {"scenario": scenario, "check": name, "measured": measured, "target": target, "passed": passed}
        )

    for scenario, run in runs.items():
        check(scenario, "errors", run["errors"], 0, run["errors"] == 0)
    if "recommendations" in runs:
        base, rec = measured_baseline(runs, "recommendations"), runs["recommendations"]
        share = RECOMMENDATIONS_SHARE.get(report["corpus"], DEFAULT_RECOMMENDATIONS_SHARE)
        ratio = rec["requests_per_second"] / base["requests_per_second"]
        check("recommendations", "req/s share", ratio, share, ratio >= share)
        limit = 2 * base["p99"] + P99_SLACK_S
        check("recommendations", "p99", rec["p99"], limit, rec["p99"] <= limit)
    if "recommendations_304" in runs:
        run = runs["recommendations_304"]
        not_modified = run["statuses"].get("304", 0) / max(run["requests"], 1)
        check("recommendations_304", "304 share", not_modified, 0.99, not_modified >= 0.99)
    if "views" in runs:
        ratio = runs["views"]["requests_per_second"] / measured_baseline(runs, "views")["requests_per_second"]
        check("views", "req/s share", ratio, VIEWS_SHARE, ratio >= VIEWS_SHARE)
        count = report["views_count"]
        check("views", "counted", count["counted"], count["acknowledged"], count["consistent"])
    if "recommendations_under_views" in runs:
        loaded, idle = runs["recommendations_under_views"]["p99"], runs["recommendations"]["p99"]
        check("recommendations_under_views", "p99", loaded, 2 * idle, loaded <= 2 * idle)
    return found


def provenance() -> dict[str, Any]:
    """The commit measured, whether service/ had uncommitted edits, and the machine's load."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "service_uncommitted": bool(
            git("status", "--porcelain", "--", "service", "wsgi.py", "gunicorn.conf.py")
        ),
        "loadavg": list(os.getloadavg()),
        "cpus": os.cpu_count(),
    }


def run(
    corpus: str,
    database: str,
    duration: float,
    *,
    warmup: float = WARMUP_S,
    limit: int | None = None,
    views: bool = True,
    recommendations: bool = True,
    workers: int = WORKERS,
) -> dict[str, Any]:
    """Serve ``corpus`` from gunicorn on ``database`` and load it with wrk; the report as a dict."""
    ensure_wrk()
    records = corpus_records(corpus, limit=limit)
    report: dict[str, Any] = {
        **provenance(),
        "corpus": corpus,
        "database": database,
        "articles": len(records),
        "workers": workers,
        "threads": THREADS,
        "duration_s": duration,
        "warmup_s": warmup,
        "scenarios": {},
    }
    runs: dict[str, WrkRun] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp,
        database_env(database) as env,
        gunicorn(Path(tmp), workers=workers, env={"RELATED_AUTO_REBUILD": "false", **env}) as server,
    ):
        folder, ids = Path(tmp), [record["id"] for record in records]
        report["setup"] = load_articles(server, records)
        print(f"loaded {len(records)} articles: {report['setup']}", file=sys.stderr)
        read_paths = [f"/api/v1/articles/{i}/recommendations" for i in ids]
        reads = make_load(
            folder,
            "recommendations",
            read_paths,
            method="GET",
            connections=READ_CONNECTIONS,
        )
        writes = make_load(
            folder,
            "views",
            [f"/api/v1/articles/{i}/views" for i in ids],
            method="POST",
            connections=WRITE_CONNECTIONS,
        )
        timing = {"duration": duration, "warmup": warmup}
        # /healthz before and after each endpoint: the baseline is their mean, their gap the drift.
        if recommendations:
            health = make_load(folder, "healthz", ["/healthz"], method="GET", connections=READ_CONNECTIONS)
            runs["healthz_64"] = measure(server, health, seed=1, **timing)
            runs["recommendations"] = measure(server, reads, seed=2, **timing)
            revalidations = make_load(
                folder,
                "revalidations",
                [f"{path}\t{etag}" for path, etag in current_etags(server, read_paths[:REVALIDATED])],
                method="GET",
                connections=READ_CONNECTIONS,
            )
            runs["recommendations_304"] = measure(server, revalidations, seed=3, **timing)
            runs["healthz_64_after"] = measure(server, health, seed=6, **timing)
        if views:
            health = make_load(folder, "healthz", ["/healthz"], method="GET", connections=WRITE_CONNECTIONS)
            runs["healthz_32"] = measure(server, health, seed=1, **timing)
            result = views_scenario(server, writes, **timing)
            runs["views"], report["views_count"] = result["run"], result["count"]
            runs["healthz_32_after"] = measure(server, health, seed=6, **timing)
        if views and recommendations:
            mixed = concurrent_scenario(server, reads, writes, duration=duration)
            runs["recommendations_under_views"] = mixed["recommendations"]
            runs["views_during_recommendations"] = mixed["views"]
    report["scenarios"] = {name: result.to_json() for name, result in runs.items()}
    report["baseline_drift"] = {
        name: runs[f"{name}_after"].requests_per_second / runs[name].requests_per_second
        for name in ("healthz_64", "healthz_32")
        if name in runs
    }
    report["checks"] = checks(report)
    return report


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def _verdict(failed: list[str]) -> str:
    return f"✗ {', '.join(failed)}" if failed else "✓"


def _errors(run: dict[str, Any]) -> str:
    if not run["errors"]:
        return "0"
    parts = [f"non-2xx {run['non_2xx_3xx']}"] + [f"{k} {v}" for k, v in run["socket_errors"].items() if v]
    return f"{run['errors']} ({', '.join(parts)})"


LABELS = {
    "healthz_64": "/healthz (before)",
    "recommendations": "GET recommendations",
    "recommendations_304": "GET recommendations, If-None-Match → 304",
    "healthz_64_after": "/healthz (after)",
    "healthz_32": "/healthz (before)",
    "healthz_32_after": "/healthz (after)",
    "views": "POST views",
    "recommendations_under_views": "GET recommendations, views load running",
    "views_during_recommendations": "POST views (the load above)",
}


def render(report: dict[str, Any]) -> str:
    """The report as a markdown table, targets and pass/fail beside the figures."""
    runs = report["scenarios"]
    failed: dict[str, list[str]] = {}
    targets: dict[str, list[str]] = {}
    for item in report["checks"]:
        failed.setdefault(item["scenario"], [])
        if not item["passed"]:
            failed[item["scenario"]].append(item["check"])
        if item["check"] == "req/s share":
            targets.setdefault(item["scenario"], []).append(f"req/s ≥ {item['target']:.2f}×")
        elif item["check"] == "p99":
            targets.setdefault(item["scenario"], []).append(f"p99 ≤ {_ms(item['target'])} ms")
        elif item["check"] == "304 share":
            targets.setdefault(item["scenario"], []).append("≥ 99 % answered 304")
        elif item["check"] == "counted":
            targets.setdefault(item["scenario"], []).append("every 202 counted once")
    lines = [
        f"wrk against gunicorn ({report['workers']} workers) on {report['database']}, {report['corpus']} "
        f"({report['articles']:,} articles), {report['duration_s']:g} s runs after {report['warmup_s']:g} s "
        f"warm-ups, {report['threads']} wrk threads; commit {report['commit']}"
        + (" with uncommitted service edits" if report["service_uncommitted"] else ""),
        "",
        "| scenario | conns | req/s | × /healthz | p50 ms | p90 ms | p99 ms | errors | target | pass |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for name, run in runs.items():
        base = baseline(runs, name)
        ratio = f"{run['requests_per_second'] / base['requests_per_second']:.3f}" if base else "baseline"
        lines.append(
            f"| {LABELS.get(name, name)} | {run['connections']} | {run['requests_per_second']:,.0f} "
            f"| {ratio} | {_ms(run['p50'])} | {_ms(run['p90'])} | {_ms(run['p99'])} | {_errors(run)} | "
            f"{', '.join(targets.get(name, [])) or '—'} | {_verdict(failed.get(name, []))} |"
        )
    if "views_count" in report:
        count = report["views_count"]
        lines += [
            "",
            f"Views: {count['sent']:,} sent, {count['acknowledged']:,} acknowledged (202), "
            f"{count['counted']:,} counted by /admin/stats; {count['in_flight_at_stop']} in flight when wrk "
            f"stopped; counted == acknowledged: {'yes' if count['exact'] else 'no'}; "
            f"acknowledged ≤ counted ≤ sent: {'yes ✓' if count['consistent'] else 'NO ✗'}",
        ]
    drift = ", ".join(f"{n.split('_')[1]} connections {d:.2f}" for n, d in report["baseline_drift"].items())
    if drift:
        lines.append(f"/healthz req/s after ÷ before (noise while measuring): {drift}")
    setup = report["setup"]
    lines.append(f"Setup: import {setup['import_s']:.1f} s over HTTP, reindex {setup['reindex_s']:.1f} s")
    return "\n".join(lines)


def summary(reports: list[dict[str, Any]]) -> str:
    """One table of every report's targets: each endpoint against its /healthz of the same run."""
    lines = [
        "| corpus | store | endpoint | req/s | /healthz req/s | × /healthz | target | p99 ms "
        "| /healthz p99 ms | p99 target ms | errors | pass |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for report in reports:
        runs = report["scenarios"]
        by_scenario: dict[str, dict[str, dict[str, Any]]] = {}
        for item in report["checks"]:
            by_scenario.setdefault(item["scenario"], {})[item["check"]] = item
        for name in ("recommendations", "recommendations_304", "views", "recommendations_under_views"):
            if name not in runs:
                continue
            run, items = runs[name], by_scenario.get(name, {})
            base = baseline(runs, name) or {"requests_per_second": float("nan"), "p99": float("nan")}
            if name == "recommendations_under_views":
                base = {"requests_per_second": float("nan"), "p99": runs["recommendations"]["p99"]}
            share, p99 = items.get("req/s share"), items.get("p99")
            cells = [
                f"{report['corpus']} ({report['articles']:,})",
                report["database"],
                LABELS.get(name, name),
                f"{run['requests_per_second']:,.0f}",
                "—" if not share else f"{base['requests_per_second']:,.0f}",
                "—" if not share else f"{share['measured']:.2f}",
                "—" if not share else f"≥ {share['target']:.2f}",
                _ms(run["p99"]),
                _ms(base["p99"]),
                _ms(p99["target"]) if p99 else "—",
                str(run["errors"]),
                _verdict([check for check, item in items.items() if not item["passed"]]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="bbc-news", choices=list(corpora.LABELS))
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (whole)")
    parser.add_argument("--warmup", type=float, default=WARMUP_S, help="seconds of warm-up per scenario")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK['limit']} articles, 2 s runs: a smoke run"
    )
    parser.add_argument("--skip-views", action="store_true")
    parser.add_argument("--skip-recommendations", action="store_true")
    parser.add_argument("--output", type=Path, help="JSON report (default bench/results/http-CORPUS-DB.json)")
    args = parser.parse_args(argv)
    quick = args.quick
    try:
        report = run(
            args.corpus,
            args.database,
            QUICK["duration"] if quick else args.duration,
            warmup=QUICK["warmup"] if quick else args.warmup,
            limit=int(QUICK["limit"]) if quick else None,
            views=not args.skip_views,
            recommendations=not args.skip_recommendations,
        )
    except WrkUnavailable as error:
        print(f"bench.http: {error}", file=sys.stderr)
        return 2
    report["quick"] = quick
    suffix = "-quick" if quick else ""
    output = args.output or RESULTS / f"http-{args.corpus}-{args.database}{suffix}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
