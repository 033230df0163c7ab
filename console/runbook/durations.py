"""Durations as runbooks write them: ``90``, ``"45s"``, ``"10m"``, ``"1h30m"``, ``"2d"``."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+)([smhd])")


def parse_duration(value: object) -> int:
    """Seconds in ``value``; raises ValueError with a message fit for a runbook error."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like 30s, 10m, 1h30m")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        if text and _PART.sub("", text) == "":
            return sum(int(n) * _UNITS[u] for n, u in _PART.findall(text))
    raise ValueError(f"{value!r} is not a duration (use seconds or a string like 30s, 10m, 1h30m)")
