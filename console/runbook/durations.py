"""Durations as runbooks write them: ``90``, ``"45s"``, ``"10m"``, ``"1h30m"``, ``"2d"``, or a ``duration``
parameter named whole: ``"{watch_for}"``, filled in when the change starts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+)([smhd])")
DURATION_TEXT = r"^(\d+[smhd])+$"
# A duration given by a parameter: the whole value is one placeholder, so there is nothing to parse around it.
DURATION_PARAM = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")


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


def format_duration(seconds: float) -> str:
    """``seconds`` as a runbook (and Go's time.ParseDuration, hence kubectl) reads it: ``45s``, ``10m``, ``1h30m``."""
    whole = round(seconds)
    if whole == 0:
        return "0s"
    out = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            out += f"{whole // size}{unit}"
            whole %= size
    return out


class DurationRef(str):
    """A duration named by a ``duration`` parameter (``"{watch_for}"``); its value is known when the change starts."""

    __slots__ = ()

    @property
    def param(self) -> str:
        return self[1:-1]


def _duration_or_param(value: Any) -> int | str:
    if isinstance(value, str) and DURATION_PARAM.match(value.strip()):
        return DurationRef(value.strip())
    return parse_duration(value)


# A field that holds seconds, or the name of a duration parameter whose value gives them.
DurationOrParam = Annotated[
    int | str,
    PlainValidator(_duration_or_param),
    WithJsonSchema({
        "anyOf": [
            {"type": "integer", "minimum": 0, "description": "Seconds."},
            {"type": "string", "pattern": DURATION_TEXT, "description": "A duration such as 90s, 10m or 1h30m."},
            {"type": "string", "pattern": DURATION_PARAM.pattern,
             "description": "A duration parameter, named whole: \"{watch_for}\"."},
        ]
    }),
]


def seconds(spec: int | str | None, values: Mapping[str, str]) -> int | None:
    """The seconds of a duration field, a parameter's value read when the field names one; raises KeyError for a
    parameter with no value and ValueError for a value that is not a duration."""
    if spec is None:
        return None
    if isinstance(spec, str):
        match = DURATION_PARAM.match(spec)
        if match is None:
            return parse_duration(spec)
        return parse_duration(values[match.group(1)])
    return int(spec)
