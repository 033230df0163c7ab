"""The failure screen: what failed and why, time since against the escalation deadlines, and the choices."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from console.engine.policy import escalation_levels
from console.engine.session import ChangeSession
from console.engine.state import Next
from console.review.summary import parse_ts

# One key, one meaning across the step flow: r runs the step (again), and break-glass has a key of its own (g, "go on
# anyway") that means nothing on any other screen, so a key pressed to stop a step can never also mean "go on".
CHOICE_KEYS = {"retry": "r", "rollback": "b", "continue": "g", "abort": "a"}
CHOICE_TEXT = {
    "retry": "run the step again (it asks its confirmation again)",
    "rollback": "run the rollback steps of what was done, newest first",
    "continue": "go on anyway: break-glass, recorded with a reason and an approver",
    "abort": "stop here and close the change out",
}


def escalation_text(failed_at: datetime, now: datetime, levels) -> Text:
    elapsed = now - failed_at
    text = Text(f"Failed {int(elapsed.total_seconds() // 60)}m{int(elapsed.total_seconds() % 60):02d}s ago.\n")
    for lvl in levels:
        left = (lvl.due - now).total_seconds()
        if left <= 0:
            text.append(f"  ● {lvl.level}: due {lvl.minutes} min after the failure: PASSED\n", style="bold red")
        else:
            text.append(f"  ○ {lvl.level}: due in {int(left // 60)}m{int(left % 60):02d}s\n")
    return text


class FailureScreen(ModalScreen[dict | None]):
    """Asks how to go on after a failed step; returns {choice, reason, approver} (or None to ask again)."""

    BINDINGS = [
        Binding("r", "choose('retry')", "Retry", id="failure.retry", tooltip=CHOICE_TEXT["retry"]),
        Binding("b", "choose('rollback')", "Roll back", id="failure.rollback", tooltip=CHOICE_TEXT["rollback"]),
        Binding("g", "choose('continue')", "Go on (break-glass)", id="failure.continue", tooltip=CHOICE_TEXT["continue"]),
        Binding("a", "choose('abort')", "Abort", id="failure.abort", tooltip=CHOICE_TEXT["abort"]),
        Binding("h", "hold", "Hold the rollback", id="failure.hold", tooltip="Stop the automatic rollback's countdown and choose yourself"),
        Binding("escape", "back", "Back", id="failure.back", tooltip="Close the break-glass form"),
    ]

    # No auto-focus: the only focusable widget is the hidden break-glass input, and focused it would swallow the
    # choice keys (r, b, g, a); it takes the focus only when the break-glass form asks for it.
    AUTO_FOCUS = ""

    def __init__(self, session: ChangeSession, nxt: Next, *, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self.session = session
        self.nxt = nxt
        self.clock = clock
        self._stage = ""
        # A step with on_failure: rollback rolls back by itself when this runs out, unless held (h).
        # Counted on the screen's clock, so a frozen clock in a rehearsal or test holds it still.
        self._auto_deadline: datetime | None = None
        if nxt.auto_rollback:
            self._auto_deadline = clock() + timedelta(seconds=session.rollback_countdown_s)

    def compose(self) -> ComposeResult:
        nxt = self.nxt
        assert nxt.item is not None  # a failure always names its step
        with Vertical(id="failure-box"):
            yield Static(Text(f"✗ {nxt.item.section} {nxt.item.step_id} failed", style="bold red"), id="failure-title")
            yield Static(Text(nxt.reason), id="failure-reason")
            yield Static(id="failure-escalation")
            lines = Text()
            for option in nxt.options:
                lines.append(f" {CHOICE_KEYS[option]} ", style="bold reverse")
                lines.append(f" {option}: {CHOICE_TEXT[option]}\n")
            yield Static(lines, id="failure-options")
            yield Static(id="failure-countdown")
            yield Static(id="failure-prompt")
            yield Input(compact=True, id="failure-input", select_on_focus=False)

    def on_mount(self) -> None:
        self.query_one("#failure-input", Input).display = False
        self.query_one("#failure-countdown", Static).display = self._auto_deadline is not None
        self._tick()
        self.set_interval(1.0, self._tick)
        if self._auto_deadline is not None:
            self._count_down()
            self.set_interval(0.2, self._count_down)

    def _count_down(self) -> None:
        if self._auto_deadline is None:
            return
        left = (self._auto_deadline - self.clock()).total_seconds()
        if left <= 0 and not self._stage:
            self._auto_deadline = None
            self.dismiss({"choice": "rollback", "automatic": True, "countdown_s": self.session.rollback_countdown_s})
            return
        self.query_one("#failure-countdown", Static).update(Text.assemble(
            (f"Rolling back automatically in {max(0, int(left + 0.999))}s ", "bold yellow"),
            ("(on_failure: rollback). Press ", ""), ("h", "bold reverse"), (" to hold and choose yourself.", ""),
        ))

    def action_hold(self) -> None:
        if self._auto_deadline is None:
            return
        self._auto_deadline = None
        self.session.hold_rollback()
        self.query_one("#failure-countdown", Static).update(Text("Automatic rollback held (recorded): choose below.", style="bold"))

    def _tick(self) -> None:
        failure = self.session.state.failure
        if failure is None:
            return
        failed_at = parse_ts(failure.at)
        self.query_one("#failure-escalation", Static).update(
            escalation_text(failed_at, self.clock(), escalation_levels(self.session.policy, failed_at))
        )

    def action_choose(self, choice: str) -> None:
        if self._stage or choice not in self.nxt.options:
            return
        if choice == "continue":
            self._stage = "reason"
            self.query_one("#failure-prompt", Static).update(Text("Break-glass: why is it safe to go on? (Enter)", style="bold red"))
            box = self.query_one("#failure-input", Input)
            box.display = True
            box.focus()
            return
        self.dismiss({"choice": choice})

    def action_back(self) -> None:
        if self._stage:
            self._stage = ""
            self.query_one("#failure-input", Input).display = False
            self.set_focus(None)
            self.query_one("#failure-prompt", Static).update("")

    @on(Input.Submitted, "#failure-input")
    def _submitted(self, event: Input.Submitted) -> None:
        box = self.query_one("#failure-input", Input)
        if self._stage == "reason":
            if len(event.value.strip()) < 5:
                self.query_one("#failure-prompt", Static).update(Text("A reason of a few words is needed. (Enter)", style="bold red"))
                return
            self._reason = event.value.strip()
            self._stage = "approver"
            self.query_one("#failure-prompt", Static).update(Text("Who approved going on? (name, Enter)", style="bold red"))
            box.value = ""
        elif self._stage == "approver":
            if not event.value.strip():
                return
            self.dismiss({"choice": "continue", "reason": self._reason, "approver": event.value.strip()})
