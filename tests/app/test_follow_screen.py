"""The Follow screen on a change another process writes: steps, streaming output, decisions, then the record; no
key the follower presses writes to the change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Log

from console.journal.store import RecordStore
from screens.follow import FollowApp, FollowScreen, ReadOnlyRecordScreen
from screens.widgets.output_log import OutputLog
from screens.widgets.step_list import StepList

REPO = Path(__file__).resolve().parents[2]
SIZE = (120, 40)
GATED = 'echo "count 1"; echo "count 2"; while [ ! -f go ]; do sleep 0.05; done; echo "after go"'


def runbook(directory: Path) -> Path:
    doc = {
        "apiVersion": "opsconsole/v1", "kind": "Runbook",
        "metadata": {"id": "follow-screen", "title": "Follow screen", "component": "web", "from": "1.0.0", "to": "1.1.0",
                     "risk": "low", "environments": ["rehearsal"], "owners": ["platform"]},
        "why": "Show a change to a follower.", "scope": "The test's directory.", "blast_radius": "None.",
        "steps": [
            {"id": "count", "title": "Count", "run": ["sh", "-c", GATED], "confirm": "typed", "confirm_word": "count"},
            {"id": "last", "run": ["sh", "-c", "echo last line"]},
        ],
        "rollback": {"triggers": [], "steps": []}, "done_when": ["it ran"],
    }
    path = directory / "runbook.yaml"
    path.write_text(json.dumps(doc))
    return path


async def until(pilot, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not (pilot.app.screen.is_mounted and condition()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await pilot.pause(0.05)


@pytest.fixture
def writer(tmp_path: Path, records_dir: Path, dead_kubeconfig: Path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: alice\nconfirm: {count: count, last: 'yes'}\nclose: {outcome: auto}\n")
    env = dict(os.environ, OPSCONSOLE_RECORDS=str(records_dir), PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "run", str(runbook(tmp_path)), "--plain", "--kubeconfig", str(dead_kubeconfig),
         "--answers", str(answers)], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        (tmp_path / "go").touch()
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def wait_for_change(records_dir: Path, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        refs = RecordStore(records_dir).list_changes()
        if refs and (refs[0].path / "journal.jsonl").exists():
            return refs[0]
        assert time.monotonic() < deadline, "the writer never created its change"
        time.sleep(0.05)


def files_of(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


async def test_the_follow_screen_streams_a_change_and_ends_on_its_record(writer, tmp_path: Path, records_dir: Path) -> None:
    ref = wait_for_change(records_dir)
    app = FollowApp(change_dir=ref.path, change_id=ref.change_id)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FollowScreen) and "count 2" in "\n".join(app.screen.query_one(OutputLog).lines))
        screen = app.screen
        assert isinstance(screen, FollowScreen)
        steps = str(screen.query_one(StepList).render())
        assert "▶" in steps and "count" in steps  # the running step is marked
        decisions = "\n".join(screen.query_one("#follow-decisions", Log).lines)
        assert "count: confirmed (typed 'count') by alice" in decisions
        # The keys the console uses to act on a change do nothing here; the record is not open until the close.
        before = files_of(ref.path)
        for key in ("y", "n", "c", "a", "r", "enter", "escape"):
            await pilot.press(key)
        await pilot.pause()
        assert files_of(ref.path) == before
        assert app.screen is screen
        assert "after go" not in "\n".join(screen.query_one(OutputLog).lines)

        (tmp_path / "go").touch()
        await until(pilot, lambda: isinstance(app.screen, ReadOnlyRecordScreen))
        assert app.closed_outcome == "success"
        # The pane shows the latest run: the last step's line came through before the change closed.
        await until(pilot, lambda: "last line" in "\n".join(screen.query_one(OutputLog).lines))
        assert "closed: Success" in str(screen.query_one("#follow-banner").render())
        assert all(b.binding.action != "addendum" for b in app.active_bindings.values())
        closed = files_of(ref.path)
        await pilot.press("a")  # an addendum, refused: the follower only reads
        await pilot.pause()
        assert files_of(ref.path) == closed


async def test_exit_on_close_leaves_with_the_outcome(writer, tmp_path: Path, records_dir: Path) -> None:
    ref = wait_for_change(records_dir)
    (tmp_path / "go").touch()
    app = FollowApp(change_dir=ref.path, change_id=ref.change_id, exit_on_close=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0
    assert app.closed_outcome == "success"
