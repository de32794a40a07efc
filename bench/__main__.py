"""`make bench`: quality against the peers, build and serving speed, as one table and JSON.

python -m bench                      # every corpus in ../shared/data
python -m bench --corpora bbc-news   # a subset
python -m bench --quick              # a small smoke run (the test suite runs this)
python -m bench --skip-http --skip-popular --skip-embeddings   # the quality table only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import corpora, labels, popular
from bench import http as wrk
from bench.loco import corpus_embeddings
from bench.metrics import hit_at_k, precision_at_k, query_rows, served_neighbours
from bench.peers import PEERS
from bench.recency import recency_effects
from bench.serving import http_load, lookup_latency
from service.corpus import read_corpus
from service.recommender import RelatedIndex
from service.recommender.embeddings import installed as embeddings_installed

RESULTS = Path(__file__).resolve().parent / "results"
SCALE_CORPUS = "imdb-reviews"


def peer_scores(corpus: corpora.Corpus, rows: list[int]) -> dict[str, float]:
    """Each peer's precision@5 (``NAME``) and hit@5 (``NAME_hit``)."""
    scores = {}
    for name, peer in PEERS.items():
        neighbours = peer(corpus.documents, rows, 5)
        scores[name] = precision_at_k(corpus, rows, neighbours)
        scores[f"{name}_hit"] = hit_at_k(corpus, rows, neighbours)
    return scores


def quality(
    corpus: corpora.Corpus, *, n_jobs: int, embeddings: bool = False
) -> tuple[dict[str, float], RelatedIndex]:
    """The service's precision@5 as served and the peers'; with ``embeddings``, also the
    service with the optional sentence embeddings (``service_embeddings``)."""
    rows = query_rows(len(corpus.documents))
    scores: dict[str, float] = {}
    started = time.perf_counter()
    index = RelatedIndex(n_jobs=n_jobs).fit(corpus.documents)
    scores["service_build_s"] = time.perf_counter() - started
    served = served_neighbours(index, rows)
    scores["service"] = precision_at_k(corpus, rows, served)
    scores["service_hit"] = hit_at_k(corpus, rows, served)
    scores["service_with_duplicates"] = precision_at_k(corpus, rows, index.neighbours_[rows])
    scores["latent_weight"] = index.latent_weight_
    vectors = corpus_embeddings(corpus) if embeddings else None  # None above the cap
    if vectors is not None:
        blended = RelatedIndex(n_jobs=n_jobs).fit(corpus.documents, embeddings=vectors)
        scores["service_embeddings"] = precision_at_k(corpus, rows, served_neighbours(blended, rows))
    scores.update(peer_scores(corpus, rows))
    return scores, index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="*", default=None, help="names in ../shared/data")
    parser.add_argument("--quick", action="store_true", help="small subsets, for a smoke run")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-popular", action="store_true", help="skip the popular-lists benchmark")
    parser.add_argument(
        "--skip-embeddings", action="store_true", help="no optional-embeddings column, even when installed"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    names = args.corpora if args.corpora is not None else corpora.available()
    limit = 600 if args.quick else None
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
    }

    # The optional embeddings when installed, on full runs (vectors cached in bench/.cache).
    embeddings = not (args.quick or args.skip_embeddings) and embeddings_installed()
    at_scale_below = [] if args.quick else [SCALE_CORPUS]
    largest = _quality_report(report, [n for n in names if n not in at_scale_below], limit, embeddings)

    report["labels"] = _label_effects(names, limit)

    if SCALE_CORPUS in names and not args.quick:
        build = subprocess.run(
            [sys.executable, "-m", "bench.build", SCALE_CORPUS], capture_output=True, text=True, check=True
        )
        report["build"] = json.loads(build.stdout.strip().splitlines()[-1])
        print(f"build {SCALE_CORPUS}: {report['build']}", file=sys.stderr)
        corpus = corpora.load(SCALE_CORPUS)
        scores = {
            key: report["build"][key]
            for key in ("service", "service_hit", "service_with_duplicates", "latent_weight")
        }
        scores.update(peer_scores(corpus, query_rows(len(corpus.documents))))
        report["quality"][SCALE_CORPUS] = {
            "label": corpus.label_name,
            "documents": len(corpus.documents),
            **scores,
        }
        serving = subprocess.run(
            [sys.executable, "-m", "bench.memory", SCALE_CORPUS, "4"],
            capture_output=True,
            text=True,
            check=True,
        )
        report["serving_at_scale"] = json.loads(serving.stdout.strip().splitlines()[-1])
        print(f"serving {SCALE_CORPUS}: {report['serving_at_scale']}", file=sys.stderr)

    if largest is not None:
        report["lookup"] = {"articles": largest.size, **lookup_latency(largest)}
    if not args.skip_http:
        source = "bbc-news" if "bbc-news" in names and not args.quick else None
        records = _http_records(source, limit=200 if args.quick else None)
        report["http"] = http_load(records, requests_per_client=50 if args.quick else 300)
        print(f"http: {report['http']}", file=sys.stderr)

    if not args.quick and not args.skip_http:
        report["wrk"] = wrk_reports(names)

    if not args.skip_popular:
        # Popular lists on a large history (bench/popular.py): 100k articles, a year of views.
        size = (
            {"count": 300, "days": 16, "repeat": 3}  # past the 14 days of hourly rows: daily rows too
            if args.quick
            else {"count": 100_000, "days": 365, "repeat": 30}
        )
        report["popular"] = popular.run(**size, databases=["sqlite", "postgres"])
        print(popular.render(report["popular"]), file=sys.stderr)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(render_table(report))
    return 0


