"""Whole changes driven through the stepper's screens by key presses, against the rehearsal cluster.

Each test starts at Home, opens a shipped runbook (a copy with its long waits shortened), fills the start form,
answers every step with keys, and checks the record the change left: the journal verifies, each step is in it
with its timestamps and recorded output, and record.md says how it ended.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from console.engine.state import forward_plan
from console.journal import events as ev
from console.journal.journal import read_events, verify
from kubesim.testing import RunningCluster
from screens.app import OpsConsoleApp
from screens.closeout import CloseoutScreen
from screens.failure import FailureScreen

SIZE = (120, 40)
pytestmark = pytest.mark.slow  # whole changes against the rehearsal cluster: ten seconds or more each


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
        await d.press("n")
        await d.type("endpoint change agreed in the ops channel")
        await d.press("enter")
        await d.wait(lambda: "Press y" in d.text("#step-prompt"), what="the confirmation prompt again")
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
    notes = [e.data for e in events if e.type == ev.NOTE_ADDED]
    assert [(n["text"], n["step_id"], n["author"]) for n in notes] == [("endpoint change agreed in the ops channel", "update-config", "alice")]
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


def serving_replicasets(cluster: RunningCluster, namespace: str = "web") -> dict[str, int]:
    """The web ReplicaSets that hold pods (name → replicas), read straight from the rehearsal store."""
    out = {}
    for rs in cluster.store.list("replicasets", namespace):
        if rs["metadata"]["name"].startswith("web-") and rs["spec"].get("replicas"):
            out[rs["metadata"]["name"]] = rs["spec"]["replicas"]
    return out


async def test_bad_image_rolled_back_from_the_failure_screen(records_dir, runbooks_dir, cluster, frozen_clock, policy, driver_for) -> None:
    before = serving_replicasets(cluster)
    old_image = cluster.get("deployments", "web", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert len(before) == 1, before
    app = make_app(records_dir, runbooks_dir, cluster, frozen_clock, policy)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await d.start_change("web-image-upgrade", params={"image": "registry.local/web:1.5.0-bad"})
        await d.until_next("confirm", "set-image")
        await d.type("web")
        await d.press("enter")
        # The new pods never pull their image, so the shortened rollout wait fails and the failure screen opens.
        await d.wait(lambda: isinstance(d.app.screen, FailureScreen), timeout=40, what="the failure screen")
        assert "step wait failed" in d.text("#failure-title")
        # The wait rolls back by itself (on_failure: rollback) unless held: the operator holds it to choose.
        await d.wait(lambda: "Rolling back automatically in 10s" in d.text("#failure-countdown"), what="the countdown")
        await d.press("h")
        await d.wait(lambda: "held (recorded)" in d.text("#failure-countdown"), what="the hold")
        escalation = await d.wait(lambda: d.text("#failure-escalation"), what="the escalation deadlines")
        assert "Failed 0m00s ago" in escalation and "manual rollback: due in 5m00s" in escalation, escalation
        # Six minutes on, the first deadline has passed: the modal says so and the journal records it.
        frozen_clock.now += timedelta(minutes=6)
        await d.wait(lambda: "manual rollback: due 5 min after the failure: PASSED" in d.text("#failure-escalation"),
                     what="the passed deadline")
        await d.wait(lambda: any(e.type == ev.ESCALATION_PASSED for e in d.app.screen.session.events),
                     what="escalation.passed")
        assert "rollback" in d.text("#failure-options")
        await d.press("b")
        await d.until_next("confirm", "undo")
        assert "Rollback 1 of 2" in d.text("#step-title")
        await d.press("y")
        head, change_dir = await close_out(d)
        assert str(d.app.screen.query_one("#closeout-outcome").value) == "rolled_back"

    assert verify(change_dir / "journal.jsonl", head=head).ok
    events = journal_events(change_dir)
    assert [e.data["choice"] for e in events if e.type == ev.FAILURE_CHOICE] == ["rollback"]
    assert [e.data["by"] for e in events if e.type == ev.FAILURE_HELD] == ["alice"]
    assert [e.data["level"] for e in events if e.type == ev.ESCALATION_PASSED] == ["manual rollback"]
    assert [e.data["steps"] for e in events if e.type == ev.ROLLBACK_STARTED] == [["undo", "undo-wait"]]
    finished = {e.data["step_id"]: e.data["status"] for e in events if e.type == ev.STEP_FINISHED}
    assert finished["wait"] == "failed" and finished["undo"] == "passed" and finished["undo-wait"] == "passed"
    assert next(e for e in events if e.type == ev.CHANGE_CLOSED).data["outcome"] == "rolled_back"
    assert "rolled back" in (change_dir / "record.md").read_text(encoding="utf-8").lower()
    # The deployment is back on its old ReplicaSet, with its old image.
    deploy = cluster.get("deployments", "web", "web")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == old_image
    cluster.wait_for(lambda: serving_replicasets(cluster) == before, timeout=10, what=f"only {before} serving")


async def test_failed_gate_blocks_until_break_glass_is_recorded(records_dir, runbooks_dir, cluster, frozen_clock, policy, driver_for) -> None:
    app = make_app(records_dir, runbooks_dir, cluster, frozen_clock, policy)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        # The capacity gate wants more Ready nodes than the rehearsal cluster has, so it fails.
        await d.start_change("scale-deployment", params={"min_nodes": "99"})
        await d.wait(lambda: isinstance(d.app.screen, FailureScreen), what="the failed gate")
        await d.wait(lambda: d.text("#failure-escalation"), what="the failure screen mounted")
        assert "gate capacity failed" in d.text("#failure-title")
        options = d.text("#failure-options")
        assert "continue" in options and "rollback" not in options
        # Blocked: keys that are no choice here (roll back, yes, done) change nothing; the steps never start.
        # Keys are handled in order, so once g (go on: break-glass) has opened its reason box, b, y and d have been
        # handled.
        await d.press("b", "y", "d")
        await d.press("g")
        await d.wait(lambda: d.app.focused is not None and d.app.focused.id == "failure-input", what="the reason input")
        assert isinstance(d.app.screen, FailureScreen)
        session = d.app.screen.session
        assert session.next().kind == "failure"
        assert not [e for e in session.events if e.type == ev.STEP_STARTED and e.data["step_id"] == "scale"]
        # Break-glass: a reason too short is refused, then a real reason and the approver.
        await d.type("ok")
        await d.press("enter")
        assert "A reason of a few words is needed" in d.text("#failure-prompt")
        await d.press("home", "ctrl+k")
        await d.type("two nodes carry five replicas in load tests")
        await d.press("enter")
        await d.wait(lambda: "Who approved" in d.text("#failure-prompt"), what="the approver prompt")
        await d.type("erin")
        await d.press("enter")
        await d.until_next("confirm", "scale")
        await d.type("web")
        await d.press("enter")
        head, change_dir = await close_out(d)

    assert verify(change_dir / "journal.jsonl", head=head).ok
    events = journal_events(change_dir)
    glass = [e for e in events if e.type == ev.BREAKGLASS_RECORDED]
    assert len(glass) == 1
    assert glass[0].data["reason"] == "two nodes carry five replicas in load tests" and glass[0].data["approver"] == "erin"
    assert glass[0].data["step_id"] == "capacity"
    assert next(e for e in events if e.type == ev.CHANGE_CLOSED).data["outcome"] == "partial"
    record = (change_dir / "record.md").read_text(encoding="utf-8")
    bold = [line for line in record.splitlines() if line.startswith("- **") and "erin" in line]
    assert bold and "two nodes carry five replicas in load tests" in bold[0] and bold[0].endswith("**"), record
    assert cluster.get("deployments", "web", "web")["spec"]["replicas"] == 5


async def test_typed_confirmation_refused_on_a_wrong_word(records_dir, runbooks_dir, cluster, frozen_clock, policy, driver_for) -> None:
    replicas = cluster.get("deployments", "web", "web")["spec"]["replicas"]
    app = make_app(records_dir, runbooks_dir, cluster, frozen_clock, policy)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await d.start_change("scale-deployment")
        await d.until_next("confirm", "scale")
        assert "Type web and press Enter" in d.text("#step-prompt")
        await d.type("wbe")
        await d.press("enter")
        await d.wait(lambda: "Refused" in d.text("#step-status"), what="the refusal")
        assert "'wbe' is not 'web'" in d.text("#step-status")
        session = d.session
        assert session.next().kind == "confirm"
        assert d.app.screen.query_one("#step-input").value == ""
        # Leave: tab takes the focus off the confirmation box (every letter is typed there), then l.
        await d.press("tab")
        await d.wait(lambda: d.app.focused is None or d.app.focused.id != "step-input", what="focus off the input")
        change_dir = session.ref.path
        await d.press("l")
        await d.wait(lambda: type(d.app.screen).__name__ == "HomeScreen", what="Home")

    events = journal_events(change_dir)
    refused = [e for e in events if e.type == ev.STEP_CONFIRMATION_REFUSED]
    assert [(e.data["step_id"], e.data["typed"]) for e in refused] == [("scale", "wbe")]
    assert not [e for e in events if e.type == ev.STEP_CONFIRMED and e.data["step_id"] == "scale"]
    assert not [e for e in events if e.type == ev.STEP_STARTED and e.data["step_id"] == "scale"]
    assert cluster.get("deployments", "web", "web")["spec"]["replicas"] == replicas
    assert verify(change_dir / "journal.jsonl").ok


async def test_a_failed_rollout_rolls_back_by_itself_when_nobody_holds_it(records_dir, runbooks_dir, cluster, frozen_clock, policy, driver_for) -> None:
    old_image = cluster.get("deployments", "web", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    app = make_app(records_dir, runbooks_dir, cluster, frozen_clock, policy)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await d.start_change("web-image-upgrade", params={"image": "registry.local/web:1.5.0-bad"})
        await d.until_next("confirm", "set-image")
        await d.type("web")
        await d.press("enter")
        await d.wait(lambda: isinstance(d.app.screen, FailureScreen), timeout=40, what="the failure screen")
        await d.wait(lambda: "Rolling back automatically in 10s" in d.text("#failure-countdown"), what="the countdown")
        frozen_clock.now += timedelta(seconds=11)  # the countdown runs out with nobody at the keys
        _head, change_dir = await close_out(d)
        await d.press("ctrl+q")
    assert app.return_code == 1, "a change that rolled back exits 1, as line mode does"

    events = journal_events(change_dir)
    (choice,) = [e.data for e in events if e.type == ev.FAILURE_CHOICE]
    assert (choice["choice"], choice["automatic"], choice["by"]) == ("rollback", True, "console (on_failure: rollback)")
    started = next(i for i, e in enumerate(events) if e.type == ev.ROLLBACK_STARTED)
    assert events[started].data["automatic"] is True
    assert not [e for e in events[started:] if e.type == ev.STEP_CONFIRMED], "nobody was asked to confirm the rollback"
    finished = {e.data["step_id"]: e.data["status"] for e in events if e.type == ev.STEP_FINISHED}
    assert finished["undo"] == "passed" and finished["undo-wait"] == "passed"
    assert next(e for e in events if e.type == ev.CHANGE_CLOSED).data["outcome"] == "rolled_back"
    assert cluster.get("deployments", "web", "web")["spec"]["template"]["spec"]["containers"][0]["image"] == old_image
