"""Resume after the console was killed mid-step, finished through the screens by keys.

The change starts in a real child process (``opsconsole run --plain --answers``), which is SIGKILLed while its
long step runs. The step screen then opens the change by ID: the step shows as interrupted (never as done), it
asks its confirmation again, and the change is finished with keys; the journal tells the whole story.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from console.journal import events as ev
from console.journal.journal import read_events, verify
from console.journal.store import RecordStore
from screens.app import OpsConsoleApp
from screens.closeout import CloseoutScreen
from tests.support.wait import wait_for

LONG_STEP = (
    "import os, sys, time\n"
    "print('long step started', flush=True)\n"
    "while not os.path.exists(sys.argv[1]):\n"
    "    time.sleep(0.05)\n"
    "print('go-ahead file found', flush=True)\n"
)


def long_runbook(directory: Path, go_ahead: Path) -> Path:
    """A low-risk runbook against the rehearsal cluster whose middle step waits for ``go_ahead`` to exist."""
    doc = {
        "apiVersion": "opsconsole/v1", "kind": "Runbook",
        "metadata": {"id": "label-with-long-step", "title": "Label web-config around a long step", "component": "web",
                     "from": "unlabelled", "to": "labelled", "risk": "low", "environments": ["rehearsal"], "owners": ["platform"]},
        "why": "Exercise a resume in the middle of a long step.",
        "scope": "labels on the web-config ConfigMap",
        "blast_radius": "none: labels only",
        "params": {"namespace": {"type": "string", "default": "web"}},
        "steps": [
            {"id": "label-before", "title": "Label before", "confirm": "yes",
             "run": ["kubectl", "label", "configmap", "web-config", "-n", "{namespace}", "stage=before", "--overwrite"]},
            {"id": "long", "title": "A long step", "confirm": "yes", "timeout": "60s",
             "run": [sys.executable, "-c", LONG_STEP, str(go_ahead)]},
            {"id": "label-after", "title": "Label after", "confirm": "yes",
             "run": ["kubectl", "label", "configmap", "web-config", "-n", "{namespace}", "stage=after", "--overwrite"]},
        ],
        "done_when": ["web-config is labelled stage=after"],
    }
    path = directory / "label-with-long-step.yaml"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def started_long(records_dir: Path) -> str | None:
    """The change ID once its journal records the long step as started."""
    store = RecordStore(records_dir)
    for ref in store.list_changes() if records_dir.is_dir() else []:
        events = read_events(store.journal_path(ref)).events
        if any(e.type == ev.STEP_STARTED and e.data["step_id"] == "long" for e in events):
            return ref.change_id
    return None


async def test_resume_after_the_console_was_killed_mid_step(tmp_path, records_dir, runbooks_dir, cluster, frozen_clock, policy, driver_for) -> None:
    go_ahead = tmp_path / "go-ahead"
    runbook = long_runbook(runbooks_dir, go_ahead)
    answers = tmp_path / "answers.yaml"
    answers.write_text(json.dumps({"operator": "alice", "confirm": {"label-before": "yes", "long": "yes", "label-after": "yes"},
                                   "close": {"outcome": "auto"}}), encoding="utf-8")
    out = open(tmp_path / "child.out", "wb")  # noqa: SIM115  # the child writes to it until it is killed; closed below
    child = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "run", str(runbook), "--plain", "--answers", str(answers),
         "--kubeconfig", str(cluster.kubeconfig), "--context", cluster.context, "--records-dir", str(records_dir)],
        cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    step_pids: list[int] = []
    try:
        change_id = wait_for(lambda: started_long(records_dir), timeout=30, what="the long step to start")
        # The line as the step printed it ("| " after its time), not the header that shows the command's own text.
        wait_for(lambda: b"| long step started\n" in (tmp_path / "child.out").read_bytes(), timeout=30, what="the long step's output")
        # The step's own process group outlives a SIGKILLed console; remember it so the test can end it.
        step_pids = [p.pid for p in psutil.Process(child.pid).children(recursive=True)]
        assert step_pids, "the long step has no process"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        out.close()
        for pid in step_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert cluster.get("configmaps", "web", "web-config")["metadata"]["labels"]["stage"] == "before"

    app = OpsConsoleApp(records_dir=records_dir, runbooks_dir=runbooks_dir, policy=policy, kubeconfig=str(cluster.kubeconfig),
                        operator="bob", clock=frozen_clock, resume_id=change_id)
    async with app.run_test(size=(120, 40)) as pilot:
        d = driver_for(pilot)
        await d.wait(lambda: type(d.app.screen).__name__ == "StepScreen", what="the resumed change")
        await d.until_next("confirm", "long")
        assert "interrupted when the console stopped" in d.text("#step-title")
        assert "⚠ long interrupted" in d.text("#step-list")
        assert "Press y" in d.text("#step-prompt")
        go_ahead.touch()
        await d.press("y")
        await d.until_next("confirm", "label-after")
        await d.press("y")
        await d.wait(lambda: isinstance(d.app.screen, CloseoutScreen), what="the close-out")
        screen = d.app.screen
        await d.press("ctrl+s")
        await d.wait(lambda: screen.closed_head is not None, what="the change to close")
        change_dir = screen.session.ref.path

    assert verify(change_dir / "journal.jsonl", head=screen.closed_head).ok
    events = read_events(change_dir / "journal.jsonl").events
    interrupted = [e for e in events if e.type == ev.STEP_INTERRUPTED]
    assert [e.data["step_id"] for e in interrupted] == ["long"]
    long_events = [(e.type, e.data.get("attempt")) for e in events if e.data.get("step_id") == "long" and e.type != ev.NOTE_ADDED]
    assert long_events == [
        (ev.STEP_CONFIRMED, None), (ev.STEP_STARTED, 1), (ev.STEP_INTERRUPTED, None),
        (ev.STEP_CONFIRMED, None), (ev.STEP_STARTED, 2), (ev.STEP_FINISHED, None),
    ]
    confirmers = [e.data["by"] for e in events if e.type == ev.STEP_CONFIRMED and e.data["step_id"] == "long"]
    assert confirmers == ["alice", "bob"]
    finished = next(e for e in events if e.type == ev.STEP_FINISHED and e.data["step_id"] == "long")
    assert finished.data["status"] == "passed"
    assert "go-ahead file found" in (change_dir / finished.data["file"]["path"]).read_text(encoding="utf-8")
    assert next(e for e in events if e.type == ev.CHANGE_CLOSED).data["outcome"] == "success"
    assert "interrupted" in (change_dir / "record.md").read_text(encoding="utf-8").lower()
    assert cluster.get("configmaps", "web", "web-config")["metadata"]["labels"]["stage"] == "after"


async def test_the_step_screen_asks_again_for_a_step_confirmed_before_the_console_died(tmp_path, records_dir, runbooks_dir, cluster, frozen_clock, policy, driver_for) -> None:
    from console.engine.session import ChangeSession, StartRequest

    marker = tmp_path / "ran"
    doc = {
        "apiVersion": "opsconsole/v1", "kind": "Runbook",
        "metadata": {"id": "touch-a-file", "title": "Touch a file", "component": "files", "from": "absent", "to": "present",
                     "risk": "low", "environments": ["rehearsal"], "owners": ["platform"]},
        "why": "A step confirmed by a console that then died.", "scope": "one file", "blast_radius": "none",
        "steps": [{"id": "touch", "title": "Touch it", "run": ["sh", "-c", 'echo ran >> "$1"', "sh", str(marker)]}],
        "done_when": ["the file exists"],
    }
    path = runbooks_dir / "touch-a-file.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    first = ChangeSession.start(
        StartRequest(runbook_path=path, environment="rehearsal", context=cluster.context, operator="alice",
                     kubeconfig=str(cluster.kubeconfig)),
        store=RecordStore(records_dir), policy=policy,
    )
    assert first.confirm("yes")
    first.release()  # the console dies right after the confirmation was written

    app = OpsConsoleApp(records_dir=records_dir, runbooks_dir=runbooks_dir, policy=policy, kubeconfig=str(cluster.kubeconfig),
                        operator="bob", clock=frozen_clock, resume_id=first.change_id)
    async with app.run_test(size=(120, 40)) as pilot:
        d = driver_for(pilot)
        await d.wait(lambda: type(d.app.screen).__name__ == "StepScreen", what="the resumed change")
        await d.until_next("confirm", "touch")
        assert "Press y" in d.text("#step-prompt")
        assert not marker.exists(), "the dead session's confirmation ran the step"
        await d.press("y")
        await d.wait(lambda: isinstance(d.app.screen, CloseoutScreen), what="the close-out")
    assert marker.read_text() == "ran\n"
    events = read_events(first.ref.path / "journal.jsonl").events
    assert [e.data["by"] for e in events if e.type == ev.STEP_CONFIRMED] == ["alice", "bob"]
