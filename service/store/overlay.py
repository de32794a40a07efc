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

from sqlalchemy import Connection, Engine, delete, or_, select, union

from service.store.articles import lock_stored
from service.store.changes import OVERLAY, OVERLAY_ALL, record_changes
from service.store.clock import database_now
from service.store.engine import one_at_a_time, run_write, upsert
from service.store.schema import articles, neighbour_overlay

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

    Writers lock in one order, the one a ``DELETE`` of an article takes (the article, then the
    entries its foreign keys cascade to, then the store's version row): first the articles their
    entries name, in id order, then the entries, in key order; the version row last. On
    PostgreSQL they and article deletes also run one at a time (:func:`one_at_a_time`): an entry
    is in two articles' lists, so two writers could still meet on the entries in either order
    (seen under 12 threads of mixed writes: 73 deadlocks in 20 s, each a second's wait).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def replace(self, changed: Sequence[str], entries: Sequence[OverlayEntry], *, now: datetime) -> None:
        """Forget what was learned about ``changed`` articles, then record ``entries``, dated by
        the database's clock (``now`` dates the change feed's rows, as every writer's).

        Entries that name an article no longer stored (deleted since the index was built, or
        while this runs) are left out; the others are written.
        """
        changed = sorted(set(changed))
        run_write(self.engine, lambda connection: self._replace(connection, changed, entries, now=now))

    def _replace(
        self, connection: Connection, changed: list[str], entries: Sequence[OverlayEntry], *, now: datetime
    ) -> None:
        one_at_a_time(connection)
        learned_at = database_now(connection)
        named = {entry.article_id for entry in entries} | {entry.neighbour_id for entry in entries}
        for chunk in _chunks(changed):
            for key in connection.execute(select(*_KEY).where(_involving(chunk))):
                named.update(key)
        stored = lock_stored(connection, named)  # a concurrent DELETE of one of them waits, or is done
        touched: set[str] = set()
        for chunk in _chunks(changed):
            involved = _involving(chunk)
            connection.execute(select(*_KEY).where(involved).order_by(*_KEY).with_for_update())
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
        ordered = [rows[key] for key in sorted(rows)]
        for start in range(0, len(ordered), _CHUNK):
            upsert(
                connection, neighbour_overlay, ordered[start : start + _CHUNK], keys=[c.name for c in _KEY]
            )
        touched.update(article_id for article_id, _ in rows)
        record_changes(connection, ((OVERLAY, article_id) for article_id in touched), now=now)

    def clear_before(self, moment: datetime, *, now: datetime) -> None:
        """Drop entries learned before ``moment`` (the database's clock): those an index that
        read the store at ``moment`` has taken in."""

        def clear(connection: Connection) -> None:
            one_at_a_time(connection)
            learned_before = neighbour_overlay.c.created_at < moment
            named = union(
                select(neighbour_overlay.c.article_id).where(learned_before),
                select(neighbour_overlay.c.neighbour_id).where(learned_before),
            )
            connection.execute(
                select(articles.c.id)
                .where(articles.c.id.in_(named))
                .order_by(articles.c.id)
                .with_for_update(read=True, key_share=True)
            )
            connection.execute(select(*_KEY).where(learned_before).order_by(*_KEY).with_for_update())
            if connection.execute(delete(neighbour_overlay).where(learned_before)).rowcount:
                record_changes(connection, [(OVERLAY_ALL, "")], now=now)

        run_write(self.engine, clear)

    def all(self) -> dict[str, list[OverlayEntry]]:
        """Every learned entry, by the article whose list it joins."""
        return self._by_article(select(neighbour_overlay))

    def for_articles(self, article_ids: Sequence[str]) -> dict[str, list[OverlayEntry]]:
        found: dict[str, list[OverlayEntry]] = {}
        for start in range(0, len(article_ids), _CHUNK):
            chunk = list(article_ids[start : start + _CHUNK])
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


def _chunks(values: Sequence[str]) -> list[list[str]]:
    return [list(values[start : start + _CHUNK]) for start in range(0, len(values), _CHUNK)]


def _involving(article_ids: list[str]) -> Any:
    """SQL condition: an entry of the list of one of ``article_ids``, or one naming one of them."""
    return or_(
        neighbour_overlay.c.neighbour_id.in_(article_ids), neighbour_overlay.c.article_id.in_(article_ids)
    )
