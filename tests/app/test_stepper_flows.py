"""Whole changes driven through the stepper's screens by key presses, against the rehearsal cluster.

Each test starts at Home, opens a shipped runbook (a copy with its long waits shortened), fills the start form,
answers every step with keys, and checks the record the change left: the journal verifies, each step is in it
with its timestamps and recorded output, and record.md says how it ended.
"""

from __future__ import annotations

import json
from pathlib import Path

from console.engine.state import forward_plan
from console.journal import events as ev
from console.journal.journal import read_events, verify
from console.sim.testing import RunningCluster
from screens.app import OpsConsoleApp
from screens.closeout import CloseoutScreen
from screens.failure import FailureScreen

SIZE = (120, 40)


def make_app(records_dir: Path, runbooks_dir: Path, cluster: RunningCluster, clock, policy) -> OpsConsoleApp:
    return OpsConsoleApp(records_dir=records_dir, runbooks_dir=runbooks_dir, policy=policy,
                         kubeconfig=str(cluster.kubeconfig), operator="alice", clock=clock)


def journal_events(change_dir: Path) -> list:
    return read_events(change_dir / "journal.jsonl").events


async def close_out(d) -> tuple[str, Path]:
    """Sign the close-out off with ctrl+s; returns the final chain hash and the change's directory."""
    await d.wait(lambda: isinstance(d.app.screen, CloseoutScreen), what="the close-out screen")
    screen = d.app.screen
    await d.press("ctrl+s")
    await d.wait(lambda: screen.closed_head is not None, what="the change to close")
    shown = d.text("#closeout-result")
    assert screen.closed_head in shown, shown
    change_dir = screen.session.ref.path
    assert str(change_dir / "record.md") in shown.replace("\n", "")
    return screen.closed_head, change_dir


async def test_config_restart_to_success(records_dir, runbooks_dir, cluster, frozen_clock, policy, driver_for) -> None:
    app = make_app(records_dir, runbooks_dir, cluster, frozen_clock, policy)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await d.start_change("web-config-restart")
        # Backups and gates run by themselves; the first change asks for y.
        await d.until_next("confirm", "update-config")
        assert "Press y" in d.text("#step-prompt")
        assert "kubectl patch configmap web-config" in d.text("#step-command")
        await d.press("y")
        await d.until_next("confirm", "restart")
        await d.type("web")
        await d.press("enter")
        head, change_dir = await close_out(d)
        runbook = d.app.screen.session.runbook

    report = verify(change_dir / "journal.jsonl", head=head)
    assert report.ok, report.problems
    events = journal_events(change_dir)
    closed = [e for e in events if e.type == ev.CHANGE_CLOSED]
    assert closed and closed[0].data["outcome"] == "success"
    assert [e.data["name"] for e in events if e.type == ev.APPROVAL_RECORDED] == ["sam"]
    confirmed = {e.data["step_id"]: e.data["method"] for e in events if e.type == ev.STEP_CONFIRMED}
    assert confirmed == {"update-config": "yes", "restart": "typed"}
    finished = {e.data["step_id"]: e for e in events if e.type == ev.STEP_FINISHED}
    started = {e.data["step_id"]: e for e in events if e.type == ev.STEP_STARTED}
    for item in forward_plan(runbook):
        assert item.step_id in started and item.step_id in finished, f"{item.step_id} is not on record"
        assert started[item.step_id].ts and finished[item.step_id].ts
        assert finished[item.step_id].data["status"] == "passed", finished[item.step_id].data
        cast = change_dir / finished[item.step_id].data["file"]["path"]
        lines = cast.read_text(encoding="utf-8").splitlines()
        header = json.loads(lines[0])
        assert header["version"] == 2 and len(lines) > 1, f"{item.step_id}: no output recorded in {cast}"
    assert "ollama.ai.svc" in (change_dir / finished["config-applied"].data["file"]["path"]).read_text()
    record = (change_dir / "record.md").read_text(encoding="utf-8")
    assert "update-config" in record and "success" in record.lower()
    # The cluster really changed.
    assert cluster.get("configmaps", "web", "web-config")["data"]["OLLAMA_URL"] == "http://ollama.ai.svc:11434"
