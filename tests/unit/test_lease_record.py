"""The change lock's pure rules, table-driven: identity, expiry at ``now``, and the Lease bodies to write."""

from __future__ import annotations

from typing import Any

import pytest

from console.cluster.lease_record import (
    CHANGE,
    HOST,
    MANAGED_BY_LABEL,
    OPERATOR,
    PREVIOUS_HOLDER,
    PROGRESS,
    SCOPE,
    STEP,
    TAKEOVER_REASON,
    Claim,
    LockStatus,
    banner_text,
    claimed,
    holder_identity,
    lock_statuses,
    micro_time,
    new_lease,
    parse_time,
    released,
    renewed,
    view,
)

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z
ALICE = Claim("alice@ops-1 CHG-1", "alice", "ops-1", "CHG-1", "restart", 15)
BOB = Claim("bob@ops-2 CHG-2", "bob", "ops-2", "CHG-2", "backup", 15)


def lease(holder: str | None, *, renewed_at: float | None = T0, duration: int | None = 15, transitions: int | None = None,
          notes: dict[str, str] | None = None, managed: bool = True, rv: str = "42") -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if holder is not None:
        spec["holderIdentity"] = holder
    if renewed_at is not None:
        spec["renewTime"] = micro_time(renewed_at)
        spec["acquireTime"] = micro_time(renewed_at - 60)
    if duration is not None:
        spec["leaseDurationSeconds"] = duration
    if transitions is not None:
        spec["leaseTransitions"] = transitions
    md: dict[str, Any] = {"name": "web-change", "namespace": "web", "resourceVersion": rv, "uid": "u-1",
                          "annotations": dict(notes or {})}
    if managed:
        md["labels"] = {MANAGED_BY_LABEL: "opsconsole"}
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": md, "spec": spec}


@pytest.mark.parametrize(("obj", "now", "expired"), [
    (lease("alice@ops-1 CHG-1"), T0, False),  # just renewed
    (lease("alice@ops-1 CHG-1"), T0 + 14.999, False),
    (lease("alice@ops-1 CHG-1"), T0 + 15, True),  # renewTime + duration reached
    (lease("alice@ops-1 CHG-1"), T0 + 600, True),
    (lease("alice@ops-1 CHG-1", duration=60), T0 + 30, False),
    (lease(""), T0, True),  # nobody holds it
    (lease(None), T0, True),
    (lease("alice@ops-1 CHG-1", renewed_at=None), T0, True),  # nothing says the claim is live
    (lease("alice@ops-1 CHG-1", duration=None), T0, True),
    (lease("alice@ops-1 CHG-1"), T0 - 5, False),  # a clock behind the holder's sees it live longer
])
def test_expiry_at_now(obj: dict[str, Any], now: float, expired: bool) -> None:
    assert view(obj).is_expired(now) is expired


@pytest.mark.parametrize(("text", "epoch"), [
    ("2026-11-18T11:06:40.000000Z", T0),
    ("2026-11-18T11:06:40Z", T0),
    ("2026-11-18T13:06:40.250000+02:00", T0 + 0.25),
    ("2026-11-18T11:06:40+00:00", T0),  # what the client's isoformat() writes for a whole second
    ("2026-11-18T11:06:40", T0),  # no offset: UTC
    ("", None),
    (None, None),
    ("yesterday", None),
])
def test_parse_time(text: str | None, epoch: float | None) -> None:
    assert parse_time(text) == epoch


def test_micro_time_always_has_six_digits() -> None:
    assert micro_time(T0) == "2026-11-18T11:06:40.000000Z"
    assert micro_time(T0 + 0.5) == "2026-11-18T11:06:40.500000Z"


@pytest.mark.parametrize(("operator", "host", "change", "identity"), [
    ("alice", "ops-1", "CHG-2026-0042", "alice@ops-1 CHG-2026-0042"),
    ("a.b-c", "h.example.com", "X", "a.b-c@h.example.com X"),
])
def test_holder_identity(operator: str, host: str, change: str, identity: str) -> None:
    assert holder_identity(operator, host, change) == identity


