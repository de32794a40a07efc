"""Flask CLI commands: ``import-corpus``, ``reindex``, ``evaluate``, ``demo-views`` and ``prune``."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from service.corpus import CorpusError, read_corpus
from service.demo import seed_demo_views
from service.evaluation import LABELS, Label, evaluate_corpus
from service.freshness import learn_neighbours
from service.importer import parse_records
from service.index_holder import get_index_holder
from service.recommender.artifacts import ArtifactError
from service.recommender.embeddings import DocumentEmbeddings
from service.recommender.neighbours import ProgressCallback
from service.reindex import (
    ReindexBusy,
    embeddings_from_config,
    get_reindexer,
    published_fingerprint,
)
from service.resources import get_store


class _ProgressLines:
    """Progress for a log, not a terminal: a line at every tenth of the work (a bar redrawn with
    carriage returns would show only its label there)."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.pos, self._shown = label, max(total, 1), 0, -1

    def update(self, steps: int) -> None:
        self.pos += steps
        tenth = min(10 * self.pos // self.total, 10)
        if tenth > self._shown:
            self._shown = tenth
            click.echo(f"{self.label}  {10 * tenth:3d}%  ({self.pos}/{self.total})", err=True)

    def __exit__(self, *_exc: object) -> None:
        pass


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressCallback]:
    """A progress callback that draws a bar on stderr once the total is known (on a terminal;
    elsewhere, such as a log or a pipe, a line at every tenth)."""
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            if sys.stderr.isatty():
                state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr).__enter__()
            else:
                state["bar"] = _ProgressLines(label, total)
        bar = state["bar"]
        bar.update(done - bar.pos)

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _reason(error: SQLAlchemyError) -> str:
    """The database's own words, without the statement SQLAlchemy adds to them."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


@click.command("import-corpus")
@click.argument("path", type=click.Path(path_type=str))
@click.option(
    "--skip-invalid", is_flag=True, help="Report and skip bad records instead of importing nothing."
)
@with_appcontext
def import_corpus_command(path: str, skip_invalid: bool) -> None:
    """Upsert articles from a .jsonl/.jsonl.gz file or a folder of Markdown files."""
    if not path.strip():  # an unset shell variable: not the working directory
        _fail("PATH is empty: give a .jsonl/.jsonl.gz file or a folder of Markdown files")
    try:
        parsed = parse_records(read_corpus(Path(path)))
    except CorpusError as error:
        _fail(str(error))
    for problem in parsed.problems:
        click.echo(problem, err=True)
    if parsed.invalid and not skip_invalid:
        _fail(f"{parsed.invalid} invalid records; nothing imported (use --skip-invalid to import the rest)")
    repeated = len(parsed.articles) - len({article.id for article in parsed.articles})
    if repeated:
        click.echo(f"{repeated} records repeat an earlier record's id: the last of each is kept", err=True)
    store, now = get_store(), datetime.now(UTC)
    try:
        counts = store.articles.upsert_many(parsed.articles, now=now)
    except SQLAlchemyError as error:
        _fail(f"nothing imported: the store failed ({_reason(error)})")
    # As after a write through the API: the new articles join their neighbours' lists at once.
    written = list({article.id: article for article in parsed.articles}.values())
    try:
        learn_neighbours(store, get_index_holder().current(), written, now=now)
    except SQLAlchemyError as error:
        _fail(f"imported, but not yet in related lists: the store failed ({_reason(error)}); import again")
    click.echo(
        f"imported {counts.created + counts.updated} articles: {counts.created} created, "
        f"{counts.updated} updated, {parsed.invalid} skipped"
    )


def _published_fingerprint(model_dir: Path, embed: DocumentEmbeddings | None) -> str | None:
    """The published index's corpus fingerprint; ``None`` when there is none or it cannot be
    used here (unreadable, failing its checksum, from another scikit-learn version, built with
    or without the embeddings now turned off or on): rebuild."""
    try:
        return published_fingerprint(model_dir, embed)
    except ArtifactError as error:
        click.echo(f"the published index cannot be used, rebuilding it: {error}", err=True)
        return None


@click.command("reindex")
@click.option(
    "--if-changed", is_flag=True, help="Do nothing when the published index matches the stored articles."
)
@click.option(
    "--job",
    "job_id",
    metavar="ID",
    help="Run the job the service claimed (how POST /api/v1/admin/reindex starts its build process).",
)
@with_appcontext
def reindex_command(if_changed: bool, job_id: str | None) -> None:
    """Build and publish a new index now."""
    reindexer = get_reindexer()
    started = time.perf_counter()
    if job_id is not None:
        try:
            job = reindexer.run_claimed(job_id)
        except LookupError as error:
            _fail(str(error))
    else:
        published = _published_fingerprint(reindexer.model_dir, reindexer.embed) if if_changed else None
        if published is not None and published == get_store().articles.fingerprint():
            click.echo("index is up to date with the store; nothing to do")
            return
        try:
            with progress_bar("neighbours") as progress:
                job = reindexer.run(progress=progress)
        except ReindexBusy as error:
            _fail(str(error))
    if job.state != "succeeded":
        _fail(f"reindex failed: {job.error}")
    if job.plain_text_articles:
        click.echo(
            f"{job.plain_text_articles} articles not parsable as HTML were indexed as plain text", err=True
        )
    click.echo(
        f"published index {job.index_version} with {job.articles} articles "
        f"in {time.perf_counter() - started:.1f}s"
    )


@click.command("evaluate")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--k", "k", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option(
    "--label",
    type=click.Choice(LABELS),
    default="category",
    show_default=True,
    help="What makes two articles relevant: the same category, or a shared tag.",
)
@with_appcontext
def evaluate_command(path: Path, k: int, label: Label) -> None:
    """Print hit@k and, last, precision@k of related posts, with category and tags withheld as labels."""
    with tempfile.TemporaryDirectory(prefix="related-evaluate-") as workdir:
        try:
            report = evaluate_corpus(
                path,
                k=k,
                workdir=Path(workdir),
                params=dict(current_app.config["INDEX_PARAMS"]),
                embed=embeddings_from_config(current_app.config, Path(workdir)),
                label=label,
            )
        except CorpusError as error:
            _fail(str(error))
    if not report.evaluated:
        _fail(f"no article has a {label} to judge by: nothing evaluated ({report.skipped} invalid records)")
    click.echo(
        f"evaluated {report.evaluated} labelled articles of {report.articles} "
        f"({report.skipped} invalid records skipped) in {report.seconds:.1f}s",
    )
    click.echo(f"hit@{k} {report.hit:.3f} (articles with at least one relevant among the {k})")
    click.echo(f"precision@{k} {report.precision:.3f}")


@click.command("demo-views")
@click.option("--total", default=3000, show_default=True, type=click.IntRange(1, 10**7))
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3650))
@click.option("--force", is_flag=True, help="Add demo views even when real views exist.")
@with_appcontext
def demo_views_command(total: int, days: int, force: bool) -> None:
    """Record made-up views for a demo (only into a store without views unless --force)."""
    store, now = get_store(), datetime.now(UTC)
    if not force and store.views.stats(now=now, limit=1).total_views:
        click.echo("the store already has views; no demo views added")
        return
    added, days = seed_demo_views(store, now=now, days=days, total=total)
    click.echo(f"added {added} demo views over the last {days} days")


@click.command("prune")
@with_appcontext
def prune_command() -> None:
    """Roll hourly view counts up into days and delete hourly rows older than the retention."""
    try:
        report = get_store().rollup.run(datetime.now(UTC))
    except SQLAlchemyError as error:
        _fail(f"the rollup failed: {_reason(error)}")
    when = report.checkpoint.isoformat().replace("+00:00", "Z") if report.checkpoint else "-"
    kept = report.kept_from.date().isoformat() if report.kept_from else "-"
    click.echo(
        f"rolled up to {when}: {report.days_rolled} days rolled up, {report.rows_pruned} hourly rows "
        f"pruned (hourly rows kept from {kept})"
    )


def init_app(app: Flask) -> None:
    for command in (
        import_corpus_command,
        reindex_command,
        evaluate_command,
        demo_views_command,
        prune_command,
    ):
        app.cli.add_command(command)
