"""Keys on the step screen around text boxes: escape leaves a typed confirmation's box (so n, l, c act on the
step again), t goes back to it, and a note taken meanwhile is recorded without touching the confirmation.
The note box opens and closes in a row of its own, leaving the output pane as it is.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from pathlib import Path

from ruamel.yaml import YAML
from textual.widgets import Input

from console.config import Policy
from console.engine.session import ChangeSession, StartRequest
from console.journal.store import RecordStore
from screens.app import OpsConsoleApp
from screens.step import StepScreen
from tests.support.wait import press_and_settle, wait_async, wait_on

RUNBOOK = {
    "apiVersion": "opsconsole/v1", "kind": "Runbook",
    "metadata": {"id": "typed-drill", "title": "Typed drill", "component": "web", "from": "1", "to": "2", "risk": "low",
                 "environments": ["rehearsal"], "owners": ["platform"]},
    "why": "drill", "scope": "nothing", "blast_radius": "none",
    "steps": [{"id": "restart", "title": "Restart", "run": ["echo", "restarted"], "confirm": "typed", "confirm_word": "web",
               "rollback": "undo"}],
    "rollback": {"steps": [{"id": "undo", "run": ["echo", "undone"]}]},
    "done_when": ["done"],
}


def now() -> datetime:
    return datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


async def test_escape_leaves_the_typed_box_and_a_note_goes_to_the_record(tmp_path: Path, dead_kubeconfig: Path) -> None:
    runbook = tmp_path / "typed-drill.yaml"
    with open(runbook, "w") as handle:
        YAML().dump(RUNBOOK, handle)
    store = RecordStore(tmp_path / "records")
    session = ChangeSession.start(
        StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator="alice",
                     kubeconfig=str(dead_kubeconfig)),
        store=store, policy=Policy(), clock=now,
    )
    app = OpsConsoleApp(records_dir=tmp_path / "records", runbooks_dir=tmp_path, clock=now)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(StepScreen(session, clock=now, production=False))
        box = await wait_on(pilot, lambda: isinstance(app.screen, StepScreen) and app.screen.query_one("#step-input", Input),
                            what="the step screen's typed box")
        await wait_on(pilot, lambda: box.display and app.focused is box, what="the typed box focused")
        await press_and_settle(pilot, "escape")
        assert app.focused is not box and box.display  # the box stays for later
        await press_and_settle(pilot, "n", *"checked the dashboard", "enter")
        notes = await wait_on(pilot, lambda: [e.data["text"] for e in session.events if e.type == "note.added"], what="the note")
        assert notes == ["checked the dashboard"]
        assert not [e for e in session.events if e.type == "step.confirmation_refused"]
        # After the note the typed confirmation asks again, its box focused; escape then t comes back to it too.
        box = app.screen.query_one("#step-input", Input)
        assert app.focused is box and box.value == ""
        await press_and_settle(pilot, "escape")
        assert app.focused is not box
        await press_and_settle(pilot, "t")
        assert app.focused is box
        await pilot.press(*"web", "enter")
        await wait_on(pilot, lambda: session.next().kind == "close", timeout=30, what="the change to ask for its close")
        assert [e.data["status"] for e in session.events if e.type == "step.finished"] == ["passed"]
    session.release()


LONG = {
    **RUNBOOK,
    "metadata": {**RUNBOOK["metadata"], "id": "long-drill", "title": "Long drill"},
    "steps": [{"id": "long", "title": "Long", "run": ["sh", "-c", "echo started; sleep 30"], "confirm": "yes",
               "rollback": "undo"}],
}


async def test_quit_while_a_step_runs_warns_then_cancels_the_step_and_records_it(tmp_path: Path, dead_kubeconfig: Path) -> None:
    runbook = tmp_path / "long-drill.yaml"
    with open(runbook, "w") as handle:
        YAML().dump(LONG, handle)
    session = ChangeSession.start(
        StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator="alice",
                     kubeconfig=str(dead_kubeconfig)),
        store=RecordStore(tmp_path / "records"), policy=Policy(), clock=now,
    )
    app = OpsConsoleApp(records_dir=tmp_path / "records", runbooks_dir=tmp_path, clock=now)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(StepScreen(session, clock=now, production=False))
        await wait_on(pilot, lambda: isinstance(app.screen, StepScreen) and session.next().kind == "confirm", what="the step screen")
        await pilot.press("y")
        screen = await wait_on(pilot, lambda: app.screen.running and app.screen, timeout=30, what="the step to run")
        assert isinstance(screen, StepScreen)
        await press_and_settle(pilot, "ctrl+q")
        assert app.is_running and screen.running  # the first ctrl+q only warns
        await pilot.press("ctrl+q")
        # The app is closing: wait on the session itself, not on a screen.
        await wait_async(lambda: any(e.type == "step.finished" for e in session.events), timeout=30, what="the step's end")
    finished = [e.data for e in session.events if e.type == "step.finished"]
    assert finished and finished[0]["status"] == "failed" and finished[0]["reason"] == "cancelled by the operator"
    # Stopped by a signal, not run to its end: the 30 s sleep would have let the shell exit 0.
    assert finished[0]["exit_code"] not in (0, None), finished[0]
    session.release()


async def test_run_prefills_the_start_form_with_params_and_context(tmp_path: Path, dead_kubeconfig: Path) -> None:
    runbook = tmp_path / "param-drill.yaml"
    with open(runbook, "w") as handle:
        YAML().dump({**RUNBOOK, "params": {"target": {"type": "string", "default": "web"}},
                     "steps": [{**RUNBOOK["steps"][0], "run": ["echo", "{target}"]}]}, handle)
    app = OpsConsoleApp(records_dir=tmp_path / "records", runbooks_dir=tmp_path, clock=now, kubeconfig=str(dead_kubeconfig),
                        start_runbook=runbook, start_params={"target": "api"}, start_context="rehearsal-b")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_on(pilot, lambda: app.screen.query("#param-target"), what="the start form")
        assert app.screen.query_one("#param-target", Input).value == "api"
        assert app.screen.query_one("#start-context").value == "rehearsal-b"
        assert not (tmp_path / "records").exists()  # nothing written before ctrl+s


async def test_x_stops_a_running_step_and_c_means_nothing_in_the_step_flow(tmp_path: Path, dead_kubeconfig: Path) -> None:
    """One key, one meaning: the key that stops a running step (x) is not the failure screen's break-glass (g),
    and c, which once meant both, now means nothing on either screen."""
    from screens.failure import FailureScreen

    runbook = tmp_path / "long-drill.yaml"
    with open(runbook, "w") as handle:
        YAML().dump(LONG, handle)
    session = ChangeSession.start(
        StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator="alice",
                     kubeconfig=str(dead_kubeconfig)),
        store=RecordStore(tmp_path / "records"), policy=Policy(), clock=now,
    )
    app = OpsConsoleApp(records_dir=tmp_path / "records", runbooks_dir=tmp_path, clock=now)
    async with app.run_test(size=(160, 50)) as pilot:
        app.push_screen(StepScreen(session, clock=now, production=False))
        await wait_on(pilot, lambda: isinstance(app.screen, StepScreen) and session.next().kind == "confirm", what="the step screen")
        await pilot.press("y")
        screen = await wait_on(pilot, lambda: app.screen.running and app.screen, timeout=30, what="the step to run")
        assert isinstance(screen, StepScreen)
        await wait_on(pilot, lambda: "x  stop the step" in str(screen.query_one("#step-keys").render()), what="x among the keys")
        await press_and_settle(pilot, "c")
        assert screen.running and not any(e.type == "step.finished" for e in session.events)
        await pilot.press("x")
        failure = await wait_on(pilot, lambda: isinstance(app.screen, FailureScreen) and app.screen, timeout=30,
                                what="the failure screen")
        options = str(failure.query_one("#failure-options").render())
        assert " g  continue" in options and " c " not in options
        await press_and_settle(pilot, "c")
        assert not failure.query_one("#failure-input").display  # c opened no break-glass form
        await pilot.press("g")
        await wait_on(pilot, lambda: failure.query_one("#failure-input").display and app.focused is failure.query_one("#failure-input"),
                      what="the break-glass form, focused")
        assert "Break-glass" in str(failure.query_one("#failure-prompt").render())
    finished = [e.data for e in session.events if e.type == "step.finished"]
    assert finished and finished[0]["reason"] == "cancelled by the operator"
    assert not [e for e in session.events if e.type == "breakglass.recorded"]
    session.release()


async def test_the_note_box_and_its_confirmation_take_one_row_and_leave_the_output_pane_alone(
        tmp_path: Path, dead_kubeconfig: Path) -> None:
    """Opening the note box, and the line saying the note is recorded, resize nothing else on the screen: under a
    flood a resized output pane is redrawn whole, which is what made ``n`` and Enter slow there."""
    from textual.widgets import Static

    from screens.widgets.output_log import OutputLog

    runbook = tmp_path / "long-drill.yaml"
    with open(runbook, "w") as handle:
        YAML().dump(LONG, handle)
    session = ChangeSession.start(
        StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator="alice",
                     kubeconfig=str(dead_kubeconfig)),
        store=RecordStore(tmp_path / "records"), policy=Policy(), clock=now,
    )
    app = OpsConsoleApp(records_dir=tmp_path / "records", runbooks_dir=tmp_path, clock=now)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(StepScreen(session, clock=now, production=False))
        screen = await wait_on(pilot, lambda: isinstance(app.screen, StepScreen) and session.next().kind == "confirm"
                               and app.screen, what="the step screen")
        assert isinstance(screen, StepScreen)
        # While the screen is up the app's objects are set aside from the cyclic collector (see on_mount).
        assert gc.get_freeze_count() > 0
        out, box, note = screen.query_one(OutputLog), screen.query_one("#step-input", Input), screen.query_one("#step-note", Static)
        await pilot.pause()
        pane = out.region
        assert not box.display and pane.height > 0
        await press_and_settle(pilot, "n")
        assert box.display and app.focused is box
        assert out.region == pane and box.region.height == 1
        row = box.region.y
        await press_and_settle(pilot, *"checked the dashboard", "enter")
        await wait_on(pilot, lambda: note.display and not box.display, what="the note's confirmation in place of the box")
        await pilot.pause()
        assert "Note recorded" in str(note.render())
        assert out.region == pane and (note.region.y, note.region.height) == (row, 1)
        await press_and_settle(pilot, "n")  # again: the box takes the row, over the confirmation
        assert box.display and box.region.y == row and out.region == pane
        await press_and_settle(pilot, "escape", "l")
        await wait_on(pilot, lambda: not isinstance(app.screen, StepScreen), what="the step screen left")
        assert gc.get_freeze_count() == 0  # handed back to the collector with the screen
    session.release()


async def test_a_note_taken_while_a_step_runs_gives_the_prompt_back(tmp_path: Path, dead_kubeconfig: Path) -> None:
    """Under a running step the note box says what Enter does; closed (a note added, or none), the prompt says
    again what it said before, not the note box's words over a box that is gone."""
    from textual.widgets import Static

    runbook = tmp_path / "long-drill.yaml"
    with open(runbook, "w") as handle:
        YAML().dump(LONG, handle)
    session = ChangeSession.start(
        StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator="alice",
                     kubeconfig=str(dead_kubeconfig)),
        store=RecordStore(tmp_path / "records"), policy=Policy(), clock=now,
    )
    app = OpsConsoleApp(records_dir=tmp_path / "records", runbooks_dir=tmp_path, clock=now)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(StepScreen(session, clock=now, production=False))
        await wait_on(pilot, lambda: isinstance(app.screen, StepScreen) and session.next().kind == "confirm", what="the step screen")
        await pilot.press("y")
        screen = await wait_on(pilot, lambda: app.screen.running and app.screen, timeout=30, what="the step to run")
        assert isinstance(screen, StepScreen)
        prompt = screen.query_one("#step-prompt", Static)
        before = str(prompt.render())
        assert before and "Note" not in before
        await press_and_settle(pilot, "n")
        assert "Note for the record" in str(prompt.render())
        await press_and_settle(pilot, "enter")  # nothing typed: no note
        assert str(prompt.render()) == before
        await press_and_settle(pilot, "n", *"half way", "enter")
        await wait_on(pilot, lambda: [e for e in session.events if e.type == "note.added"], what="the note")
        assert str(prompt.render()) == before and screen.running
        await pilot.press("x")
        await wait_on(pilot, lambda: any(e.type == "step.finished" for e in session.events), timeout=30, what="the step stopped")
    session.release()
