"""The loader's checks of duration parameters and conditions: what a single model cannot see, because it needs the
runbook's declared parameters.

A duration field (``duration``, ``timeout``, ``retry.interval``) that names a parameter names a declared one of
``type: duration``; a condition (``when:``) names declared parameters (or ``environment``) with values that fit them.
Each problem is reported where it is, through the loader's ``add``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from console.runbook.conditions import CONDITION_BUILTINS
from console.runbook.durations import DURATION_PARAM
from console.runbook.params import ParamError, coerce

Loc = tuple[str | int, ...]
Add = Callable[..., None]
DURATION_FIELDS: tuple[Loc, ...] = (("duration",), ("timeout",), ("retry", "interval"))


def _declared(params: dict[str, Any]) -> dict[str, Any]:
    """Each declared parameter's model, for the ones that validate (the model pass reports the others)."""
    from console.runbook.models import Param

    out = {}
    for name, decl in params.items():
        try:
            out[str(name)] = Param.model_validate(_plain(decl))
        except ValidationError:
            continue
    return out


def _plain(node: Any) -> Any:
    from console.runbook.loader import to_plain

    return to_plain(node)


def format_problems(steps: Iterable[tuple[Loc, dict[str, Any]]], params: dict[str, Any], add: Add) -> None:
    """Check every step's duration parameters and conditions; ``add(loc, message, key=...)`` reports each problem."""
    declared = _declared(params)
    for step_loc, step in steps:
        for fld in DURATION_FIELDS:
            node: Any = step
            for part in fld:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, str) and (match := DURATION_PARAM.match(node.strip())):
                _duration_param(step_loc + fld, match.group(1), params, declared, add)
        when = step.get("when")
        if isinstance(when, dict):
            _condition(step_loc + ("when",), when, params, declared, add)


def _duration_param(loc: Loc, name: str, params: dict[str, Any], declared: dict[str, Any], add: Add) -> None:
    if name not in params:
        hint = difflib.get_close_matches(name, sorted(str(p) for p in params), n=1)
        extra = f" (did you mean {{{hint[0]}}}?)" if hint else ""
        add(loc, f"unknown parameter {{{name}}}{extra}; a duration names a declared parameter of type: duration")
    elif name in declared and declared[name].type != "duration":
        add(loc, f"parameter {name} is of type {declared[name].type}: a duration names a parameter of type: duration, "
                 "which the start form and --param hold to its min")


def _condition(loc: Loc, when: dict[str, Any], params: dict[str, Any], declared: dict[str, Any], add: Add) -> None:
    known = sorted({str(p) for p in params} | CONDITION_BUILTINS)
    for key, expected in when.items():
        name = str(key)
        if name not in params and name not in CONDITION_BUILTINS:
            hint = difflib.get_close_matches(name, known, n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            add(loc + (key,), f"when: {name!r} is not a declared parameter{extra}; a condition names one of: "
                              f"{', '.join(known)}", key=True)
            continue
        if name not in declared:
            continue  # environment, or a declaration the model pass reports
        items = list(enumerate(expected)) if isinstance(expected, list) else [(None, expected)]
        for i, value in items:
            where = loc + (key,) + ((i,) if i is not None else ())
            try:
                coerce(name, declared[name], _plain(value))
            except ParamError as exc:
                add(where, f"when: {exc}, so the condition could never hold")
