"""Terraform steps show Terraform's human lines (each ``-json`` message's ``@message``, the plan's change summary),
and keep the raw ``-json`` stream as an artifact of the step, hashed into the record.

The real ``terraform`` binary runs the node pool's configuration (built-in provider only, offline) under the console
in line mode, as a child process driven by an answers file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.journal.journal import read_events, verify
from console.journal.store import RecordStore
from tests.support.tfhelpers import NODEPOOL, OFFLINE_ENV, real_binary

REPO = Path(__file__).resolve().parents[2]

RUNBOOK = {
    "apiVersion": "opsconsole/v1", "kind": "Runbook",
    "metadata": {"id": "tf-plan", "title": "Plan the pool", "component": "nodepool", "from": "0", "to": "2",
                 "risk": "low", "environments": ["rehearsal"], "owners": ["platform"]},
    "why": "Plan two nodes.", "scope": "the nodepool directory", "blast_radius": "none: a plan only",
    "steps": [
        {"id": "init", "title": "Initialise", "kind": "terraform",
         "terraform": {"action": "init", "dir": "nodepool", "driver": "binary"}},
        {"id": "plan", "title": "Plan two nodes", "kind": "terraform",
         "terraform": {"action": "plan", "dir": "nodepool", "driver": "binary", "vars": {"node_count": "2"},
                       "guard": {"forbid": ["destroy"], "allow_types": ["terraform_data"]}}},
    ],
    "done_when": ["a plan is saved"],
}


@pytest.mark.skipif(real_binary() is None, reason="no terraform or tofu binary on PATH")
def test_line_mode_shows_terraforms_human_lines_and_keeps_the_json_stream(tmp_path: Path, dead_kubeconfig: Path) -> None:
    shutil.copytree(NODEPOOL, tmp_path / "nodepool", ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*"))
    (tmp_path / "rb.json").write_text(json.dumps(RUNBOOK))
    (tmp_path / "answers.yaml").write_text('operator: alice\nconfirm: {init: "yes", plan: "yes"}\nclose: {outcome: auto}\n')
    env = {**os.environ, **OFFLINE_ENV, "OPSCONSOLE_RECORDS": str(tmp_path / "records"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "run", str(tmp_path / "rb.json"), "--plain", "--kubeconfig",
         str(dead_kubeconfig), "--answers", str(tmp_path / "answers.yaml")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = [line.split(" | ", 1)[1] for line in proc.stdout.splitlines() if " | " in line]
    assert not [line for line in shown if '"@message"' in line], proc.stdout  # no raw JSON on the screen
    assert "Terraform has been successfully initialized!" in shown
    assert "terraform_data.node[0]: Plan to create" in shown
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in shown

    store = RecordStore(tmp_path / "records")
    (ref,) = store.list_changes()
    journal = store.journal_path(ref)
    assert verify(journal).ok
    streams = [e.data for e in read_events(journal).events
               if e.type == "artifact.saved" and e.data.get("kind") == "terraform-json"]
    assert [s["step_id"] for s in streams] == ["init", "plan"]
    raw = (ref.path / streams[1]["file"]["path"]).read_text().splitlines()
    messages = [json.loads(line) for line in raw]
    assert any(m.get("type") == "change_summary" and m["changes"]["add"] == 2 for m in messages)
    # the cast (what the operator saw, replayed) holds the human lines too
    step_done = next(e.data for e in read_events(journal).events if e.type == "step.finished" and e.data["step_id"] == "plan")
    cast = (ref.path / step_done["file"]["path"]).read_text()
    assert "Plan: 2 to add" in cast and '\\"@message\\"' not in cast and '"@message"' not in cast
