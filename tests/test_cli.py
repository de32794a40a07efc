"""The Flask CLI: import-corpus, reindex and evaluate."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.exc import OperationalError

from service import create_app
from service.articles import parse_article
from service.reindex import get_reindexer
from service.resources import close_resources
from service.store import Store
from tests.conftest import shared_corpus
from tests.factories import article, corpus


def write_jsonl(path: Path, records: list[Any]) -> Path:
    lines = "\n".join(record if isinstance(record, str) else json.dumps(record) for record in records)
    if path.name.lower().endswith(".gz"):
        path.write_bytes(gzip.compress(lines.encode()))
    else:
        path.write_text(lines + "\n", encoding="utf-8")
    return path


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_import_jsonl_then_again_updates(runner: FlaskCliRunner, store: Store, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "articles.jsonl.gz", corpus(2))
    first = runner.invoke(args=["import-corpus", str(path)])
    assert first.exit_code == 0, first.output
    assert last_line(first.output) == "imported 8 articles: 8 created, 0 updated, 0 skipped"
    second = runner.invoke(args=["import-corpus", str(path)])
    assert last_line(second.output) == "imported 8 articles: 0 created, 8 updated, 0 skipped"
    assert store.articles.count_published(now=datetime.now(UTC)) == 8


def test_import_markdown_folder_with_front_matter(
    runner: FlaskCliRunner, store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    (folder / "magnesium-and-sleep.md").write_text(
        "---\ntitle: Magnesium and sleep\npublished_at: 2025-03-01T08:00:00Z\n"
        "tags: [sleep, magnesium]\ncategory: supplements\n---\nSome **markdown** text.\n",
        encoding="utf-8",
    )
    (folder / "named.md").write_text(
        "---\nid: explicit-id\ntitle: Named\npublished_at: 2025-03-02\n---\nBody\n"
    )
    result = runner.invoke(args=["import-corpus", str(folder)])
    assert result.exit_code == 0, result.output
    stored = store.articles.get("magnesium-and-sleep")
    assert stored is not None and stored.tags == ["sleep", "magnesium"] and stored.category == "supplements"
    assert stored.body.strip() == "Some **markdown** text."
    assert stored.published_at is not None and stored.published_at.isoformat() == "2025-03-01T08:00:00+00:00"
    assert store.articles.get("explicit-id") is not None


def test_import_markdown_as_static_site_generators_write_it(
    runner: FlaskCliRunner, store: Store, tmp_path: Path
) -> None:
    """Hugo and Jekyll name the date ``date`` and some posts end in ``.markdown`` or ``.MD``."""
    folder = tmp_path / "content" / "posts"
    folder.mkdir(parents=True)
    (folder / "hugo-post.md").write_text("---\ntitle: Hugo post\ndate: 2024-05-06T07:08:09Z\n---\nText\n")
    (folder / "jekyll-post.markdown").write_text("---\ntitle: Jekyll post\ndate: 2023-01-02\n---\nText\n")
    (folder / "LOUD.MD").write_text("---\ntitle: Upper-case suffix\n---\nText\n")
    (folder / "README.markdown").write_text("# About this folder\n")
    result = runner.invoke(args=["import-corpus", str(tmp_path / "content")])
    assert last_line(result.output) == "imported 3 articles: 3 created, 0 updated, 0 skipped", result.output
    hugo, jekyll = store.articles.get("hugo-post"), store.articles.get("jekyll-post")
    assert hugo is not None and hugo.published_at is not None
    assert hugo.published_at.isoformat() == "2024-05-06T07:08:09+00:00"
    assert jekyll is not None and jekyll.published_at is not None
    assert jekyll.published_at.isoformat() == "2023-01-02T00:00:00+00:00"
    assert store.articles.get("LOUD") is not None


def test_a_bad_record_is_reported_by_file_and_line_and_nothing_is_imported(
    runner: FlaskCliRunner, store: Store, tmp_path: Path
) -> None:
    records = [article("sleep", 0), "{broken json", {**article("sleep", 1), "title": ""}, article("sleep", 2)]
    path = write_jsonl(tmp_path / "bad.jsonl", records)
    result = runner.invoke(args=["import-corpus", str(path)])
    assert result.exit_code != 0
    assert f"{path}:2: not valid JSON" in result.output
    assert f"{path}:3: title: must be a non-empty string" in result.output
    assert store.articles.get("sleep-0") is None
    skipped = runner.invoke(args=["import-corpus", str(path), "--skip-invalid"])
    assert skipped.exit_code == 0
    assert last_line(skipped.output) == "imported 2 articles: 2 created, 0 updated, 2 skipped"
    assert store.articles.get("sleep-2") is not None


def test_import_says_when_records_repeat_an_id(runner: FlaskCliRunner, store: Store, tmp_path: Path) -> None:
    records = corpus(1)
    again = {**records[0], "title": "The second record of this id"}
    result = runner.invoke(args=["import-corpus", str(write_jsonl(tmp_path / "a.jsonl", [*records, again]))])
    assert "1 records repeat an earlier record's id: the last of each is kept" in result.stderr
    assert last_line(result.output) == "imported 4 articles: 4 created, 0 updated, 0 skipped"
    stored = store.articles.get(records[0]["id"])
    assert stored is not None and stored.title == "The second record of this id"


def test_import_of_a_missing_path_fails_clearly(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = runner.invoke(args=["import-corpus", str(tmp_path / "nope.jsonl")])
    assert result.exit_code != 0 and "nope.jsonl" in result.output


def test_import_reads_a_byte_order_mark_and_names_the_line_that_is_not_utf8(
    runner: FlaskCliRunner, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "exported.jsonl"
    lines = [json.dumps(record).encode() for record in corpus(1)]
    lines[2] = lines[2].replace(b'"title": "', b'"title": "caf\xe9 ')  # Latin-1, not UTF-8
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")  # as Windows tools save it
    refused = runner.invoke(args=["import-corpus", str(path)])
    assert refused.exit_code != 0 and f"{path}:3: not valid UTF-8" in refused.output
    assert "Traceback" not in refused.output and store.articles.get("sleep-0") is None
    skipped = runner.invoke(args=["import-corpus", str(path), "--skip-invalid"])
    assert last_line(skipped.output) == "imported 3 articles: 3 created, 0 updated, 1 skipped"
    assert store.articles.get(json.loads(lines[0])["id"]) is not None  # the first line, after the mark
    folder = tmp_path / "posts"
    folder.mkdir()
    (folder / "with-mark.md").write_bytes(b"\xef\xbb\xbf---\ntitle: Marked\n---\nBody text.\n")
    imported = runner.invoke(args=["import-corpus", str(folder)])
    assert last_line(imported.output) == "imported 1 articles: 1 created, 0 updated, 0 skipped"
    marked = store.articles.get("with-mark")
    assert marked is not None and marked.title == "Marked"


@pytest.mark.parametrize("damage", ["not gzip", "truncated"])
def test_import_of_a_damaged_gzip_fails_clearly(
    runner: FlaskCliRunner, store: Store, tmp_path: Path, damage: str
) -> None:
    path = tmp_path / "articles.jsonl.gz"
    whole = gzip.compress("\n".join(json.dumps(record) for record in corpus(5)).encode())
    path.write_bytes(b"plain text named .gz" if damage == "not gzip" else whole[: len(whole) // 2])
    result = runner.invoke(args=["import-corpus", str(path)])
    assert result.exit_code != 0
    assert last_line(result.output).startswith(f"Error: cannot read {path}:"), result.output
    assert store.articles.count_published(now=datetime.now(UTC)) == 0


def test_reindex_builds_records_a_job_and_skips_when_unchanged(
    app: Flask, runner: FlaskCliRunner, store: Store, tmp_path: Path
) -> None:
    runner.invoke(args=["import-corpus", str(write_jsonl(tmp_path / "a.jsonl", corpus(2)))])
    result = runner.invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    assert "with 8 articles" in last_line(result.output)
    assert "neighbours  100%  (8/8)" in result.stderr  # progress lines: the runner is no terminal
    job = store.jobs.latest(now=datetime.now(UTC), stale_after=app.extensions["reindexer"].stale_after)
    assert job is not None and job.source == "cli" and job.state == "succeeded" and job.articles == 8
    unchanged = runner.invoke(args=["reindex", "--if-changed"])
    assert "nothing to do" in last_line(unchanged.output)
    runner.invoke(args=["import-corpus", str(write_jsonl(tmp_path / "b.jsonl", [article("garden", 7)]))])
    changed = runner.invoke(args=["reindex", "--if-changed"])
    assert "with 9 articles" in last_line(changed.output)


def test_evaluate_prints_precision_as_the_last_line(runner: FlaskCliRunner, tmp_path: Path) -> None:
    records = [
        *corpus(6),
        {"id": "x", "title": ""},
        {"id": "train/sci/1", "title": "Slashes are fine here", "category": None},
    ]
    result = runner.invoke(args=["evaluate", str(write_jsonl(tmp_path / "eval.jsonl", records)), "--k", "3"])
    assert result.exit_code == 0, result.output
    name, value = last_line(result.output).split()
    assert name == "precision@3" and float(value) >= 0.9
    assert "1 invalid records skipped" in result.output
    hit = result.output.splitlines()[-2].split()
    assert hit[0] == "hit@3" and 1.0 >= float(hit[1]) >= float(value)


def test_evaluate_judges_by_shared_tags_when_asked(runner: FlaskCliRunner, tmp_path: Path) -> None:
    # categories that cut across the subjects (odd and even numbers); tags that name them
    records = [{**record, "category": f"parity-{number % 2}"} for number, record in enumerate(corpus(6))]
    path = str(write_jsonl(tmp_path / "eval.jsonl", records))
    by_category = runner.invoke(args=["evaluate", path, "--k", "3"])
    by_tags = runner.invoke(args=["evaluate", path, "--k", "3", "--label", "tags"])
    assert by_category.exit_code == by_tags.exit_code == 0, by_category.output + by_tags.output
    assert float(last_line(by_category.output).split()[1]) <= 0.7
    assert float(last_line(by_tags.output).split()[1]) >= 0.9
    refused = runner.invoke(args=["evaluate", path, "--label", "links"])
    assert refused.exit_code == 2 and "links" in refused.output


@pytest.fixture
def sqlite_runner(tmp_path: Path) -> Iterator[FlaskCliRunner]:
    app = create_app(
        {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}", "MODEL_DIR": str(tmp_path / "m")}
    )
    yield app.test_cli_runner()
    close_resources(app)


@pytest.mark.slow
def test_evaluate_on_bbc_news_reaches_093(sqlite_runner: FlaskCliRunner) -> None:
    result = sqlite_runner.invoke(args=["evaluate", str(shared_corpus("bbc-news.jsonl.gz"))])
    assert result.exit_code == 0, result.output
    assert float(last_line(result.output).split()[1]) >= 0.93


def test_the_sample_corpus_is_complete_and_every_article_gets_three_lists(
    sqlite_runner: FlaskCliRunner,
) -> None:
    corpus_dir = Path(__file__).resolve().parent.parent / "corpus"
    assert sqlite_runner.invoke(args=["import-corpus", str(corpus_dir)]).exit_code == 0
    assert sqlite_runner.invoke(args=["reindex"]).exit_code == 0
    assert sqlite_runner.invoke(args=["demo-views"]).exit_code == 0
    app = sqlite_runner.app
    store: Store = app.extensions["store"]
    articles = list(store.articles.iter_all())
    assert len(articles) >= 48 and len({a.category for a in articles}) >= 6
    assert all(120 <= len(a.body.split()) <= 400 for a in articles)
    dates = sorted(a.published_at for a in articles if a.published_at)
    assert len(dates) == len(articles) and (dates[-1] - dates[0]).days >= 600
    assert store.articles.get("kratom-withdrawal-restless-legs") is not None
    seeded = store.views.window_stats("30d", now=datetime.now(UTC), limit=5)
    # readers too, counted per article and day as the beacon counts them: a few read one twice
    assert seeded.total_views == 3000
    assert 1.0 < seeded.total_views / seeded.unique_visitors < 1.5, seeded.unique_visitors
    client = app.test_client()
    for stored in articles:
        body = client.get(f"/api/v1/articles/{stored.id}/recommendations").json
        assert body["related"] and body["latest"] and body["popular"], stored.id


def test_an_empty_path_or_a_folder_without_markdown_is_refused_not_read(
    runner: FlaskCliRunner, store: Store, tmp_path: Path
) -> None:
    write_jsonl(tmp_path / "articles.jsonl", corpus(1))  # a folder, but of JSON Lines
    for path, said in [("", "PATH is empty"), (str(tmp_path), "holds no Markdown files")]:
        result = runner.invoke(args=["import-corpus", path])
        assert result.exit_code == 1 and said in result.output, result.output
    assert store.articles.count_published(now=datetime.now(UTC)) == 0


def test_a_json_lines_suffix_is_read_in_any_case(runner: FlaskCliRunner, tmp_path: Path) -> None:
    for name in ("UPPER.JSONL", "MIXED.JsonL.GZ"):
        result = runner.invoke(args=["import-corpus", str(write_jsonl(tmp_path / name, corpus(1)))])
        assert result.exit_code == 0, result.output


def test_a_store_failing_the_import_is_reported_in_one_line(
    runner: FlaskCliRunner, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("INSERT INTO articles …", None, OSError("database or disk is full"))

    monkeypatch.setattr(store.articles, "upsert_many", failing)
    result = runner.invoke(args=["import-corpus", str(write_jsonl(tmp_path / "a.jsonl", corpus(1)))])
    assert result.exit_code == 1
    assert last_line(result.output) == "Error: nothing imported: the store failed (database or disk is full)"
    assert "Traceback" not in result.output and "INSERT" not in result.output


def test_imported_articles_join_their_neighbours_related_lists_at_once(
    runner: FlaskCliRunner, app: Flask, tmp_path: Path
) -> None:
    assert (
        runner.invoke(args=["import-corpus", str(write_jsonl(tmp_path / "a.jsonl", corpus(4)))]).exit_code
        == 0
    )
    assert runner.invoke(args=["reindex"]).exit_code == 0
    newcomer = article("sleep", 9, published_at="2020-01-01T00:00:00Z")  # too old for latest's top
    assert (
        runner.invoke(args=["import-corpus", str(write_jsonl(tmp_path / "b.jsonl", [newcomer]))]).exit_code
        == 0
    )
    answers = [
        app.test_client().get(f"/api/v1/articles/sleep-{number}/recommendations?sections=related").json
        for number in range(4)
    ]
    # as after a PUT: in the related lists of the articles it is nearest (before any reindex)
    assert sum("sleep-9" in [item["id"] for item in answer["related"][:3]] for answer in answers) >= 2


def test_evaluate_fails_when_nothing_can_be_judged(runner: FlaskCliRunner, tmp_path: Path) -> None:
    unlabelled = [{**record, "category": None} for record in corpus(2)]
    result = runner.invoke(args=["evaluate", str(write_jsonl(tmp_path / "e.jsonl", unlabelled))])
    assert result.exit_code == 1
    assert "no article has a category to judge by" in result.output and "precision" not in result.output


def test_evaluate_skips_records_import_corpus_refuses(runner: FlaskCliRunner, tmp_path: Path) -> None:
    records = [*corpus(3), {**article("sleep", 7), "category": 5}, {**article("sleep", 8), "tags": "sleep"}]
    path = str(write_jsonl(tmp_path / "e.jsonl", records))
    assert runner.invoke(args=["import-corpus", path]).exit_code == 1  # both refused there
    result = runner.invoke(args=["evaluate", path])
    assert result.exit_code == 0, result.output
    assert "evaluated 12 labelled articles of 12 (2 invalid records skipped)" in result.output


def test_demo_views_of_any_size_are_written_in_batches(
    runner: FlaskCliRunner, store: Store, tmp_path: Path
) -> None:
    runner.invoke(args=["import-corpus", str(write_jsonl(tmp_path / "a.jsonl", corpus(4)))])
    result = runner.invoke(args=["demo-views", "--total", "40000"])  # PostgreSQL took 10,000 at most
    assert result.exit_code == 0, result.output
    assert store.views.window_stats("all", now=datetime.now(UTC), limit=1).total_views == 40000


def test_demo_views_in_a_rolled_up_store_are_rolled_up_and_kept(
    runner: FlaskCliRunner, store: Store, tmp_path: Path
) -> None:
    runner.invoke(args=["import-corpus", str(write_jsonl(tmp_path / "a.jsonl", corpus(4)))])
    assert runner.invoke(args=["prune"]).exit_code == 0  # as the service does every hour
    result = runner.invoke(args=["demo-views", "--force", "--days", "365", "--total", "900"])
    assert last_line(result.output) == "added 900 demo views over the last 14 days"  # the retention

    def totals() -> list[int]:
        now = datetime.now(UTC)
        return [store.views.window_stats(window, now=now, limit=1).total_views for window in ("30d", "all")]

    assert totals() == [900, 900]
    assert runner.invoke(args=["prune"]).exit_code == 0
    assert totals() == [900, 900]  # nothing pruned away


def test_an_interrupted_reindex_ends_its_job_at_once(app: Flask, store: Store) -> None:
    store.articles.upsert_many([parse_article(record) for record in corpus(2)], now=datetime.now(UTC))

    def interrupt(_done: int, _total: int) -> None:
        raise KeyboardInterrupt

    with app.app_context():
        reindexer = get_reindexer()
        with pytest.raises(KeyboardInterrupt):
            reindexer.run(progress=interrupt)
        job = store.jobs.latest(stale_after=reindexer.stale_after)
        assert job is not None and job.state == "failed" and job.error == "the build was interrupted"
        assert reindexer.run().state == "succeeded"  # not "another reindex job is running"
