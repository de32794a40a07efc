"""Reading untrusted JSON documents with the contract's nesting limit (v1.1: 64 levels)."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64


class TooDeep(ValueError):
    """The document nests arrays and objects deeper than :data:`MAX_DEPTH`."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")


def load_document(raw: str | bytes) -> Any:
    """Parse ``raw``; raises :class:`TooDeep`, or ``ValueError`` when it is not JSON."""
    try:
        document = json.loads(raw)
    except RecursionError:
        raise TooDeep() from None
    if deeper_than(document, MAX_DEPTH):
        raise TooDeep()
    return document


def deeper_than(document: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (iteratively: no recursion)."""
    level = [document] if isinstance(document, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for value in level
            for child in (value.values() if isinstance(value, dict) else value)
            if isinstance(child, (dict, list))
        ]
    return False
