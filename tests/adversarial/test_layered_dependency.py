"""A new dependency in one namespace, web repointed to it in another, and a rollback in layers: web, then the cache.

The success path must add the cache, repoint web and move it to the new build. On the rollback path the new build
crash-loops (the fault is the build the answers name): the rollback trigger must fire while web's rollout is being
waited on, the console must start the rollback by itself (on_failure: rollback), and the rollback must put web back
(build, then configuration) before it removes the dependency web was pointed at.
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
    one,
    rehearse,
    trail,
)

RUNBOOK = "layered-cache-dependency"
pytestmark = pytest.mark.kubectl


@pytest.fixture
def window_s() -> float:
    # Faults here act in rollouts, gates and starts, never inside an observe window: each window has only to pass.
    return 1.0


def test_the_dependency_goes_in_before_web_points_at_it(console: Console, runbooks: Path, cluster: RunningCluster) -> None:
    before = snapshot(cluster)
    loop = rehearse(console, runbooks, RUNBOOK)
    assert_closed(loop, "success")
    assert_order(loop, [
        (ev.CHANGE_CREATED, None), (ev.POLICY_CHECKED, None), (ev.APPROVAL_RECORDED, None),
        (ev.STEP_STARTED, "backup-web"), (ev.ARTIFACT_SAVED, "backup-web"), (ev.STEP_FINISHED, "backup-web"),
        (ev.STEP_FINISHED, "backup-cache-namespace"),
        (ev.STEP_FINISHED, "cache-manifests-valid"), (ev.STEP_FINISHED, "cache-name-free"), (ev.STEP_FINISHED, "web-settled"),
        (ev.STEP_CONFIRMED, "deploy-cache"), (ev.STEP_STARTED, "deploy-cache"),
        (ev.STEP_FINISHED, "deploy-cache"), (ev.STEP_FINISHED, "wait-cache"), (ev.STEP_FINISHED, "cache-service"),
        (ev.STEP_CONFIRMED, "point-web"), (ev.STEP_FINISHED, "point-web"),
        (ev.STEP_CONFIRMED, "roll-web"), (ev.STEP_FINISHED, "roll-web"),
        (ev.STEP_FINISHED, "wait-web"), (ev.STEP_FINISHED, "watch-web"),
        (ev.STEP_FINISHED, "web-on-new-build"), (ev.STEP_FINISHED, "web-points-at-cache"),
        (ev.CHANGE_CLOSED, None),
    ])
    assert not [e for e in loop.events if e.type in (ev.ROLLBACK_STARTED, ev.TRIGGER_FIRED, ev.FAILURE_CHOICE)], trail(loop)
    assert {e.data["status"] for e in loop.events if e.type == ev.STEP_FINISHED} == {"passed"}, trail(loop)
    assert one(loop, ev.STEP_CONFIRMED, "roll-web").data["word"] == "1.5.0"
    assert_record_sound(console, loop, runbooks / f"{RUNBOOK}.yaml")
    assert settled(cluster, RUNBOOK, "success", before) == []


def test_a_crash_looping_build_rolls_back_web_first_then_the_dependency(console: Console, runbooks: Path,
                                                                          cluster: RunningCluster) -> None:
    before = snapshot(cluster)
    loop = rehearse(console, runbooks, RUNBOOK, f"{RUNBOOK}-rollback")
    assert_closed(loop, "rolled_back")
    # The trigger fires during the rollout wait, not after the progress deadline and not in a later observe window.
    assert_trigger_ended(loop, "wait-web", "pod_status")
    assert not [e for e in loop.events if e.type == ev.STEP_STARTED and e.data["step_id"] == "watch-web"], trail(loop)
    queue = ["restore-web-build", "wait-web-back", "unpoint-web", "remove-cache"]
    assert_automatic_rollback(loop, "wait-web", queue, ["alice"])
    # Layers: every web step of the rollback finished before the dependency's removal started.
    seq = {(e.type, e.data.get("step_id")): e.seq for e in loop.events}
    assert max(seq[(ev.STEP_FINISHED, s)] for s in queue[:3]) < seq[(ev.STEP_STARTED, "remove-cache")]
    assert one(loop, ev.CHANGE_CLOSED).data["suggested"] == "rolled_back"
    assert_record_sound(console, loop, runbooks / f"{RUNBOOK}.yaml")
    assert settled(cluster, RUNBOOK, "rolled_back", before) == []
