"""The addendum form: a reviewer signs a correction or a follow-up to a closed change.

It only collects and checks the fields; the record screen appends the event (under the change's lock) once the
form is dismissed with a draft. Escape and Cancel dismiss ``None``, as every confirm in the console does.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from console.review.addenda import AddendumError, validate


@dataclass(frozen=True)
class AddendumDraft:
    """What the reviewer filled in."""

    author: str
    kind: str
    text: str
    refers_to: int | None


class AddendumModal(ModalScreen["AddendumDraft | None"]):
    """Author, kind, optional event number, text; ctrl+s appends, escape cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="addendum.cancel", tooltip="Close without appending"),
        Binding("ctrl+s", "submit", "Append", id="addendum.submit", tooltip="Append the addendum to the journal"),
    ]

    def __init__(self, *, change_id: str, author: str, events: int) -> None:
        super().__init__()
        self.change_id = change_id
        self.author = author
        self.events = events

    def compose(self) -> ComposeResult:
        with Vertical(id="addendum-form"):
            yield Static(f"Addendum to {self.change_id}: appended and signed, never edited", classes="section-title")
            yield Label("Your name")
            yield Input(self.author, id="addendum-author")
            yield Label("Kind")
            with RadioSet(id="addendum-kind"):
                yield RadioButton("correction", value=True, id="kind-correction")
                yield RadioButton("follow-up", id="kind-follow-up")
                yield RadioButton("post-mortem", id="kind-post-mortem")
            yield Label(f"Refers to event (1-{self.events}, optional)")
            yield Input(id="addendum-refers", restrict=r"[0-9]*", placeholder="e.g. 12")
            yield Label("Text")
            yield Input(id="addendum-text", placeholder="what is corrected, or what follows up")
            yield Static("", id="addendum-error")
            with Horizontal(id="addendum-buttons"):
                yield Button("Append (ctrl+s)", id="addendum-append", variant="primary")
                yield Button("Cancel (esc)", id="addendum-cancel")

    def on_mount(self) -> None:
        self.query_one("#addendum-text", Input).focus()

    def draft(self) -> AddendumDraft:
        """The form as a draft; raises ``AddendumError`` saying what is missing or wrong."""
        pressed = self.query_one("#addendum-kind", RadioSet).pressed_button
        kind = str(pressed.label) if pressed is not None else ""
        refers_raw = self.query_one("#addendum-refers", Input).value.strip()
        refers = int(refers_raw) if refers_raw else None
        draft = AddendumDraft(
            self.query_one("#addendum-author", Input).value.strip(), kind,
            self.query_one("#addendum-text", Input).value.strip(), refers,
        )
        validate(author=draft.author, kind=draft.kind, text=draft.text, refers_to=draft.refers_to, events=self.events)
        return draft

    def action_submit(self) -> None:
        try:
            draft = self.draft()
        except AddendumError as exc:
            self.query_one("#addendum-error", Static).update(str(exc))
            return
        self.dismiss(draft)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#addendum-append")
    def _append(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#addendum-cancel")
    def _cancel(self) -> None:
        self.action_cancel()

    @on(Input.Submitted, "#addendum-text")
    def _enter(self) -> None:
        self.action_submit()
