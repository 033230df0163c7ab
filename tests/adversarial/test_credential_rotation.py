"""A password rotation whose secrets come in everywhere text enters a change, rehearsed, then killed and resumed.

``db-credential-rotation`` (SOP-005's high-risk security change, backup first as the configuration procedures ask)
takes the new and old passwords and an admin token as secret parameters: the passwords go into a Secret through a
shell pipeline, the token and a password into a probe's environment, which prints them on stdout and stderr; a
verification prints the Secret's data as the API serves it, base64. The operator's own words carry secrets too (the
answers file): a note pasting a connection string and a ``password=``, an approval reference with a bearer token, an
approval step's reference with a GitHub token, a follow-up with an AWS key pair. After the change every file under
its record, names included, is searched for each secret as typed and base64-encoded.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from console.journal import events as ev
from kubesim.testing import RunningCluster

from .crashloop import ANSWERS, Console, Loop, choose_points, crash_loop, load
from .faults import node_not_ready, when_started
from .journal_audit import audit
from .rehearsal import assert_closed, assert_order, assert_record_sound, one, rehearse, trail
from .secrets_on_disk import leaks

RUNBOOK = "db-credential-rotation"
SEED = 20261202
SECRET_PARAMS = {"new_password": "N3wPassw0rd-rot8", "old_password": "OldPassw0rd-99", "admin_token": "adm1n-T0ken-xyz42"}
# What the answers file plants in the operator's notes, approval references and follow-ups.
TYPED = ["Bill1ngPassw0rd", "Hunter2Rotated9", "c2lnbmF0dXJlX2hlcmVfMTIz", "ghp_A1b2C3d4E5A1b2C3d4E5A1b2C3d4E5f6G7h8",
         "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMIK7MDENGbPxRfiCYzzKEY"]
pytestmark = pytest.mark.kubectl


def secret_args() -> list[str]:
    return [a for name, value in SECRET_PARAMS.items() for a in ("--param", f"{name}={value}")]


def run_args() -> list[str]:
    return ["--param", "ticket=SEC-41", *secret_args()]


def cluster_password(cluster: RunningCluster) -> str:
    out = subprocess.run(["kubectl", "get", "secret", "postgres-credentials", "-n", "data", "-o",
                          "jsonpath={.data.POSTGRES_PASSWORD}"], env=cluster.env(), capture_output=True, text=True,
                         check=True, timeout=30).stdout
    import base64

    return base64.b64decode(out).decode()


def test_the_rotation_runs_and_no_secret_reaches_the_record_in_any_form(console: Console, runbooks: Path,
                                                                        cluster: RunningCluster) -> None:
    loop = rehearse(console, runbooks, RUNBOOK, extra=run_args())
    assert_closed(loop, "success")
    assert_order(loop, [
        (ev.ARTIFACT_SAVED, "backup-statefulset"), (ev.ARTIFACT_SAVED, "backup-secret"), (ev.MANUAL_ANSWERED, "impact"),
        (ev.STEP_FINISHED, "credentials-exist"), (ev.STEP_FINISHED, "postgres-settled"),
        (ev.STEP_CONFIRMED, "rotate"), (ev.STEP_FINISHED, "rotate"), (ev.STEP_FINISHED, "probe-admin"),
        (ev.STEP_CONFIRMED, "restart"), (ev.STEP_FINISHED, "restart"), (ev.STEP_FINISHED, "wait-restart"),
        (ev.STEP_FINISHED, "watch"), (ev.STEP_FINISHED, "password-propagated"), (ev.CHANGE_CLOSED, None),
    ])
    assert cluster_password(cluster) == SECRET_PARAMS["new_password"]
    # The probe printed the password on stdout and the token on stderr, and saw them: the masks stand in for them.
    assert one(loop, ev.STEP_FINISHED, "probe-admin").data["status"] == "passed"
    assert "Rotate the postgres password (ticket SEC-41)" in loop.logs[0].read_text()
    assert_record_sound(console, loop, runbooks / f"{RUNBOOK}.yaml")
    found = leaks(console.journal().parent, [*SECRET_PARAMS.values(), *TYPED])
    assert found == [], "\n".join(found) + "\n" + trail(loop)


@pytest.fixture
def window_s() -> float:
    return 1.0  # no fault acts inside the observe window: it has only to pass


def test_the_rotation_killed_three_times_runs_nothing_twice_unconfirmed_and_leaks_nothing(
        console: Console, runbooks: Path, cluster: RunningCluster) -> None:
    path = runbooks / f"{RUNBOOK}.yaml"
    runbook = load(path)
    points = choose_points(random.Random(f"{RUNBOOK}/{SEED}"), runbook, 3, stale_confirmation_first=True)
    # Each resuming operator gives the secret parameters again (they are never on record), as resume asks.
    loop = crash_loop(console, path, ANSWERS / f"{RUNBOOK}.yaml", points, run_extra=run_args(), resume_extra=secret_args())
    where = f"kill points {[str(p) for p in points]}, kills {loop.kills}\n" + trail(loop)
    assert loop.closed and loop.outcome == "success", where
    assert len(loop.kills) == 3 and loop.verify_failures == [], where
    verified = console("records", "verify", loop.change_id)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    found = audit(loop.events, runbook, loop.sessions, console.journal().parent)
    assert found.reruns == [] and found.unconfirmed == [] and found.lost == [], f"{found.describe()}\n{where}"
    assert_no_gate_skipped(loop, path)
    # The approval step and the manual step are answered once each, whatever the kills did between them.
    answered = [(e.type, e.data.get("step_id")) for e in loop.events
                if e.type in (ev.APPROVAL_RECORDED, ev.MANUAL_ANSWERED) and e.data.get("step_id")]
    assert sorted(answered) == sorted(set(answered)) and len(answered) == 2, where
    assert cluster_password(cluster) == SECRET_PARAMS["new_password"]
    leaked = leaks(console.journal().parent, [*SECRET_PARAMS.values(), *TYPED])
    assert leaked == [], "\n".join(leaked) + "\n" + where


def assert_no_gate_skipped(loop: Loop, runbook_path: Path) -> None:
    """Every gate's last run before the first mutating step started finished passed: a kill inside a gate, or between
    the gates and the steps, never lets the change past a gate that did not pass."""
    runbook = load(runbook_path)
    mutating = {s.id for s in runbook.steps if s.is_mutating}
    first = next(e.seq for e in loop.events if e.type == ev.STEP_STARTED and e.data["step_id"] in mutating)
    for gate in runbook.gates:
        runs = [e for e in loop.events if e.type == ev.STEP_FINISHED and e.data["step_id"] == gate.id and e.seq < first]
        assert runs and runs[-1].data["status"] == "passed", f"gate {gate.id} did not pass before the steps\n" + trail(loop)


ROLLBACK = ["put-back-password", "restart-onto-old", "wait-old"]


def test_the_rotation_rolled_back_by_a_node_going_not_ready_and_killed_inside_the_rollback(
        console: Console, runbooks: Path, cluster: RunningCluster) -> None:
    """The rollback path: a node goes NotReady while postgres is watched on the new password, the console rolls back
    by itself, and the kills fall before the failure and inside the rollback. A rollback step the dead session had
    started or confirmed is confirmed again by the resuming operator; the old password is back at the end."""
    path = runbooks / f"{RUNBOOK}.yaml"
    runbook = load(path)
    points = choose_points(random.Random(f"{RUNBOOK}/rollback/{SEED}"), runbook, 3, stale_confirmation_first=False,
                           until="watch", rollback=ROLLBACK)
    loop = crash_loop(console, path, ANSWERS / f"{RUNBOOK}.yaml", points, run_extra=run_args(), resume_extra=secret_args(),
                      on_events=when_started("watch", lambda: node_not_ready(cluster, "node-2")))
    where = f"kill points {[str(p) for p in points]}, kills {loop.kills}\n" + trail(loop)
    assert loop.closed and loop.outcome == "rolled_back", where
    assert loop.verify_failures == [], where
    assert [e.data["steps"] for e in loop.events if e.type == ev.ROLLBACK_STARTED] == [ROLLBACK], where
    verified = console("records", "verify", loop.change_id)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    found = audit(loop.events, runbook, loop.sessions, console.journal().parent)
    assert found.reruns == [] and found.unconfirmed == [] and found.lost == [], f"{found.describe()}\n{where}"
    assert_no_gate_skipped(loop, path)
    assert cluster_password(cluster) == SECRET_PARAMS["old_password"]
    leaked = leaks(console.journal().parent, [*SECRET_PARAMS.values(), *TYPED])
    assert leaked == [], "\n".join(leaked) + "\n" + where
