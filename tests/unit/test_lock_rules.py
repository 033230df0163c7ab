"""The change lock's pure rules: targets by scope, a step's progress, the refusal's sentence."""

from __future__ import annotations

import pytest

from console.cluster.lease_record import Claim, claimed, renewed, view
from console.config import Lock
from console.engine.lock_rules import held_sentence, lock_targets, step_progress
from console.engine.state import Item, State
from console.journal.journal import Event

T0 = 1_795_000_000.0


@pytest.mark.parametrize(("scope", "namespaces", "targets"), [
    ("cluster", ["web", "cache"], [("default", "opsconsole-change")]),
    ("namespaces", ["web", "cache", "web"], [("cache", "opsconsole-change"), ("web", "opsconsole-change")]),
])
def test_lock_targets(scope: str, namespaces: list[str], targets: list[tuple[str, str]]) -> None:
    assert lock_targets(Lock(scope=scope), namespaces) == targets  # type: ignore[arg-type]


def started(section: str, step_id: str) -> Event:
    return Event(seq=9, ts="2026-11-18T12:00:00.000000Z", type="step.started", data={"section": section, "step_id": step_id},
                 prev="", hash="")


def test_step_progress_counts_the_forward_plan_and_the_rollback_queue() -> None:
    state = State(forward=[Item("precondition", "backup"), Item("step", "restart"), Item("verification", "health")])
    assert step_progress(state, started("step", "restart")) == "2 of 3"
    state.rollback_queue, state.rollback_pos = ["undo", "restore"], 1
    assert step_progress(state, started("rollback", "restore")) == "rollback 2 of 2"
    assert step_progress(state, started("step", "not-in-the-plan")) == ""


def test_held_sentence_names_holder_change_and_step() -> None:
    lease = {"metadata": {"name": "opsconsole-change", "namespace": "default"}, "spec": {}}
    held = claimed(lease, Claim("alice@ops-1 CHG-7", "alice", "ops-1", "CHG-7", "", 15), T0)
    assert held_sentence(view(held), "prod-eu", T0 + 3) == (
        "context prod-eu is locked by alice@ops-1 for change CHG-7 before its first step (lease default/opsconsole-change, "
        "renewed 3s ago): wait for it to be released or to expire, or take it over with --break-glass REASON")
    assert " at step 3 of 7 restart (" in held_sentence(view(renewed(held, "restart", T0 + 5, "3 of 7")), "prod-eu", T0 + 6)
