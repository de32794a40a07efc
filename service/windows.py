"""Time windows for popularity: ``24h``, ``7d``, ``30d`` and ``all``."""

from __future__ import annotations

from datetime import datetime, timedelta

WINDOWS: dict[str, timedelta | None] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def window_start(window: str, now: datetime) -> datetime | None:
    """The first hourly bucket inside ``window`` ending ``now``; ``None`` for ``all``.

    Views are counted per hour, so "the last 24 hours" is the current hour and the 23
    before it.
    """
    length = WINDOWS[window]
    if length is None:
        return None
    return floor_hour(now) - length + timedelta(hours=1)
