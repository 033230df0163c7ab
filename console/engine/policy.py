"""Policy verdicts before a change starts: context guard, approvals, change window, frequency limits; and escalation.

Pure functions over the policy, the change's facts and the changes already on record; ``now`` is always passed
in. A verdict says whether the rule holds, why, and whether an emergency (a recorded break-glass) may override
it: windows and frequency limits may be overridden, the context guard and approvals never.
"""

from __future__ import annotations

import re
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
    change_id: str = ""
    operator: str = ""

    def named(self) -> str:
        """``CHG-2026-0042 by alice at 2026-12-02 09:12Z``: whose change a limit counts, in a refusal."""
        who = f" by {self.operator}" if self.operator else ""
        return f"{self.change_id}{who} at {self.created:%Y-%m-%d %H:%MZ}".strip()


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


def exempt_from_windows(policy: Policy, environment: str) -> bool:
    """Rehearsal environments skip windows and limits, unless policy opts one in (``enforce_windows``)."""
    env = policy.environments.get(environment)
    return bool(env and env.rehearsal and not env.enforce_windows)


def check_emergency_approval(policy: Policy, approver: str | None, role: str | None) -> Verdict:
    """An emergency's approval (SOP-005's fast track): verbal, by a named person in one of policy's roles; it
    stands in for the risk level's approvals, which an emergency cannot wait for."""
    roles = policy.emergency.approver_roles
    name = (approver or "").strip()
    if not name:
        return Verdict("emergency approval", False,
                       f"an emergency change needs the name of who approved the break-glass (verbally: an {' or '.join(roles)})")
    given = (role or "").strip() or roles[0]
    if given not in roles:
        return Verdict("emergency approval", False, f"{name} approved as {given}, but an emergency needs the approval of: {', '.join(roles)}")
    return Verdict("emergency approval", True, f"approved verbally by {name} ({given})")


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
    if exempt_from_windows(policy, environment):
        return Verdict("change window", True, "rehearsal environment: no change window applies", True)
    ok, described = in_window(policy, risk, now)
    if ok:
        return Verdict("change window", True, f"inside the {risk}-risk window ({described})", True)
    return Verdict("change window", False, f"outside the {risk}-risk change window ({described})", True)


def check_frequency(policy: Policy, risk: str, environment: str, now: datetime, history: Iterable[PastChange]) -> Verdict:
    """At most N non-emergency changes a day; spacing and a stability period after high-risk changes."""
    if exempt_from_windows(policy, environment):
        return Verdict("frequency limits", True, "rehearsal environment: no frequency limit applies", True)
    limits = policy.limits
    same_env = [c for c in history if c.environment == environment]
    today = [c for c in same_env if not c.emergency and c.created.date() == now.date()]
    if len(today) >= limits.max_changes_per_day:
        # Named, so a limit reached by a teammate's change (synced from the team store) says whose it was.
        latest = max(today, key=lambda c: c.created)
        return Verdict(
            "frequency limits", False,
            f"{len(today)} changes already today in {environment} (limit {limits.max_changes_per_day}; "
            f"the latest: {latest.named()})", True,
        )
    highs = sorted((c for c in same_env if c.risk in HIGH), key=lambda c: c.created, reverse=True)
    if highs:
        since = now - highs[0].created
        if risk in HIGH and since < timedelta(hours=limits.min_hours_between_high):
            return Verdict(
                "frequency limits", False,
                f"the last high-risk change was {_hours(since)} ago ({highs[0].named()}; at least "
                f"{limits.min_hours_between_high:g}h apart)", True,
            )
        if since < timedelta(hours=limits.stability_hours_after_high):
            return Verdict(
                "frequency limits", False,
                f"inside the {limits.stability_hours_after_high:g}h stability period after a high-risk change "
                f"({highs[0].named()}, {_hours(since)} ago)", True,
            )
    return Verdict("frequency limits", True, f"{len(today)} change(s) today in {environment}", True)


@dataclass(frozen=True)
class EscalationLevel:
    level: str
    minutes: int
    due: datetime
    key: str = ""  # the policy's name for the level (escalation.notify's keys)


def escalation_levels(policy: Policy, failed_at: datetime) -> list[EscalationLevel]:
    e = policy.escalation
    levels = [("manual rollback", e.manual_rollback, "manual_rollback"), ("senior engineer", e.senior, "senior"),
              ("leadership", e.leadership, "leadership")]
    return [EscalationLevel(name, m, failed_at + timedelta(minutes=m), key) for name, m, key in levels]


def passed_escalations(policy: Policy, failed_at: datetime, now: datetime) -> list[EscalationLevel]:
    return [lvl for lvl in escalation_levels(policy, failed_at) if now >= lvl.due]


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f}h"


def notify_argv(template: list[str], fields: dict[str, str]) -> list[str]:
    """The notification command with its ``{field}`` placeholders filled in (each word stays one argument)."""
    return [re.sub(r"\{([a-z_]+)\}", lambda m: fields.get(m.group(1), m.group(0)), word) for word in template]
