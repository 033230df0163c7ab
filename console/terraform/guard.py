"""Whether a plan stays inside what its runbook step declared (pure: a summary and a guard in, violations out).

A guard fails closed: anything it cannot judge (an errored or incomplete plan, an action it does not know, a
rule it cannot read) is a violation, never a pass.

Rules (all optional; an empty guard checks only that the plan is whole):

``expect``
    ``{add: 2, change: 0, replace: 0, destroy: 0}``: exact counts, or ``"<=N"`` for at most N. Counts are
    objects created (``add``) and objects destroyed (``destroy``) as Terraform counts them, so a replacement
    counts in ``add``, in ``destroy`` and in ``replace``; ``change`` is in-place updates. "destroy: 0" therefore
    also rules out replacements, which destroy the existing object.
``forbid``
    Actions that must not appear: ``add``, ``change``, ``replace``, ``destroy``. ``destroy`` covers the destroy
    half of a replacement too, and ``add`` its create half. One violation per resource, naming it.
``allow_types``
    Resource types the plan may alter; any other type altered is a violation.
``allow_addresses``
    Glob patterns of addresses the plan may alter. ``*`` matches any run of characters (dots included) and
    ``[`` ``]`` are literal, so ``terraform_data.node[*]`` means every instance of that resource; a pattern that
    names a resource without an index also allows its instances.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from console.terraform.plan import PlanSummary, ResourceRef

EXPECT_KEYS = ("add", "change", "replace", "destroy")
FORBID_ACTIONS = ("add", "change", "replace", "destroy")
# What each forbidden word catches: destroy includes replacements' destroy half, add their create half.
_FORBID_CATEGORIES = {
    "add": ("add", "replace"),
    "change": ("change",),
    "replace": ("replace",),
    "destroy": ("destroy", "replace"),
}
_VERB = {"add": "adds", "change": "changes", "replace": "replaces", "destroy": "destroys"}


@dataclass(frozen=True)
class GuardViolation:
    """One way a plan breaks its guard: the rule, the resource address when there is one, and a sentence."""

    rule: str
    address: str | None
    message: str

    def __str__(self) -> str:
        return self.message


def _as_mapping(guard: Any) -> Mapping[str, Any]:
    """The guard as a mapping, whether a dict, a pydantic model or None."""
    if guard is None:
        return {}
    if isinstance(guard, Mapping):
        return guard
    dump = getattr(guard, "model_dump", None)
    if callable(dump):
        dumped: Mapping[str, Any] = dump()
        return dumped
    return {key: getattr(guard, key) for key in ("expect", "forbid", "allow_types", "allow_addresses")
            if hasattr(guard, key)}


_BOUND = re.compile(r"^\s*(<=|==)?\s*(\d+)\s*$")


def parse_bound(value: Any) -> tuple[str, int]:
    """``2`` -> ("==", 2); ``"<=3"`` -> ("<=", 3); raises ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"not a count: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative count: {value}")
        return "==", value
    if isinstance(value, str):
        m = _BOUND.match(value)
        if m:
            return m.group(1) or "==", int(m.group(2))
    raise ValueError(f"not a count or '<=N': {value!r}")


def _objects(summary: PlanSummary, key: str) -> tuple[int, str]:
    """The count an ``expect`` key is compared with, and how it is made up (for the message)."""
    if key in ("add", "destroy"):
        own, replaced = summary.count(key), summary.replace
        detail = f" ({own} {'created' if key == 'add' else 'destroyed'} + {replaced} replaced)" if replaced else ""
        return own + replaced, detail
    return summary.count(key), ""


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """An address glob as a regex: ``*`` is any run of characters, everything else literal."""
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")


def _resource_address(address: str) -> str:
    # terraform_data.node[3] -> terraform_data.node ; module.a["x"].b.c -> unchanged prefix keys stay
    return re.sub(r"\[[^\[\]]*\]$", "", address)


def address_allowed(address: str, patterns: list[re.Pattern[str]]) -> bool:
    """True when the instance address, or its resource address without the index, matches a pattern."""
    bare = _resource_address(address)
    return any(p.match(address) or p.match(bare) for p in patterns)


def check_guard(summary: PlanSummary, guard: Any) -> list[GuardViolation]:
    """Every way ``summary`` breaks ``guard`` (a dict or a PlanGuard model); an empty list means it passes."""
    out: list[GuardViolation] = []
    if summary.errored:
        out.append(GuardViolation("plan", None, "the plan is errored: Terraform could not finish planning"))
    if not summary.complete:
        out.append(GuardViolation("plan", None, "the plan is incomplete: some changes are deferred"))
    for ref in summary.refs("unknown"):
        out.append(GuardViolation("plan", ref.address,
                                  f"{ref.address}: unrecognised actions {list(ref.actions)}"))
    g = _as_mapping(guard)
    unknown_rules = sorted(set(g) - {"expect", "forbid", "allow_types", "allow_addresses"})
    for rule in unknown_rules:
        out.append(GuardViolation("guard", None, f"unknown guard rule {rule!r}"))

    for key, value in (g.get("expect") or {}).items():
        if key not in EXPECT_KEYS:
            out.append(GuardViolation("guard", None, f"expect: unknown action {key!r}"))
            continue
        try:
            op, n = parse_bound(value)
        except ValueError as exc:
            out.append(GuardViolation("guard", None, f"expect.{key}: {exc}"))
            continue
        actual, detail = _objects(summary, key)
        if (op == "==" and actual != n) or (op == "<=" and actual > n):
            wanted = f"{key} = {n}" if op == "==" else f"{key} <= {n}"
            out.append(GuardViolation("expect", None, f"expected {wanted}, plan {_VERB[key]} {actual}{detail}"))

    for action in g.get("forbid") or []:
        if action not in FORBID_ACTIONS:
            out.append(GuardViolation("guard", None, f"forbid: unknown action {action!r}"))
            continue
        for category in _FORBID_CATEGORIES[action]:
            for ref in summary.refs(category):
                how = ""
                if category != action:
                    how = " (replacing it destroys the existing object)" if action == "destroy" else \
                        " (replacing it creates a new object)"
                out.append(GuardViolation("forbid", ref.address, f"{ref.address}: {action} is forbidden{how}"))

    changing: tuple[ResourceRef, ...] = summary.changing
    allow_types = g.get("allow_types") or []
    if allow_types:
        allowed = set(allow_types)
        for ref in changing:
            if ref.type not in allowed:
                out.append(GuardViolation("allow_types", ref.address,
                                          f"{ref.address}: type {ref.type} not in allow_types"))
    allow_addresses = g.get("allow_addresses") or []
    if allow_addresses:
        patterns = [glob_to_regex(str(p)) for p in allow_addresses]
        for ref in changing:
            if not address_allowed(ref.address, patterns):
                out.append(GuardViolation("allow_addresses", ref.address,
                                          f"{ref.address}: address not allowed by allow_addresses"))
    return out


# The saved-plan checks live in planfile.py (they read the file); re-exported so guard checks come from one place.
from console.terraform.planfile import check_plan_usable, plan_file_fingerprint  # noqa: E402

__all__ = [
    "GuardViolation",
    "address_allowed",
    "check_guard",
    "check_plan_usable",
    "glob_to_regex",
    "parse_bound",
    "plan_file_fingerprint",
]