@pytest.mark.parametrize(("operator", "host", "change", "message"), [
    ("", "ops-1", "CHG-1", "operator must be a non-empty word"),
    ("al ice", "ops-1", "CHG-1", "operator must be a non-empty word"),
    ("alice", "", "CHG-1", "host must be a non-empty word"),
    ("alice", "ops-1", "CHG 1", "change ID must be a non-empty word"),
    ("alice@x", "ops-1", "CHG-1", "must not contain '@'"),
])
def test_holder_identity_refuses_what_would_not_read_back(operator: str, host: str, change: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        holder_identity(operator, host, change)


@pytest.mark.parametrize("duration", [0, -1, 1.5, True, "15"])
def test_claim_needs_a_positive_whole_duration(duration: Any) -> None:
    with pytest.raises(ValueError, match="duration must be a whole number of seconds above 0"):
        Claim("a@h C", "a", "h", "C", "s", duration)


def test_new_lease_body() -> None:
    assert new_lease("web", "web-change", ALICE, T0) == {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "web-change", "namespace": "web", "labels": {MANAGED_BY_LABEL: "opsconsole"},
                     "annotations": {CHANGE: "CHG-1", STEP: "restart", HOST: "ops-1", OPERATOR: "alice"}},
        "spec": {"holderIdentity": "alice@ops-1 CHG-1", "leaseDurationSeconds": 15, "acquireTime": "2026-11-18T11:06:40.000000Z",
                 "renewTime": "2026-11-18T11:06:40.000000Z", "leaseTransitions": 0},
    }


@pytest.mark.parametrize(("before", "reason", "transitions", "previous", "acquire_moves"), [
    # an expired lease of someone else: a new holder, one more transition, the old holder recorded
    (lease("alice@ops-1 CHG-1", transitions=3), "", 4, "alice@ops-1 CHG-1", True),
    # a released one (nobody holds it, nothing says who did): still a transition, nobody to record
    (lease("", transitions=3), "", 4, "", True),
    # a released one whose last holder's annotations remain: it comes after that holder
    (lease("", transitions=3, notes={OPERATOR: "alice", HOST: "ops-1", CHANGE: "CHG-1"}), "", 4, "alice@ops-1 CHG-1", True),
    # a lease some other tool made, with no transitions field
    (lease("kube-controller", managed=False), "", 1, "kube-controller", True),
    # break-glass: the reason is recorded too
    (lease("alice@ops-1 CHG-1", transitions=1), "alice's console is frozen", 2, "alice@ops-1 CHG-1", True),
    # our own identity taking its lease back (a resumed change): no transition, acquireTime kept
    (lease("bob@ops-2 CHG-2", transitions=5), "", 5, "", False),
])
def test_claimed_body(before: dict[str, Any], reason: str, transitions: int, previous: str, acquire_moves: bool) -> None:
    now = T0 + 100
    out = claimed(before, BOB, now, reason=reason)
    md, spec = out["metadata"], out["spec"]
    assert md["resourceVersion"] == "42" and md["uid"] == "u-1"  # the update names the version it read
    assert md["labels"][MANAGED_BY_LABEL] == "opsconsole"
    notes = {k: md["annotations"][k] for k in (CHANGE, STEP, HOST, OPERATOR)}
    assert notes == {CHANGE: "CHG-2", STEP: "backup", HOST: "ops-2", OPERATOR: "bob"}
    assert md["annotations"].get(PREVIOUS_HOLDER, "") == previous
    assert md["annotations"].get(TAKEOVER_REASON, "") == reason
    assert spec["holderIdentity"] == "bob@ops-2 CHG-2" and spec["leaseDurationSeconds"] == 15
    assert spec["renewTime"] == micro_time(now) and spec["leaseTransitions"] == transitions
    assert (spec["acquireTime"] == micro_time(now)) is acquire_moves


def test_claimed_clears_an_old_takeover_reason_and_leaves_its_input_alone() -> None:
    before = lease("bob@ops-2 CHG-2", notes={TAKEOVER_REASON: "earlier break-glass", "team": "platform"})
    out = claimed(before, ALICE, T0 + 20)
    assert TAKEOVER_REASON not in out["metadata"]["annotations"] and out["metadata"]["annotations"]["team"] == "platform"
    assert before["metadata"]["annotations"][TAKEOVER_REASON] == "earlier break-glass"  # not mutated
    assert before["spec"]["holderIdentity"] == "bob@ops-2 CHG-2"


