"""The console killed mid-step and resumed, and one change driven by one console at a time; real processes throughout.

The console runs as ``python -m console.cli run ... --plain --answers ...`` in a child process. The test waits for
the long step's first line (with a deadline), checks that a second console is refused while the first lives,
kills the first with SIGKILL, and resumes: the journal verifies, the step is recorded as interrupted and must be
confirmed again before it reruns, and the change finishes with its record rendered.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from console.config import load_policy
from console.engine.session import ChangeSession
from console.journal import events as ev
from console.journal.cast import read_cast
from console.journal.journal import read_events
from console.journal.store import ChangeLocked, RecordStore

from .conftest import PY, REPO, opsconsole, pid_alive, runbook_doc, write_runbook

LONG = 'echo "pid $$"; if [ -f resumed ]; then echo quick rerun; else echo started-long; sleep 30; echo finished-long; fi'


class LineReader:
    """Reads a child's stdout on a thread so the test can wait for a line with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self._thread.start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} within {timeout}s; got:\n" + "\n".join(self.lines))
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"output ended before {pattern!r}; got:\n" + "\n".join(self.lines))
            self.lines.append(line)
            m = rx.search(line)
            if m:
                return m


@pytest.fixture
def long_change(tmp_path: Path, kubeconfig: Path, records_dir: Path):
    doc = runbook_doc(
        gates=[{"id": "ready", "kind": "check", "run": ["sh", "-c", "echo gate ok"]}],
        steps=[
            {"id": "prepare", "run": ["sh", "-c", "echo prepared >> progress.txt"]},
            {"id": "long", "title": "The long step", "run": ["sh", "-c", LONG], "confirm": "typed", "confirm_word": "long-job"},
            {"id": "after", "run": ["sh", "-c", "echo after >> progress.txt"]},
        ],
    )
    runbook = write_runbook(tmp_path, doc)
    first = tmp_path / "answers.yaml"
    first.write_text("operator: alice\nconfirm: {prepare: 'yes', long: long-job, after: 'yes'}\nclose: {outcome: auto}\n")
    again = tmp_path / "answers-resume.yaml"
    # The operator must confirm the interrupted step again: a wrong word first (refused), then the right one.
    again.write_text("operator: bob\nconfirm: {long: [not-sure, long-job], after: 'yes'}\nclose: {outcome: auto}\n")
    env = dict(os.environ, OPSCONSOLE_RECORDS=str(records_dir))
    return runbook, first, again, env


def test_a_console_killed_mid_step_resumes_with_the_step_interrupted(long_change, tmp_path: Path, kubeconfig: Path, records_dir: Path) -> None:
    runbook, first, again, env = long_change
    console = subprocess.Popen(
        [PY, "-m", "console.cli", "run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--answers", str(first)],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    step_pid = None
    try:
        out = LineReader(console)
        change_id = out.wait_for(r"^change (CHG-\d{4}-\d{4}): ").group(1)
        step_pid = int(out.wait_for(r"\| pid (\d+)$").group(1))
        out.wait_for(r"\| started-long$")

        # While the first console lives, a second one is refused, naming who holds the change.
        held = opsconsole("resume", change_id, "--plain", "--kubeconfig", str(kubeconfig), "--answers", str(again), env=env, input="")
        assert held.returncode == 1
        (line,) = held.stderr.splitlines()
        assert line.startswith(f"opsconsole: {change_id} is held by alice (pid {console.pid} on ")

        console.send_signal(signal.SIGKILL)
        console.wait(timeout=10)
    finally:
        if console.poll() is None:
            console.kill()
            console.wait()
        # The step's process group outlives a SIGKILLed console (it runs in its own session); end it here.
        if step_pid is not None and pid_alive(step_pid):
            os.killpg(step_pid, signal.SIGKILL)

    (ref,) = RecordStore(records_dir).list_changes()
    before = [e.type for e in read_events(ref.path / "journal.jsonl").events]
    assert before[-1] == ev.STEP_STARTED and ev.CHANGE_CLOSED not in before
    verified = opsconsole("records", "verify", change_id, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    (tmp_path / "resumed").touch()
    resumed = opsconsole("resume", change_id, "--plain", "--kubeconfig", str(kubeconfig), "--answers", str(again), env=env, input="")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "(this step was interrupted when the console stopped; it has not been marked done)" in resumed.stdout
    assert "refused: 'not-sure' is not 'long-job' (recorded)" in resumed.stdout
    assert "| quick rerun" in resumed.stdout
    assert f"== {change_id} closed: success" in resumed.stdout

    events = read_events(ref.path / "journal.jsonl").events
    after_crash = [(e.type, e.data.get("step_id")) for e in events[len(before):]]
    assert after_crash[:6] == [
        (ev.SESSION_RESUMED, None),
        (ev.STEP_INTERRUPTED, "long"),
        (ev.STEP_CONFIRMATION_REFUSED, "long"),
        (ev.STEP_CONFIRMED, "long"),
        (ev.STEP_STARTED, "long"),
        (ev.STEP_FINISHED, "long"),
    ]
    interrupted = next(e for e in events if e.type == ev.STEP_INTERRUPTED)
    assert interrupted.data["section"] == "step"
    # What the step printed before the kill is kept, and hashed into the journal so verify covers it.
    partial = interrupted.data["file"]
    assert partial["path"] == "outputs/003-long.cast"
    _, printed = read_cast(ref.path / partial["path"])
    # Lines read together are one cast event, so the check is on the text, not on how it was cut into events.
    assert "".join(text for _t, code, text in printed if code == "o").endswith("started-long\r\n")
    assert [e.data["attempt"] for e in events if e.type == ev.STEP_STARTED and e.data["step_id"] == "long"] == [1, 2]
    assert (tmp_path / "progress.txt").read_text().split() == ["prepared", "after"]  # "prepare" ran once, not again

    verified = opsconsole("records", "verify", change_id, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    record = (ref.path / "record.md").read_text()
    assert "| Outcome | **Success** |" in record
    assert "interrupted" in record
    shown = opsconsole("records", "show", change_id, env=env)
    assert shown.returncode == 0 and change_id in shown.stdout


def test_a_second_session_is_refused_while_the_first_holds_the_change_and_allowed_after(start, store: RecordStore, kubeconfig: Path) -> None:
    s = start(runbook_doc(steps=[{"id": "go", "run": ["true"]}]))
    with pytest.raises(ChangeLocked) as locked:
        ChangeSession.resume(s.change_id, store=store, policy=load_policy(), operator="bob", kubeconfig=str(kubeconfig))
    holder = locked.value.holder
    assert (holder.pid, holder.user) == (os.getpid(), "alice")
    assert str(locked.value).startswith(f"{s.change_id} is held by alice (pid {os.getpid()} on ")
    s.release()
    again = ChangeSession.resume(s.change_id, store=store, policy=load_policy(), operator="bob", kubeconfig=str(kubeconfig))
    try:
        assert again.next().kind == "confirm"
        assert not [e for e in again.events if e.type == ev.STEP_INTERRUPTED]  # nothing was running
    finally:
        again.release()
