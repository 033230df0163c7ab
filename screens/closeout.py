"""Close-out: the outcome, follow-ups and sign-off; then where the record is and the chain hash to keep elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, Select, Static
from textual.worker import Worker, WorkerState

from console.engine.session import ChangeSession, SessionError
from console.engine.signed_start import sign_closeout
from console.journal.events import OUTCOMES
from console.review.render import OUTCOME_WORDS
from console.review.summary import parse_ts
from screens.widgets.change_header import ChangeHeader
from screens.widgets.form_field import FieldLabel, FormSelect, field_input, mark_focused
from screens.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from screens.app import OpsConsoleApp

OPEN_KEYS = [("tab", "next field"), ("shift+tab", "previous"), ("^s", "sign off and close"), ("f1", "keys"), ("^q", "quit")]
CLOSED_KEYS = [("esc", "back to Home"), ("?", "keys"), ("^q", "quit")]


class CloseoutScreen(Screen):
    """The last screen of a change: nothing is written until the operator signs off."""

    BINDINGS = [
        Binding("ctrl+s", "sign_off", "Sign off and close", id="closeout.sign", tooltip="Write the outcome and close the change"),
        Binding("escape", "home", "Home", id="closeout.home", tooltip="Back to Home (after closing)"),
    ]

    def __init__(self, session: ChangeSession, *, suggested: str, clock: Callable[[], datetime], production: bool) -> None:
        super().__init__()
        self.session = session
        self.suggested = suggested
        self.clock = clock
        self.production = production
        self.closed_head: str | None = None
        self._signing_off = False

    def compose(self) -> ComposeResult:
        s = self.session
        yield ChangeHeader(environment=s.environment, context=s.context, change_id=s.change_id,
                           started=parse_ts(s.journal.events[0].ts), production=self.production, clock=self.clock)
        with Vertical(id="closeout-box"):
            yield Static(Text(f"Close-out of {s.change_id}: suggested outcome {OUTCOME_WORDS[self.suggested]}", style="bold"))
            with Horizontal(classes="form-row"):
                yield FieldLabel("outcome", field="closeout-outcome")
                yield FormSelect([(OUTCOME_WORDS[o], o) for o in OUTCOMES], value=self.suggested, id="closeout-outcome")
            with Horizontal(classes="form-row"):
                yield FieldLabel("follow-ups (; between)", field="closeout-followups")
                yield field_input(id="closeout-followups", placeholder="e.g. remove the old ConfigMap key; update the dashboard")
            with Horizontal(classes="form-row"):
                yield FieldLabel("signed off by", field="closeout-name")
                yield field_input(value=s.operator, id="closeout-name")
            with Horizontal(classes="form-row"):
                yield FieldLabel("role", field="closeout-role")
                yield field_input(value="operator", id="closeout-role")
            yield Static(Text.assemble(("ctrl+s", "bold reverse"), " signs off and writes the record; Enter or Tab moves to the next field."),
                         id="closeout-hint")
            yield Static(id="closeout-result")
        yield KeyBar(id="closeout-keys")

    def on_mount(self) -> None:
        if not self.query("#closeout-followups"):
            return  # the app closed as the change reached its close-out: the form is already being taken down
        self.query_one("#closeout-keys", KeyBar).show(OPEN_KEYS)
        self.query_one("#closeout-followups", Input).focus()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        mark_focused(self, event.widget)

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        mark_focused(self, self.focused)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Once signed off, signing off again means nothing: it leaves the key list (and ? lists it no more).
        return not (action == "sign_off" and self.closed_head is not None)

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        self.focus_next()

    def action_sign_off(self) -> None:
        if self.closed_head is not None or self._signing_off:
            return
        outcome = self.query_one("#closeout-outcome", Select).value
        followups = [f.strip() for f in self.query_one("#closeout-followups", Input).value.split(";") if f.strip()]
        name = self.query_one("#closeout-name", Input).value.strip() or self.session.operator
        role = self.query_one("#closeout-role", Input).value.strip() or "operator"
        self._signing_off = True
        # Close-out runs the runbook's evidence commands and snapshots the cluster: never on the UI thread.
        self.query_one("#closeout-result", Static).update(Text("Closing: keeping the evidence and writing the record …", style="bold yellow"))
        self._close_worker(str(outcome), followups, name, role)

    @work(thread=True, exclusive=True, group="closeout", exit_on_error=False)
    def _close_worker(self, outcome: str, followups: list[str], name: str, role: str) -> None:
        try:
            head = self.session.close(outcome, followups=followups, signoff_name=name, signoff_role=role)
        except SessionError as exc:
            self.app.call_from_thread(self._close_refused, str(exc))
            return
        self.app.call_from_thread(self._show_closed, outcome, head)
        # Where policy names signers, the operator's SSH key signs the head (the record then says who closed it).
        if self.session.policy.allowed_signers_path() is not None:
            signed, sentence = sign_closeout(self.session.store, self.session.change_id, self.session.policy,
                                             key_path=None, who=self.session.operator)
            self.app.call_from_thread(self.notify, sentence, severity="information" if signed else "warning")

    def _close_refused(self, message: str) -> None:
        self._signing_off = False
        self.query_one("#closeout-result", Static).update("")
        self.notify(message, severity="error")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group == "closeout":
            self._close_refused(f"the close-out failed: {event.worker.error}")

    @property
    def console(self) -> OpsConsoleApp:
        """The app, as the console's own (the close-out runs only inside it)."""
        return cast("OpsConsoleApp", self.app)

    def _show_closed(self, outcome: str, head: str) -> None:
        self._signing_off = False
        self.closed_head = head
        self.console.closed_outcome = outcome  # the app's exit code says it
        self.refresh_bindings()
        self.query_one("#closeout-keys", KeyBar).show(CLOSED_KEYS)
        self.query_one("#closeout-hint", Static).display = False
        for field in self.query("#closeout-box Input, #closeout-box Select"):
            field.disabled = True  # the record is written: nothing here can change it any more
        record = self.session.ref.path / "record.md"
        self.query_one("#closeout-result", Static).update(Text.assemble(
            (f"{self.session.change_id} closed: {OUTCOME_WORDS[str(outcome)]}\n", "bold green" if outcome == "success" else "bold yellow"),
            ("Record: ", "dim"), (f"{record}\n", ""),
            ("Final chain hash (keep it in the ticket): ", "dim"), (head, "bold"),
            ("\nCheck it later with: ", "dim"), (f"opsconsole records verify {self.session.change_id} --head {head}", ""),
            *((("\nTeam store: ", "dim"), (self.session.shared, "")) if self.session.shared else ()),
        ))

    def action_home(self) -> None:
        if self.closed_head is None:
            self.notify("Sign off first (ctrl+s): the change is still open.", severity="warning")
            return
        self.app.pop_screen()
