"""Record: one change as a reviewer reads it, verified from its journal when it opens.

Tabs: the summary (every minimum field, approvals, break-glass decisions in bold, refused confirmations, the
operator's notes), the timeline (a bar per run, notes and refusals at their time),
the output of every command (searchable, replayable) and the addenda. A journal that does not verify is still
shown, up to its first bad line, under a banner that says which line and why. ``a`` appends a signed addendum.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static, TabbedContent, TabPane

from console.journal.journal import Clock, JournalError, VerifyReport, read_and_verify
from console.journal.store import ChangeRef, RecordStore, StoreError, default_user
from console.review.addenda import add_addendum
from console.review.export import RunOutput, load_outputs
from console.review.render import OUTCOME_WORDS
from console.review.summary import ChangeSummary, summarise
from console.review.summary import format_duration as fmt_duration
from screens.addendum import AddendumDraft, AddendumModal
from screens.widgets.cast_player import CastPlayer
from screens.widgets.footer import SteadyFooter
from screens.widgets.timeline import Timeline


@dataclass
class RecordView:
    """What the record screen shows: the readable events folded, the verification, and the outputs."""

    ref: ChangeRef
    summary: ChangeSummary
    report: VerifyReport
    readable: int  # events read before the first bad line
    outputs: list[RunOutput]


def load_record_view(store: RecordStore, ref: ChangeRef) -> RecordView:
    """Read and verify one change from disk: the journal itself, never the list's cache."""
    result, report = read_and_verify(store.journal_path(ref))  # one read and one scan for both
    summary = summarise(result.events)
    return RecordView(ref, summary, report, len(result.events), load_outputs(ref.path, summary))


def integrity_text(view: RecordView) -> Text:
    """The banner: verified with the head, or the first problem with its line and how far the record reads."""
    report = view.report
    if report.ok:
        return Text(f"✓ Integrity verified: {report.events} events, chain head {report.head[:16]}…", style="bold green")
    first = report.first
    assert first is not None
    where = f"journal.jsonl line {first.line}" if first.line else "journal.jsonl"
    text = Text(f"✗ Integrity BROKEN at {where}: {first.reason}. ", style="bold red")
    if first.kind == "file":
        text.append(f"The journal's {view.readable} events are shown; the file it names does not match.", style="red")
    else:
        text.append(f"Readable up to there: {view.readable} event(s) shown.", style="red")
    more = len(report.problems) - 1
    if more > 0:
        text.append(f" ({more} more problem(s): opsconsole records verify {view.ref.change_id})", style="red")
    return text


LAZY_TABS = ("timeline", "output", "addenda")  # mounted and filled when first shown


