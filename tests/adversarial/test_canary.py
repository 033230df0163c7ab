"""A canary scaled up in stages with an observe window after each, ended by a rollback trigger.

On the success path the canary goes one pod, half and half, then canary only, and every stage is observed before the
next is scaled. On the rollback path the canary's build crash-loops (the fault is the build the answers name): a
scaled-up Deployment with crash-looping pods is never past its progress deadline, so only the rollback trigger can
end the first stage's rollout wait; the console must then start the rollback by itself, remove the canary and
leave the stable pods as they were. The title, from and to name the canary's parameters.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from console.journal import events as ev
from kubesim.testing import RunningCluster

from .cluster_state import settled, snapshot
from .crashloop import Console
from .rehearsal import (
    assert_automatic_rollback,
    assert_closed,
    assert_order,
    assert_record_sound,
    assert_trigger_ended,
    rehearse,
    trail,
)

RUNBOOK = "web-canary-stages"
pytestmark = pytest.mark.kubectl


@pytest.fixture
def window_s() -> float:
    # Faults here act in rollouts, gates and starts, never inside an observe window: each window has only to pass.
    return 1.0


def test_each_stage_is_observed_before_the_next_is_scaled(console: Console, runbooks: Path, cluster: RunningCluster) -> None:
    before = snapshot(cluster)
    loop = rehearse(console, runbooks, RUNBOOK)
    assert_closed(loop, "success")
    stages = []
    for stage, scale in (("stage-1", ["stage-1"]), ("stage-2", ["stage-2"]), ("stage-3", ["stage-3-canary"])):
        stages += [(ev.STEP_CONFIRMED, s) for s in scale] + [(ev.STEP_FINISHED, s) for s in scale]
        stages += [(ev.STEP_FINISHED, f"{stage}-rollout")]
        if stage == "stage-3":
            stages += [(ev.STEP_CONFIRMED, "stage-3-stable"), (ev.STEP_FINISHED, "stage-3-stable")]
        stages += [(ev.STEP_STARTED, f"{stage}-observe"), (ev.STEP_FINISHED, f"{stage}-observe")]
    assert_order(loop, [(ev.STEP_FINISHED, "no-canary"), (ev.STEP_FINISHED, "create-canary"),
                        (ev.STEP_FINISHED, "canary-build"), *stages, (ev.STEP_FINISHED, "canary-serves-all"),
                        (ev.STEP_FINISHED, "stable-drained"), (ev.CHANGE_CLOSED, None)])
    assert {e.data["status"] for e in loop.events if e.type == ev.STEP_FINISHED} == {"passed"}, trail(loop)
    created = loop.events[0].data["runbook"]
    assert (created["title"], created["from"], created["to"]) == ("Canary web 1.5.0 in three stages", "1.4.2", "1.5.0")
    assert_record_sound(console, loop, runbooks / f"{RUNBOOK}.yaml")
    assert settled(cluster, RUNBOOK, "success", before) == []


def test_a_crash_looping_canary_ends_the_first_stage_and_is_removed(console: Console, runbooks: Path,
                                                                      cluster: RunningCluster) -> None:
    before = snapshot(cluster)
    loop = rehearse(console, runbooks, RUNBOOK, f"{RUNBOOK}-rollback")
    assert_closed(loop, "rolled_back")
    assert_trigger_ended(loop, "stage-1-rollout", "pod_status")
    started = {e.data["step_id"] for e in loop.events if e.type == ev.STEP_STARTED}
    assert not started & {"stage-1-observe", "stage-2", "stage-3-canary", "stage-3-stable"}, trail(loop)
    assert_automatic_rollback(loop, "stage-1-rollout", ["remove-canary"], ["alice"])
    created = loop.events[0].data["runbook"]
    assert (created["from"], created["to"]) == ("1.4.2", "1.5.0-crash")
    assert_record_sound(console, loop, runbooks / f"{RUNBOOK}.yaml")
    assert settled(cluster, RUNBOOK, "rolled_back", before) == []
