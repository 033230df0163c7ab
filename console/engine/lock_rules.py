"""The change lock's rules for a change (pure): which Leases it holds, where a step stands, what a refusal says.

``change_lock`` takes and keeps the Leases; this module only computes from data: the targets policy's scope gives,
the namespaces a runbook touches, the progress written on the Lease as each step starts, and the one sentence that
refuses a start while another console holds the lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from console.cluster.lease_record import LeaseView
from console.config import Lock as LockPolicy
from console.engine.binding import bind
from console.engine.state import State
from console.journal.journal import Event
from console.runbook.models import Runbook
from console.runbook.params import ParamError

__all__ = ["change_namespaces", "held_sentence", "lock_targets", "step_progress"]


def lock_targets(policy: LockPolicy, namespaces: Sequence[str]) -> list[tuple[str, str]]:
    """The Leases (namespace, name) a change holds: one for the cluster, or one per namespace it touches."""
    if policy.scope == "cluster":
        return [(policy.namespace, policy.name)]
    return [(ns, policy.name) for ns in sorted(set(namespaces))]


def step_progress(state: State, event: Event) -> str:
    """Where a ``step.started`` leaves the change, as banners show it: "3 of 7" or "rollback 1 of 2"."""
    section, step_id = event.data.get("section", "step"), event.data.get("step_id", "")
    if section == "rollback":
        return f"rollback {state.rollback_pos + 1} of {len(state.rollback_queue)}"
    for i, item in enumerate(state.forward):
        if item.section == section and item.step_id == step_id:
            return f"{i + 1} of {len(state.forward)}"
    return ""


def change_namespaces(runbook: Runbook, values: dict[str, str], runbook_dir: Path) -> list[str]:
    """Every namespace a step of the runbook names (forward and rollback), the change's own first."""
    found = [values["namespace"]] if values.get("namespace") else []
    for section, steps in runbook.sections():
        for step in steps:
            try:
                found.extend(bind(step, section, values, runbook, runbook_dir).namespaces())
            except ParamError:
                continue  # a value known only once the change exists: its namespace is the change's own
    return list(dict.fromkeys(found))


def _ago(then: float | None, now: float) -> str:
    return "never" if then is None else f"{max(0.0, now - then):.0f}s ago"


CLI_TAKEOVER = "take it over with --break-glass REASON"


def held_sentence(lease: LeaseView, context: str, now: float, *, take_over: str = CLI_TAKEOVER) -> str:
    """The refusal: who holds the lock, for which change and at which step, and what the operator may do
    (``take_over`` says how the takeover is asked for where the operator is: the command line's flag by default)."""
    who = f"{lease.operator}@{lease.host}" if lease.operator and lease.host else lease.holder
    step = " ".join(p for p in (lease.progress, lease.step) if p)
    where = f"at step {step}" if step else "before its first step"
    return (f"context {context} is locked by {who} for change {lease.change or '(unknown)'} {where} "
            f"(lease {lease.namespace}/{lease.name}, renewed {_ago(lease.renewed, now)}): wait for it to be released "
            f"or to expire, or {take_over}")
