"""Runbook parameters: placeholders in strings, typed values checked against their declaration, and substitution.

A placeholder is ``{name}`` (a name of letters, digits, ``_`` and ``-``); ``{{name}}`` stands for a literal
``{name}``. Other braces are left alone, so JSON patches need no escaping. Substitution into an argv never splits or
joins words, so a value such as ``x; rm -rf /`` reaches the command as one literal argument. With ``shell: true``
every substituted value is quoted with :func:`shlex.quote` before the shell sees it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.errors import OpsConsoleError
from console.runbook.durations import format_duration, parse_duration

if TYPE_CHECKING:
    from console.runbook.models import Param, Runbook, Step

PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_-]*)\}\}|\{([A-Za-z_][A-Za-z0-9_-]*)\}")
NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class ParamError(OpsConsoleError, ValueError):
    """A parameter value is missing, of the wrong type, or outside what the runbook allows."""


@dataclass(frozen=True)
class Placeholder:
    """A ``{name}`` found in a string, with its offset in that string."""

    name: str
    offset: int


def placeholders(text: str) -> list[Placeholder]:
    """Every ``{name}`` in ``text`` (escaped braces excluded), in order."""
    found = []
    for match in PLACEHOLDER.finditer(text):
        if match.group(2) is not None:
            found.append(Placeholder(match.group(2), match.start()))
    return found


def substitute(text: str, values: Mapping[str, str], *, quote: bool = False) -> str:
    """``text`` with each placeholder replaced; ``quote`` shell-quotes each value. Unknown names raise ParamError."""

    def repl(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return "{" + match.group(1) + "}"
        name = match.group(2)
        if name not in values:
            raise ParamError(f"unknown parameter {{{name}}}")
        value = str(values[name])
        return shlex.quote(value) if quote else value

    return PLACEHOLDER.sub(repl, text)


def render_argv(step: Step, values: Mapping[str, str]) -> list[str]:
    """The argv a step runs, parameters filled in. ``shell: true`` becomes ``/bin/sh -c <quoted line>``."""
    if not step.run:
        return []
    if step.shell:
        line = " ".join(substitute(part, values, quote=True) for part in step.run)
        return ["/bin/sh", "-c", line]
    return [substitute(part, values) for part in step.run]


def display_command(argv: Iterable[str]) -> str:
    """The command as an operator would type it, each word quoted only where needed."""
    return shlex.join(list(argv))


def coerce(name: str, param: Param, raw: object) -> str | int | float | bool:
    """``raw`` checked and converted to the parameter's type; raises ParamError saying why."""
    kind = param.type
    value: str | int | float | bool
    if kind == "string":
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise ParamError(f"parameter {name}: expected a string, got {raw!r}")
        value = str(raw)
    elif kind == "integer":
        try:
            if isinstance(raw, bool):
                raise ValueError
            value = int(str(raw), 10)
        except ValueError:
            raise ParamError(f"parameter {name}: expected an integer, got {raw!r}") from None
    elif kind == "number":
        try:
            if isinstance(raw, bool):
                raise ValueError
            value = float(str(raw))
        except ValueError:
            raise ParamError(f"parameter {name}: expected a number, got {raw!r}") from None
    elif kind == "duration":
        value = _duration(name, param, raw)
    else:
        text = str(raw).lower()
        if isinstance(raw, bool):
            value = raw
        elif text in ("true", "yes", "1"):
            value = True
        elif text in ("false", "no", "0"):
            value = False
        else:
            raise ParamError(f"parameter {name}: expected true or false, got {raw!r}")
    if param.pattern is not None and not re.fullmatch(param.pattern, str(value)):
        shown = "[secret]" if param.secret else repr(str(value))
        raise ParamError(f"parameter {name}: {shown} does not match {param.pattern}")
    if param.choices is not None and value not in param.choices and str(value) not in [str(c) for c in param.choices]:
        allowed = ", ".join(str(c) for c in param.choices)
        raise ParamError(f"parameter {name}: must be one of {allowed}")
    return value


def _duration(name: str, param: Param, raw: object) -> str:
    """A duration parameter's value, held to its min and max, written the one way (``10m``, ``1h30m``) that both
    the console and kubectl (Go's durations) read."""
    try:
        secs = parse_duration(raw)
    except ValueError:
        raise ParamError(f"parameter {name}: expected a duration such as 30s, 10m or 1h30m, got {raw!r}") from None
    if param.min is not None and secs < param.min:
        raise ParamError(
            f"parameter {name}: {format_duration(secs)} is shorter than its minimum of {format_duration(param.min)}"
        )
    if param.max is not None and secs > param.max:
        raise ParamError(f"parameter {name}: {format_duration(secs)} is longer than its maximum of {format_duration(param.max)}")
    return format_duration(secs)


def as_text(value: object) -> str:
    """How a typed value is written into a command: booleans as true/false, like YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve(runbook: Runbook, given: Mapping[str, object], builtins: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every parameter's value as text: given, else default; all problems are reported together."""
    problems: list[str] = []
    values: dict[str, str] = {}
    for name in given:
        if name not in runbook.params:
            problems.append(f"unknown parameter {name} (this runbook takes: {', '.join(runbook.params) or 'none'})")
    for name, param in runbook.params.items():
        raw = given.get(name, param.default)
        if raw is None:
            if param.required:
                problems.append(f"parameter {name} is required")
            continue
        try:
            values[name] = as_text(coerce(name, param, raw))
        except ParamError as exc:
            problems.append(str(exc))
    if problems:
        raise ParamError("; ".join(problems))
    values.update(builtins or {})
    return values


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``["k=v", ...]`` from the command line as a dict; raises ParamError on an item without ``=``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParamError(f"--param {item!r} is not of the form name=value")
        out[key.strip()] = value
    return out


def secret_values(runbook: Runbook, values: Mapping[str, str]) -> list[str]:
    """The values of parameters marked secret, for redaction."""
    return [values[n] for n, p in runbook.params.items() if p.secret and values.get(n)]
