"""A release through mandatory, fail-closed gates, with health checks, a retried smoke test and escalation deadlines.

The smoke test hits a real HTTP endpoint standing in for web's /health, which answers 503 while the new build warms
up: the operator retries it, and every failure passes the escalation levels policy makes due at once (0 minutes)
and none that is due later. A failing gate stops the change before anything changes the cluster. The runbook's
title, from and to name the release's parameters; the record must show them filled in.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from console.journal import events as ev
from kubesim.testing import RunningCluster

from .cluster_state import settled, snapshot
from .crashloop import ANSWERS, Console, crash_loop
from .endpoints import HealthEndpoint
from .rehearsal import (
    assert_closed,
    assert_order,
    assert_record_sound,
    one,
    rehearse,
    trail,
)

RUNBOOK = "gated-web-release"
pytestmark = pytest.mark.kubectl


@pytest.fixture
def window_s() -> float:
    # Faults here act in rollouts, gates and starts, never inside an observe window: each window has only to pass.
    return 1.0


def test_gates_health_and_a_retried_smoke_test_release_the_build(console: Console, runbooks: Path, cluster: RunningCluster,
                                                                   health: HealthEndpoint) -> None:
    before = snapshot(cluster)
    loop = rehearse(console, runbooks, RUNBOOK, extra=["--param", f"health_url={health.url}"])
    assert_closed(loop, "success")
    gates = ["nodes-ready", "rollout-settled", "runs-current-version", "change-validates"]
    assert_order(loop, [
        (ev.ARTIFACT_SAVED, "backup-deployment"),
        *[(ev.STEP_FINISHED, g) for g in gates],
        (ev.APPROVAL_RECORDED, "go-no-go"),
        (ev.STEP_CONFIRMED, "deploy"), (ev.STEP_STARTED, "deploy"), (ev.STEP_FINISHED, "deploy"),
        (ev.STEP_FINISHED, "health"), (ev.STEP_FINISHED, "available"),
        (ev.STEP_STARTED, "smoke"), (ev.STEP_FINISHED, "smoke"), (ev.ESCALATION_PASSED, "smoke"), (ev.ESCALATION_PASSED, "smoke"),
        (ev.FAILURE_CHOICE, "smoke"),
        (ev.STEP_STARTED, "smoke"), (ev.STEP_FINISHED, "smoke"), (ev.ESCALATION_PASSED, "smoke"), (ev.ESCALATION_PASSED, "smoke"),
        (ev.FAILURE_CHOICE, "smoke"),
        (ev.STEP_STARTED, "smoke"), (ev.STEP_FINISHED, "smoke"),
        (ev.STEP_FINISHED, "watch"), (ev.STEP_FINISHED, "runs-new-version"), (ev.STEP_FINISHED, "smoke-again"),
        (ev.CHANGE_CLOSED, None),
    ])
    for gate in gates:
        assert one(loop, ev.STEP_FINISHED, gate).data["status"] == "passed"
    approval = one(loop, ev.APPROVAL_RECORDED, "go-no-go").data
    assert (approval["name"], approval["role"]) == ("erin", "release-manager")
    smoke = [e for e in loop.events if e.type in (ev.STEP_STARTED, ev.STEP_FINISHED) and e.data["step_id"] == "smoke"]
    assert [e.data.get("attempt") or e.data["status"] for e in smoke] == [1, "failed", 2, "failed", 3, "passed"], trail(loop)
    choices = [e.data for e in loop.events if e.type == ev.FAILURE_CHOICE]
    assert [(c["step_id"], c["choice"], c["by"]) for c in choices] == [("smoke", "retry", "alice")] * 2
    # Each failure passes "manual rollback" and "senior engineer" (0 minutes) once, and never "leadership" (720).
    failures = [e for e in loop.events if e.type == ev.STEP_FINISHED and e.data["status"] == "failed"]
    passed = [e.data for e in loop.events if e.type == ev.ESCALATION_PASSED]
    assert sorted((p["failed_at"], p["level"]) for p in passed) == sorted(
        (f.ts, level) for f in failures for level in ("manual rollback", "senior engineer"))
    assert all(p["minutes"] == 0 and p["step_id"] == "smoke" for p in passed)
    assert health.requests == 4  # three smoke attempts and the verification's
    assert_record_sound(console, loop, runbooks / f"{RUNBOOK}.yaml")
    assert settled(cluster, RUNBOOK, "success", before) == []


def test_the_record_names_the_release_it_made(console: Console, runbooks: Path, health: HealthEndpoint, tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"  # the same answers, typing the version this change releases
    answers.write_text((ANSWERS / f"{RUNBOOK}.yaml").read_text().replace('deploy: "1.5.0"', 'deploy: "1.5.1"'))
    loop = crash_loop(console, runbooks / f"{RUNBOOK}.yaml", answers, [],
                      run_extra=["--param", f"health_url={health.url}", "--param", "version=1.5.1"])
    assert loop.change_id, trail(loop)
    created = loop.events[0].data
    assert (created["runbook"]["title"], created["runbook"]["from"], created["runbook"]["to"]) == (
        "Release web 1.5.1 through the deployment gates", "1.4.2", "1.5.1")
    assert created["description"].startswith("web 1.5.1 replaces 1.4.2.")
    assert "__web__1.4.2-1.5.1__" in console.journal().parent.name
    listed = console("records", "list", "--json")
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["from"], row["to"]) == ("1.4.2", "1.5.1")
    assert_closed(loop, "success")
    record = (console.journal().parent / "record.md").read_text()
    assert "{version}" not in record and "{current_version}" not in record


def test_a_failing_gate_stops_the_release_before_anything_changes(console: Console, runbooks: Path, cluster: RunningCluster,
                                                                    health: HealthEndpoint) -> None:
    before = snapshot(cluster)
    patch = '{"status":{"conditions":[{"type":"Ready","status":"False","reason":"KubeletNotReady","message":"PLEG is not healthy"}]}}'
    subprocess.run(["kubectl", "patch", "node", "node-3", "--subresource=status", "--type", "strategic", "-p", patch],
                   env=cluster.env(), check=True, capture_output=True, timeout=30)
    loop = rehearse(console, runbooks, RUNBOOK, f"{RUNBOOK}-gate-fails", extra=["--param", f"health_url={health.url}"])
    assert_closed(loop, "aborted")
    assert one(loop, ev.STEP_FINISHED, "nodes-ready").data["status"] == "failed"
    assert_order(loop, [(ev.STEP_FINISHED, "nodes-ready"), (ev.ESCALATION_PASSED, "nodes-ready"),
                        (ev.FAILURE_CHOICE, "nodes-ready"), (ev.CHANGE_CLOSED, None)])
    assert one(loop, ev.FAILURE_CHOICE).data["choice"] == "abort"
    started = [e.data["step_id"] for e in loop.events if e.type == ev.STEP_STARTED]
    assert started == ["backup-deployment", "nodes-ready"], trail(loop)
    assert not [e for e in loop.events if e.type in (ev.STEP_CONFIRMED, ev.BREAKGLASS_RECORDED, ev.ROLLBACK_STARTED)]
    assert not [e for e in loop.events if e.type == ev.APPROVAL_RECORDED and e.data.get("step_id")]
    assert health.requests == 0
    assert_record_sound(console, loop, runbooks / f"{RUNBOOK}.yaml")
    assert settled(cluster, RUNBOOK, "aborted", before) == []
