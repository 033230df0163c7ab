"""Snapshots of every stepper screen at 120x40: Home, the start form, a step before its confirmation, a typed
confirmation, the failure modal and the close-out.

Everything the screens show is fixed: the clock is frozen (journal times, the elapsed time, output timestamps,
escalation deadlines), the record store and runbooks are named by the same relative paths in every run (Home prints
both; the test runs in its own directory, so parallel runs never share them), the runbook runs local commands whose
output never changes, cursors do not blink, and toasts are cleared before the picture.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from console.config import Policy
from screens.app import OpsConsoleApp
from screens.widgets.output_log import OutputLog
from tests.support.wait import wait_on

SIZE = (120, 40)
FROZEN = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def sh(text: str) -> list[str]:
    # echo, so the command shown before each step is as short as what it prints.
    return ["echo", text]


DRILL = {
    "apiVersion": "opsconsole/v1", "kind": "Runbook",
    "metadata": {"id": "web-endpoint-drill", "title": "Point web at the new endpoint (drill)", "component": "web",
                 "from": "1.4.2", "to": "1.5.0", "risk": "medium", "environments": ["rehearsal"], "owners": ["platform"]},
    "why": "The model server moved into the cluster; web must call it there.",
    "scope": "the web-config ConfigMap and the web Deployment",
    "blast_radius": "web requests during the restart",
    "params": {"namespace": {"type": "string", "default": "web", "pattern": "^[a-z0-9-]+$"}},
    "preconditions": [{"id": "backup-config", "title": "Back up the ConfigMap", "kind": "check", "capture": "artifact",
                       "backup": True, "run": sh("kind: ConfigMap")}],
    "gates": [{"id": "nodes-ready", "title": "Every node is Ready", "kind": "check", "run": sh("3 of 3 nodes Ready")}],
    "steps": [
        {"id": "update-config", "title": "Change the endpoint in web-config",
         "explain": "Sets `OLLAMA_URL` in the **web-config** ConfigMap of `{namespace}`.",
         "run": sh("configmap/web-config patched"), "confirm": "yes", "rollback": "restore-config"},
        {"id": "restart", "title": "Restart the web deployment", "explain": "Pods read the ConfigMap when they start.",
         "run": sh("deployment.apps/web restarted"), "confirm": "typed", "confirm_word": "{namespace}", "rollback": "undo-restart"},
        {"id": "check-dashboards", "title": "Check the latency dashboard", "kind": "manual",
         "instructions": "Open the web latency dashboard; p99 must stay under 300 ms."},
    ],
    "rollback": {"triggers": [], "steps": [
        {"id": "undo-restart", "title": "Roll the deployment back", "run": sh("deployment.apps/web rolled back"), "confirm": "yes"},
        {"id": "restore-config", "title": "Restore the previous endpoint", "run": sh("configmap/web-config patched"), "confirm": "yes"},
    ]},
    "verification": [{"id": "endpoint-live", "title": "The endpoint answers", "kind": "check", "run": sh("200 OK")}],
    "done_when": ["web answers through the new endpoint"],
}

SCALE = {
    **DRILL,
    "metadata": {**DRILL["metadata"], "id": "web-scale-drill", "title": "Scale web to five replicas (drill)",
                 "from": "3-replicas", "to": "5-replicas", "risk": "low"},
    "steps": [{"id": "scale", "title": "Scale web", "run": sh("deployment.apps/web scaled"), "confirm": "yes"}],
    "params": {},
    "rollback": {"triggers": [], "steps": []},
}


class FrozenClock:
    def __call__(self) -> datetime:
        return FROZEN


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OpsConsoleApp:
    # Home prints the runbooks and records directories: relative paths, the same words in every run, inside this
    # test's own directory.
    monkeypatch.chdir(tmp_path)
    base = Path(".")
    runbooks = base / "runbooks"
    runbooks.mkdir(parents=True)
    (runbooks / "web-endpoint-drill.yaml").write_text(json.dumps(DRILL, indent=2), encoding="utf-8")
    (runbooks / "web-scale-drill.yaml").write_text(json.dumps(SCALE, indent=2), encoding="utf-8")
    kubeconfig = base / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "rehearsal", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "operator", "user": {}}],
        "contexts": [{"name": c, "context": {"cluster": "rehearsal", "user": "operator", "namespace": "web"}} for c in ("rehearsal", "rehearsal-b")],
        "current-context": "rehearsal",
    }), encoding="utf-8")
    return OpsConsoleApp(records_dir=base / "records", runbooks_dir=runbooks, policy=Policy(), kubeconfig=str(kubeconfig),
                         operator="alice", clock=FrozenClock())


def next_is(pilot: Pilot, kind: str, step_id: str | None = None) -> bool:
    screen = pilot.app.screen
    session = getattr(screen, "session", None)
    if session is None or getattr(screen, "running", False):
        return False
    nxt = session.next()
    return nxt.kind == kind and (step_id is None or (nxt.step is not None and nxt.step.id == step_id))


async def steady(pilot: Pilot) -> None:
    """Take out what varies with real time: toasts (they expire) and the blinking cursor."""
    pilot.app.clear_notifications()
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    # The output pane writes what it was fed ten times a second: wait until it has written everything.
    await wait_on(pilot, lambda: not any(log._pending for log in pilot.app.screen.query(OutputLog)), what="the output pane")
    await pilot.pause()


async def to_start_form(pilot: Pilot) -> None:
    await wait_on(pilot, lambda: type(pilot.app.screen).__name__ == "HomeScreen", what="Home")
    await pilot.press("enter")  # the cursor starts on the first runbook: web-endpoint-drill
    await wait_on(pilot, lambda: type(pilot.app.screen).__name__ == "StartScreen", what="the start form")


async def to_first_confirmation(pilot: Pilot) -> None:
    await to_start_form(pilot)
    for _ in range(30):
        if pilot.app.focused is not None and pilot.app.focused.id == "appr-name-senior-engineer":
            break
        await pilot.press("tab")
    await pilot.press(*"sam", "ctrl+s")
    await wait_on(pilot, lambda: next_is(pilot, "confirm", "update-config"), what="update-config to ask for yes")


async def to_typed_confirmation(pilot: Pilot) -> None:
    await to_first_confirmation(pilot)
    await pilot.press("y")
    await wait_on(pilot, lambda: next_is(pilot, "confirm", "restart"), what="restart to ask for its word")


async def to_failure(pilot: Pilot) -> None:
    await to_typed_confirmation(pilot)
    await pilot.press(*"web", "enter")
    await wait_on(pilot, lambda: next_is(pilot, "manual", "check-dashboards"), what="the manual step")
    # A toast stays drawn on the screen under a modal: clear it while the step screen is still on top.
    pilot.app.clear_notifications()
    await pilot.pause()
    await pilot.press("f", *"p99 at 900 ms", "enter")
    await wait_on(pilot, lambda: type(pilot.app.screen).__name__ == "FailureScreen"
                  and pilot.app.screen.query_one("#failure-escalation").render(), what="the failure modal")


async def to_closeout(pilot: Pilot) -> None:
    await to_failure(pilot)
    await pilot.press("b")
    await wait_on(pilot, lambda: next_is(pilot, "confirm", "undo-restart"), what="the first rollback step")
    await pilot.press("y")
    await wait_on(pilot, lambda: next_is(pilot, "confirm", "restore-config"), what="the second rollback step")
    await pilot.press("y")
    await wait_on(pilot, lambda: type(pilot.app.screen).__name__ == "CloseoutScreen", what="the close-out")


def shot(steps: Callable[[Pilot], Any]) -> Callable[[Pilot], Any]:
    async def run_before(pilot: Pilot) -> None:
        await steps(pilot)
        await steady(pilot)
    return run_before


async def at_home(pilot: Pilot) -> None:
    await wait_on(pilot, lambda: type(pilot.app.screen).__name__ == "HomeScreen", what="Home")


def test_home(snap_compare, app) -> None:
    """Home: both drill runbooks, their risk and versions, and an empty record store."""
    assert snap_compare(app, terminal_size=SIZE, run_before=shot(at_home))


def test_start_form(snap_compare, app) -> None:
    """The start form as opened: parameters, environment and context, the senior-engineer approval still missing (red)."""
    assert snap_compare(app, terminal_size=SIZE, run_before=shot(to_start_form))


def test_step_before_confirmation(snap_compare, app) -> None:
    """update-config waits for y: its command, explanation, the gate's output, the step list with checks passed."""
    assert snap_compare(app, terminal_size=SIZE, run_before=shot(to_first_confirmation))


def test_step_typed_confirmation(snap_compare, app) -> None:
    """restart asks for the word web, typed into the focused box."""
    assert snap_compare(app, terminal_size=SIZE, run_before=shot(to_typed_confirmation))


def test_failure_modal(snap_compare, app) -> None:
    """The manual check failed: the reason, the escalation deadlines (frozen at 0m00s) and the four choices."""
    assert snap_compare(app, terminal_size=SIZE, run_before=shot(to_failure))


def test_closeout(snap_compare, app) -> None:
    """After the rollback: the close-out with the outcome rolled back suggested, before sign-off."""
    assert snap_compare(app, terminal_size=SIZE, run_before=shot(to_closeout))
