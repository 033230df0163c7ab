"""``opsconsole rehearse`` on the shipped Terraform runbook: the change and its rollback run on a copy of the
Terraform directory whose state is local to the copy, so the original directory (and any backend it names) is
never touched, and the record is the rollback evidence a production start asks for.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from console.journal.journal import read_events, verify
from console.journal.store import RecordStore
from tests.support.tfhelpers import OFFLINE_ENV

REPO = Path(__file__).resolve().parents[2]


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_rehearse_runs_terraform_on_a_local_state_copy_and_records_the_rollback(tmp_path: Path, dead_kubeconfig: Path) -> None:
    shutil.copy(REPO / "runbooks" / "terraform-node-count.yaml", tmp_path / "terraform-node-count.yaml")
    shutil.copytree(REPO / "runbooks" / "terraform", tmp_path / "terraform",
                    ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*"))
    # A remote backend the rehearsal must never reach: an http backend on a closed port.
    (tmp_path / "terraform" / "nodepool" / "backend.tf").write_text(
        'terraform {\n  backend "http" {\n    address = "http://127.0.0.1:9/state"\n  }\n}\n')
    before = tree_digest(tmp_path / "terraform")
    env = {**os.environ, **OFFLINE_ENV, "PATH": "/usr/bin:/bin", "OPSCONSOLE_RECORDS": str(tmp_path / "records"),
           "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "rehearse", str(tmp_path / "terraform-node-count.yaml"),
         "--kubeconfig", str(tmp_path / "kubeconfig"), "--context", "rehearsal",
         "--approval", "mo:engineering-manager:TCK-7", "--approval", "sam:security"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Terraform runs on a copy with local state" in proc.stdout
    assert "closed: rolled back (the rollback finished)" in proc.stdout
    assert tree_digest(tmp_path / "terraform") == before  # the original directory untouched
    (ref,) = RecordStore(tmp_path / "records").list_changes()
    assert verify(RecordStore(tmp_path / "records").journal_path(ref)).ok
    events = read_events(ref.path / "journal.jsonl").events
    plans = [e.data for e in events if e.type == "artifact.saved" and e.data.get("summary")]
    assert [p["step_id"] for p in plans] == ["plan", "back-to-previous"]
    # The copy starts from an empty local state (the http backend's state is never read): five nodes added, and
    # the rollback re-plans to the previous count of three.
    assert plans[0]["summary"]["add"] == 5
    assert plans[1]["summary"] == {"add": 0, "change": 0, "replace": 0, "destroy": 2}
    created = events[0].data["runbook"]
    original = hashlib.sha256((tmp_path / "terraform-node-count.yaml").read_bytes()).hexdigest()
    assert created["sha256"] == original  # the evidence's key is the original runbook's
