"""The migration guide's blue-green and canary patterns, as shipped in runbooks/, rehearsed to success and to rollback.

Each rehearsal runs the shipped runbook through the real console (line mode, an answers file) against the rehearsal
cluster with real kubectl. Green's and the canary's objects come from manifests in the runbook: the record keeps the
copy that was applied and the diff shown before each confirmation. On the rollback paths the fault is injected while
an observe window runs (the new build starts crash-looping under traffic, through the API as a real rollout would
do it), a step's own trigger fires, and the console rolls back by itself, restoring the object the backup step
captured.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from console.journal import events as ev
from kubesim.testing import RunningCluster

from .crashloop import REPO, Console
from .faults import when_started
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

pytestmark = pytest.mark.kubectl


@pytest.fixture
def shipped() -> Path:
    """The shipped runbooks as they are: the rehearsal passes short values for their duration parameters
    (crashloop.rehearsal_params), which the console divides by the rehearsal clock's speed; nothing is copied or
    edited."""
    return REPO / "runbooks"


def _kubectl(cluster: RunningCluster, *args: str) -> str:
    done = subprocess.run(["kubectl", *args], env=cluster.env(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _crash(cluster: RunningCluster, deployment: str) -> None:
    """The build starts crash-looping: its Deployment moves to a build that exits at once."""
    _kubectl(cluster, "set", "image", f"deployment/{deployment}", "web=registry.local/web:1.5.0-crash", "-n", "web")


def _artifacts(loop: Any, step_id: str, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in loop.events
            if e.type == ev.ARTIFACT_SAVED and e.data.get("step_id") == step_id and e.data.get("kind") == kind]


def _selector(cluster: RunningCluster) -> dict[str, str]:
    return dict(json.loads(_kubectl(cluster, "get", "service", "web", "-n", "web", "-o", "json"))["spec"]["selector"])


def test_blue_green_switches_the_service_to_green(console: Console, shipped: Path, cluster: RunningCluster) -> None:
    loop = rehearse(console, shipped, "web-blue-green")
    assert_closed(loop, "success")
    change_dir = console.journal().parent
    # The manifests were copied when the change started, before any step ran, and each step applied its copy.
    for step_id in ("deploy-green", "switch-to-green"):
        (copy,) = _artifacts(loop, step_id, "manifest")
        started = one(loop, ev.STEP_STARTED, step_id)
        assert started.data["manifest"] == copy["file"], started.data
        assert copy["file"]["sha256"] in started.data["command"]
        (change_dir / copy["file"]["path"]).read_text()
        # The diff was recorded before the confirmation, and shows what the confirmation changes.
        (diff,) = _artifacts(loop, step_id, "diff")
        assert diff["manifest_sha256"] == copy["file"]["sha256"] and diff["changed"] is True, diff
        assert_order(loop, [(ev.ARTIFACT_SAVED, step_id), (ev.STEP_CONFIRMED, step_id), (ev.STEP_STARTED, step_id)])
    shown = (change_dir / _artifacts(loop, "switch-to-green", "diff")[0]["file"]["path"]).read_text()
    assert "-    app: web\n" in shown and "+    app: web-green\n" in shown, shown
    first_step = next(e.seq for e in loop.events if e.type == ev.STEP_STARTED)
    assert all(e.seq < first_step for e in loop.events if e.type == ev.ARTIFACT_SAVED and e.data.get("kind") == "manifest")
    assert {e.data["status"] for e in loop.events if e.type == ev.STEP_FINISHED} == {"passed"}, trail(loop)
    assert_record_sound(console, loop, shipped / "web-blue-green.yaml")
    assert _selector(cluster) == {"app": "web-green"}
    assert cluster.get("deployments", "web", "web") is not None  # blue stays up for the way back


def test_blue_green_switches_back_when_green_crash_loops(console: Console, shipped: Path, cluster: RunningCluster) -> None:
    loop = rehearse(console, shipped, "web-blue-green", "web-blue-green-rollback",
                    on_events=when_started("observe-green", lambda: _crash(cluster, "web-green")))
    assert_closed(loop, "rolled_back")
    assert_trigger_ended(loop, "observe-green", "pod_status")
    fired = one(loop, ev.TRIGGER_FIRED)
    assert fired.data["namespace"] == "web" and fired.data["object"].startswith("Pod/web-green-"), fired.data
    assert_automatic_rollback(loop, "observe-green", ["switch-back", "remove-green"], ["alice"])
    (restored,) = _artifacts(loop, "switch-back", "restore-manifest")
    (backup,) = _artifacts(loop, "backup-service", "backup")
    assert restored["from_step"] == "backup-service" and restored["backup"] == backup["file"], restored
    text = (console.journal().parent / restored["file"]["path"]).read_text()
    assert '"resourceVersion"' not in text and '"status"' not in text and '"uid"' not in text, text
    assert_record_sound(console, loop, shipped / "web-blue-green.yaml")
    assert _selector(cluster) == {"app": "web"}
    cluster.wait_for(lambda: cluster.get("deployments", "web", "web-green") is None, what="green deleted")


def test_canary_scales_in_stages_and_drains_the_stable_pods(console: Console, shipped: Path, cluster: RunningCluster) -> None:
    loop = rehearse(console, shipped, "web-canary")
    assert_closed(loop, "success")
    stages: list[tuple[str, str | None]] = []
    for scale, stage in (("stage-1", "stage-1"), ("stage-2", "stage-2"), ("stage-3-canary", "stage-3")):
        stages += [(ev.STEP_CONFIRMED, scale), (ev.STEP_FINISHED, scale), (ev.STEP_FINISHED, f"{stage}-rollout")]
        if stage == "stage-3":
            stages += [(ev.STEP_FINISHED, "stage-3-stable")]
        stages += [(ev.STEP_STARTED, f"{stage}-observe"), (ev.STEP_FINISHED, f"{stage}-observe")]
    assert_order(loop, [(ev.ARTIFACT_SAVED, "stage-1"), *stages, (ev.CHANGE_CLOSED, None)])
    assert {e.data["status"] for e in loop.events if e.type == ev.STEP_FINISHED} == {"passed"}, trail(loop)
    assert_record_sound(console, loop, shipped / "web-canary.yaml")
    canary = cluster.get("deployments", "web", "web-canary")
    assert canary is not None and canary["spec"]["replicas"] == 4
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/web:1.5.0"
    assert cluster.get("deployments", "web", "web")["spec"]["replicas"] == 0


def test_canary_restores_the_stable_deployment_when_the_canary_crash_loops(
        console: Console, shipped: Path, cluster: RunningCluster) -> None:
    loop = rehearse(console, shipped, "web-canary", "web-canary-rollback",
                    on_events=when_started("stage-2-observe", lambda: _crash(cluster, "web-canary")))
    assert_closed(loop, "rolled_back")
    assert_trigger_ended(loop, "stage-2-observe", "pod_status")
    assert_automatic_rollback(loop, "stage-2-observe", ["restore-stable", "wait-stable", "remove-canary"], ["alice"])
    started = {e.data["step_id"] for e in loop.events if e.type == ev.STEP_STARTED}
    assert not started & {"stage-3-canary", "stage-3-stable"}, trail(loop)
    assert _artifacts(loop, "restore-stable", "restore-manifest"), trail(loop)
    assert_record_sound(console, loop, shipped / "web-canary.yaml")
    web = cluster.get("deployments", "web", "web")
    assert web["spec"]["replicas"] == 3, web["spec"]
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/web:1.4.2"
    cluster.wait_for(lambda: cluster.get("deployments", "web", "web-canary") is None, what="canary deleted")
