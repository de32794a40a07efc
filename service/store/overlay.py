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

from sqlalchemy import Engine, delete, or_, select

from service.store.articles import lock_stored
from service.store.changes import OVERLAY, OVERLAY_ALL, record_changes
from service.store.clock import database_now
from service.store.engine import upsert, write_transaction
from service.store.schema import neighbour_overlay

_CHUNK = 500


@dataclass(frozen=True)
class OverlayEntry:
    article_id: str  # whose list it joins
    neighbour_id: str  # the new or edited article
    score: float
    cosine: float


class OverlayRepository:
    """Reads and writes of the ``neighbour_overlay`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def replace(self, changed: Sequence[str], entries: Sequence[OverlayEntry], *, now: datetime) -> None:
        """Forget what was learned about ``changed`` articles, then record ``entries``, dated by
        the database's clock (``now`` dates the change feed's rows, as every writer's).

        Entries that name an article no longer stored (deleted since the index was built, or
        while this runs) are left out; the others are written.
        """
        with write_transaction(self.engine) as connection:
            learned_at = database_now(connection)
            named = {entry.article_id for entry in entries} | {entry.neighbour_id for entry in entries}
            stored = lock_stored(connection, named)  # a concurrent DELETE of one of them waits, or is done
            kept = [entry for entry in entries if entry.article_id in stored and entry.neighbour_id in stored]
            touched = {entry.article_id for entry in kept}
            for start in range(0, len(changed), _CHUNK):
                chunk = list(changed[start : start + _CHUNK])
                involved = or_(
                    neighbour_overlay.c.neighbour_id.in_(chunk), neighbour_overlay.c.article_id.in_(chunk)
                )
                touched.update(connection.scalars(select(neighbour_overlay.c.article_id).where(involved)))
                connection.execute(delete(neighbour_overlay).where(involved))
            rows = [
                {
                    "article_id": entry.article_id,
                    "neighbour_id": entry.neighbour_id,
                    "score": entry.score,
                    "cosine": entry.cosine,
                    "created_at": learned_at,
                }
                for entry in kept
            ]
            for start in range(0, len(rows), _CHUNK):
                upsert(
                    connection,
                    neighbour_overlay,
                    rows[start : start + _CHUNK],
                    keys=["article_id", "neighbour_id"],
                )
            record_changes(connection, ((OVERLAY, article_id) for article_id in touched), now=now)

    def clear_before(self, moment: datetime, *, now: datetime) -> None:
        """Drop entries learned before ``moment`` (the database's clock): those an index that
        read the store at ``moment`` has taken in."""
        with write_transaction(self.engine) as connection:
            result = connection.execute(
                delete(neighbour_overlay).where(neighbour_overlay.c.created_at < moment)
            )
            if result.rowcount:
                record_changes(connection, [(OVERLAY_ALL, "")], now=now)

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
