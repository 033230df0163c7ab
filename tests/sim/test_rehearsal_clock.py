"""Declared durations on a rehearsal cluster whose clock runs fast: an observe window named by a duration parameter
lasts its declared time divided by the clock's speed, a health check is retried at the scaled interval until it
passes, and the record keeps the declared duration, the factor and each try. The real CLI in line mode, the real
kubectl, the rehearsal cluster."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.journal import events as ev
from console.journal.journal import read_events, verify
from console.journal.store import RecordStore
from kubesim.testing import RunningCluster, running_cluster

REPO = Path(__file__).resolve().parents[2]
SPEED = 600.0  # ten declared minutes pass in one second

RUNBOOK = """\
apiVersion: opsconsole/v1
kind: Runbook
metadata: {id: web-watch, title: Watch web, component: web, from: "1.4.2", to: "1.4.2", risk: low,
           environments: [rehearsal], owners: [platform]}
why: rehearse a window
scope: web
blast_radius: none
params:
  watch_for: {type: duration, default: 10m, min: 5m, description: How long web is observed}
steps:
  - {id: watch, title: Watch web, kind: observe, namespace: web, duration: "{watch_for}"}
verification:
  - id: late-config
    title: The late ConfigMap exists
    kind: check
    run: [kubectl, get, configmap, late, -n, web]
    retry: {attempts: 20, interval: 10m}
done_when: [web was watched]
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[RunningCluster]:
    with running_cluster("default", speed=SPEED) as rc:
        yield rc


def _console(rc: RunningCluster, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    runbook = tmp_path / "rb.yaml"
    runbook.write_text(RUNBOOK)
    (tmp_path / "answers.yaml").write_text("operator: alice\nclose: {outcome: auto}\n")
    return subprocess.Popen(
        [sys.executable, "-m", "console.cli", "run", str(runbook), "--plain", "--kubeconfig", str(rc.kubeconfig),
         "--answers", str(tmp_path / "answers.yaml"), *extra],
        cwd=REPO, env={**rc.env(), "OPSCONSOLE_RECORDS": str(tmp_path / "records")},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _journal(tmp_path: Path) -> Path | None:
    refs = RecordStore(tmp_path / "records").list_changes() if (tmp_path / "records").exists() else []
    return refs[0].path / "journal.jsonl" if refs else None


def test_a_window_scales_by_the_rehearsal_clock_and_a_check_is_retried_until_it_passes(
    cluster: RunningCluster, tmp_path: Path,
) -> None:
    proc = _console(cluster, tmp_path)
    try:
        # Wait for the check's first failed try, then create what it looks for: a later try passes.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            path = _journal(tmp_path)
            events = read_events(path).events if path and path.exists() else []
            if any(e.type == ev.STEP_FINISHED and e.data.get("retrying") for e in events):
                break
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.05)
        else:
            pytest.fail("the check's first try never failed")
        subprocess.run(["kubectl", "create", "configmap", "late", "-n", "web"], env=cluster.env(), check=True,
                       capture_output=True)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    path = _journal(tmp_path)
    assert path is not None and verify(path).ok
    events = read_events(path).events
    watch_started = next(e.data for e in events if e.type == ev.STEP_STARTED and e.data["step_id"] == "watch")
    assert watch_started["timing"] == {"declared": {"duration_s": 600}, "factor": SPEED, "scaled": {"duration_s": 1.0}}
    watched = next(e.data for e in events if e.type == ev.STEP_FINISHED and e.data["step_id"] == "watch")
    assert watched["status"] == "passed" and 1.0 <= watched["duration_s"] < 600, watched
    tries = [e.data for e in events if e.type == ev.STEP_STARTED and e.data["step_id"] == "late-config"]
    assert len(tries) >= 2 and [t["retry"]["try"] for t in tries] == list(range(1, len(tries) + 1))
    assert {t["retry"]["of"] for t in tries} == {20} and tries[0]["timing"]["scaled"] == {"interval_s": 1.0}
    ends = [e.data for e in events if e.type == ev.STEP_FINISHED and e.data["step_id"] == "late-config"]
    assert [d.get("retrying", False) for d in ends] == [True] * (len(ends) - 1) + [False] and ends[-1]["status"] == "passed"
    # line mode said so
    assert "the rehearsal clock runs at 600x" in out and "attempt 2 of 20" in out, out
    closed = next(e.data for e in events if e.type == ev.CHANGE_CLOSED)
    assert closed["outcome"] == "success"


def test_a_duration_below_its_minimum_is_refused_naming_the_parameter(cluster: RunningCluster, tmp_path: Path) -> None:
    proc = _console(cluster, tmp_path, "--param", "watch_for=1m")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    assert "parameter watch_for: 1m is shorter than its minimum of 5m" in out, out
    assert _journal(tmp_path) is None
