"""Parsing query parameters into values, or 400 ``invalid_parameter``."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from service.errors import InvalidParameter

_INTEGER = re.compile(r"[0-9]{1,9}")  # fullmatch: "$" would let "5\n" through


def integer(args: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    """``args[name]`` as an integer in ``[low, high]``, or ``default`` when absent."""
    raw = args.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        raise InvalidParameter(
            f"{name} must be a whole number from {low} to {high}.", details={"parameter": name}
        )
    return int(raw)


def choice(args: Mapping[str, str], name: str, *, default: str, allowed: Collection[str]) -> str:
    """``args[name]`` when it is one of ``allowed``, or ``default`` when absent."""
    raw = args.get(name)
    if raw is None:
        return default
    if raw not in allowed:
        raise InvalidParameter(f"{name} must be one of {', '.join(allowed)}.", details={"parameter": name})
    return raw


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def boolean(args: Mapping[str, str], name: str, *, default: bool) -> bool:
    """``args[name]`` as ``true``/``false`` (or ``1``/``0``, ``yes``/``no``), or ``default``."""
    raw = args.get(name)
    if raw is None:
        return default
    if raw.lower() not in _TRUE + _FALSE:
        raise InvalidParameter(f"{name} must be true or false.", details={"parameter": name})
    return raw.lower() in _TRUE
