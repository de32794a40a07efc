"""A small run of `make bench`, so that the benchmark cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import corpora
from bench.__main__ import main, render_table

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gunicorn")]


def test_quick_bench_writes_the_report_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["bbc-news"] if "bbc-news" in corpora.available() else []
    output = tmp_path / "latest.json"
    assert main(["--quick", "--output", str(output), "--corpora", *names]) == 0
    report = json.loads(output.read_text())
    table = capsys.readouterr().out
    http = report["http"]
    assert http["views"]["sent"] == http["views"]["recorded"] == http["views"]["counted"]
    assert 0 < http["recommendations"]["p50"] <= http["recommendations"]["p99"]
    assert "HTTP recommendations" in table
    if names:
        scores = report["quality"]["bbc-news"]
        assert scores["service"] > scores["tfidf_defaults"] > 0.5
        # one relevant article among five makes a hit: hit@5 is never below precision@5
        assert (
            1 >= scores["service_hit"] >= scores["service"]
            and scores["tfidf_tuned_hit"] >= scores["tfidf_tuned"]
        )
        assert "| bbc-news" in table and report["lookup"]["p99"] > 0


def test_the_quality_table_has_an_embeddings_column_only_when_measured() -> None:
    peers = {"tfidf_defaults": 0.5, "tfidf_tuned": 0.6, "bm25": 0.55, "mlt": 0.4}
    small = {
        "label": "same topic",
        "documents": 500,
        "service": 0.7,
        "service_embeddings": 0.72,
        "service_hit": 0.9,
        "tfidf_tuned_hit": 0.85,
        **peers,
    }
    large = {"label": "same movie", "documents": 100_000, "service": 0.65, **peers}  # above the cap
    table = render_table({"quality": {"small": small, "large": large}})
    header, _, small_row, large_row = table.splitlines()[:4]
    assert header.split(" | ")[-3] == "service + embeddings (optional)"
    assert small_row.split(" | ")[-3:] == ["0.720", "+0.100", "0.900 / 0.850 |"]
    assert large_row.split(" | ")[-3:] == ["—", "+0.050", "— |"]  # hit@5 not measured
    without = render_table({"quality": {"large": large}})
    assert "embeddings" not in without
