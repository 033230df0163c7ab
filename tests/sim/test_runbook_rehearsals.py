"""Every shipped runbook rehearses end to end against the rehearsal cluster, through the real console.

Each runbook runs as ``opsconsole run --plain --answers`` in a child process with the real kubectl, on a fresh
default-scenario cluster, and must close with outcome success and a record that verifies. Observe windows and
waits are shortened in a copy of the runbook so the whole set stays quick; nothing else is changed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.journal.journal import read_events, verify
from console.journal.store import RecordStore
from kubesim.testing import running_cluster

REPO = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl")

ANSWERS = {
    "web-config-restart": """
        approvals: [{name: bob, role: senior-engineer}]
        confirm: {update-config: "yes", restart: web}
    """,
    "web-image-upgrade": """
        approvals: [{name: bob, role: senior-engineer}]
        confirm: {set-image: web}
    """,
    "scale-deployment": """
        approvals: [{name: bob, role: senior-engineer}]
        confirm: {scale: web}
    """,
    "drain-node": """
        params: {node: node-2}
        approvals: [{name: bob, role: senior-engineer}]
        confirm: {cordon: node-2, drain: node-2, uncordon: "yes"}
        manual: {maintenance: {answer: done, note: kernel patched}}
    """,
    "expand-volume": """
        approvals: [{name: mo, role: engineering-manager}, {name: sam, role: security}]
        confirm: {expand: data-postgres-0}
        manual: {snapshot: {answer: done, note: "snapshot snap-0042"}}
    """,
    "add-redis": """
        approvals: [{name: bob, role: senior-engineer}]
        confirm: {create-deployment: "yes", expose: "yes"}
    """,
}


def _shortened(text: str) -> str:
    """The same runbook with observe windows of a second (a rehearsal, not a maintenance window): 20 s declared,
    a second at the rehearsal clock's 20x."""
    return re.sub(r"duration: \d+[smh]", "duration: 20s", text)


@pytest.mark.kubectl
@pytest.mark.parametrize("runbook_id", sorted(ANSWERS))
def test_shipped_runbook_rehearses_to_success(runbook_id: str, tmp_path: Path) -> None:
    if KUBECTL is None:
        pytest.skip("kubectl not on PATH")
    runbook = tmp_path / f"{runbook_id}.yaml"
    runbook.write_text(_shortened((REPO / "runbooks" / f"{runbook_id}.yaml").read_text()))
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: alice\nclose: {outcome: auto}\n" + "\n".join(
        line.strip() for line in ANSWERS[runbook_id].strip().splitlines()))
    records = tmp_path / "records"
    with running_cluster("default", speed=20.0) as rc:
        env = {**rc.env(), "OPSCONSOLE_RECORDS": str(records)}
        proc = subprocess.run(
            [sys.executable, "-m", "console.cli", "run", str(runbook), "--plain", "--kubeconfig", str(rc.kubeconfig),
             "--context", rc.context, "--answers", str(answers)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
        )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    (ref,) = RecordStore(records).list_changes()
    report = verify(ref.path / "journal.jsonl")
    assert report.ok, report
    events = read_events(ref.path / "journal.jsonl").events
    assert events[-1].type == "change.closed" and events[-1].data["outcome"] == "success"
    failed = [e.data["step_id"] for e in events if e.type == "step.finished" and e.data["status"] != "passed"]
    assert failed == []
    assert (ref.path / "record.md").exists()


def test_every_shipped_runbook_has_a_rehearsal() -> None:
    shipped = {p.stem for p in (REPO / "runbooks").glob("*.yaml") if not p.name.startswith("_")}
    # The Terraform runbook rehearses through the embedded engine in tests/terraform/test_tf_runbook.py; blue-green
    # and canary rehearse to success and to rollback in tests/adversarial/test_shipped_patterns.py.
    assert shipped - {"terraform-node-count", "web-blue-green", "web-canary"} == set(ANSWERS)
