"""Time windows for popularity: ``24h``, ``7d``, ``30d``, ``all`` and ``trending``.

Views are counted per UTC hour, then rolled up into UTC days; hourly rows are kept for the
retention (``HOURLY_RETENTION_DAYS``, 14 by default). A window no longer than the retention is
exact to the hour: ``24h`` is the current hour and the 23 before it. A longer one (``30d`` with
the default retention) starts at the beginning of the UTC day its first hour falls in, since
only whole days are kept that far back.

``trending`` covers the last 6 hours (the current one and the 5 before), and ranks articles by
``views_6h / (1 + expected_6h)``, where ``expected_6h`` is the article's average views per 6
hours over the 14 UTC days before the current one (their views / 56): an article read much more
than it usually is rises above a perennial favourite read as much as ever.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

WINDOWS: dict[str, timedelta | None] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
    "trending": timedelta(hours=6),
}
TRENDING = "trending"
TRENDING_HOURS = 6
BASELINE_DAYS = 14
# Six-hour periods in the baseline: expected_6h = baseline views / BASELINE_PERIODS.
BASELINE_PERIODS = BASELINE_DAYS * 24 // TRENDING_HOURS
DEFAULT_RETENTION_DAYS = 14


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def midnight(day: date) -> datetime:
    """The start of UTC day ``day``."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def hour_exact(window: str, retention_days: int = DEFAULT_RETENTION_DAYS) -> bool:
    """Whether ``window`` is counted to the hour (it fits in the hourly retention)."""
    length = WINDOWS[window]
    return length is not None and length <= timedelta(days=retention_days)


def window_start(window: str, now: datetime, retention_days: int = DEFAULT_RETENTION_DAYS) -> datetime | None:
    """The first moment inside ``window`` ending ``now``; ``None`` for ``all``.

    Views are counted per hour, so "the last 24 hours" is the current hour and the 23 before
    it; a window longer than the hourly retention starts at the beginning of its first day.
    """
    length = WINDOWS[window]
    if length is None:
        return None
    start = floor_hour(now) - length + timedelta(hours=1)
    return start if hour_exact(window, retention_days) else midnight(start.date())


def baseline_days(today: date) -> tuple[date, date]:
    """The days of trending's baseline, ``[first, end)``: the 14 UTC days before ``today``."""
    return today - timedelta(days=BASELINE_DAYS), today


def trending_score(views: int, baseline_views: int) -> float:
    """``views_6h / (1 + expected_6h)`` with ``expected_6h = baseline_views / 56``."""
    return views / (1.0 + baseline_views / BASELINE_PERIODS)
