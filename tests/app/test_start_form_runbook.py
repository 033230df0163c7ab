"""The start form's ctrl+s starts the change from the runbook as it is on disk at that moment.

The form parses the runbook when it opens and hands that parse to the start, which uses it only while the file
still holds exactly that text: a runbook edited while the form was open is read again, and the record names the
edited one.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from console.journal import events as ev
from console.journal.journal import read_events
from screens.app import OpsConsoleApp

DRILL = {
    "apiVersion": "opsconsole/v1", "kind": "Runbook",
    "metadata": {"id": "edit-drill", "title": "Before the edit", "component": "web", "from": "1", "to": "2", "risk": "low",
                 "environments": ["rehearsal"], "owners": ["platform"]},
    "why": "A runbook edited while its start form is open.", "scope": "a local echo", "blast_radius": "none",
    "steps": [{"id": "say", "title": "Say hello", "run": ["echo", "hello"], "confirm": "yes"}],
    "done_when": ["it said hello"],
}


def now() -> datetime:
    return datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


async def start_with(tmp_path: Path, kubeconfig: Path, driver_for, *, edit: bool) -> dict:
    runbook = tmp_path / "runbooks" / "edit-drill.yaml"
    runbook.parent.mkdir()
    runbook.write_text(json.dumps(DRILL), encoding="utf-8")
    app = OpsConsoleApp(records_dir=tmp_path / "records", runbooks_dir=runbook.parent, kubeconfig=str(kubeconfig),
                        clock=now, start_runbook=runbook)
    async with app.run_test(size=(160, 50)) as pilot:
        d = driver_for(pilot)
        await d.wait(lambda: type(app.screen).__name__ == "StartScreen", what="the start form")
        if edit:
            runbook.write_text(json.dumps({**DRILL, "metadata": {**DRILL["metadata"], "title": "After the edit"}}),
                               encoding="utf-8")
        await d.press("ctrl+s")
        await d.until_next("confirm", "say")
        journal = d.session.ref.path / "journal.jsonl"
        d.session.release()
    created = next(e.data for e in read_events(journal).events if e.type == ev.CHANGE_CREATED)
    return {"runbook": created["runbook"], "on_disk": hashlib.sha256(runbook.read_bytes()).hexdigest()}


async def test_an_unchanged_runbook_starts_as_the_form_read_it(tmp_path: Path, dead_kubeconfig: Path, driver_for) -> None:
    seen = await start_with(tmp_path, dead_kubeconfig, driver_for, edit=False)
    assert seen["runbook"]["sha256"] == seen["on_disk"] and seen["runbook"]["title"] == "Before the edit"


async def test_a_runbook_edited_while_the_form_was_open_is_read_again(tmp_path: Path, dead_kubeconfig: Path,
                                                                      driver_for) -> None:
    seen = await start_with(tmp_path, dead_kubeconfig, driver_for, edit=True)
    assert seen["runbook"]["sha256"] == seen["on_disk"] and seen["runbook"]["title"] == "After the edit"


WATCH = {
    **DRILL,
    "metadata": {**DRILL["metadata"], "id": "watch-drill", "title": "Observe web"},
    "params": {"watch_for": {"type": "duration", "default": "30m", "min": "5m", "description": "How long to observe"}},
    "steps": [{"id": "watch", "title": "Watch", "kind": "observe", "duration": "{watch_for}"}],
}


async def test_the_start_form_refuses_a_duration_below_its_minimum(tmp_path: Path, dead_kubeconfig: Path, driver_for) -> None:
    from textual.widgets import Input

    runbook = tmp_path / "runbooks" / "watch-drill.yaml"
    runbook.parent.mkdir()
    runbook.write_text(json.dumps(WATCH), encoding="utf-8")
    app = OpsConsoleApp(records_dir=tmp_path / "records", runbooks_dir=runbook.parent, kubeconfig=str(dead_kubeconfig),
                        clock=now, start_runbook=runbook)
    async with app.run_test(size=(160, 50)) as pilot:
        d = driver_for(pilot)
        await d.wait(lambda: type(app.screen).__name__ == "StartScreen", what="the start form")
        labels = [str(w.render())[2:] for w in app.screen.query("FieldLabel")]  # after the focus mark
        assert "watch_for (duration, at least 5m)" in labels, labels
        app.screen.query_one("#param-watch-for", Input).value = "1m"
        await d.wait(lambda: "parameter watch_for: 1m is shorter than its minimum of 5m" in d.text("#start-verdicts"),
                     what="the verdict naming the parameter and its minimum")
        await d.press("ctrl+s")
        await d.wait(lambda: "shorter than its minimum of 5m" in d.text("#start-error"), what="the refused start")
    assert not list((tmp_path / "records").glob("*/*/journal.jsonl"))
