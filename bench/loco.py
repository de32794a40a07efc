"""Leave one corpus out: each default of the index, chosen on the other corpora, checked on the one left out.

python -m bench.loco                                   # every corpus, every parameter of GRID
python -m bench.loco --corpora bbc-news simonw-til --parameters shared_weight
python -m bench.loco --summary                         # one line per rule of results/loco.json

For one parameter at a time (the others at their defaults) every value of ``GRID`` is built
on every corpus and scored as served (precision@5, near-duplicates dropped; a fixed sample of
3,000 articles on IMDb). Then, for each corpus left out, the value with the best mean gain
over ``REFERENCE`` (the setting before issue 10) on the *other* corpora is chosen, and its
gain on the corpus left out is reported (see ``leave_one_out`` and ``TOLERANCE`` for the rule).
Scores are cached in ``bench/results/loco-scores.jsonl`` (a run resumes). A cached key names the
parameters that differ from the defaults of its day: when a default changes, the keys scored
before must say the old value (when ``phrase_weight`` became 0.5, every earlier key was given
``"phrase_weight": 0.0``; when ``cluster_weight`` became 0.3, ``"cluster_weight": 0.0``; when
the cluster agreement came to multiply the score instead of adding to it, the keys scored with
clusters added were dropped; when ``latent_weight_max`` became 0.35, ``"latent_weight_max": 0.5``, and when
``cluster_weight`` then became 0.6, ``"cluster_weight": 0.5``, except on imdb-reviews, above
the clusters' cap; when lists came to lead with the closest match by words, ``"closest_lead":
null``; when shared titles came to multiply the score by 5, ``"shared_title_weight": 0.0``; when
coherent title words came to raise it, ``"title_word_weight": 0.0``; when title mentions came to
raise it, ``"mention_weight": 0.0``; when a mention came to take the second place,
``"mention_lead": null``; when near-duplicates came to need a cosine of 0.95, or 0.8 under the
same title, ``"duplicate_threshold": 0.8, "duplicate_title_threshold": null``; when the title
steps came to need titles that name subjects, ``"title_coherence_min": 0.0``; when the latent
weight came to follow what the components explain beyond chance rather than what they explain,
the keys of 20newsgroups and the two IMDb sets, the only corpora whose weight it changed,
``"latent_structure_range": "explained variance"``; when sites came to have a latent component for
every 10 articles at most, the keys of simonw-til and simonw-til-links, the only corpora under
640 articles, ``"latent_components": "64 from 200 articles"``; when the pruned candidate search came
to query 32 terms instead of 12, the keys of imdb-reviews, the only corpus above ``exact_below``,
``"query_terms": 12``).
A score keeps hit@5 beside precision@5 (``--metric hit`` judges by it; scores from before hit@5
was kept are built again).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import corpora
from bench.metrics import hit_at_k, precision_at_k, query_rows, served_neighbours
from service.recommender import RelatedIndex
from service.recommender.embeddings import MAX_DOCUMENTS, DocumentEmbeddings, EmbeddingCache

RESULTS = Path(__file__).resolve().parent / "results"
# Sentence embeddings of each corpus, computed once (~15 minutes on 2 cores for the eight under the cap).
EMBEDDINGS_CACHE = Path(__file__).resolve().parent / ".cache" / "embeddings"

# The values tried per parameter; each list holds the default and the REFERENCE value.
GRID: dict[str, list[Any]] = {
    "term_frequency": ["log", "bm25"],
    "bm25_k1": [1.2, 2.0, 3.0, 5.0],
    "bm25_b": [0.0, 0.25, 0.5, 0.75],
    "shared_weight": [0.0, 0.3, 0.5, 0.7],
    "shared_neighbours": [10, 20, 40],
    "latent_weight_max": [0.35, 0.5, 0.65],
    # Over which the latent weight grows from 0 to its maximum (see service.recommender.structure).
    "latent_structure_range": [
        (0.0, 0.03),
        (0.005, 0.03),
        (0.01, 0.03),
        (0.005, 0.045),
        (0.01, 0.045),
        (0.015, 0.045),
    ],
    "n_components": [32, 48, 64, 128],
    "title_weight": [1.0, 2.0, 3.0, 5.0],
    "phrase_weight": [0.0, 0.25, 0.5, 0.75, 1.0],
    "cluster_weight": [0.0, 0.3, 0.5, 0.6, 0.8],
    # None: never; 0.0: always (see RelatedIndex's closest_lead).
    "closest_lead": [None, 0.5, 0.4, 0.3, 0.2, 0.0],
    "closest_weight": [0.0, 0.05, 0.1, 0.15, 0.2, 0.3],
    "max_df": [0.5, 0.25, 0.1],
    "shared_title_weight": [0.0, 0.5, 1.0, 2.0, 4.0],
    "title_word_weight": [0.0, 1.0, 2.0, 4.0, 8.0],
    "mention_weight": [0.0, 0.25, 0.5, 1.0, 2.0],
    # None: never (see RelatedIndex's mention_lead).
    "mention_lead": [None, 0.5, 0.3, 0.2],
    "duplicate_threshold": [0.8, 0.9, 0.95],
    # None: by the cosine alone (see RelatedIndex's duplicate_title_threshold).
    "duplicate_title_threshold": [None, 0.8],
    "title_coherence_min": [0.0, 0.15],
    "link_weight": [0.0, 1.0, 2.0],
    # Only with RELATED_EMBEDDINGS on (0.0: on, but not blended; the index default is 0.2).
    "embedding_weight": [0.0, 0.1, 0.2, 0.35],
}
# What each parameter's gain is measured against: the index before issue 10 (for a parameter
# that only exists with another one on, such as bm25_b, the default).
# A value is chosen only if it loses at most this much on each of the corpora it is chosen on,
# and a default holds if, so chosen, it loses at most this much on the corpus left out: about
# the noise of precision@5 on the smaller corpora (600-2,000 articles).
TOLERANCE = 0.005
REFERENCE: dict[str, Any] = {
    "term_frequency": "log",
    "shared_weight": 0.0,
    "latent_weight_max": 0.35,
    "title_weight": 3.0,
    "embedding_weight": 0.0,
    "phrase_weight": 0.0,
    "cluster_weight": 0.0,
    "closest_lead": None,
    "closest_weight": 0.0,
    "shared_title_weight": 0.0,
    "title_word_weight": 0.0,
    "mention_weight": 0.0,
    "mention_lead": None,
    "duplicate_threshold": 0.8,
    "duplicate_title_threshold": None,
    "title_coherence_min": 0.0,
    "link_weight": 0.0,
}
# What a corpus's score is: precision@5 as served, or hit@5 (at least one relevant among the five).
METRICS = ("precision", "hit")
# Parameters for sites judged narrowly, chosen by hit@5 among the values that lose at most
# TOLERANCE of precision@5 on each other corpus (``leave_one_out_guarded``), except on a corpus
# whose pages are also judged narrowly among the others (TWINS): medquad by source site, whose
# pages on the same condition from another site are what the closest-match lead brings up.
GUARDED_BY_PRECISION = {"closest_lead", "closest_weight", "mention_lead"}
TWINS = {"medquad": "medquad-concepts"}
# Parameters also chosen by precision@5 with the same exception (``leave_one_out(twins=TWINS)``):
# a shared title, a shared word of a title or a sentence embedding joins a condition's pages
# from two sites, which medquad's label calls unrelated.
TWINS_EXCEPTED = {"shared_title_weight", "title_word_weight", "embedding_weight", "mention_weight"}
# The other way round: a narrow judgment of pages whose broad judgment is among the others (the
# link-judged sites, MedQuAD by concept), for the re-rankings that move lists toward the subject,
# which the broad judgments reward and the narrow ones do not. Reported beside the strict rule,
# which no longer chooses any of them once the narrow judgments are among the corpora.
NARROW_TWINS = {"medquad-concepts": "medquad", "de-mdn-links": "de-mdn", "simonw-til-links": "simonw-til"}
NARROW_TWINS_EXCEPTED = {"cluster_weight", "shared_weight", "latent_weight_max"}


def corpus_embeddings(corpus: corpora.Corpus) -> np.ndarray | None:
    """The corpus's sentence embeddings as a service build would blend them (None above the cap)."""
    cache = EmbeddingCache(EMBEDDINGS_CACHE / f"{corpus.name}.npz")
    return DocumentEmbeddings(cache)(corpus.documents)


