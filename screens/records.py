"""Records: every change in a store as one table, filtered and sorted, opened from Home or ``opsconsole review``.

The rows come from the index cache (``console.review.index``), loaded in a thread so a big store never freezes
the screen; the integrity column is the journal's as of the row's last rebuild, and the Record screen verifies the
journal itself when it opens. Type in the filter (``/``): words match anywhere, ``component:web risk:high,critical
outcome:rolled-back op:alice env:production since:2026-11 until:2026-11-30 integrity:broken`` match columns.
Sort with ``s`` (next column) and ``o`` (flip order), or click a header.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Static

from console.journal.journal import Clock
from console.journal.store import ChangeNotFound, ChangeRef, RecordStore
from console.review.index import IndexEntry, IndexLoad, QueryError, filter_entries, load_index, parse_query, sort_entries
from console.review.summary import format_duration as fmt_duration
from screens.key_order import OrderedKeysApp
from screens.widgets.footer import SteadyFooter

# (sort key, header, width): widths fixed so a refill never re-measures (NOTES.md, DataTable costs).
COLUMNS = (
    ("id", "ID", 13),
    ("date", "Date", 10),
    ("component", "Component", 11),
    ("versions", "From→To", 15),
    ("risk", "Risk", 8),
    ("environment", "Env", 10),
    ("operator", "Operator", 9),
    ("outcome", "Outcome", 11),
    ("duration", "Duration", 8),
    ("integrity", "✓", 2),
)
RISK_STYLE = {"high": "bold yellow", "critical": "bold red"}
OUTCOME_STYLE = {"success": "green", "rolled_back": "red", "aborted": "red", "partial": "yellow", None: "yellow"}


def row_cells(e: IndexEntry) -> tuple:
    return (
        e.change_id, e.date, e.component, e.versions,
        Text(e.risk, style=RISK_STYLE.get(e.risk, "")), e.environment, e.operator,
        Text(e.outcome_text, style=OUTCOME_STYLE.get(e.outcome, "")), fmt_duration(e.duration_s),
        Text("✓", style="bold green") if e.ok else Text("✗", style="bold red"),
    )


class RecordsScreen(Screen):
    """The list of changes; Enter opens one, ``R`` opens the reports over the rows shown."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="records.filter", tooltip="Filter by text and by column"),
        Binding("s", "sort_next", "Sort", id="records.sort", tooltip="Sort by the next column"),
        Binding("o", "sort_flip", "Order", id="records.order", tooltip="Reverse the sort order"),
        Binding("R", "report", "Reports", id="records.report", tooltip="Figures per week or month for the rows shown"),
        Binding("r", "refresh", "Refresh", id="records.refresh", tooltip="Read the store again"),
        Binding("escape", "leave", "Back", id="records.back", tooltip="Back (or out of the filter)"),
    ]

    def __init__(self, *, records_dir: Path, clock: Clock | None = None, reviewer: str | None = None,
                 replay_speed: float = 1.0) -> None:
        super().__init__()
        self.records_dir = Path(records_dir)
        self.store = RecordStore(self.records_dir)
        self.clock = clock
        self.reviewer = reviewer
        self.replay_speed = replay_speed
        self.entries: list[IndexEntry] = []
        self.shown: list[IndexEntry] = []
        self.sort_key = "date"
        self.sort_reverse = True  # newest first: what a reviewer usually wants
        self.query_text = ""
        self.load: IndexLoad | None = None
        self.problem = ""
        self.filled = 0  # rows of self.shown in the table so far
        self._fill_generation = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="filter: words, component:web risk:high outcome:success op:alice since:2026-11 …",
                    id="records-filter")
        yield Static("reading the store…", id="records-status")
        yield DataTable(id="records-table", cursor_type="row", zebra_stripes=True)
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"store {self.records_dir.name}"
        table = self.query_one("#records-table", DataTable)
        for key, label, width in COLUMNS:
            table.add_column(label, width=width, key=key)
        table.focus()
        self.action_refresh()

    # -- loading ----------------------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self._load()

    # Rows rebuilt before the list first shows them while a cold index is rebuilt (then each time they double).
    FIRST_ROWS = 50
    # Rows put in the table at once when it is (re)filled, then per chunk between frames.
    FIRST_FILL = 100
    FILL_CHUNK = 250  # a quarter of a second of the UI's time at most, per frame

    @work(thread=True, exclusive=True, group="records-index", exit_on_error=False)
    def _load(self) -> IndexLoad:
        # A cold index (a new store, or another version's) rebuilds every row from its journal: rows are shown as
        # they come, so the list is usable long before the last journal is read.
        load = load_index(self.records_dir, progress=lambda rows: self.app.call_from_thread(self._partial, rows),
                          first_progress=self.FIRST_ROWS)
        self.app.call_from_thread(self._loaded, load)
        return load

    def _partial(self, rows: list[IndexEntry]) -> None:
        self.entries = rows
        self._apply()

    def _loaded(self, load: IndexLoad) -> None:
        self.load = load
        self.entries = load.entries
        self._apply()

    # -- filter and sort --------------------------------------------------------------------------------------

    def _apply(self) -> None:
        try:
            query = parse_query(self.query_text)
            self.problem = ""
        except QueryError as exc:
            self.problem = str(exc)
            query = None
        if query is not None:
            self.shown = sort_entries(filter_entries(self.entries, query), self.sort_key, reverse=self.sort_reverse)
        table = self.query_one("#records-table", DataTable)
        # A DataTable takes about a millisecond a row: 10,000 rows at once would hold the screen for seconds at every
        # keystroke of a filter. The first screenfuls go in now, the rest in chunks between frames (keys are handled
        # in between), and a newer fill (the next keystroke) abandons the older one's remaining chunks.
        self._fill_generation += 1
        with self.app.batch_update():
            table.clear()
            # Rows are addressed by position in self.shown, so generated keys are enough.
            table.add_rows([row_cells(e) for e in self.shown[: self.FIRST_FILL]])
        self.filled = min(len(self.shown), self.FIRST_FILL)
        if self.filled < len(self.shown):
            self.call_after_refresh(self._fill_more, self._fill_generation)
        self._update_status()

    def _fill_more(self, generation: int) -> None:
        if generation != self._fill_generation:
            return  # a newer fill started over
        end = self.filled + self.FILL_CHUNK
        self.query_one("#records-table", DataTable).add_rows([row_cells(e) for e in self.shown[self.filled : end]])
        self.filled = min(end, len(self.shown))
        if self.filled < len(self.shown):
            self.call_after_refresh(self._fill_more, generation)

    def _update_status(self) -> None:
        label = {k: h for k, h, _ in COLUMNS}[self.sort_key]
        arrow = "↓" if self.sort_reverse else "↑"
        broken = sum(not e.ok for e in self.shown)
        text = Text(f"{len(self.shown)} of {len(self.entries)} change(s) · sorted by {label} {arrow}")
        if self.load is None and self.entries:
            text.append(" · reading the store…", style="yellow")
        if broken:
            text.append(f" · {broken} broken", style="bold red")
        if self.problem:
            text.append(f" · {self.problem}", style="bold red")
        if self.load is not None and self.load.cache_error:
            text.append(" · index not saved (read-only store)", style="yellow")
        self.query_one("#records-status", Static).update(text)

    @on(Input.Changed, "#records-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self._apply()

    @on(Input.Submitted, "#records-filter")
    def _filter_done(self) -> None:
        self.query_one("#records-table", DataTable).focus()

    def set_filter(self, text: str) -> None:
        """Filter as if typed (also for the command line and tests)."""
        self.query_one("#records-filter", Input).value = text
        self.query_text = text
        self._apply()

    def sort_by(self, key: str, *, reverse: bool | None = None) -> None:
        if reverse is None:
            reverse = not self.sort_reverse if key == self.sort_key else False
        self.sort_key, self.sort_reverse = key, reverse
        self._apply()

    def action_filter(self) -> None:
        self.query_one("#records-filter", Input).focus()

    def action_sort_next(self) -> None:
        keys = [k for k, _, _ in COLUMNS]
        self.sort_by(keys[(keys.index(self.sort_key) + 1) % len(keys)], reverse=False)

    def action_sort_flip(self) -> None:
        self.sort_by(self.sort_key, reverse=not self.sort_reverse)

    @on(DataTable.HeaderSelected, "#records-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))

    def action_leave(self) -> None:
        box = self.query_one("#records-filter", Input)
        if box.has_focus:
            self.query_one("#records-table", DataTable).focus()
        elif len(self.app.screen_stack) > 2:
            # Opened from Home: go back there. At the root of ``opsconsole review``, q quits instead.
            self.dismiss(None)

    # -- opening ----------------------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#records-table")
    def _open(self, event: DataTable.RowSelected) -> None:
        self.open_record(event.cursor_row)

    def open_record(self, row: int) -> None:
        if not 0 <= row < len(self.shown):
            return
        entry = self.shown[row]
        try:
            ref = self.store.find(entry.change_id)
        except ChangeNotFound:
            self.notify(f"{entry.change_id} is no longer in the store", severity="error")
            return
        # An addendum changes the row; the cache notices by size/mtime.
        self.app.push_screen(self.record_screen(entry, ref), lambda _: self.action_refresh())

    def record_screen(self, entry: IndexEntry, ref: ChangeRef) -> Screen:
        """The screen a row opens: the change's record, with the reviewer's keys."""
        from screens.record import RecordScreen

        return RecordScreen(self.store, ref, clock=self.clock, reviewer=self.reviewer, replay_speed=self.replay_speed)

    def action_report(self) -> None:
        from screens.report import ReportScreen

        self.app.push_screen(ReportScreen(self.shown, filter_text=self.query_text))


class ReviewApp(OrderedKeysApp):
    """``opsconsole review``: the Records screen on its own, for a laptop with only a records directory."""

    CSS_PATH = "opsconsole.tcss"
    TITLE = "opsconsole review"
    BINDINGS = [Binding("q", "quit", "Quit", id="review.quit", tooltip="Leave the reviewer")]

    def __init__(self, *, records_dir: Path, clock: Clock | None = None, reviewer: str | None = None,
                 replay_speed: float = 1.0) -> None:
        super().__init__()
        self.records_dir = Path(records_dir)
        self.clock = clock
        self.reviewer = reviewer
        self.replay_speed = replay_speed

    def on_mount(self) -> None:
        self.push_screen(RecordsScreen(records_dir=self.records_dir, clock=self.clock, reviewer=self.reviewer,
                                       replay_speed=self.replay_speed))


def run_review(*, records_dir: Path) -> int:
    """Run the reviewer full screen until quit; returns the exit code."""
    app = ReviewApp(records_dir=records_dir)
    app.run()
    return app.return_code or 0
