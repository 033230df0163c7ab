"""The order a change walks a runbook's forward sections: ``order: [gates, preconditions, steps, verification]``.

The default, preconditions (backups) before gates (validation), is today's. A runbook whose validation should fail
fast, before anything is written, puts its gates first. Every forward section is listed once; preconditions and
gates come before the steps, and the steps before verification.
"""

from __future__ import annotations

from typing import Literal

SectionName = Literal["preconditions", "gates", "steps", "verification"]
DEFAULT_ORDER: tuple[SectionName, ...] = ("preconditions", "gates", "steps", "verification")
FAILS_FAST: tuple[SectionName, ...] = ("gates", "preconditions", "steps", "verification")
# The section name a change records for each list (a step's item section).
SECTION_OF = {"preconditions": "precondition", "gates": "gate", "steps": "step", "verification": "verification"}

Order = list[SectionName]
ORDER_DESCRIPTION = (
    "The order the forward sections run in; default [preconditions, gates, steps, verification]. "
    "[gates, preconditions, steps, verification] runs the validation gates before any backup."
)


def order_problem(order: list[str]) -> str | None:
    """Why ``order`` cannot be walked, or None."""
    missing = [s for s in DEFAULT_ORDER if s not in order]
    twice = sorted({s for s in order if order.count(s) > 1})
    if missing or twice:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"{', '.join(twice)} twice"] if twice else [])
        return f"order lists every forward section once ({'; '.join(parts)})"
    if order.index("steps") > order.index("verification"):
        return "order puts verification after steps"
    if max(order.index("preconditions"), order.index("gates")) > order.index("steps"):
        return "order puts preconditions and gates before steps"
    return None