def _key(name: str, params: dict[str, Any]) -> str:
    return json.dumps([name, params], sort_keys=True)


def score(corpus: corpora.Corpus, params: dict[str, Any], *, n_jobs: int = 2) -> dict[str, float]:
    """precision@5 and hit@5 as served of an index with ``params`` (the others at their defaults)."""
    rows = query_rows(len(corpus.documents))
    embeddings = corpus_embeddings(corpus) if "embedding_weight" in params else None
    started = time.perf_counter()
    index = RelatedIndex(n_jobs=n_jobs, **params).fit(corpus.documents, embeddings=embeddings)
    build_s = time.perf_counter() - started
    served = served_neighbours(index, rows)
    return {
        "precision": precision_at_k(corpus, rows, served),
        "hit": hit_at_k(corpus, rows, served),
        "build_s": build_s,
    }


def collect(
    names: Sequence[str],
    grid: dict[str, list[Any]],
    cache: Path,
    *,
    metric: str = "precision",
    n_jobs: int = 2,
) -> dict[str, dict[str, float]]:
    """``{corpus: {key: metric}}`` for every single-parameter change of ``grid`` (a cached
    score without ``metric``, from before hit@5 was kept, is scored again)."""
    done: dict[str, float] = {}
    if cache.exists():
        for line in cache.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if metric in entry:
                done[entry["key"]] = entry[metric]
    default_index = RelatedIndex()
    defaults = default_index.get_params()
    caps = {
        "embedding_weight": MAX_DOCUMENTS,
        "phrase_weight": default_index.phrase_max_documents,
        "cluster_weight": default_index.cluster_max_documents,
        "mention_weight": default_index.mention_max_documents,
        "mention_lead": default_index.mention_max_documents,
    }
    loaded: dict[str, corpora.Corpus] = {}

    def corpus_named(name: str) -> corpora.Corpus:
        if name not in loaded:
            loaded[name] = corpora.load(name)
        return loaded[name]

    # Parameter by parameter (each over every corpus), so that a run stopped part-way has
    # whole parameters in the cache, in the order of ``grid``.
    table: dict[str, dict[str, float]] = {name: {} for name in names}
    for parameter, values in grid.items():
        for name in names:
            for value in values:
                params = {} if value == defaults.get(parameter) else {parameter: value}
                if parameter == "bm25_b" and defaults["term_frequency"] != "bm25":
                    params["term_frequency"] = "bm25"
                if parameter == "embedding_weight":  # the embeddings are used only when asked for
                    params = {parameter: value}
                if parameter in caps and len(corpus_named(name).documents) > caps[parameter]:
                    params = {}  # above its cap the parameter is not used: the default build
                key = _key(name, params)
                if key not in done:
                    result = score(corpus_named(name), params, n_jobs=n_jobs)
                    done[key] = result[metric]
                    with cache.open("a", encoding="utf-8") as handle:
                        handle.write(json.dumps({"key": key, **result}) + "\n")
                    print(f"{name} {params or 'defaults'}: {metric} {result[metric]:.4f}", file=sys.stderr)
                table[name][json.dumps({parameter: value})] = done[key]
    return table


