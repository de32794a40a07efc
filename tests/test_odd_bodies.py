"""One odd article never breaks the index: bodies no HTML parser likes are indexed as text."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from service.recommender import text
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


def test_a_body_the_parser_fails_on_is_indexed_as_plain_text_logged_and_counted(
    app: Flask,
    client: FlaskClient,
    admin: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whatever a future parser chokes on: the build goes on and says how many it took as text."""
    feed = text._TextExtractor.feed

    def fail_on_marker(self: text._TextExtractor, data: str) -> None:
        if "<choke/>" in data:
            raise ValueError("the parser gave up")
        feed(self, data)

    monkeypatch.setattr(text._TextExtractor, "feed", fail_on_marker)
    body = "<p>Sleep and dreams</p><choke/> night {}"
    odd = [{**article("sleep", 20 + n), "body": body.format(n)} for n in range(2)]
    assert client.post("/api/v1/articles", json=[*corpus(), *odd], headers=admin).status_code == 200
    job = app.extensions["reindexer"].run()  # what POST /admin/reindex runs in the background
    assert job.state == "succeeded" and job.articles == len(corpus()) + 2
    assert job.plain_text_articles == 2
    reported = client.get("/api/v1/admin/reindex", headers=admin).json["job"]
    assert reported["plain_text_articles"] == 2 and reported["state"] == "succeeded"
    assert "2 articles not parsable as HTML were indexed as plain text" in caplog.text
    assert ids(recommendations(client, "sleep-20", sections="related")["related"])


def test_a_clean_build_counts_no_plain_text_article(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    assert client.post("/api/v1/articles", json=corpus(), headers=admin).status_code == 200
    assert app.extensions["reindexer"].run().plain_text_articles == 0
