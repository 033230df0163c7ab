"""Cluster-aware steps through the line-mode driver: a rollout wait that fails with the pods' reason, and an
observe window whose rollback trigger fires on live data and leads to a rollback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from console.journal.journal import read_events, verify
from console.journal.store import RecordStore
from kubesim.testing import running_cluster

REPO = Path(__file__).resolve().parents[2]

RUNBOOK = """\
apiVersion: opsconsole/v1
kind: Runbook
metadata: {id: web-crash, title: Web image that crashes, component: web, from: "1.4.2", to: "1.5.0", risk: low,
           environments: [rehearsal], owners: [platform]}
why: rehearse a trigger
scope: web
blast_radius: web
params:
  image: {type: string}
steps:
  - id: set-image
    title: Set the image
    run: [kubectl, set, image, deployment/web, "web={image}", -n, web]
    confirm: "yes"
    rollback: [undo]
  - id: STEP2
rollback:
  triggers:
    - pod_status: {selector: app=web, reasons: [CrashLoopBackOff]}
  steps:
    - id: undo
      title: Undo
      run: [kubectl, rollout, undo, deployment/web, -n, web]
      confirm: "yes"
done_when: [web runs the new image]
"""

# 20 minutes declared: a minute of real time at the rehearsal clock's 20x, which divides declared windows.
OBSERVE = """{id: watch, title: Watch, kind: observe, namespace: web, duration: 20m, on_failure: rollback}"""
WAIT = """{id: wait, title: Wait, kind: rollout, target: deployment/web, namespace: web, timeout: 40s}"""


def _run(tmp_path: Path, second_step: str, image: str, answers: str, *, speed: float = 20.0) -> tuple[subprocess.CompletedProcess[str], list]:
    runbook = tmp_path / "rb.yaml"
    runbook.write_text(RUNBOOK.replace("- id: STEP2", "- " + second_step))
    (tmp_path / "answers.yaml").write_text(f"operator: alice\nparams: {{image: '{image}'}}\n{answers}\nclose: {{outcome: auto}}\n")
    with running_cluster("default", speed=speed) as rc:
        proc = subprocess.run(
            [sys.executable, "-m", "console.cli", "run", str(runbook), "--plain", "--kubeconfig", str(rc.kubeconfig),
             "--answers", str(tmp_path / "answers.yaml")],
            cwd=REPO, env={**rc.env(), "OPSCONSOLE_RECORDS": str(tmp_path / "records")},
            capture_output=True, text=True, timeout=180,
        )
        image_now = rc.store.get("deployments", "web", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    (ref,) = RecordStore(tmp_path / "records").list_changes()
    assert verify(ref.path / "journal.jsonl").ok
    return proc, read_events(ref.path / "journal.jsonl").events, image_now


def test_observe_window_trigger_fires_and_rollback_follows(tmp_path: Path) -> None:
    proc, events, image_now = _run(
        tmp_path, OBSERVE, "registry.local/web:1.5.0-crash",
        'confirm: {set-image: "yes", undo: "yes"}\nfailure: {watch: rollback}',
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
    fired = [e.data for e in events if e.type == "trigger.fired"]
    assert len(fired) == 1 and fired[0]["trigger"] == "pod_status", fired
    assert fired[0]["object"].startswith("Pod/web-") and "CrashLoopBackOff" in fired[0]["message"]
    assert "rollback trigger pod_status fired" in proc.stdout
    assert [e.data["step_id"] for e in events if e.type == "step.started" and e.data["section"] == "rollback"] == ["undo"]
    assert events[-1].data["outcome"] == "rolled_back"
    assert image_now == "registry.local/web:1.4.2"


# The rollout fails on its progress deadline: ten simulated minutes, five seconds here at 120x. A bad image never
# becomes ready, so the state the wait reports (1 of 3 updated, the pull failing) holds all that time at any speed.
@pytest.mark.slow
def test_rollout_wait_fails_with_kubectl_message_and_pod_reasons(tmp_path: Path) -> None:
    proc, events, _ = _run(
        tmp_path, WAIT, "registry.local/web:1.5.0-bad", 'confirm: {set-image: "yes"}\nfailure: {wait: abort}', speed=120.0,
    )
    assert "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated..." in proc.stdout
    assert "ImagePullBackOff" in proc.stdout or "ErrImagePull" in proc.stdout
    finished = next(e.data for e in events if e.type == "step.finished" and e.data["step_id"] == "wait")
    assert finished["status"] == "failed"
    assert "exceeded its progress deadline" in finished["reason"] or "timed out" in finished["reason"]
    assert events[-1].data["outcome"] == "partial"
