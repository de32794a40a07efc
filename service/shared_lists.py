"""Popular lists read from the store by one process and picked up by the others from a folder.

Ranking a window costs the database a grouped scan (up to ~0.2 s of CPU on a 100k-article
site whose views are spread thin), and every worker of every replica needs the same list about
once a second. So the process that finds a list due takes the window's lock file (``flock``:
released by the kernel if the process dies), reads the store and writes the list, with the
wall-clock moment its read began, to ``<window>.json`` (written beside and renamed into place,
so readers never see half a file). The others, waiting on the lock meanwhile, take the file.
One read per window and interval however many workers share the folder (one per store under
`MODEL_DIR/popular`, so the replicas that share an index share these too).

Anything wrong with the folder or a file (missing, unreadable, not writable, malformed) only
means the process reads the store itself, as it would without a folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
from sqlalchemy import URL

log = logging.getLogger(__name__)

Rows = tuple[tuple[str, int], ...]
_WINDOW_NAME = re.compile(r"[a-z0-9]{1,16}")


class SharedLists:
    """The folder where processes exchange popular lists, ``(read_at, rows)`` per window."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def for_store(cls, model_dir: Path, url: URL) -> SharedLists | None:
        """The lists of the store at ``url`` in ``model_dir``: a folder per store (its URL's
        digest, password left out), so that two stores never exchange lists."""
        key = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
        return cls.in_folder(model_dir / "popular" / key)

    @classmethod
    def in_folder(cls, folder: Path) -> SharedLists | None:
        """The lists in ``folder`` (made if missing), or ``None`` if it cannot be used."""
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            log.warning("popular lists are not shared between processes: %s: %s", folder, error)
            return None
        return cls(folder)

    def read(self, window: str) -> tuple[float, Rows] | None:
        """The list of ``window`` and when (``time.time()``) its read of the store began."""
        try:
            data = orjson.loads(self._path(window, ".json").read_bytes())
            read_at, rows = float(data["read_at"]), tuple((str(a), int(v)) for a, v in data["rows"])
        except (OSError, ValueError, TypeError, KeyError, orjson.JSONDecodeError):
            return None
        return read_at, rows

    def write(self, window: str, read_at: float, rows: Rows) -> None:
        """Publish the list of ``window``; a failure is logged, never raised."""
        path = self._path(window, ".json")
        try:
            fd, temporary = tempfile.mkstemp(prefix=f".{window}-", suffix=".tmp", dir=self.folder)
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(orjson.dumps({"read_at": read_at, "rows": rows}))
                os.replace(temporary, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as error:
            log.warning("could not share the popular list %s: %s", window, error)

    @contextlib.contextmanager
    def reading(self, window: str) -> Iterator[None]:
        """Hold ``window``'s lock: one process reads the store for it at a time."""
        try:
            fd = os.open(self._path(window, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            log.warning("could not lock the popular list %s: %s", window, error)
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _path(self, window: str, suffix: str) -> Path:
        if not _WINDOW_NAME.fullmatch(window):
            raise ValueError(f"not a window name: {window!r}")
        return self.folder / f"{window}{suffix}"


def wall_age(read_at: float) -> float:
    """Seconds since the wall-clock moment ``read_at`` (never negative)."""
    return max(0.0, time.time() - read_at)
