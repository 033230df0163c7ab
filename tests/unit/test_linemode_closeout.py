"""Line mode's close-out, driven through the real CLI with typed input: a wrong outcome is asked again, and with no
input left the console stops with the change open and says how to resume it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from console.journal.journal import read_events
from console.journal.store import RecordStore
from tests.engine.conftest import runbook_doc, write_kubeconfig, write_runbook
from tests.unit.test_cli import REPO


def run_plain(tmp_path: Path, typed: str) -> subprocess.CompletedProcess[str]:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig")
    runbook = write_runbook(tmp_path, runbook_doc([{"id": "noop", "kind": "check", "run": ["true"]}]))
    env = {**os.environ, "OPSCONSOLE_RECORDS": str(tmp_path / "records"), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "console.cli", "run", str(runbook), "--plain", "--kubeconfig",
                           str(kubeconfig), "--operator", "alice"],
                          cwd=REPO, env=env, input=typed, capture_output=True, text=True, timeout=60)


def test_an_unknown_outcome_at_close_out_is_asked_again(tmp_path: Path) -> None:
    result = run_plain(tmp_path, "done\nsuccess\n\n\n\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "'done' is not an outcome: success, rolled_back, partial or aborted" in result.stdout
    assert result.stdout.count("outcome [success]: ") == 2
    assert re.search(r"CHG-\d{4}-\d{4} closed: success", result.stdout)


def test_no_input_left_at_close_out_stops_with_the_change_open(tmp_path: Path) -> None:
    result = run_plain(tmp_path, "")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    found = re.search(r"no input left: the change stays open; carry on with: opsconsole resume (CHG-\d{4}-\d{4})",
                      result.stdout)
    assert found, result.stdout
    store = RecordStore(tmp_path / "records")
    events = read_events(store.journal_path(store.find(found.group(1)))).events
    assert "change.closed" not in [e.type for e in events]
