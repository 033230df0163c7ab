"""Policy verdicts before a change starts: context guard, approvals, change window, frequency limits; and escalation.

Pure functions over the policy, the change's facts and the changes already on record; ``now`` is always passed
in. A verdict says whether the rule holds, why, and whether an emergency (a recorded break-glass) may override
it: windows and frequency limits may be overridden, the context guard and approvals never.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from console.config import DAYS, Policy

HIGH = ("high", "critical")


@dataclass(frozen=True)
class Verdict:
    """One policy rule's answer for this change."""

    name: str
    ok: bool
    message: str
    overridable: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "message": self.message, "overridable": self.overridable}


@dataclass(frozen=True)
class Approval:
    """Who approved, in what role, with what reference (a ticket)."""

    name: str
    role: str
    reference: str = ""


@dataclass(frozen=True)
class PastChange:
    """What the frequency limits need to know of a change already on record."""

    created: datetime
    risk: str
    environment: str
    emergency: bool


def check_context(policy: Policy, environment: str, context: str) -> Verdict:
    """The context must map to the change's environment in policy, or the change does not start."""
    env = policy.environments.get(environment)
    if env is None:
        known = ", ".join(sorted(policy.environments)) or "none"
        return Verdict("context guard", False, f"environment {environment!r} is not in policy ({policy.source}); known: {known}")
    if context not in env.contexts:
        actual = policy.environment_of(context)
        where = f"it belongs to {actual!r}" if actual else "policy maps it to no environment"
        allowed = ", ".join(env.contexts) or "none"
        return Verdict(
            "context guard", False,
            f"context {context!r} is not a {environment} context ({where}); {environment} contexts: {allowed}",
        )
    return Verdict("context guard", True, f"context {context!r} belongs to {environment}")


def needs_typed_context(policy: Policy, environment: str) -> bool:
    env = policy.environments.get(environment)
    return bool(env and env.production)


def is_rehearsal(policy: Policy, environment: str) -> bool:
    env = policy.environments.get(environment)
    return bool(env and env.rehearsal)


def check_approvals(policy: Policy, risk: str, approvals: Sequence[Approval], environment: str | None = None) -> Verdict:
    """Every role the risk level requires has an approval with a name; a role policy wants signed (for this
    environment) is left to the signatures, and a typed name for it counts for nothing."""
    signed = policy.signed_roles(environment, risk) if environment is not None else {}
    required = [r for r in policy.required_roles(risk) if r not in signed]
    have = {a.role for a in approvals if a.name.strip() and a.role not in signed}
    missing = [r for r in required if r not in have]
    also = f"; signed approvals decide {', '.join(sorted(signed))}" if signed else ""
    if missing:
        return Verdict("approvals", False, f"a {risk}-risk change needs approval from: {', '.join(missing)}{also}")
    if not required:
        beyond = "no typed approval" if signed else "no approval beyond the operator"
        return Verdict("approvals", True, f"a {risk}-risk change needs {beyond}{also}")
    counted = [a for a in approvals if a.role in required]
    return Verdict("approvals", True, "approved by " + ", ".join(f"{a.name} ({a.role})" for a in counted) + also)


def in_window(policy: Policy, risk: str, now: datetime) -> tuple[bool, str]:
    window = policy.window(risk)
    local = now.astimezone(ZoneInfo(window.tz))
    minutes = local.hour * 60 + local.minute
    start = _minutes(window.start)
    end = _minutes(window.end)
    day = DAYS[local.weekday()]
    if start <= end:
        ok = day in window.days and start <= minutes < end
    else:  # crosses midnight: a window starting Tuesday 22:00 runs into Wednesday 04:00
        yesterday = DAYS[(local.weekday() - 1) % 7]
        ok = (day in window.days and minutes >= start) or (yesterday in window.days and minutes < end)
    described = f"{','.join(window.days)} {window.start}-{window.end} {window.tz}"
    return ok, described


def check_window(policy: Policy, risk: str, environment: str, now: datetime) -> Verdict:
    if is_rehearsal(policy, environment):
        return Verdict("change window", True, "rehearsal environment: no change window applies", True)
    ok, described = in_window(policy, risk, now)
    if ok:
        return Verdict("change window", True, f"inside the {risk}-risk window ({described})", True)
    return Verdict("change window", False, f"outside the {risk}-risk change window ({described})", True)


def check_frequency(policy: Policy, risk: str, environment: str, now: datetime, history: Iterable[PastChange]) -> Verdict:
    """At most N non-emergency changes a day; spacing and a stability period after high-risk changes."""
    if is_rehearsal(policy, environment):
        return Verdict("frequency limits", True, "rehearsal environment: no frequency limit applies", True)
    limits = policy.limits
    same_env = [c for c in history if c.environment == environment]
    today = [c for c in same_env if not c.emergency and c.created.date() == now.date()]
    if len(today) >= limits.max_changes_per_day:
        return Verdict(
            "frequency limits", False,
            f"{len(today)} changes already today in {environment} (limit {limits.max_changes_per_day})", True,
        )
    highs = sorted((c.created for c in same_env if c.risk in HIGH), reverse=True)
    if highs:
        since = now - highs[0]
        if risk in HIGH and since < timedelta(hours=limits.min_hours_between_high):
            return Verdict(
                "frequency limits", False,
                f"the last high-risk change was {_hours(since)} ago (at least {limits.min_hours_between_high:g}h apart)", True,
            )
        if since < timedelta(hours=limits.stability_hours_after_high):
            return Verdict(
                "frequency limits", False,
                f"inside the {limits.stability_hours_after_high:g}h stability period after a high-risk change "
                f"({_hours(since)} ago)", True,
            )
    return Verdict("frequency limits", True, f"{len(today)} change(s) today in {environment}", True)


@dataclass(frozen=True)
class EscalationLevel:
    level: str
    minutes: int
    due: datetime


def escalation_levels(policy: Policy, failed_at: datetime) -> list[EscalationLevel]:
    e = policy.escalation
    levels = [("manual rollback", e.manual_rollback), ("senior engineer", e.senior), ("leadership", e.leadership)]
    return [EscalationLevel(name, m, failed_at + timedelta(minutes=m)) for name, m in levels]


def passed_escalations(policy: Policy, failed_at: datetime, now: datetime) -> list[EscalationLevel]:
    return [lvl for lvl in escalation_levels(policy, failed_at) if now >= lvl.due]


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f}h"