class SettledGroup(Group):
    """A Group of renderables that do not change, rendered once per width and options, then reused.

    Textual renders a Static's content to learn its height and again to paint it, and again on each layout pass
    while a screen opens (two or three times for a record's summary, a few milliseconds each): the lines are the same.
    """

    def __init__(self, *renderables: RenderableType) -> None:
        super().__init__(*renderables)
        self._rendered: dict[tuple, list[Segment]] = {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Rich renders a Group's parts without its height, so the height is not part of the key.
        key = (id(console), options.max_width, options.min_width, options.justify, options.overflow, options.no_wrap,
               options.highlight, options.markup)
        segments = self._rendered.get(key)
        if segments is None:
            # What Console.render does with a Group's parts, kept (Segments are immutable).
            inner = options.reset_height()
            segments = [segment for renderable in self.renderables for segment in console.render(renderable, inner)]
            self._rendered[key] = segments
        yield from segments


def _time(ts: str | None) -> str:
    return f"{ts[:10]} {ts[11:19]}Z" if ts else "—"


def summary_renderable(s: ChangeSummary, *, unreadable_from: int | None = None) -> SettledGroup:
    """The Summary tab: the minimum fields, description, approvals, break-glass decisions and follow-ups.

    ``unreadable_from``: the journal line where reading stopped, if it did; then an open change's outcome and
    duration are unknown rather than "in progress", since the lines after it may say otherwise.
    """
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column()
    approvals = ", ".join(f"{a.get('name')} ({a.get('role')})" for a in s.approvals) or "none recorded"
    signoff = f"{s.signoff.get('name')} ({s.signoff.get('role', '')})" if s.signoff.get("name") else "—"
    outcome = OUTCOME_WORDS.get(s.outcome, str(s.outcome))
    duration = fmt_duration(s.duration_s)
    if unreadable_from is not None and s.outcome is None:
        outcome = f"unknown: the journal cannot be read from line {unreadable_from}"
        duration = f"unknown (at least {duration})"
    for name, value in (
        ("Change", f"{s.change_id}: {s.title}"),
        ("Date", s.date),
        ("Operator", s.operator),
        ("Approvals", approvals),
        ("Sign-off", signoff),
        ("Risk", s.risk),
        ("Environment", f"{s.environment} (context {s.context})"),
        ("Component", f"{s.component} {s.from_version} → {s.to_version}"),
        ("Runbook", f"{s.runbook.get('id', '')} (sha256 {str(s.runbook.get('sha256', ''))[:12]})"),
        ("Emergency", Text("yes (break-glass)", style="bold red") if s.emergency else "no"),
        ("Started / closed", f"{_time(s.created)} / {_time(s.closed)}"),
        ("Duration", duration),
        ("Outcome", Text(outcome, style="bold " + ("green" if s.outcome == "success" else "red" if s.outcome else "yellow"))),
        ("Scope", s.scope or "—"),
        ("Blast radius", s.blast_radius or "—"),
        ("Description", s.description.strip() or "—"),
        ("Parameters", ", ".join(f"{k}={v}" for k, v in s.params.items()) or "—"),
    ):
        fields.add_row(name, value)
    parts: list = [fields, Text("")]
    parts.append(Text("Approvals", style="bold underline"))
    if s.approvals:
        for a in s.approvals:
            parts.append(Text(f"  {_time(a['at'])}  {a.get('name')} ({a.get('role')})  {a.get('reference') or ''}".rstrip()))
    else:
        parts.append(Text("  none recorded", style="italic"))
    parts.append(Text("Break-glass decisions", style="bold underline"))
    if s.breakglass:
        for b in s.breakglass:
            parts.append(Text(
                f"  {_time(b['at'])}  {b.get('what', 'override')} overridden, approved by {b.get('approver', '?')}: "
                f"“{b.get('reason', '')}”", style="bold red"))
    else:
        parts.append(Text("  none", style="italic"))
    parts.append(Text("Refused confirmations", style="bold underline"))
    if s.refusals:
        parts += [Text(f"  {_time(r['at'])}  {r.get('step_id')}: typed “{r.get('typed', '')}” by {r.get('by', '?')}: refused",
                       style="bold yellow") for r in s.refusals]
    else:
        parts.append(Text("  none", style="italic"))
    parts.append(Text("Operator notes", style="bold underline"))
    if s.notes:
        for n in s.notes:
            line = Text(f"  {_time(n['at'])}  {n.get('author', '?')}", style="bold")
            line.append(f" (step {n['step_id']})" if n.get("step_id") else "", style="dim")
            line.append(f": {n.get('text', '')}", style="")
            parts.append(line)
    else:
        parts.append(Text("  none", style="italic"))
    if s.failure_choices:
        parts.append(Text("Decisions after failures", style="bold underline"))
        parts += [Text(f"  {_time(c['at'])}  {c.get('step_id')}: {c.get('choice')} (by {c.get('by', '?')})") for c in s.failure_choices]
    if s.evidence:
        parts.append(Text("Evidence", style="bold underline"))
        for item in s.evidence:
            parts.append(Text(f"  {item.evidence_id}: {item.result}", style="" if item.kept else "bold red"))
            parts += [Text(f"    {f['path']}  sha256 {f['sha256']}" + (f"  ({f['note']})" if f["note"] else ""), style="dim")
                      for f in item.files]
    parts.append(Text("Follow-ups", style="bold underline"))
    parts += [Text(f"  • {f}") for f in s.followups] or [Text("  none", style="italic")]
    return SettledGroup(*parts)


def addenda_renderable(s: ChangeSummary) -> SettledGroup:
    if not s.addenda:
        return SettledGroup(Text("No addenda. Press a to append a signed correction or follow-up.", style="italic"))
    lines = []
    for a in s.addenda:
        target = f" (to event {a['refers_to']})" if a.get("refers_to") else ""
        head = Text.assemble((f"#{a['seq']} {_time(a['at'])} ", "dim"), (str(a.get("kind")), "bold"),
                             f" by {a.get('author')}{target}")
        lines += [head, Text("  " + str(a.get("text", ""))), Text("")]
    return SettledGroup(*lines)


class RecordScreen(Screen):
    """One change, read from its journal (verified on open), with an addendum action."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="record.back", tooltip="Back to the list of changes"),
        Binding("a", "addendum", "Addendum", id="record.addendum", tooltip="Append a signed correction or follow-up"),
        Binding("s", "tab('summary')", "Summary", id="record.summary", tooltip="Every minimum field of the record"),
        Binding("t", "tab('timeline')", "Timeline", id="record.timeline", tooltip="Runs as bars on one time scale"),
        Binding("o", "tab('output')", "Output", id="record.output", tooltip="Every command's output"),
        Binding("d", "tab('addenda')", "Addenda", id="record.addenda", tooltip="Corrections and follow-ups"),
    ]

    def __init__(self, store: RecordStore, ref: ChangeRef, *, clock: Clock | None = None, reviewer: str | None = None,
                 replay_speed: float = 1.0) -> None:
        super().__init__()
        self.store = store
        self.ref = ref
        self.clock = clock
        self.reviewer = reviewer
        self.replay_speed = replay_speed
        self.view = load_record_view(store, ref)
        self._mounting: dict[str, asyncio.Task[None]] = {}  # a lazy tab's widgets, mounted once
        self._filled: set[str] = set()  # lazy tabs filled from this reading of the journal

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="record-integrity")
        with TabbedContent(id="record-tabs", initial="summary"):
            with TabPane("Summary", id="summary"), VerticalScroll(id="record-summary-scroll"):
                yield Static(id="record-summary")
            # The other tabs' widgets are mounted when their tab is first shown: a reviewer often reads only the
            # summary, and every widget mounted is styled and laid out (more than once) before the first frame.
            yield TabPane("Timeline", id="timeline")
            yield TabPane("Output", id="output")
            yield TabPane("Addenda", id="addenda")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"{self.ref.change_id} · {Path(self.ref.path).name}"
        self._show()

    def _show(self) -> None:
        view = self.view
        banner = self.query_one("#record-integrity", Static)
        banner.update(integrity_text(view))
        banner.set_class(not view.report.ok, "broken")
        first = view.report.first
        stopped = first.line if first is not None and first.kind != "file" and first.line else None
        self.query_one("#record-summary", Static).update(summary_renderable(view.summary, unreadable_from=stopped))
        # The timeline's and the outputs' rows are most of the work of opening a record, and a reviewer often reads
        # only the summary: each other tab is filled when first shown (a key, a click, or a run chosen), and again
        # after a reload.
        self._filled = set()
        active = self.query_one("#record-tabs", TabbedContent).active
        if active in LAZY_TABS:
            self.call_later(self._fill, active)

    async def _fill(self, tab: str) -> None:
        """Mount (once) and fill (once per reading of the journal) one of the other tabs; callers wait for both."""
        if tab not in LAZY_TABS or tab in self._filled:
            return
        mounting = self._mounting.get(tab)
        if mounting is None:
            mounting = self._mounting[tab] = asyncio.create_task(self._mount_tab(tab))
        await mounting
        if tab in self._filled:  # another caller filled it while this one waited
            return
        self._filled.add(tab)
        if tab == "timeline":
            self.query_one("#timeline-table", Timeline).show(self.view.summary)
        elif tab == "output":
            self.query_one("#player", CastPlayer).set_outputs(self.view.outputs)
        else:
            self.query_one("#record-addenda", Static).update(addenda_renderable(self.view.summary))

    async def _mount_tab(self, tab: str) -> None:
        pane = self.query_one(f"#{tab}", TabPane)
        if tab == "timeline":
            await pane.mount(Timeline(id="timeline-table"))
        elif tab == "output":
            await pane.mount(CastPlayer(id="player", speed=self.replay_speed))
        else:
            await pane.mount(VerticalScroll(Static(id="record-addenda")))

    @on(TabbedContent.TabActivated, "#record-tabs")
    async def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id is not None:
            await self._fill(event.pane.id)

    def reload(self) -> None:
        """Read and verify the journal again (after an addendum, or on request)."""
        self.view = load_record_view(self.store, self.ref)
        self._show()

    def action_back(self) -> None:
        self.dismiss(None)

    async def action_tab(self, name: str) -> None:
        await self._fill(name)  # before the tab shows, so it never shows empty
        self.query_one("#record-tabs", TabbedContent).active = name

    @on(Timeline.RunChosen)
    async def _run_chosen(self, event: Timeline.RunChosen) -> None:
        run = self.view.summary.runs[event.index]
        indices = [i for i, out in enumerate(self.view.outputs) if out.run is run]
        await self.action_tab("output")
        player = self.query_one("#player", CastPlayer)
        if indices:
            player.jump_to_run(indices[0])
            player.log_view.focus()
        else:
            self.notify(f"{run.step_id} recorded no output", severity="warning")

    def action_addendum(self) -> None:
        s = self.view.summary
        if not self.view.report.ok:
            self.notify("This journal does not verify: an addendum would hide where it broke.", severity="error")
            return
        if s.outcome is None:
            self.notify("Addenda are for closed changes; this one is still in progress.", severity="warning")
            return
        author = self.reviewer if self.reviewer is not None else default_user()
        self.app.push_screen(AddendumModal(change_id=self.ref.change_id, author=author, events=s.events), self._append)

    async def _append(self, draft: AddendumDraft | None) -> None:
        if draft is None:
            return
        try:
            # The built-in redaction rules: a pasted token or connection string is masked before the journal.
            from console.engine.redact import Redactor

            event = add_addendum(self.store, self.ref, author=draft.author, kind=draft.kind, text=draft.text,
                                 refers_to=draft.refers_to, clock=self.clock, redact=Redactor().redact)
        except (StoreError, JournalError) as exc:
            self.notify(str(exc), title="Addendum not recorded", severity="error", timeout=10)
            return
        self.reload()
        await self.action_tab("addenda")
        self.notify(f"Addendum recorded as event {event.seq}", title=self.ref.change_id)
