"""The step screen: one step at a time, its command shown before it runs, its confirmation, its output live.

Preconditions, gates, verification and any step that only looks or waits (checks, rollout waits, observe windows)
run as soon as the screen shows them; a step that changes something waits for its confirmation, or for ``r`` when
the runbook asks none. The session's blocking calls run in a
thread worker that only posts messages; the screen redraws from the session's state after every event.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import datetime

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import Reactive
from textual.screen import Screen
from textual.visual import VisualType
from textual.widget import Widget
from textual.widgets import Input, Markdown, Static
from textual.worker import Worker, WorkerState

from console.engine.session import ChangeSession, SessionError
from console.engine.state import Next
from console.engine.step_context import StepOutcome
from console.journal import events as ev
from console.journal.events import SECTION_TITLES
from console.review.summary import parse_ts
from screens.widgets.change_header import ChangeHeader
from screens.widgets.key_bar import KeyBar
from screens.widgets.output_log import OutputLog
from screens.widgets.plan_table import PlanTable, load_saved_plan
from screens.widgets.step_list import StepList, try_line

AUTO_RUN_SECTIONS = ("precondition", "gate", "verification")
LOCK_NEWS = (ev.LOCK_PAUSED, ev.LOCK_RESTORED, ev.LOCK_LOST, ev.LOCK_UNREACHABLE)
PANELS_IMPORT_WAIT_S = 30.0


class StepScreen(Screen):
    """Drives a change: shows what ``session.next()`` asks for and answers it with the operator's keys."""

    BINDINGS = [
        Binding("y", "confirm_yes", "Yes, run it", id="step.yes", tooltip="Confirm a step that asks for yes"),
        Binding("r", "run", "Run", id="step.run", tooltip="Run a step that asks no confirmation"),
        Binding("d", "manual_done", "Done", id="step.done", tooltip="A manual step is done"),
        Binding("f", "manual_failed", "Not done", id="step.notdone", tooltip="A manual step could not be done"),
        Binding("x", "cancel", "Stop the step", id="step.cancel",
                tooltip="Stop the running command and its process group (recorded as cancelled)"),
        Binding("n", "note", "Note", id="step.note", tooltip="Add a note to the record"),
        Binding("l", "leave", "Leave", id="step.leave", tooltip="Leave the change open; resume it later"),
        Binding("escape", "leave_input", "Keys", show=False, id="step.escape", tooltip="Leave the text box: keys act on the step again"),
        Binding("t", "type_word", "Type the word", show=False, id="step.type", tooltip="Back to the typed confirmation's text box"),
        Binding("pageup", "output_page(-1)", "Output up", show=False, id="step.output_up", tooltip="Scroll the output up a page"),
        Binding("pagedown", "output_page(1)", "Output down", show=False, id="step.output_down",
                tooltip="Scroll the output down a page"),
        Binding("end", "output_follow", "Follow output", show=False, id="step.output_follow",
                tooltip="Back to the newest output line, and follow it"),
    ]

    # No auto-focus: the keys belong to the step; a text box takes the focus when the step asks for text, and the
    # panels when the operator moves there (Tab, 1-4).
    AUTO_FOCUS = ""

    # Screen's own ``focused`` repaints the whole screen whenever the focus moves: each ``n`` (the note box takes
    # the focus) and each Enter or Esc that leaves it redrew every widget, the output pane's every row among them,
    # once more than the key needed. The widgets the focus leaves and reaches redraw themselves (their :focus
    # styles, the box's cursor), so here it moves without a repaint of everything else.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    class StepEnded(Message):
        """A step's run finished in the worker."""

        def __init__(self, outcome: StepOutcome) -> None:
            super().__init__()
            self.outcome = outcome

    def __init__(self, session: ChangeSession, *, clock: Callable[[], datetime], production: bool,
                 cluster_widget: Callable[[], object] | None = None) -> None:
        super().__init__()
        self.session = session
        self.clock = clock
        self.production = production
        self.cluster_widget = cluster_widget
        self.running = False
        self._input_mode = ""  # typed | note | manual-note | approval-name | approval-ref
        self._note_step: str | None = None  # the step the last note recorded here belongs to
        self._approval_name = ""
        # An apply or restore step's diff against the live objects: for which step, and what it showed (None while
        # it runs). A confirmation waits for it, so the operator confirms what they saw.
        self._diff_for: object | None = None
        self._diff_text: Text | None = None
        self._explain_shown: str | None = None  # the step explanation the Markdown shows
        self._prompt_under_note: VisualType | None = None  # the prompt a note box opened over while a step ran

    # -- layout ------------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        s = self.session
        created = s.journal.events[0].ts if s.journal.events else None
        yield ChangeHeader(
            environment=s.environment, context=s.context, change_id=s.change_id,
            started=parse_ts(created) if created else None, production=self.production, clock=self.clock,
            id="change-header",
        )
        with Horizontal(id="step-body"):
            yield StepList(id="step-list")
            with Vertical(id="step-main"):
                yield Static(id="step-title")
                with VerticalScroll(id="step-explain-box", can_focus=False):
                    yield Markdown(id="step-explain")
                yield Static(id="step-command")
                yield PlanTable(id="step-plan")
                yield Static(id="step-prompt")
                # One row, always there, for the text box and the note's confirmation: showing or hiding either
                # changes that row only, not the height of the output pane below it, so ``n`` and Enter repaint
                # one line instead of the whole pane (which, under a flood, is what made those keys slow).
                with Vertical(id="step-entry"):
                    yield Input(compact=True, id="step-input", select_on_focus=False)
                    yield Static(id="step-note")
                yield OutputLog(id="step-output")
                yield Static(id="step-status")
            if self.cluster_widget is not None:
                # The panels are mounted once the step itself is on screen (see on_mount): building them costs
                # more than the rest of the screen together.
                yield Vertical(Static("Cluster panels: connecting …", id="step-cluster-wait"), id="step-cluster")
        yield KeyBar(id="step-keys")

    def on_mount(self) -> None:
        # What the app holds by now (its modules, the screen's widgets: about 110,000 objects) is set aside from the
        # cyclic garbage collector while the step screen is up. A flood of output makes objects fast enough to
        # start a full collection every second or two, and walking all of that held the app's thread for about
        # 130 ms each time (up to 250), far longer than any key takes; set aside, a full collection takes about
        # 15 ms. Objects made from now on are collected as before; on_unmount hands the rest back.
        gc.freeze()
        if self.production:
            self.add_class("production")
        self.query_one("#step-input", Input).display = False
        self.query_one("#step-plan", PlanTable).display = False
        self.query_one("#step-note", Static).display = False
        self.session.event_listeners.append(self._on_event)
        self.set_interval(1.0, self._tick_escalations)
        self.show_next()
        if self.cluster_widget is not None:
            self.call_after_refresh(self._await_panels)

    @work(thread=True, exclusive=True, group="step-panels", exit_on_error=False)
    def _await_panels(self) -> None:
        # The app imports the panels' modules in a thread from its start (most of a second, the first time);
        # waited for here, off the UI thread, so the step itself is never held up by them.
        ready = getattr(self.app, "panels_ready", None)
        if ready is not None:
            ready.wait(PANELS_IMPORT_WAIT_S)
        self.app.call_from_thread(self.call_later, self._mount_cluster)

    async def _mount_cluster(self) -> None:
        assert self.cluster_widget is not None
        box = self.query_one("#step-cluster", Vertical)
        focused = self.focused
        await box.remove_children()
        await box.mount(self.cluster_widget())  # type: ignore[arg-type]
        gc.freeze()  # the panels too (see on_mount)
        # The panels take the focus when they mount; on the step screen the keys belong to the step (Tab or 1-4
        # go to the panels), and a text box the step had focused keeps it.
        self.set_focus(focused)

    def on_unmount(self) -> None:
        gc.unfreeze()  # what on_mount set aside is collected again (the screens this one replaced among it)
        if self._on_event in self.session.event_listeners:
            self.session.event_listeners.remove(self._on_event)

    def _on_event(self, event) -> None:
        # Called on whichever thread wrote the event; the list is redrawn on the app's thread.
        line = try_line(event.type, event.data)
        try:
            self.app.call_from_thread(self._refresh_list)
            if event.type in LOCK_NEWS:
                self.app.call_from_thread(self._lock_news, event)
            if line is not None:
                self.app.call_from_thread(self.query_one("#step-prompt", Static).update, line)
        except RuntimeError:
            self._refresh_list()
            if event.type in LOCK_NEWS:
                self._lock_news(event)

    def _lock_news(self, event) -> None:
        """What the change lock's renewals learned, where the operator is looking (the record has it already)."""
        message = str(event.data.get("message") or "")
        status = self.query_one("#step-status", Static)
        if event.type == ev.LOCK_PAUSED:
            status.update(Text(f"⏸ {message} (x stops waiting)", style="bold yellow"))
        elif event.type == ev.LOCK_RESTORED:
            status.update(Text("The change lock is renewed again: the change goes on.", style="bold green"))
        elif event.type == ev.LOCK_LOST:
            status.update(Text(f"Change lock lost: {message}. No further step that changes anything will run.", style="bold red"))
            self.notify(f"Change lock lost: {message}", severity="error", timeout=15)
        elif event.type == ev.LOCK_UNREACHABLE:
            self.notify(f"The change lock could not be renewed: {message}", severity="warning", timeout=10)

    def _refresh_list(self) -> None:
        self.query_one("#step-list", StepList).show(self.session.runbook, self.session.state)

    # -- what next ---------------------------------------------------------------------------------------------

    def _keys(self, nxt: Next | None = None) -> None:
        """The keys that act now; every key means one thing on every screen of the step flow."""
        pairs: list[tuple[str, str]] = []
        if self.running:
            pairs.append(("x", "stop the step"))
        elif nxt is not None and nxt.kind == "confirm":
            typed = [("enter", "run (word typed)"), ("esc", "leave the box"), ("t", "back to it")]
            pairs += typed if nxt.confirm == "typed" else [("y", "yes, run it")]
        elif nxt is not None and nxt.kind == "run":
            pairs.append(("r", "run"))
        elif nxt is not None and nxt.kind == "manual":
            pairs += [("d", "done"), ("f", "could not")]
        pairs.append(("n", "note"))
        if not self.running:
            pairs.append(("l", "leave"))
        if not self.query_one("#step-output", OutputLog).following:
            pairs.append(("end", "follow the output"))
        if self.cluster_widget is not None:
            focused = self.focused
            in_panels = focused is not None and any(getattr(node, "id", None) == "step-cluster" for node in focused.ancestors)
            pairs += [("z", "zoom"), ("1-4", "panel"), ("/", "filter")] if in_panels else [("tab", "to the panels")]
        pairs += [("?", "keys"), ("^q", "quit")]
        self.query_one("#step-keys", KeyBar).show(pairs)

    def show_next(self) -> None:
        """Show whatever the change needs now, and start it when it needs no answer."""
        self._refresh_list()
        under_note, self._prompt_under_note = self._prompt_under_note, None
        if self.running:
            self._keys(None)
            if under_note is not None:  # a note box closed while the step runs: what the prompt said before it
                self.query_one("#step-prompt", Static).update(under_note)
            return
        nxt = self.session.next()
        self._keys(nxt)
        prompt = self.query_one("#step-prompt", Static)
        box = self.query_one("#step-input", Input)
        box.display = False
        self._input_mode = ""
        if nxt.kind in ("confirm", "run", "manual", "approval"):
            self._show_step(nxt)
        if nxt.kind == "confirm":
            self._show_diff(nxt)
            if nxt.confirm == "typed":
                prompt.update(Text.assemble(("Type ", ""), (nxt.word or "", "bold reverse"), (" and press Enter to run this step", "")))
                self._ask("typed", placeholder=f"type {nxt.word}")
            else:
                prompt.update(Text.assemble(("Press ", ""), ("y", "bold reverse"), (" to run this step.", "")))
        elif nxt.kind == "run":
            section = nxt.item.section if nxt.item else "step"
            looks_only = nxt.step is not None and not nxt.step.is_mutating
            automatic = section == "rollback" and self.session.state.rollback_automatic
            if section in AUTO_RUN_SECTIONS or looks_only or automatic or (nxt.item and nxt.item.step_id in self.session.state.confirmed):
                prompt.update("Running …")
                self._start_run()
            else:
                prompt.update(Text.assemble(("This step asks no confirmation. Press ", ""), ("r", "bold reverse"), (" to run it.", "")))
        elif nxt.kind == "manual":
            prompt.update(Text.assemble(
                ("Do it, then press ", ""), ("d", "bold reverse"), (" (done) or ", ""), ("f", "bold reverse"), (" (could not).", ""),
            ))
        elif nxt.kind == "approval":
            role = nxt.step.role if nxt.step else ""
            prompt.update(f"Approval by the role {role}: type the approver's name and press Enter.")
            self._ask("approval-name", placeholder="approver's name")
        elif nxt.kind == "failure":
            self._open_failure(nxt)
        elif nxt.kind == "finish_rollback":
            self.session.finish_rollback()
            self.notify("Rollback finished.")
            self.show_next()
        elif nxt.kind == "close":
            self._open_closeout(nxt)
        elif nxt.kind == "done":
            prompt.update(f"The change is closed: {nxt.suggested}.")

    def _show_step(self, nxt: Next) -> None:
        assert nxt.item is not None and nxt.step is not None
        s = self.session
        step = nxt.step
        if nxt.item.section == "rollback":
            where = f"Rollback {s.state.rollback_pos + 1} of {len(s.state.rollback_queue)}"
        else:
            where = f"Step {s.state.position + 1} of {len(s.state.forward)} · {SECTION_TITLES[nxt.item.section]}"
        if nxt.item.step_id != self._note_step:
            self.query_one("#step-note", Static).display = False
        title = Text.assemble((where, "dim"), "  ", (f"{step.id}", "bold"), f"  {s.step_text(step.title)}")
        if s.state.statuses.get(step.id) == "interrupted":
            title.append("\n⚠ interrupted when the console stopped: it has not been marked done; confirm to run it again", style="bold magenta")
        self.query_one("#step-title", Static).update(title)
        explain = s.step_text(step.explain or "")
        if step.kind == "manual" and step.instructions:
            explain += "\n\n**What to do:** " + s.step_text(step.instructions)
        # A step without an explanation shows none (its title says what it does).
        self.query_one("#step-explain-box").display = bool(explain.strip())
        if explain != self._explain_shown:  # shown again after every answer; parsed and mounted only when it changes
            self._explain_shown = explain
            self.query_one("#step-explain", Markdown).update(explain)
        command = s.command_for(nxt.item)
        self.query_one("#step-command", Static).update(
            Text.assemble(("$ ", "bold green"), (command, "bold")) if command else Text("(no command: answered by the operator)", style="dim")
        )
        self.query_one("#step-status", Static).update("")
        self._show_plan(step)

    def _show_plan(self, step) -> None:
        """Before a Terraform apply: the saved plan it will apply, as a table."""
        table = self.query_one("#step-plan", PlanTable)
        tf = step.terraform
        if step.kind != "terraform" or tf is None or tf.action != "apply":
            table.display = False
            return
        table.display = True
        if tf.plan is None:
            table.update(Text(
                "This apply plans afresh with its own variables, checks the guard, keeps that plan with the record and applies exactly it.",
                style="yellow",
            ))
            return
        saved = load_saved_plan(self.session.ref.path, self.session.state.artifacts.get(tf.plan, []))
        if saved is None:
            table.update(Text(f"No saved plan from step {tf.plan}: the apply will be refused.", style="bold red"))
            return
        table.show_plan(*saved)

    def _show_diff(self, nxt: Next) -> None:
        """Before an apply or a restore is confirmed: its ``kubectl diff`` against the live objects (recorded by the
        session), run once per confirmation off the UI thread."""
        if nxt.step is None or nxt.item is None or nxt.step.kind not in ("apply", "restore"):
            return
        table = self.query_one("#step-plan", PlanTable)
        table.display = True
        if self._diff_for != nxt.item:
            self._diff_for, self._diff_text = nxt.item, None
            self._run_diff(nxt.item)
        table.update(self._diff_text or Text("kubectl diff against the live objects …", style="dim"))

    @work(thread=True, exclusive=True, group="step-diff", exit_on_error=False)
    def _run_diff(self, item: object) -> None:
        preview = self.session.diff(item)  # type: ignore[arg-type]
        self.app.call_from_thread(self._diff_shown, item, preview)

    def _diff_shown(self, item: object, preview) -> None:
        if item != self._diff_for:
            return
        self._diff_text = diff_text(preview)
        self.query_one("#step-plan", PlanTable).update(self._diff_text)

    def _diff_pending(self, nxt: Next) -> bool:
        """Whether the step's diff is still being run: its confirmation waits (and says so)."""
        if nxt.step is not None and nxt.step.kind in ("apply", "restore") and self._diff_text is None:
            self.notify("The diff against the live objects is still running: confirm once you have read it.")
            return True
        return False

    def _ask(self, mode: str, *, placeholder: str) -> None:
        box = self.query_one("#step-input", Input)
        self._input_mode = mode
        box.value = ""
        box.placeholder = placeholder
        box.password = False
        box.display = True
        box.focus()

    # -- keys --------------------------------------------------------------------------------------------------

    def action_confirm_yes(self) -> None:
        nxt = self.session.next()
        if nxt.kind != "confirm" or nxt.confirm != "yes" or self.running or self._diff_pending(nxt):
            return
        self.session.confirm("yes")
        self.show_next()

    def action_run(self) -> None:
        nxt = self.session.next()
        if nxt.kind == "run" and not self.running:
            self._start_run()

    def action_manual_done(self) -> None:
        self._manual("done")

    def action_manual_failed(self) -> None:
        self._manual("no")

    def _manual(self, answer: str) -> None:
        if self.session.next().kind != "manual" or self._input_mode:
            return
        self._manual_answer = answer
        self.query_one("#step-prompt", Static).update(f"Answer: {answer}. Add a note (what you did, a snapshot ID) and press Enter.")
        self._ask("manual-note", placeholder="note for the record (may be empty)")

    def action_cancel(self) -> None:
        if self.running:
            self.session.cancel()
            self.query_one("#step-prompt", Static).update("Cancelling: SIGINT, then SIGTERM, then SIGKILL to the whole process group …")

    def action_note(self) -> None:
        if self._input_mode and self._input_mode != "typed":
            return
        prompt = self.query_one("#step-prompt", Static)
        if self.running and self._prompt_under_note is None:
            self._prompt_under_note = prompt.content  # said again when the box closes (show_next)
        prompt.update("Note for the record; Enter adds it.")
        self._ask("note", placeholder="note")

    def action_leave(self) -> None:
        if self.running:
            self.notify("A step is running: stop it (x) first.", severity="warning")
            return
        change_id = self.session.change_id
        self.session.release()
        self.app.pop_screen()
        self.app.notify(f"{change_id} stays open: resume it from Home or with opsconsole resume {change_id}.")

    def action_leave_input(self) -> None:
        """Escape from a text box: a note or answer is dropped; a typed confirmation keeps its box for later (t)."""
        box = self.query_one("#step-input", Input)
        if not box.display:
            return
        if self._input_mode == "typed":
            self.set_focus(None)
            self.query_one("#step-status", Static).update("Keys act on the step again; t goes back to typing the word.")
            return
        box.display = False
        self._input_mode = ""
        self.set_focus(None)
        self.show_next()

    def _note_recorded(self) -> None:
        """Say, where the operator is looking, that the note is in the record (and as which event)."""
        event = next((e for e in reversed(self.session.events) if e.type == ev.NOTE_ADDED), None)
        if event is None:
            return
        line = self.query_one("#step-note", Static)
        line.update(Text.assemble(("✓ Note recorded", "bold green"), f" at {event.ts[11:19]} UTC as journal event {event.seq}: ",
                                  (f"“{event.data.get('text', '')}”", "italic")))
        line.display = True
        self._note_step = event.data.get("step_id")
        self.notify(f"Note recorded (journal event {event.seq}).")

    def action_output_page(self, direction: int) -> None:
        out = self.query_one("#step-output", OutputLog)
        if direction < 0:
            out.scroll_page_up(animate=False)
        else:
            out.scroll_page_down(animate=False)

    def action_output_follow(self) -> None:
        self.query_one("#step-output", OutputLog).follow()

    @on(OutputLog.FollowChanged)
    def _follow_changed(self) -> None:
        self._keys(None if self.running else self.session.next())

    def on_descendant_focus(self) -> None:
        if self.cluster_widget is not None:  # the key bar says whether the keys are on the panels
            self._keys(None if self.running else self.session.next())

    def on_descendant_blur(self) -> None:
        if self.cluster_widget is not None:
            self._keys(None if self.running else self.session.next())

    def action_type_word(self) -> None:
        box = self.query_one("#step-input", Input)
        if self._input_mode == "typed" and box.display:
            box.focus()

    @on(Input.Submitted, "#step-input")
    def _submitted(self, event: Input.Submitted) -> None:
        value = event.value
        mode = self._input_mode
        box = self.query_one("#step-input", Input)
        if mode == "typed":
            if self._diff_pending(self.session.next()):
                return
            if self.session.confirm(value):
                box.display = False
                self._input_mode = ""
                self.show_next()
            else:
                nxt = self.session.next()
                self.query_one("#step-status", Static).update(
                    Text(f"Refused: {value!r} is not {nxt.word!r}. The refusal is recorded.", style="bold red")
                )
                box.value = ""
        elif mode == "note":
            if value.strip():
                self.session.add_note(value.strip())
                self._note_recorded()
            box.display = False
            self._input_mode = ""
            self.show_next()
        elif mode == "manual-note":
            box.display = False
            self._input_mode = ""
            self.session.answer_manual(self._manual_answer, value.strip())
            self.show_next()
        elif mode == "approval-name":
            if not value.strip():
                return
            self._approval_name = value.strip()
            self.query_one("#step-prompt", Static).update("Reference (a ticket), then Enter.")
            self._ask("approval-ref", placeholder="reference")
        elif mode == "approval-ref":
            nxt = self.session.next()
            try:
                self.session.approve(self._approval_name, (nxt.step.role or "") if nxt.step else "", value.strip())
            except SessionError as exc:
                self.notify(str(exc), severity="error")
            box.display = False
            self._input_mode = ""
            self.show_next()

    # -- running -----------------------------------------------------------------------------------------------

    def _start_run(self) -> None:
        nxt = self.session.next()
        if nxt.step is None:
            return
        self.running = True
        self._diff_for, self._diff_text = None, None  # a rerun diffs again before its confirmation
        out = self.query_one("#step-output", OutputLog)
        out.begin(self.clock(), f"{nxt.step.id}: {(self.session.command_for(nxt.item) if nxt.item else '') or nxt.step.kind}")
        self.query_one("#step-status", Static).update(Text("running … (x stops it)", style="bold yellow"))
        self._keys(None)
        self._run_worker()

    @work(thread=True, exclusive=True, group="step-run", exit_on_error=False)
    def _run_worker(self) -> None:
        out = self.query_one("#step-output", OutputLog)
        outcome = self.session.run(listeners=[out.feed])
        self.post_message(self.StepEnded(outcome))

    def on_step_screen_step_ended(self, message: StepEnded) -> None:
        self.running = False
        out = self.query_one("#step-output", OutputLog)
        out.flush_pending()
        o = message.outcome
        code = "" if o.exit_code is None else f"exit {o.exit_code} · "
        style = "bold green" if o.passed else "bold red"
        verdict = "passed" if o.passed else f"FAILED: {o.reason}"
        self.query_one("#step-status", Static).update(Text(f"{code}{o.duration_s:.1f}s · {verdict}", style=style))
        self.show_next()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group == "step-run":
            self.running = False
            error = event.worker.error
            self.query_one("#step-status", Static).update(Text(f"The step could not run: {escape(str(error))}", style="bold red"))
            self.notify(f"step worker failed: {error}", severity="error")

    # -- failure, escalation, close-out -----------------------------------------------------------------------

    def _tick_escalations(self) -> None:
        if self.session.state.failure is not None:
            for level in self.session.check_escalations():
                self.notify(f"Escalation due: {level}", severity="warning", timeout=10)

    def _open_failure(self, nxt: Next) -> None:
        from screens.failure import FailureScreen

        def chosen(result: dict | None) -> None:
            if result:
                try:
                    if result.get("automatic"):
                        self.session.auto_rollback(countdown_s=result["countdown_s"])
                    else:
                        self.session.choose(result["choice"], reason=result.get("reason", ""), approver=result.get("approver", ""))
                except SessionError as exc:
                    self.notify(str(exc), severity="error")
            self.show_next()

        self.app.push_screen(FailureScreen(self.session, nxt, clock=self.clock), chosen)

    def _open_closeout(self, nxt: Next) -> None:
        from screens.closeout import CloseoutScreen

        self.app.switch_screen(CloseoutScreen(self.session, suggested=nxt.suggested or "success", clock=self.clock, production=self.production))


DIFF_LINES_SHOWN = 200


def diff_text(preview) -> Text:
    """A step's diff for the screen: additions green, removals red, hunks dim; long diffs cut (the record has it all)."""
    if preview is None:
        return Text("")
    if preview.problem and not preview.lines:
        return Text(preview.problem, style="bold red")
    if not preview.lines:
        return Text("kubectl diff: the live objects already match; applying changes nothing.", style="green")
    text = Text("Diff against the live objects (recorded with the change):\n", style="bold")
    for line in preview.lines[:DIFF_LINES_SHOWN]:
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim" if line.startswith(("@@", "diff ")) else ""
        text.append(line + "\n", style=style)
    if len(preview.lines) > DIFF_LINES_SHOWN:
        text.append(f"… {len(preview.lines) - DIFF_LINES_SHOWN} more lines in the record's artifacts\n", style="dim")
    if preview.problem:
        text.append(preview.problem + "\n", style="bold red")
    return text
