"""One odd article never breaks the index: bodies no HTML parser likes are indexed as text."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from tests.api import ids, recommendations
from tests.factories import article, corpus
from tests.test_cli import last_line, write_jsonl

ODD_BODIES = [
    "Match a letter with <![a-z]> in Perl; sleep and dreams and melatonin.",
    "An unfinished <![CDATA[ section about sleep and dreams",
    "An unfinished <!-- comment about sleep and dreams",
    "A bad &#xFFFFFFFF; reference &#0; about sleep and dreams",
    'Stray < and <3 and </ and <a href=" about sleep and dreams',
]


@pytest.mark.parametrize("body", ODD_BODIES)
def test_an_odd_body_through_the_api_is_indexed_and_related(
    app: Flask, client: FlaskClient, admin: dict[str, str], body: str
) -> None:
    odd = {**article("sleep", 9), "body": body}
    assert client.post("/api/v1/articles", json=[*corpus(), odd], headers=admin).status_code == 200
    job = app.extensions["reindexer"].run()  # what POST /admin/reindex runs in the background
    assert job.state == "succeeded", job.error
    assert job.articles == len(corpus()) + 1
    assert recommendations(client, "sleep-9")["index"]["version"] == job.index_version
    assert ids(recommendations(client, "sleep-9", sections="related")["related"])


def test_odd_bodies_through_import_corpus_build(runner: FlaskCliRunner, tmp_path: Path) -> None:
    records = corpus() + [{**article("sleep", 10 + n), "body": body} for n, body in enumerate(ODD_BODIES)]
    imported = runner.invoke(args=["import-corpus", str(write_jsonl(tmp_path / "odd.jsonl", records))])
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    assert f"with {len(records)} articles" in last_line(result.output)