def test_renewed_body_moves_renew_time_and_step_only() -> None:
    before = claimed(lease(""), ALICE, T0)
    out = renewed(before, "verify", T0 + 5)
    assert out["spec"] == {**before["spec"], "renewTime": micro_time(T0 + 5)}
    assert out["metadata"] == {**before["metadata"], "annotations": {**before["metadata"]["annotations"], STEP: "verify"}}
    assert before["metadata"]["annotations"][STEP] == "restart"


def test_view_and_describe() -> None:
    v = view(claimed(lease("alice@ops-1 CHG-1", transitions=2), BOB, T0 + 30, reason="stuck"))
    assert (v.namespace, v.name, v.holder) == ("web", "web-change", "bob@ops-2 CHG-2")
    assert (v.change, v.step, v.host, v.operator) == ("CHG-2", "backup", "ops-2", "bob")
    assert (v.acquired, v.renewed, v.expires_at, v.transitions) == (T0 + 30, T0 + 30, T0 + 45, 3)
    assert (v.previous_holder, v.takeover_reason, v.resource_version, v.managed) == ("alice@ops-1 CHG-1", "stuck", "42", True)
    assert v.describe() == "bob@ops-2 CHG-2, change CHG-2, step backup"
    assert view(lease("kube-controller", managed=False)).describe() == "kube-controller"


def test_lock_statuses_keep_only_the_consoles_locks_in_order() -> None:
    a = lease("alice@ops-1 CHG-1", renewed_at=T0)
    b = lease("bob@ops-2 CHG-2", renewed_at=T0 - 100)
    b["metadata"]["namespace"] = "cache"
    other = lease("node-1", managed=False)
    out = lock_statuses([a, other, b], T0 + 1)
    assert [(s.lease.namespace, s.lease.holder, s.expired) for s in out] == [
        ("cache", "bob@ops-2 CHG-2", True), ("web", "alice@ops-1 CHG-1", False)]


def test_renewed_writes_the_progress_and_a_new_claim_clears_it() -> None:
    out = renewed(claimed(lease(""), ALICE, T0), "restart", T0 + 5, "3 of 7")
    assert out["metadata"]["annotations"][PROGRESS] == "3 of 7" and view(out).progress == "3 of 7"
    assert PROGRESS not in renewed(out, "verify", T0 + 6)["metadata"]["annotations"]  # a step that gives none
    assert PROGRESS not in claimed(out, BOB, T0 + 60)["metadata"]["annotations"]  # bob has not started a step yet
    scoped = claimed(lease(""), Claim("bob@ops-2 CHG-2", "bob", "ops-2", "CHG-2", "", 15, "namespace"), T0)
    assert scoped["metadata"]["annotations"][SCOPE] == "namespace" and view(scoped).scope == "namespace"


def test_released_clears_the_holder_and_keeps_who_held_it_last() -> None:
    held = renewed(claimed(lease(""), ALICE, T0), "restart", T0 + 5, "3 of 7")
    out = released(held, T0 + 9)
    assert "holderIdentity" not in out["spec"] and out["spec"]["leaseDurationSeconds"] == 1
    assert out["spec"]["renewTime"] == micro_time(T0 + 9) and out["metadata"]["resourceVersion"] == "42"
    v = view(out)
    assert (v.holder, v.last_holder, v.change, v.step, v.progress) == ("", "alice@ops-1 CHG-1", "CHG-1", "restart", "")
    assert v.is_expired(T0 + 9) and held["spec"]["holderIdentity"] == "alice@ops-1 CHG-1"  # input not mutated
    assert lock_statuses([out], T0 + 9) == []  # a released lock is no one's: not listed


@pytest.mark.parametrize(("progress", "step", "expired", "text"), [
    ("3 of 7", "restart", False, "CHG-1 by alice: step 3 of 7, restart"),
    ("rollback 1 of 2", "undo", False, "CHG-1 by alice: rollback 1 of 2, undo"),
    ("", "", False, "CHG-1 by alice: starting"),
    ("3 of 7", "restart", True, "CHG-1 by alice: step 3 of 7, restart (lock expired: its console last renewed it 40s ago)"),
])
def test_banner_text(progress: str, step: str, expired: bool, text: str) -> None:
    held = renewed(claimed(lease(""), ALICE, T0), step, T0, progress)
    assert banner_text(LockStatus(view(held), expired), T0 + 40) == text
