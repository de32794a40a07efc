"""What an answer is asked for, and the site's settings of ``related``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

SECTIONS = ("related", "latest", "popular")


@dataclass(frozen=True)
class RelatedPolicy:
    """Site-wide settings of ``related`` (from config)."""

    min_score: float = 0.05
    recency_weight: float = 0.0
    recency_half_life_days: float = 180.0
    max_age_days: int | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RelatedPolicy:
        max_age = config.get("MAX_AGE_DAYS")
        return cls(
            min_score=float(config["MIN_SCORE"]),
            recency_weight=float(config["RECENCY_WEIGHT"]),
            recency_half_life_days=float(config["RECENCY_HALF_LIFE_DAYS"]),
            max_age_days=None if max_age in (None, "", 0) else int(max_age),
        )


class RecommendationRequest(NamedTuple):
    """One request's parameters; equal requests get equal answers from the same snapshots.

    (A named tuple of strings and numbers: a cache keys an answer by its fields as a plain
    tuple, which stays out of the garbage collector's way; see service/answer_cache.py.)"""

    article_id: str
    sections: tuple[str, ...] = SECTIONS
    limit: int = 5
    window: str = "7d"
    max_age_days: int | None = None
    distinct: bool = True


def parse_sections(value: str | None) -> tuple[str, ...]:
    """Validate the ``sections`` parameter; raises ``ValueError`` with a reason."""
    if value is None:
        return SECTIONS
    names = [name.strip() for name in value.split(",")]
    unknown = [name for name in names if name not in SECTIONS]
    if not value.strip() or unknown:
        raise ValueError(f"sections must be a non-empty comma-separated subset of {', '.join(SECTIONS)}")
    return tuple(dict.fromkeys(names))


def ordered_sections(sections: Sequence[str]) -> tuple[str, ...]:
    """``sections`` in the contract's order."""
    return tuple(name for name in SECTIONS if name in sections)
