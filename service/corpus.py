"""Reading corpora: JSON Lines (optionally gzipped) or a folder of Markdown with front matter."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from service.json_documents import load_document


@dataclass(frozen=True)
class SourceRecord:
    """One raw record and where it came from (``file:line``), for error messages."""

    location: str
    record: Any


class CorpusError(ValueError):
    """The corpus path cannot be read at all."""


def read_corpus(path: Path) -> Iterator[SourceRecord]:
    """Records from a ``.jsonl``/``.jsonl.gz`` file or a folder of ``.md`` files."""
    if path.is_dir():
        files = _markdown_files(path)
        if not files:
            raise CorpusError(f"{path} holds no Markdown files ({', '.join(sorted(MARKDOWN_SUFFIXES))})")
        return _read_markdown_files(files)
    if path.name.lower().endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return _read_json_lines(path)
    if not path.exists():
        raise CorpusError(f"{path} does not exist")
    raise CorpusError(f"{path} is neither a folder of Markdown files nor a .jsonl/.jsonl.gz file")


def _read_json_lines(path: Path) -> Iterator[SourceRecord]:
    """Each line decoded on its own: a line that is not UTF-8 is reported by ``file:line`` like
    any bad record (a byte-order mark at the start is allowed); a damaged gzip stops the import."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        handle = opener(path, "rb")
    except OSError as error:
        raise CorpusError(f"cannot read {path}: {error}") from error
    with handle:
        try:
            for number, raw in enumerate(handle, start=1):
                record = _record(raw, first=number == 1)
                if record is not _BLANK:
                    yield SourceRecord(f"{path}:{number}", record)
        except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
            raise CorpusError(f"cannot read {path}: {error or 'the gzip stream ends early'}") from error


_BLANK = object()  # a line of whitespace: no record at all


def _record(raw: bytes, *, first: bool) -> Any:
    """One line's record, :class:`Unparsable` saying why there is none, or ``_BLANK``."""
    try:
        line = raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as error:
        return Unparsable(f"not valid UTF-8: {error}")
    if not line.strip():
        return _BLANK
    try:
        return load_document(line)
    except ValueError as error:
        return Unparsable(f"not valid JSON: {error}")


# What a folder's Markdown files end in (any case); README files are the folder's, not articles.
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})


def _markdown_files(folder: Path) -> list[Path]:
    return [
        path
        for path in sorted(folder.rglob("*"))
        if path.suffix.lower() in MARKDOWN_SUFFIXES and path.stem.lower() != "readme" and path.is_file()
    ]


def _read_markdown_files(files: list[Path]) -> Iterator[SourceRecord]:
    for path in files:
        location = f"{path}:1"
        try:
            post = frontmatter.loads(path.read_text(encoding="utf-8-sig"))  # a leading BOM is allowed
        except (yaml.YAMLError, UnicodeDecodeError, ValueError) as error:
            yield SourceRecord(location, Unparsable(f"unreadable front matter: {error}"))
            continue
        record: dict[str, Any] = {key: _plain(value) for key, value in post.metadata.items()}
        record.setdefault("id", path.stem)
        if "published_at" not in record and "date" in record:  # Hugo's and Jekyll's name for it
            record["published_at"] = record.pop("date")
        record["body"] = post.content
        yield SourceRecord(location, record)


def _plain(value: Any) -> Any:
    """YAML turns dates into objects; the article format wants ISO strings."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Unparsable:
    """Stands in for a record that could not be parsed; validation reports ``reason``."""

    reason: str
