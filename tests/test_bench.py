"""A small run of `make bench`, so that the benchmark cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import corpora
from bench.__main__ import main

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
        assert "| bbc-news" in table and report["lookup"]["p99"] > 0
