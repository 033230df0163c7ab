"""Conditional steps: ``when: {tier: primary}`` runs a step only for some parameter values.

One form, a mapping from a parameter to the value it must have (or a list of values, any of which will do); several
keys must all hold. The loader checks each key names a declared parameter (or ``environment``) and each value fits
that parameter's type and choices; lint refuses ``when:`` on a precondition or a gate, since a parameter must never
switch a gate off. Evaluation is pure: values in, a verdict and the sentence the record shows out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import Field

from console.runbook.params import as_text

Scalar = str | int | float | bool
When = Annotated[dict[str, Scalar | list[Scalar]], Field(min_length=1)]
WHEN_DESCRIPTION = (
    "Run the step only when each named parameter has the value given (or one of a list of values), such as "
    "{tier: primary}; otherwise it is skipped, with the reason in the record. Not allowed on preconditions and gates."
)
# Built-in values a condition may name besides the runbook's own parameters.
CONDITION_BUILTINS = frozenset({"environment"})


def _wanted(expected: Scalar | list[Scalar]) -> list[str]:
    return [as_text(v) for v in (expected if isinstance(expected, list) else [expected])]


def unmet(when: Mapping[str, Scalar | list[Scalar]] | None, values: Mapping[str, str]) -> str | None:
    """None when the step runs; else why it is skipped, as one sentence naming the parameter and its value."""
    if not when:
        return None
    for name, expected in when.items():
        wanted = _wanted(expected)
        got = values.get(name)
        if got not in wanted:
            shown = "has no value" if got is None else f"is {got}"
            need = wanted[0] if len(wanted) == 1 else "one of " + ", ".join(wanted)
            return f"skipped: when {name} is {need}, and {name} {shown}"
    return None
