"""What a saved Terraform plan would do, read from ``terraform show -json PLAN`` (pure: data in, data out).

Each entry of the plan's ``resource_changes`` carries ``change.actions``, one of ``["no-op"]``, ``["create"]``,
``["read"]``, ``["update"]``, ``["delete", "create"]`` or ``["create", "delete"]`` (a replacement, destroying
first or creating first), ``["delete"]`` or ``["forget"]`` (removed from state, object left alone). Every
resource instance falls in exactly one category here, so "+2 to add, 1 to replace" means two new objects and
one object destroyed and recreated (Terraform's own "Plan:" line would count that as 3 to add, 1 to destroy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.errors import OpsConsoleError

# Category of each action list; anything not listed is "unknown" and fails every guard.
_CATEGORY: dict[tuple[str, ...], str] = {
    ("create",): "add",
    ("update",): "change",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
    ("delete",): "destroy",
    ("forget",): "forget",
    ("read",): "read",
    ("no-op",): "no-op",
}

CATEGORIES = ("add", "change", "replace", "destroy", "forget", "read", "no-op", "unknown")
# Categories that change infrastructure or state, in the order they are shown.
CHANGING = ("add", "change", "replace", "destroy", "forget", "unknown")

SYMBOLS = {"add": "+", "change": "~", "replace": "-/+", "destroy": "-", "forget": ".", "read": "<=", "unknown": "?"}


class PlanFormatError(OpsConsoleError, ValueError):
    """The document is not a ``terraform show -json`` plan."""


@dataclass(frozen=True)
class ResourceRef:
    """One resource instance in a plan: its full address, type, and Terraform's action list."""

    address: str
    type: str
    actions: tuple[str, ...]
    mode: str = "managed"
    action_reason: str | None = None


@dataclass(frozen=True)
class PlanSummary:
    """Counts and resource lists per category (``add``, ``change``, ``replace``, ``destroy``, ``forget``,
    ``read``, ``no-op``, ``unknown``), plus the plan's own completeness flags."""

    by_action: dict[str, tuple[ResourceRef, ...]] = field(default_factory=dict)
    terraform_version: str | None = None
    errored: bool = False
    complete: bool = True
    applyable: bool | None = None
    output_changes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def refs(self, category: str) -> tuple[ResourceRef, ...]:
        """The resources in one category (empty when none)."""
        return self.by_action.get(category, ())

    def count(self, category: str) -> int:
        """How many resources fall in one category."""
        return len(self.refs(category))

    @property
    def add(self) -> int:
        return self.count("add")

    @property
    def change(self) -> int:
        return self.count("change")

    @property
    def replace(self) -> int:
        return self.count("replace")

    @property
    def destroy(self) -> int:
        return self.count("destroy")

    @property
    def changing(self) -> tuple[ResourceRef, ...]:
        """Every resource the plan would alter, in display order."""
        return tuple(ref for cat in CHANGING for ref in self.refs(cat))

    @property
    def has_changes(self) -> bool:
        """True when applying would alter any resource."""
        return bool(self.changing)

    def addresses(self, category: str) -> list[str]:
        """The addresses in one category, sorted."""
        return sorted(ref.address for ref in self.refs(category))


def summarise_plan(show_json: dict[str, Any]) -> PlanSummary:
    """Summarise ``terraform show -json PLAN``; raises :class:`PlanFormatError` on anything else."""
    if not isinstance(show_json, dict) or "format_version" not in show_json:
        raise PlanFormatError("not a terraform show -json document (no format_version)")
    if "planned_values" not in show_json and "resource_changes" not in show_json and "prior_state" not in show_json:
        # `show -json` of a state file has "values" only: applying it would be meaningless.
        raise PlanFormatError("this is a state, not a plan (no planned_values or resource_changes)")
    buckets: dict[str, list[ResourceRef]] = {}
    for rc in show_json.get("resource_changes") or []:
        if not isinstance(rc, dict):
            raise PlanFormatError("resource_changes holds a non-object entry")
        change = rc.get("change") or {}
        actions = tuple(change.get("actions") or ())
        category = _CATEGORY.get(actions, "unknown")
        ref = ResourceRef(
            address=str(rc.get("address", "?")),
            type=str(rc.get("type", "?")),
            actions=actions,
            mode=str(rc.get("mode", "managed")),
            action_reason=rc.get("action_reason"),
        )
        buckets.setdefault(category, []).append(ref)
    outputs: dict[str, tuple[str, ...]] = {}
    for name, oc in (show_json.get("output_changes") or {}).items():
        actions = tuple((oc or {}).get("actions") or ())
        if actions != ("no-op",):
            outputs[str(name)] = actions
    return PlanSummary(
        by_action={cat: tuple(sorted(refs, key=_address_key)) for cat, refs in buckets.items()},
        terraform_version=show_json.get("terraform_version"),
        errored=bool(show_json.get("errored", False)),
        complete=bool(show_json.get("complete", True)),
        applyable=show_json.get("applyable"),
        output_changes=outputs,
    )


def _address_key(ref: ResourceRef) -> tuple[Any, ...]:
    # node[10] sorts after node[9]: compare the index numerically when there is one.
    addr = ref.address
    if addr.endswith("]") and "[" in addr:
        base, _, idx = addr[:-1].rpartition("[")
        return (base, 0, int(idx)) if idx.isdigit() else (base, 1, idx)
    return (addr, -1, 0)


def format_summary(summary: PlanSummary) -> list[str]:
    """Lines for the step screen and the record: the counts, then one line per altered resource.

    ``+2 to add, 0 to change, 0 to replace, 0 to destroy`` then ``  + terraform_data.node[3]`` ...
    """
    head = (
        f"+{summary.add} to add, {summary.change} to change, "
        f"{summary.replace} to replace, {summary.destroy} to destroy"
    )
    if summary.count("forget"):
        head += f", {summary.count('forget')} to forget"
    if summary.count("unknown"):
        head += f", {summary.count('unknown')} with unrecognised actions"
    lines = [head]
    if summary.errored:
        lines.append("plan is errored: Terraform could not finish planning")
    elif not summary.complete:
        lines.append("plan is incomplete: some changes are deferred to a later plan")
    for ref in summary.changing:
        category = _CATEGORY.get(ref.actions, "unknown")
        symbol = SYMBOLS[category]
        if ref.actions == ("create", "delete"):
            symbol = "+/-"
        reason = f"  ({ref.action_reason})" if ref.action_reason else ""
        lines.append(f"{symbol:>3} {ref.address}{reason}")
    return lines
