"""A change lock as a ``coordination.k8s.io/v1`` Lease: who holds it, whether it has expired, what to write (pure).

The Lease is the one client-go's leader election uses: ``holderIdentity``, ``leaseDurationSeconds``,
``acquireTime``, ``renewTime`` and ``leaseTransitions``. A lease has expired when ``renewTime +
leaseDurationSeconds`` is in the past; anyone may then take it by an update that carries the
``resourceVersion`` they read, and the API server refuses every other writer of that version with 409. What
the console adds is in the metadata: a label that marks its locks (so they can be listed) and annotations that
say which change and which step holds it, from which host, and whom a take-over displaced.

Everything here takes data and ``now`` (epoch seconds) and returns data; nothing reads a clock or a socket.
Bodies are JSON-shaped dicts with MicroTimes written exactly as the API server writes them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "opsconsole"
SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
CHANGE = "opsconsole.io/change"
STEP = "opsconsole.io/step"
SCOPE = "opsconsole.io/scope"  # cluster, or namespace: what the lock stands for
PROGRESS = "opsconsole.io/progress"  # where the step stands in the change ("3 of 7"), for banners
HOST = "opsconsole.io/host"
OPERATOR = "opsconsole.io/operator"
PREVIOUS_HOLDER = "opsconsole.io/previous-holder"
TAKEOVER_REASON = "opsconsole.io/takeover-reason"


def holder_identity(operator: str, host: str, change_id: str) -> str:
    """``operator@host CHG-ID``: who holds the lock, readable in ``kubectl get leases``."""
    for what, value in (("operator", operator), ("host", host), ("change ID", change_id)):
        if not value or value != value.strip() or any(c.isspace() for c in value):
            raise ValueError(f"the lock holder's {what} must be a non-empty word without spaces (got {value!r})")
    if "@" in operator:
        raise ValueError(f"the lock holder's operator must not contain '@' (got {operator!r})")
    return f"{operator}@{host} {change_id}"


def micro_time(epoch: float) -> str:
    """A MicroTime as the API server writes it: UTC, six fractional digits, ``Z``."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 time (any fraction, ``Z`` or an offset); None when absent or unreadable."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:  # the API never writes a local time; an offset-less one is read as UTC
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


@dataclass(frozen=True)
class LeaseView:
    """What a Lease says, flattened: the holder, the change and step it names, and its times (epoch seconds)."""

    namespace: str
    name: str
    holder: str  # "" when nobody holds it
    duration_s: int | None
    acquired: float | None
    renewed: float | None
    transitions: int
    change: str
    step: str
    progress: str
    scope: str
    host: str
    operator: str
    previous_holder: str
    takeover_reason: str
    resource_version: str
    uid: str
    managed: bool  # carries opsconsole's label

    @property
    def expires_at(self) -> float | None:
        """When the holder's claim runs out: renewTime + leaseDurationSeconds (None when either is missing)."""
        if self.renewed is None or self.duration_s is None:
            return None
        return self.renewed + self.duration_s

    def is_expired(self, now: float) -> bool:
        """Free to take: nobody holds it, or nothing says the claim is still live at ``now``."""
        if not self.holder:
            return True
        expires = self.expires_at
        return expires is None or expires <= now

    @property
    def last_holder(self) -> str:
        """Who holds it, or, once released, who held it last (from the annotations a holder leaves behind)."""
        if self.holder:
            return self.holder
        if self.operator and self.host and self.change:
            return f"{self.operator}@{self.host} {self.change}"
        return ""

    def describe(self) -> str:
        """One line naming the holder, its change and step: what a refusal tells the operator."""
        parts = [self.holder or "nobody"]
        if self.change:
            parts.append(f"change {self.change}")
        if self.step:
            parts.append(f"step {self.step}")
        return ", ".join(parts)


def view(obj: Mapping[str, Any]) -> LeaseView:
    """Read a Lease (as JSON: camelCase keys) into a LeaseView."""
    md = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    notes = md.get("annotations") or {}
    duration = spec.get("leaseDurationSeconds")
    return LeaseView(
        namespace=str(md.get("namespace") or ""),
        name=str(md.get("name") or ""),
        holder=str(spec.get("holderIdentity") or ""),
        duration_s=int(duration) if isinstance(duration, int) else None,
        acquired=parse_time(spec.get("acquireTime")),
        renewed=parse_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
        change=str(notes.get(CHANGE, "")),
        step=str(notes.get(STEP, "")),
        progress=str(notes.get(PROGRESS, "")),
        scope=str(notes.get(SCOPE, "")),
        host=str(notes.get(HOST, "")),
        operator=str(notes.get(OPERATOR, "")),
        previous_holder=str(notes.get(PREVIOUS_HOLDER, "")),
        takeover_reason=str(notes.get(TAKEOVER_REASON, "")),
        resource_version=str(md.get("resourceVersion") or ""),
        uid=str(md.get("uid") or ""),
        managed=(md.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY,
    )


@dataclass(frozen=True)
class Claim:
    """Who claims the lock and for what: written into the Lease's spec and annotations."""

    identity: str
    operator: str
    host: str
    change: str
    step: str
    duration_s: int
    scope: str = ""  # "cluster" or "namespace"; "" leaves the lease's as it is

    def __post_init__(self) -> None:
        if isinstance(self.duration_s, bool) or not isinstance(self.duration_s, int) or self.duration_s <= 0:
            raise ValueError(f"a lock's duration must be a whole number of seconds above 0 (got {self.duration_s!r})")


def _mark(md: Obj, claim: Claim) -> None:
    md.setdefault("labels", {})[MANAGED_BY_LABEL] = MANAGED_BY
    notes = md.setdefault("annotations", {})
    notes.update({CHANGE: claim.change, STEP: claim.step, HOST: claim.host, OPERATOR: claim.operator})
    notes.pop(PROGRESS, None)  # a new claim starts before its first step
    if claim.scope:
        notes[SCOPE] = claim.scope


def new_lease(namespace: str, name: str, claim: Claim, now: float) -> Obj:
    """The Lease to create for a lock nobody has held yet."""
    md: Obj = {"name": name, "namespace": namespace}
    _mark(md, claim)
    t = micro_time(now)
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": md,
            "spec": {"holderIdentity": claim.identity, "leaseDurationSeconds": claim.duration_s, "acquireTime": t,
                     "renewTime": t, "leaseTransitions": 0}}


