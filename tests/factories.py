"""Small, known corpora for tests: four topics whose articles share vocabulary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

TOPICS: dict[str, list[str]] = {
    topic: words.split()
    for topic, words in {
        "sleep": "sleep insomnia melatonin bedtime night rest dreams pillow snoring nap drowsy",
        "running": "running marathon shoes pace stride jogging training miles sprint hills",
        "baking": "bread flour yeast oven dough sourdough knead crust loaf proofing",
        "garden": "garden tomatoes soil compost seeds watering plants harvest weeds mulch",
    }.items()
}
FILLER = "the a practical guide for people who want simple steps every week".split()  # noqa: SIM905
# Words of no topic: each article draws its own, so articles of a topic are alike, not copies.
OWN_WORDS = [
    "amber",
    "basil",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "grove",
    "harbor",
    "island",
    "jasper",
    "kettle",
    "lantern",
    "meadow",
    "nectar",
    "orchid",
    "pepper",
    "quartz",
    "raven",
    "saffron",
    "timber",
    "umber",
    "velvet",
    "willow",
    "yarrow",
    "zephyr",
    "anchor",
    "beacon",
    "canyon",
    "dune",
    "estuary",
    "falcon",
    "glacier",
    "heron",
    "indigo",
    "juniper",
    "kelp",
    "lagoon",
    "marble",
    "nimbus",
    "opal",
]
BASE_DATE = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


def article(
    topic: str, number: int, *, published_at: datetime | str | None = "auto", **fields: Any
) -> dict[str, Any]:
    """An article about ``topic``: its words rotated by ``number`` so each text differs."""
    words = TOPICS[topic]
    rotated = words[number % len(words) :] + words[: number % len(words)]
    start = (number * 7 + len(topic) * 3) % len(OWN_WORDS)
    own = (OWN_WORDS * 2)[start : start + 6]
    body = " ".join(rotated[:5] + own + FILLER[number % 4 : number % 4 + 5] + rotated[2:4])
    if published_at == "auto":
        published_at = BASE_DATE + timedelta(days=number * 7 + len(topic))
    record: dict[str, Any] = {
        "id": f"{topic}-{number}",
        "title": f"{rotated[0].title()} and {rotated[1]}: {topic} notes {number}",
        "body": f"<p>{body}</p>",
        "url": f"https://example.com/{topic}-{number}",
        "published_at": published_at.isoformat() if isinstance(published_at, datetime) else published_at,
        "tags": [topic, rotated[0]],
        "category": topic,
    }
    record.update(fields)
    return record


def corpus(per_topic: int = 4) -> list[dict[str, Any]]:
    """``per_topic`` articles for each topic, dated a week apart."""
    return [article(topic, number) for topic in TOPICS for number in range(per_topic)]