def _guarded(others: list[str], twins: dict[str, str]) -> list[str]:
    """The corpora among ``others`` whose losses count: not one whose twin is among them."""
    return [name for name in others if twins.get(name) not in others]


def leave_one_out(
    table: dict[str, dict[str, float]],
    parameter: str,
    values: list[Any],
    reference: Any,
    twins: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Per corpus left out: the value chosen on the others, and its gain there over ``reference``.

    On the other corpora, the chosen value has the best mean gain over ``reference`` among the
    values that lose at most ``TOLERANCE`` on each of them (``reference`` when none does; with
    ``twins``, a corpus whose twin is among them may lose more).
    """
    names = list(table)

    def at(name: str, value: Any) -> float:
        return table[name][json.dumps({parameter: value})]

    rows = []
    for held_out in names:
        others = [name for name in names if name != held_out]
        guarded = _guarded(others, twins or {})
        gains = {}
        for value in values:
            change = {name: at(name, value) - at(name, reference) for name in others}
            if value == reference or min((change[name] for name in guarded), default=0.0) >= -TOLERANCE:
                gains[json.dumps(value)] = float(np.mean(list(change.values())))
        chosen = json.loads(max(gains, key=lambda value: gains[value]))
        rows.append(
            {
                "held_out": held_out,
                "chosen": chosen,
                "others_gain": gains[json.dumps(chosen)],
                "held_out_reference": at(held_out, reference),
                "held_out_chosen": at(held_out, chosen),
                "held_out_gain": at(held_out, chosen) - at(held_out, reference),
            }
        )
    return rows


def leave_one_out_guarded(
    hits: dict[str, dict[str, float]],
    precisions: dict[str, dict[str, float]],
    parameter: str,
    values: list[Any],
    reference: Any,
) -> list[dict[str, Any]]:
    """As :func:`leave_one_out` judged by hit@5, where a value qualifies only if it loses at most
    ``TOLERANCE`` of precision@5 on each of the others (a corpus whose twin is among them excepted);
    each row also gives the precision@5 gain on the corpus left out (``held_out_precision_gain``)."""
    names = list(hits)

    def at(table: dict[str, dict[str, float]], name: str, value: Any) -> float:
        return table[name][json.dumps({parameter: value})]

    rows = []
    for held_out in names:
        others = [name for name in names if name != held_out]
        guarded = _guarded(others, TWINS)
        gains = {}
        for value in values:
            losses = [at(precisions, name, value) - at(precisions, name, reference) for name in guarded]
            if value == reference or min(losses, default=0.0) >= -TOLERANCE:
                changes = [at(hits, name, value) - at(hits, name, reference) for name in others]
                gains[json.dumps(value)] = sum(changes) / len(changes)
        chosen = json.loads(max(gains, key=lambda value: gains[value]))
        rows.append(
            {
                "held_out": held_out,
                "chosen": chosen,
                "others_gain": gains[json.dumps(chosen)],
                "held_out_reference": at(hits, held_out, reference),
                "held_out_chosen": at(hits, held_out, chosen),
                "held_out_gain": at(hits, held_out, chosen) - at(hits, held_out, reference),
                "held_out_precision_gain": at(precisions, held_out, chosen)
                - at(precisions, held_out, reference),
            }
        )
    return rows


def _held_out(rows: list[dict[str, Any]]) -> tuple[int, float, dict[str, Any]]:
    """Of one rule's rows: on how many corpora left out the chosen value held (lost at most
    ``TOLERANCE``), its mean gain there, and the row where it gained least."""
    gains = [row["held_out_gain"] for row in rows]
    held = sum(gain >= -TOLERANCE for gain in gains)
    return held, sum(gains) / len(gains), min(rows, key=lambda row: row["held_out_gain"])


def render(results: dict[str, list[dict[str, Any]]], references: dict[str, Any]) -> str:
    lines = [
        "| parameter (vs reference) | corpus left out | chosen on the others | their mean gain | "
        "left out: reference | left out: chosen | gain |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for parameter, rows in results.items():
        for row in rows:
            lines.append(
                f"| {parameter} (vs {references[parameter]}) | {row['held_out']} | {row['chosen']} | "
                f"{row['others_gain']:+.4f} | {row['held_out_reference']:.4f} | "
                f"{row['held_out_chosen']:.4f} | {row['held_out_gain']:+.4f} |"
            )
        held, mean, worst = _held_out(rows)
        lines.append(
            f"| **{parameter}** | **mean / worst** | holds on {held}/{len(rows)} | | | | "
            f"**{mean:+.4f} / {worst['held_out_gain']:+.4f}** |"
        )
    return "\n".join(lines)


def summary(loco: dict[str, list[dict[str, Any]]], defaults: dict[str, Any]) -> str:
    """One line per rule of ``loco`` (a ``loco.json`` section): the default, the values chosen
    on the other corpora (how often), and how the chosen value did on the corpus left out."""
    lines = [
        "| parameter (rule) | default | chosen on the others | holds on the corpus left out | "
        "gain there: mean / worst |",
        "|---|---|---|---:|---:|",
    ]
    for rule, rows in loco.items():
        parameter = rule.split(" (")[0]
        chosen = Counter(json.dumps(row["chosen"]) for row in rows)
        choices = ", ".join(f"{value} ×{count}" for value, count in chosen.most_common())
        held, mean, worst = _held_out(rows)
        lines.append(
            f"| {rule} | {json.dumps(defaults.get(parameter))} | {choices} | {held}/{len(rows)} | "
            f"{mean:+.4f} / {worst['held_out_gain']:+.4f} ({worst['held_out']}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loco", description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="*", default=None, help="names in ../shared/data")
    parser.add_argument("--parameters", nargs="*", default=None, help=f"of {', '.join(GRID)}")
    parser.add_argument("--metric", choices=METRICS, default="precision", help="what a corpus is scored by")
    parser.add_argument("--cache", type=Path, default=RESULTS / "loco-scores.jsonl")
    parser.add_argument("--output", type=Path, default=None, help="default: results/loco[-hit].json")
    parser.add_argument("--summary", action="store_true", help="summarise the output file, score nothing")
    args = parser.parse_args(argv)
    suffix = "" if args.metric == "precision" else f"-{args.metric}"
    output = args.output or RESULTS / f"loco{suffix}.json"
    if args.summary:
        print(summary(json.loads(output.read_text(encoding="utf-8"))["loco"], RelatedIndex().get_params()))
        return 0
    names = args.corpora if args.corpora is not None else corpora.available()
    grid = {name: GRID[name] for name in (args.parameters or GRID)}
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    table = collect(names, grid, args.cache, metric=args.metric)
    defaults = RelatedIndex().get_params()
    references = {parameter: REFERENCE.get(parameter, defaults[parameter]) for parameter in grid}
    results = {
        parameter: leave_one_out(table, parameter, values, references[parameter])
        for parameter, values in grid.items()
    }
    for parameter in TWINS_EXCEPTED & set(grid):
        rows = leave_one_out(table, parameter, grid[parameter], references[parameter], twins=TWINS)
        results[f"{parameter} (twin excepted)"] = rows
        references[f"{parameter} (twin excepted)"] = references[parameter]
    for parameter in NARROW_TWINS_EXCEPTED & set(grid):
        rows = leave_one_out(table, parameter, grid[parameter], references[parameter], twins=NARROW_TWINS)
        results[f"{parameter} (narrow twin excepted)"] = rows
        references[f"{parameter} (narrow twin excepted)"] = references[parameter]
    guarded = {parameter: grid[parameter] for parameter in GUARDED_BY_PRECISION & set(grid)}
    if guarded:
        # The table of --metric already holds these parameters; only the other metric is read again.
        tables = {args.metric: table}
        for metric in METRICS:
            if metric not in tables:
                tables[metric] = collect(names, guarded, args.cache, metric=metric)
        for parameter, values in guarded.items():
            rows = leave_one_out_guarded(
                tables["hit"], tables["precision"], parameter, values, references[parameter]
            )
            results[f"{parameter} (hit@5, precision@5 guarded)"] = rows
            references[f"{parameter} (hit@5, precision@5 guarded)"] = references[parameter]
    # Parameters not run this time keep their earlier results in the file.
    saved = json.loads(output.read_text(encoding="utf-8")) if output.exists() else {}
    scores, loco = saved.get("scores", {}), saved.get("loco", {})
    for name, row in table.items():
        scores.setdefault(name, {}).update(row)
    loco.update(results)
    output.write_text(json.dumps({"scores": scores, "loco": loco}, indent=2) + "\n", encoding="utf-8")
    print(render(results, references))
    return 0


if __name__ == "__main__":
    sys.exit(main())
