"""Neighbours learned since an index build (see schema.neighbour_overlay).

Entries are dated by the database's clock when they are learned, as builds date their read of
the store (service.reindex): an entry learned before an index read the store is in that index,
and is dropped only once every worker serves such an index (never when it is published).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, or_, select

from service.store.articles import chunks, lock_stored
from service.store.changes import OVERLAY, OVERLAY_ALL, record_changes
from service.store.clock import database_now
from service.store.engine import one_at_a_time, run_write, upsert
from service.store.schema import neighbour_overlay

_CHUNK = 500
_KEY = (neighbour_overlay.c.article_id, neighbour_overlay.c.neighbour_id)


@dataclass(frozen=True)
class OverlayEntry:
    article_id: str  # whose list it joins
    neighbour_id: str  # the new or edited article
    score: float
    cosine: float


class OverlayRepository:
    """Reads and writes of the ``neighbour_overlay`` table.

    On PostgreSQL its writers and article deletes (which cascade into it) run one at a time
    (:func:`one_at_a_time`): an entry is in two articles' lists, so two of them could meet on the
    entries in either order (seen under 12 threads of mixed writes: 73 deadlocks in 20 s, each a
    second's wait). SQLite's writer holds the whole database already.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def replace(self, changed: Sequence[str], entries: Sequence[OverlayEntry], *, now: datetime) -> None:
        """Forget what was learned about ``changed`` articles, then record ``entries``, dated by
        the database's clock (``now`` dates the change feed's rows, as every writer's).

        Entries that name an article no longer stored (deleted since the index was built) are
        left out; the others are written.
        """
        changed = sorted(set(changed))
        run_write(self.engine, lambda connection: self._replace(connection, changed, entries, now=now))

    def _replace(
        self, connection: Connection, changed: list[str], entries: Sequence[OverlayEntry], *, now: datetime
    ) -> None:
        one_at_a_time(connection)  # no article is deleted meanwhile
        learned_at = database_now(connection)
        stored = lock_stored(connection, {e.article_id for e in entries} | {e.neighbour_id for e in entries})
        touched: set[str] = set()
        for chunk in chunks(changed):
            involved = or_(_KEY[0].in_(chunk), _KEY[1].in_(chunk))  # its list, or in another's
            touched.update(connection.scalars(delete(neighbour_overlay).where(involved).returning(_KEY[0])))
        rows = {
            (entry.article_id, entry.neighbour_id): {
                "article_id": entry.article_id,
                "neighbour_id": entry.neighbour_id,
                "score": entry.score,
                "cosine": entry.cosine,
                "created_at": learned_at,
            }
            for entry in entries
            if entry.article_id in stored and entry.neighbour_id in stored
        }  # the last entry of a pair wins, as the last record of an article does
        written = list(rows.values())
        keys = [column.name for column in _KEY]
        for start in range(0, len(written), _CHUNK):
            upsert(connection, neighbour_overlay, written[start : start + _CHUNK], keys=keys)
        touched.update(article_id for article_id, _ in rows)
        record_changes(connection, ((OVERLAY, article_id) for article_id in touched), now=now)

    def clear_before(self, moment: datetime, *, now: datetime) -> None:
        """Drop entries learned before ``moment`` (the database's clock): those an index that
        read the store at ``moment`` has taken in."""

        def clear(connection: Connection) -> None:
            one_at_a_time(connection)
            learned_before = neighbour_overlay.c.created_at < moment
            if connection.execute(delete(neighbour_overlay).where(learned_before)).rowcount:
                record_changes(connection, [(OVERLAY_ALL, "")], now=now)

        run_write(self.engine, clear)

    def all(self) -> dict[str, list[OverlayEntry]]:
        """Every learned entry, by the article whose list it joins."""
        return self._by_article(select(neighbour_overlay))

    def for_articles(self, article_ids: Sequence[str]) -> dict[str, list[OverlayEntry]]:
        found: dict[str, list[OverlayEntry]] = {}
        for chunk in chunks(article_ids):
            found.update(
                self._by_article(select(neighbour_overlay).where(neighbour_overlay.c.article_id.in_(chunk)))
            )
        return found

    def _by_article(self, query: Any) -> dict[str, list[OverlayEntry]]:
        found: dict[str, list[OverlayEntry]] = {}
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                entry = OverlayEntry(row.article_id, row.neighbour_id, row.score, row.cosine)
                found.setdefault(row.article_id, []).append(entry)
        return found