def claimed(current: Mapping[str, Any], claim: Claim, now: float, *, reason: str = "") -> Obj:
    """``current`` taken by ``claim``: the update to send, carrying the resourceVersion ``current`` was read at.

    A new holder gets a fresh acquireTime and one more transition, and the one it replaced is recorded; the
    same identity taking its own lease again (a resumed change) keeps both, as client-go does for a leader.
    ``reason`` is recorded for a break-glass take-over and cleared otherwise.
    """
    out: Obj = copy.deepcopy(dict(current))
    md, spec = out.setdefault("metadata", {}), out.setdefault("spec", {})
    before = view(current)
    _mark(md, claim)
    notes = md["annotations"]
    if before.last_holder and before.last_holder != claim.identity:
        # a live or expired holder, or the last one of a released lease: whom this claim comes after
        notes[PREVIOUS_HOLDER] = before.last_holder
    if reason:
        notes[TAKEOVER_REASON] = reason
    else:
        notes.pop(TAKEOVER_REASON, None)
    t = micro_time(now)
    spec.update({"holderIdentity": claim.identity, "leaseDurationSeconds": claim.duration_s, "renewTime": t})
    if before.holder != claim.identity:
        spec["acquireTime"] = t
        spec["leaseTransitions"] = before.transitions + 1
    else:
        spec.setdefault("acquireTime", t)
        spec["leaseTransitions"] = before.transitions
    return out


def renewed(current: Mapping[str, Any], step: str, now: float, progress: str = "") -> Obj:
    """The holder's renewal of ``current``: a new renewTime and the step it is on, at the version it holds."""
    out: Obj = copy.deepcopy(dict(current))
    notes = out.setdefault("metadata", {}).setdefault("annotations", {})
    notes[STEP] = step
    if progress:
        notes[PROGRESS] = progress
    else:
        notes.pop(PROGRESS, None)
    out.setdefault("spec", {})["renewTime"] = micro_time(now)
    return out


def released(current: Mapping[str, Any], now: float) -> Obj:
    """``current`` given back, as client-go releases a lease: no holder, a one-second duration, renewed ``now``.

    The lease itself stays, with the annotations of its last holder (operator, host, change, step), so a change
    resumed later learns who held the lock after it; ``opsconsole locks`` no longer lists it.
    """
    out: Obj = copy.deepcopy(dict(current))
    spec = out.setdefault("spec", {})
    spec.pop("holderIdentity", None)
    spec["leaseDurationSeconds"] = 1
    spec["renewTime"] = micro_time(now)
    out.setdefault("metadata", {}).setdefault("annotations", {}).pop(PROGRESS, None)
    return out


@dataclass(frozen=True)
class LockStatus:
    """One lock as ``opsconsole locks`` lists it: the lease and whether it had expired at the time of listing."""

    lease: LeaseView
    expired: bool


def lock_statuses(leases: list[Mapping[str, Any]], now: float) -> list[LockStatus]:
    """The console's locks among ``leases`` that someone holds (others, and released ones, are skipped), by
    namespace and name."""
    views = sorted((view(o) for o in leases), key=lambda v: (v.namespace, v.name))
    return [LockStatus(v, v.is_expired(now)) for v in views if v.managed and v.holder]


def banner_text(status: LockStatus, now: float) -> str:
    """What a dashboard shows of a change in progress: "CHG-2026-0042 by alice: step 3 of 7, restart"."""
    v = status.lease
    who = v.operator or v.holder.split("@", 1)[0] or "someone"
    where = v.progress if v.progress.startswith("rollback") else f"step {v.progress}" if v.progress else ""
    at = ", ".join(p for p in (where, v.step) if p) or "starting"
    text = f"{v.change or v.holder} by {who}: {at}"
    if status.expired:
        renewed = f" {max(0.0, now - v.renewed):.0f}s ago" if v.renewed is not None else ""
        text += f" (lock expired: its console last renewed it{renewed})"
    return text
