"""Follow: a change another console drives, live and read-only, from another terminal or a browser.

The steps (the runbook's list, where the change stands), the running step's output as it streams, and the
decisions and events underneath, all read from the change's files as they grow (``console.review.follow``). No
key acts on the change: the keys here move the view only. When the change closes the outcome is shown, then the
change's record (read-only) or, with ``exit_on_close``, the app leaves with 0 for a success and 1 otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Log, Static

from console.engine.runner import OutputLine
from console.engine.state import fold
from console.journal import events as ev
from console.journal.chain import Event
from console.journal.store import RecordStore, StoreError
from console.review.follow import ChangeFollower, ClosedItem, EventItem, FollowItem, HolderItem, OutputItem, ProblemItem
from console.review.follow_lines import describe
from console.review.render import OUTCOME_WORDS
from console.runbook.loader import RunbookError, load_runbook
from console.runbook.models import Runbook
from screens.key_order import OrderedKeysApp
from screens.record import RecordScreen
from screens.widgets.output_log import OutputLog
from screens.widgets.step_list import StepList


class ReadOnlyRecordScreen(RecordScreen, inherit_bindings=False):
    """The record screen with nothing that writes: no addendum (a follower or a browser only reads)."""

    # The record's keys and the screen's own (focus moves, copy), less the addendum's.
    BINDINGS = [*Screen.BINDINGS, *(b for b in RecordScreen.BINDINGS if not (isinstance(b, Binding) and b.action == "addendum"))]

    def action_addendum(self) -> None:
        self.notify("Read-only here: addenda are added from the console (opsconsole records addendum).", severity="warning")


class FollowScreen(Screen):
    """One change as it runs, read from its files; nothing here writes to it."""

    BINDINGS = [
        Binding("end", "follow_output", "Follow output", id="follow.end", tooltip="Follow the newest output line again"),
        Binding("r", "record", "Record", id="follow.record", tooltip="The change's record (once it has closed)"),
        Binding("escape", "back", "Back", id="follow.back", tooltip="Back to the list of changes (when opened from it)"),
    ]

    DEFAULT_CSS = """
    FollowScreen #follow-banner { height: auto; padding: 0 1; background: $boost; }
    FollowScreen #follow-banner.closed-ok { background: $success 30%; }
    FollowScreen #follow-banner.closed-bad { background: $error 30%; }
    FollowScreen #follow-decisions { height: 10; border: round $panel; overflow-x: hidden; }
    """

    def __init__(self, change_dir: Path, change_id: str, *, exit_on_close: bool = False, poll_s: float | None = None) -> None:
        super().__init__()
        self.change_dir = Path(change_dir)
        self.change_id = change_id
        self.exit_on_close = exit_on_close
        self.follower = ChangeFollower(self.change_dir) if poll_s is None else ChangeFollower(self.change_dir, poll_s=poll_s)
        self.events: list[Event] = []
        self.runbook: Runbook | None = None
        self.outcome: str | None = None
        self.problem: str | None = None
        self.current_cast: str | None = None
        self.holder = ""
        self.lines_shown = 0  # output lines handed to the output pane (tests and benchmarks wait on it)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"following {self.change_id}: reading…", id="follow-banner")
        with Horizontal():
            yield StepList(id="follow-steps")
            with Vertical():
                yield OutputLog(id="follow-output")
                yield Log(id="follow-decisions", highlight=False, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.change_id} · following, read-only"
        self.query_one("#follow-output", OutputLog).border_title = "output"
        self.query_one("#follow-decisions", Log).border_title = "events and decisions"
        self._follow()

    @work(exclusive=True, group="follow", exit_on_error=False)
    async def _follow(self) -> None:
        async for batch in self.follower.batches():
            self.apply(batch)

    # -- what arrives ---------------------------------------------------------------------------------------

    def apply(self, batch: list[FollowItem]) -> None:
        """Show one poll's worth of events and output."""
        output = self.query_one("#follow-output", OutputLog)
        decisions = self.query_one("#follow-decisions", Log)
        new_events = False
        shown_before = self.lines_shown
        for item in batch:
            if isinstance(item, EventItem):
                self.events.append(item.event)
                new_events = True
                text = describe(item.event)
                if text is not None:
                    decisions.write_line(f"{item.event.ts[11:19]}  {text}")
                if item.event.type == ev.CHANGE_CREATED:
                    self._load_runbook()
            elif isinstance(item, OutputItem):
                if item.cast != self.current_cast:
                    self.current_cast = item.cast
                    output.begin(datetime.fromtimestamp(item.started, UTC), f"{item.step_id} ({item.cast})")
                stream = "stderr" if item.line.stderr else "stdout"
                text = item.line.text if item.line.code == "o" else f"· {item.line.text}"
                output.feed(OutputLine(item.line.t, stream, text))
                self.lines_shown += 1
            elif isinstance(item, ProblemItem):
                self.problem = item.text
            elif isinstance(item, HolderItem):
                self.holder = item.text
                decisions.write_line(f"-- {item.text}")
            elif isinstance(item, ClosedItem):
                self.outcome = item.outcome
        if self.lines_shown != shown_before:
            output.flush_pending()  # now, not at the pane's next tick: a poll is already a batch
        if new_events:
            self._show_steps()
        self._banner()
        if self.outcome is not None:
            self._on_close()

    def _load_runbook(self) -> None:
        # The runbook as the change started it: the copy kept with the record, not whatever is in runbooks/ now.
        try:
            self.runbook = load_runbook(self.change_dir / "artifacts" / "runbook.yaml").runbook
        except (RunbookError, OSError) as exc:
            self.notify(f"The step list is not shown: {exc}", severity="warning")

    def _show_steps(self) -> None:
        if self.runbook is None:
            return
        try:
            state = fold(self.runbook, self.events)
        except (KeyError, ValueError) as exc:  # a journal this version cannot fold: the output still streams
            self.notify(f"The step list stopped: {exc}", severity="warning")
            self.runbook = None
            return
        self.query_one("#follow-steps", StepList).show(self.runbook, state)

    def _banner(self) -> None:
        banner = self.query_one("#follow-banner", Static)
        created = next((e for e in self.events if e.type == ev.CHANGE_CREATED), None)
        head = f"{self.change_id}"
        if created is not None:
            rb = created.data.get("runbook") or {}
            head += f" · {rb.get('title', '')} · {created.data.get('operator', '?')} on {created.data.get('environment', '?')}"
        if self.problem is not None:
            banner.update(Text(f"{head}\n✗ {self.problem}", style="bold red"))
            banner.set_class(True, "closed-bad")
            return
        if self.outcome is not None:
            words = OUTCOME_WORDS.get(self.outcome, self.outcome)
            tail = "" if self.exit_on_close else " · r: its record"
            banner.update(Text(f"{head}\nclosed: {words}{tail}", style="bold"))
            banner.set_class(self.outcome == "success", "closed-ok")
            banner.set_class(self.outcome != "success", "closed-bad")
            return
        last = next((describe(e) for e in reversed(self.events) if describe(e) is not None), None)
        holder = f" · {self.holder}" if self.holder else ""
        banner.update(Text(f"{head}\nin progress{holder} · {last or 'waiting for the journal'}"))

    def _on_close(self) -> None:
        app = self.app
        if isinstance(app, FollowApp):
            app.closed_outcome = self.outcome
        if self.exit_on_close:
            app.exit(return_code=0 if self.outcome == "success" else 1)
            return
        self.notify(f"{self.change_id} closed: {OUTCOME_WORDS.get(self.outcome, self.outcome)}", title="Change closed")
        self.action_record()

    def on_resize(self) -> None:
        # A browser's terminal is sized after the session starts: a pane that was following stays at the newest line.
        output = self.query_one("#follow-output", OutputLog)
        if output.following:
            self.call_after_refresh(output.follow)

    # -- keys (none of them acts on the change) ---------------------------------------------------------------

    def action_follow_output(self) -> None:
        self.query_one("#follow-output", OutputLog).follow()

    def action_back(self) -> None:
        # Opened from the served list of changes: back to it. At the root of ``opsconsole follow``, q leaves instead.
        if len(self.app.screen_stack) > 2:
            self.dismiss(None)

    def action_record(self) -> None:
        if self.outcome is None:
            self.notify("The record opens once the change has closed.", severity="warning")
            return
        store = RecordStore(self.change_dir.parent.parent)  # <root>/<year>/<change dir>
        try:
            ref = store.find(self.change_id)
        except StoreError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.push_screen(ReadOnlyRecordScreen(store, ref))


class FollowApp(OrderedKeysApp):
    """``opsconsole follow``: the Follow screen on its own."""

    CSS_PATH = "opsconsole.tcss"
    TITLE = "opsconsole follow"
    BINDINGS = [Binding("q", "quit", "Quit", id="follow.quit", tooltip="Stop following (the change goes on)")]

    def __init__(self, *, change_dir: Path, change_id: str, exit_on_close: bool = False, poll_s: float | None = None) -> None:
        super().__init__()
        self.change_dir = Path(change_dir)
        self.change_id = change_id
        self.exit_on_close = exit_on_close
        self.poll_s = poll_s
        self.closed_outcome: str | None = None

    def on_mount(self) -> None:
        self.push_screen(FollowScreen(self.change_dir, self.change_id, exit_on_close=self.exit_on_close, poll_s=self.poll_s))


def run_follow(*, change_dir: Path, change_id: str, exit_on_close: bool = False) -> int:
    """Follow full screen until quit (or until the change closes, with ``exit_on_close``); returns the exit code."""
    app = FollowApp(change_dir=change_dir, change_id=change_id, exit_on_close=exit_on_close)
    app.run()
    return app.return_code or 0
