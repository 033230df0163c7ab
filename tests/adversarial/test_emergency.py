"""An emergency change outside the change window: the fast track, recorded as a break-glass decision.

Policy exempts rehearsal environments from change windows, and unattended runs (``--answers``) are allowed only on
rehearsal environments; so the window itself is tested on ``staging``, which the test's policy maps to the rehearsal
cluster with a high-risk window that excludes today, driving the console's line mode through stdin as an operator
would. There a change without an emergency does not start, and one with an emergency starts, with the window's
verdict and the override in the record. Under ``--answers`` (rehearsal) the fast track runs end to end: the
justification logged, the minimal fix applied, monitoring at once, the post-mortem as a follow-up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from console.journal import events as ev
from kubesim.testing import RunningCluster

from .cluster_state import settled, snapshot
from .crashloop import Console, rehearsal_params
from .rehearsal import (
    assert_closed,
    assert_order,
    assert_record_sound,
    one,
    rehearse,
    trail,
)

RUNBOOK = "emergency-web-capacity"
REASON = "INC-4242: web sheds requests under load while nodes are drained"
pytestmark = pytest.mark.kubectl


@pytest.fixture
def window_s() -> float:
    # Faults here act in rollouts, gates and starts, never inside an observe window: each window has only to pass.
    return 1.0


def staging_start(console: Console, runbooks: Path, *extra: str, stdin: str = ""):
    return console(
        "run", str(runbooks / f"{RUNBOOK}.yaml"), "--plain", "--environment", "staging", "--context", "rehearsal",
        "--kubeconfig", str(console.kubeconfig), "--operator", "alice", "--param", "incident=INC-4242",
        "--approval", "mo:engineering-manager:verbal, INC-4242 bridge call", "--approval", "sam:security:verbal",
        # staging is no rehearsal environment: its durations run as given, unscaled
        *rehearsal_params(runbooks / f"{RUNBOOK}.yaml", 1.0), *extra,
        input=stdin,
    )


def test_outside_the_window_a_change_without_an_emergency_does_not_start(console: Console, runbooks: Path) -> None:
    refused = staging_start(console, runbooks)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    (line,) = refused.stderr.splitlines()
    assert line.startswith("opsconsole: change window: outside the high-risk change window (")
    assert line.endswith("(mark the change as an emergency to override)")
    assert console.journal() is None  # nothing was recorded: the change never existed


def test_outside_the_window_an_emergency_starts_and_records_the_override(console: Console, runbooks: Path,
                                                                         cluster: RunningCluster) -> None:
    before = snapshot(cluster)
    # Line mode on stdin: the two typed confirmations, then close-out (outcome, follow-ups, sign-off name and role).
    typed = "web\nweb\n\npost-mortem for INC-4242 within 24 hours\n\n\n"
    run = staging_start(console, runbooks, "--emergency", REASON, "--emergency-approver", "mo", stdin=typed)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    events = console.events()
    created = events[0].data
    assert (created["environment"], created["emergency"]) == ("staging", True)
    (checked,) = [e.data for e in events if e.type == ev.POLICY_CHECKED]
    window = next(c for c in checked["checks"] if c["name"] == "change window")
    assert (window["ok"], window["overridable"]) == (False, True)
    assert "outside the high-risk change window" in window["message"]
    glass = [e.data for e in events if e.type == ev.BREAKGLASS_RECORDED]
    assert [(g["reason"], g["approver"], g["what"]) for g in glass] == [(REASON, "mo", "emergency change (overrides: change window)")]
    types = [e.type for e in events]
    assert types.index(ev.BREAKGLASS_RECORDED) < types.index(ev.STEP_STARTED)
    closed = events[-1].data
    assert (closed["outcome"], closed["followups"]) == ("success", ["post-mortem for INC-4242 within 24 hours"])
    assert console("records", "verify").returncode == 0
    assert settled(cluster, RUNBOOK, "success", before) == []


def test_the_fast_track_logs_fixes_and_monitors_at_once(console: Console, runbooks: Path, cluster: RunningCluster) -> None:
    before = snapshot(cluster)
    loop = rehearse(console, runbooks, RUNBOOK)
    assert_closed(loop, "success")
    created = loop.events[0].data
    assert (created["environment"], created["emergency"]) == ("rehearsal", True)
    glass = one(loop, ev.BREAKGLASS_RECORDED).data
    assert (glass["reason"], glass["approver"]) == (REASON, "mo")
    assert glass["what"].startswith("emergency change (overrides: ")
    approvals = [(e.data["name"], e.data["role"]) for e in loop.events if e.type == ev.APPROVAL_RECORDED]
    assert approvals == [("mo", "engineering-manager"), ("sam", "security")]
    assert_order(loop, [
        (ev.BREAKGLASS_RECORDED, None), (ev.STEP_STARTED, "emergency-log"), (ev.ARTIFACT_SAVED, "emergency-log"),
        (ev.ARTIFACT_SAVED, "backup-web"), (ev.STEP_FINISHED, "fix-validates"),
        (ev.STEP_CONFIRMED, "hold-capacity"), (ev.STEP_FINISHED, "hold-capacity"),
        (ev.STEP_CONFIRMED, "scale-out"), (ev.STEP_FINISHED, "scale-out"),
        (ev.STEP_FINISHED, "wait-scale"), (ev.STEP_STARTED, "monitor"), (ev.STEP_FINISHED, "monitor"),
        (ev.STEP_FINISHED, "six-ready"), (ev.STEP_FINISHED, "budget-holds"), (ev.CHANGE_CLOSED, None),
    ])
    # Monitoring starts as soon as the fix is rolled out: nothing else happens between them.
    at = {(e.type, e.data.get("step_id")): i for i, e in enumerate(loop.events)}
    assert at[(ev.STEP_STARTED, "monitor")] == at[(ev.STEP_FINISHED, "wait-scale")] + 1, trail(loop)
    log = one(loop, ev.ARTIFACT_SAVED, "emergency-log").data
    text = (console.journal().parent / log["file"]["path"]).read_text()
    assert text.startswith("EMERGENCY CHANGE for INC-4242: ")
    assert one(loop, ev.CHANGE_CLOSED).data["followups"] == ["post-mortem for INC-4242 within 24 hours"]
    assert_record_sound(console, loop, runbooks / f"{RUNBOOK}.yaml")
    assert settled(cluster, RUNBOOK, "success", before) == []


def test_the_record_says_which_incident_the_emergency_answers(console: Console, runbooks: Path) -> None:
    loop = rehearse(console, runbooks, RUNBOOK)
    assert_closed(loop, "success")
    description = loop.events[0].data["description"]
    assert description.startswith("Incident INC-4242: web is shedding requests"), description
    assert "{incident}" not in (console.journal().parent / "record.md").read_text()
