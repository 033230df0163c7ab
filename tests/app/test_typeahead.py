"""Keys typed ahead at 30 keys a second land where the keys before them left the focus, and the focus shows.

A fast operator does not wait for the screen: Tab and the next field's text arrive in one read from the terminal.
These tests send keys that way (bursts of ten, 30 keys a second on average, never waiting for the console in
between) across the start form, the step screen's note box and the close-out form, and read back what the record
says: every value in its field, none lost, none in the neighbouring field.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from textual.widgets import Input

from console.journal import events as ev
from console.journal.journal import read_events
from screens.app import OpsConsoleApp
from screens.closeout import CloseoutScreen

SIZE = (160, 50)

DRILL = {
    "apiVersion": "opsconsole/v1", "kind": "Runbook",
    "metadata": {"id": "typeahead-drill", "title": "Typeahead drill", "component": "web", "from": "1", "to": "2",
                 "risk": "medium", "environments": ["rehearsal"], "owners": ["platform"]},
    "why": "Every field of the start and close-out forms, typed fast.",
    "scope": "a local echo", "blast_radius": "none",
    "params": {"namespace": {"type": "string", "default": "web"}, "endpoint": {"type": "string", "default": "x"},
               "previous": {"type": "string", "default": "y"}},
    "steps": [{"id": "say", "title": "Say the endpoint", "run": ["echo", "{namespace}", "{endpoint}"], "confirm": "yes", "rollback": "unsay"}],
    "rollback": {"steps": [{"id": "unsay", "title": "Say the previous endpoint", "run": ["echo", "{previous}"]}]},
    "done_when": ["the endpoint was said"],
}


def now() -> datetime:
    return datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def clear_and_type(text: str) -> list[str]:
    return ["ctrl+u", *text]


def make_app(tmp_path: Path, kubeconfig: Path) -> OpsConsoleApp:
    runbook = tmp_path / "runbooks" / "typeahead-drill.yaml"
    runbook.parent.mkdir()
    runbook.write_text(json.dumps(DRILL), encoding="utf-8")
    return OpsConsoleApp(records_dir=tmp_path / "records", runbooks_dir=runbook.parent, kubeconfig=str(kubeconfig),
                         operator="alice", clock=now, start_runbook=runbook)


async def test_two_hundred_keys_at_30_a_second_land_in_their_fields(tmp_path: Path, dead_kubeconfig: Path, driver_for) -> None:
    app = make_app(tmp_path, dead_kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await d.wait(lambda: type(app.screen).__name__ == "StartScreen", what="the start form")
        await d.focus_by_tab("param-namespace")
        # Tab order: three parameters, environment, context, operator, approver's name and ticket.
        start_keys = [
            *clear_and_type("payments-blue"), "tab",
            *clear_and_type("http://ollama.ai.svc:11434/v1"), "tab",
            *clear_and_type("http://localhost:11434"), "tab",
            "tab", "tab",
            *clear_and_type("night-operator"), "tab",
            *clear_and_type("Bob Lind"), "tab",
            *clear_and_type("OPS-77"), "shift+tab", "shift+tab", "tab",
            "end", *" (on call)", "tab", "end", *"-B",
        ]
        await d.type_ahead(start_keys)
        await d.wait(lambda: app.screen.query_one("#appr-ref-senior-engineer", Input).value.endswith("-B"),
                     what="the last key on the form")
        fields = {w.id: w.value for w in app.screen.query(Input)}
        assert fields["param-namespace"] == "payments-blue"
        assert fields["param-endpoint"] == "http://ollama.ai.svc:11434/v1"
        assert fields["param-previous"] == "http://localhost:11434"
        assert fields["start-operator"] == "night-operator"
        assert fields["appr-name-senior-engineer"] == "Bob Lind (on call)"
        assert fields["appr-ref-senior-engineer"] == "OPS-77-B"
        await d.press("ctrl+s")
        await d.until_next("confirm", "say")
        await d.press("y")
        await d.wait(lambda: isinstance(app.screen, CloseoutScreen), what="the close-out")
        screen = app.screen
        await d.wait(lambda: app.focused is not None and app.focused.id == "closeout-followups", what="the follow-ups field")
        close_keys = [
            *"remove the old key; tell the payments team", "tab",
            *clear_and_type("Carol Night"), "tab",
            *clear_and_type("incident-commander"), "shift+tab", "end", *" (2nd line)", "tab", "end", *" on call",
        ]
        await d.type_ahead(close_keys)
        await d.wait(lambda: screen.query_one("#closeout-role", Input).value.endswith("on call"), what="the last key")
        await d.press("ctrl+s")
        await d.wait(lambda: screen.closed_head is not None, what="the change to close")
        change_dir = screen.session.ref.path
    assert len(start_keys) + len(close_keys) >= 200
    events = read_events(change_dir / "journal.jsonl").events
    created = next(e.data for e in events if e.type == ev.CHANGE_CREATED)
    assert created["operator"] == "night-operator"
    params = next(e.data["params"] for e in events if e.type == ev.PARAMS_SET)
    assert (params["namespace"], params["endpoint"], params["previous"]) == (
        "payments-blue", "http://ollama.ai.svc:11434/v1", "http://localhost:11434")
    approvals = [(e.data["name"], e.data["role"], e.data["reference"]) for e in events if e.type == ev.APPROVAL_RECORDED]
    assert approvals == [("Bob Lind (on call)", "senior-engineer", "OPS-77-B")]
    closed = next(e.data for e in events if e.type == ev.CHANGE_CLOSED)
    assert closed["followups"] == ["remove the old key", "tell the payments team"]
    assert closed["signoff"] == {"name": "Carol Night (2nd line)", "role": "incident-commander on call"}


async def test_a_note_typed_right_after_n_goes_into_the_note(tmp_path: Path, dead_kubeconfig: Path, driver_for) -> None:
    """``n`` opens the note box; the letters behind it (l leaves, c and x act on steps) must be the note's text."""
    app = make_app(tmp_path, dead_kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await d.wait(lambda: type(app.screen).__name__ == "StartScreen", what="the start form")
        await d.fill("appr-name-senior-engineer", "sam")
        await d.press("ctrl+s")
        await d.until_next("confirm", "say")
        session = d.session
        await d.type_ahead(["n", *"leaving the cache cold, checked latency", "enter"])
        await d.wait(lambda: any(e.type == ev.NOTE_ADDED for e in session.events), what="the note")
        assert type(app.screen).__name__ == "StepScreen"  # not left by the l in "leaving"
        notes = [e for e in session.events if e.type == ev.NOTE_ADDED]
        assert [e.data["text"] for e in notes] == ["leaving the cache cold, checked latency"]
        # The step screen says where the operator looks that the note is in the record, and as which event.
        await d.wait(lambda: app.screen.query_one("#step-note").display, what="the note's confirmation")
        assert f"✓ Note recorded at 12:00:00 UTC as journal event {notes[0].seq}" in d.text("#step-note")
        assert session.next().kind == "confirm"
        session.release()


async def test_the_focused_field_is_marked_and_keeps_its_text(tmp_path: Path, dead_kubeconfig: Path, driver_for) -> None:
    from screens.widgets.form_field import FieldLabel

    app = make_app(tmp_path, dead_kubeconfig)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await d.wait(lambda: type(app.screen).__name__ == "StartScreen", what="the start form")
        await d.focus_by_tab("start-operator")
        labels = {label.field: label for label in app.screen.query(FieldLabel)}
        marked = [field for field, label in labels.items() if label.has_class("-focused")]
        assert marked == ["start-operator"]
        assert "▶ operator" in str(labels["start-operator"].render())
        assert not any("▶" in str(label.render()) for field, label in labels.items() if field != "start-operator")
        box = app.screen.query_one("#start-operator", Input)
        assert box.selection.is_empty and box.cursor_position == len("alice")  # Tab does not select the text
        await d.type("-2")
        assert box.value == "alice-2"
        await d.press("tab")
        assert [f for f, label in labels.items() if label.has_class("-focused")] == ["appr-name-senior-engineer"]


async def test_keys_typed_through_screens_opening_and_closing(runbooks_dir: Path, records_dir: Path, dead_kubeconfig: Path,
                                                              driver_for) -> None:
    """Enter opens a start form and escape closes it again within one burst: the keys after each land on the screen
    that is up by then (a form's fields, then Home's table), none on the one going away."""
    from screens.home import HomeScreen, scan_runbooks

    app = OpsConsoleApp(records_dir=records_dir, runbooks_dir=runbooks_dir, kubeconfig=str(dead_kubeconfig), clock=now)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await d.wait(lambda: isinstance(app.screen, HomeScreen), what="Home")
        ids = [e.id for e in scan_runbooks(runbooks_dir)]
        at = ids.index("web-config-restart")
        await d.type_ahead([*["down"] * at, "enter", *["tab"] * 6, *"sam", "escape", "down", "enter", "tab", *"-rc1"],
                           burst=30)
        def typed_into_second_form() -> bool:
            fields = app.screen.query("#param-image")
            return bool(fields) and fields.first(Input).value.endswith("-rc1")

        await d.wait(typed_into_second_form, what="the second form's typing")
        form = app.screen
        assert form.loaded.runbook.metadata.id == ids[at + 1]
        assert form.query_one("#param-image", Input).value == "registry.local/web:1.5.0-rc1"
        assert form.query_one("#param-namespace", Input).value == "web"
        assert not [w.id for w in form.query(Input) if "sam" in w.value]
    assert not list_dir(records_dir)  # the first form was left with escape: nothing written


def list_dir(path: Path) -> list[str]:
    """The entries of a directory (read outside the async test body, where blocking calls belong)."""
    return sorted(p.name for p in path.iterdir())