def _quality_report(
    report: dict[str, Any], names: list[str], limit: int | None, embeddings: bool
) -> RelatedIndex | None:
    """Fill ``report["quality"]`` (and ``"recency"``) for ``names``; returns the largest index."""
    report["quality"] = {}
    largest: RelatedIndex | None = None
    for name in names:
        corpus = corpora.load(name, limit=limit)
        scores, index = quality(corpus, n_jobs=2, embeddings=embeddings)
        report["quality"][name] = {"label": corpus.label_name, "documents": len(corpus.documents), **scores}
        if largest is None or index.size > largest.size:
            largest = index
        if any(corpus.dates):
            report.setdefault("recency", {})[name] = recency_effects(corpus, index)
        print(f"quality {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()), file=sys.stderr)
    return largest


def _label_effects(names: list[str], limit: int | None) -> dict[str, Any]:
    """Tags and category indexed against withheld, where they are not the label judged."""
    effects = labels.label_effects(names, limit=limit)
    if effects:
        print(labels.render(effects), file=sys.stderr)
    return effects


def wrk_reports(names: list[str]) -> list[dict[str, Any]]:
    """The hot paths under wrk, each against /healthz of the same server and run (bench.http)."""
    plans = [("bbc-news", "sqlite", {}), ("bbc-news", "postgres", {"recommendations": False})]
    plans.append((SCALE_CORPUS, "sqlite", {}))
    reports = []
    for corpus, database, options in plans:
        if corpus in names:
            report = wrk.run(corpus, database, 10.0, warmup=5.0, **options)
            print(wrk.render(report), file=sys.stderr)
            reports.append(report)
    return reports


def _http_records(source: str | None, *, limit: int | None) -> list[dict[str, Any]]:
    """Articles for the HTTP load: a real corpus when available, else the sample corpus."""
    if source is None:
        folder = Path(__file__).resolve().parent.parent / "corpus"
        return [record.record for record in read_corpus(folder)][:limit]
    corpus = corpora.load(source, limit=limit)
    return [
        {"id": f"a{document.id}", "title": document.title or "untitled", "body": document.body}
        for document in corpus.documents
    ]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def render_table(report: dict[str, Any]) -> str:
    lines = []
    peers = ["service", *PEERS]
    quality = report.get("quality", {})
    blended = any("service_embeddings" in scores for scores in quality.values())
    extra = ["service + embeddings (optional)"] if blended else []
    lines.append(
        "| corpus (relevant = …) | docs | "
        + " | ".join(peers + extra)
        + " | service − tfidf_tuned | hit@5: service / tfidf_tuned |"
    )
    lines.append("|---|---:|" + "---:|" * (len(peers) + len(extra) + 2))
    for name, scores in quality.items():
        best_peer = max(scores[p] for p in PEERS)
        cells = [
            f"**{scores[p]:.3f}**" if p == "service" and scores[p] >= best_peer else f"{scores[p]:.3f}"
            for p in peers
        ]
        if blended:  # above the embeddings' cap: without them, as the service builds
            with_embeddings = scores.get("service_embeddings")
            cells.append("—" if with_embeddings is None else f"{with_embeddings:.3f}")
        cells.append(f"{scores['service'] - scores['tfidf_tuned']:+.3f}")
        hits = scores.get("service_hit"), scores.get("tfidf_tuned_hit")
        cells.append("—" if None in hits else f"{hits[0]:.3f} / {hits[1]:.3f}")
        lines.append(f"| {name} ({scores['label']}) | {scores['documents']:,} | " + " | ".join(cells) + " |")
    if report.get("labels"):
        lines += ["", "Tags and category indexed (not the label judged):", labels.render(report["labels"])]
    if "build" in report:
        b = report["build"]
        lines += [
            "",
            f"Build, {b['documents']:,} documents: service {b['service_build_s']:.1f} s; "
            f"plain fit_transform {b['fit_transform_s']:.1f} s (ratio {b['ratio_to_fit_transform']:.2f}×); "
            f"NearestNeighbors brute cosine {b['nearest_neighbors_s']:.1f} s "
            f"(service {b['speedup_vs_nearest_neighbors']:.1f}× faster); peak RSS {b['peak_rss_mb']:.0f} MB "
            f"(with its worker processes {b['peak_rss_tree_mb']:.0f} MB)",
        ]
    for name, effects in report.get("recency", {}).items():
        lines.append(
            f"Recency on {name} (precision@5 of the similar list): "
            + ", ".join(f"{setting} {value:.3f}" for setting, value in effects.items())
        )
    if "serving_at_scale" in report:
        scale = report["serving_at_scale"]
        lookup, related, http = scale["lookup"], scale["request_in_process"], scale["http"]
        lines.append(
            f"Serving {scale['documents']:,} articles: related lookup p50 {_us(lookup['p50'])}, "
            f"p99 {_us(lookup['p99'])} in process (a whole recommendations request, test client, first "
            f"request for each article: "
            f"p50 {_ms(related['p50'])}, p99 {_ms(related['p99'])}); HTTP with {scale['workers']} workers "
            f"p50 {_ms(http['p50'])}, p99 {_ms(http['p99'])}, {http['requests_per_second']:.0f} req/s"
        )
        workers = ", ".join(
            f"RSS {w['rss']:.0f} MB (shared artifact pages {w['artifact_rss']:.0f} MB, PSS {w['pss']:.0f} MB)"
            for w in scale["per_worker_mb"]
        )
        lines.append(f"Memory per worker (artifact {scale['artifact_mb']:.0f} MB, memory-mapped): {workers}")
    if "lookup" in report:
        lookup = report["lookup"]
        lines.append(
            f"Related lookup in process ({lookup['articles']:,} articles): "
            f"p50 {lookup['p50'] * 1e6:.0f} µs, p99 {lookup['p99'] * 1e6:.0f} µs"
        )
    if report.get("wrk"):
        lines += ["", wrk.summary(report["wrk"])]
    if report.get("popular"):
        lines += [
            "",
            "Popular lists, any window's top 50 (target ≤ 20 ms):",
            popular.render(report["popular"]),
        ]
    if "http" in report:
        http = report["http"]
        rec, views = http["recommendations"], http["views"]
        lines.append(
            f"HTTP recommendations ({http['articles']:,} articles, gunicorn {http['workers']} workers, "
            f"{http['clients']} clients): p50 {rec['p50'] * 1e3:.1f} ms, p99 {rec['p99'] * 1e3:.1f} ms, "
            f"{rec['requests_per_second']:.0f} req/s"
        )
        lines.append(
            f"HTTP views: {views['sent']} sent, {views['recorded']} recorded, {views['counted']} counted, "
            f"{views['writes_per_second']:.0f} writes/s"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
