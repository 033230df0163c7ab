"""Home: the runbooks on hand and the changes already recorded, keyboard first."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static
from textual.widgets.data_table import RowDoesNotExist

from console.journal.store import RecordStore
from console.review.index import load_index
from console.runbook.loader import RunbookError, load_runbook
from screens.widgets.key_bar import KeyBar
from screens.widgets.lock_banner import LockBanner, kubeconfig_locks

if TYPE_CHECKING:
    from screens.app import OpsConsoleApp


@dataclass(frozen=True)
class RunbookEntry:
    """A runbook file as listed at home: either loaded, or the first problem that stopped it loading."""

    path: Path
    id: str
    title: str
    component: str
    versions: str
    risk: str
    problem: str = ""


def scan_runbooks(directory: Path) -> list[RunbookEntry]:
    """Every runbook in ``directory`` (the template excluded), invalid ones listed with their first problem."""
    entries = []
    for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
        if path.name.startswith("_"):
            continue
        try:
            rb = load_runbook(path).runbook
        except RunbookError as exc:
            entries.append(RunbookEntry(path, path.stem, "(invalid runbook)", "", "", "", str(exc.problems[0])))
            continue
        md = rb.metadata
        entries.append(RunbookEntry(path, md.id, md.title, md.component, f"{md.from_version}→{md.to_version}", md.risk))
    return entries


def _cursor_key(table: DataTable) -> str | None:
    if not table.row_count:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value


class HomeScreen(Screen):
    """Runbooks and past records; the starting point of every session."""

    BINDINGS = [
        Binding("enter", "open", "Start / open / resume", id="home.open",
                tooltip="Start a change from the runbook; open a closed change's record; resume an open change"),
        Binding("r", "refresh", "Refresh", id="home.refresh", tooltip="Read runbooks and records again"),
        Binding("v", "review", "Review", id="home.review", tooltip="Browse, search and verify past changes"),
        Binding("tab", "app.focus_next", "Other table", id="home.next", tooltip="Move between the runbooks and the records"),
    ]

    def __init__(self, *, records_dir: Path, runbooks_dir: Path) -> None:
        super().__init__()
        self.records_dir = records_dir
        self.runbooks_dir = runbooks_dir
        self._open_changes: dict[str, bool] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home"):
            # A change in progress on the current context (any console's), from its change lock.
            yield LockBanner(kubeconfig_locks(getattr(self.app, "kubeconfig", None)), id="home-lock-banner")
            yield Static("Runbooks", classes="section-title")
            yield DataTable(id="runbooks", cursor_type="row", zebra_stripes=True)
            yield Static("Changes on record", classes="section-title")
            yield DataTable(id="records", cursor_type="row", zebra_stripes=True)
            yield Static("", id="home-owed")
            yield Static("", id="home-status")
        yield KeyBar(id="home-keys")

    def on_mount(self) -> None:
        runbooks = self.query_one("#runbooks", DataTable)
        runbooks.add_columns("Runbook", "Title", "Component", "From→To", "Risk")
        records = self.query_one("#records", DataTable)
        records.add_columns("ID", "Date", "Component", "From→To", "Risk", "Environment", "Outcome", "Integrity")
        self.action_refresh()

    @property
    def console(self) -> OpsConsoleApp:
        """The app, as the console's own (Home runs only inside it)."""
        return cast("OpsConsoleApp", self.app)

    def action_review(self) -> None:
        from screens.records import RecordsScreen

        self.app.push_screen(RecordsScreen(records_dir=self.records_dir, clock=self.console.clock, reviewer=self.console.operator))

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def on_descendant_focus(self) -> None:
        self._show_keys()

    def on_data_table_row_highlighted(self) -> None:
        self._show_keys()

    def _show_keys(self) -> None:
        """Say what Enter does on the row under the cursor, and how to reach the other table."""
        focused = self.focused
        pairs: list[tuple[str, str]] = []
        if isinstance(focused, DataTable) and focused.row_count:
            key = focused.coordinate_to_cell_key(focused.cursor_coordinate).row_key.value or ""
            if focused.id == "runbooks":
                pairs.append(("enter", f"start {Path(key).stem}"))
            elif self._open_changes.get(key):
                pairs.append(("enter", f"resume {key}"))
            else:
                pairs.append(("enter", f"open {key}"))
        if isinstance(focused, DataTable):
            pairs.append(("tab", "records" if focused.id == "runbooks" else "runbooks"))
        pairs += [("r", "refresh"), ("v", "review"), ("?", "keys"), ("^p", "palette"), ("^q", "quit")]
        self.query_one("#home-keys", KeyBar).show(pairs)

    def action_open(self) -> None:
        focused = self.focused
        if not isinstance(focused, DataTable) or focused.row_count == 0:
            return
        key = focused.coordinate_to_cell_key(focused.cursor_coordinate).row_key.value
        if key is None:
            return
        if focused.id == "runbooks":
            self.console.open_start(Path(key))
        elif focused.id == "records":
            if self._open_changes.get(key):
                self.console.open_resume(key)
            else:
                from screens.record import RecordScreen

                store = RecordStore(self.records_dir)
                self.app.push_screen(RecordScreen(store, store.find(key), clock=self.console.clock, reviewer=self.console.operator))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_refresh(self) -> None:
        runbooks = self.query_one("#runbooks", DataTable)
        records = self.query_one("#records", DataTable)
        # Read again, keeping each table's cursor on the row it was on (coming back from a start form or a
        # record lands where the operator left).
        places = {table: _cursor_key(table) for table in (runbooks, records)}
        runbooks.clear()
        entries = scan_runbooks(self.runbooks_dir)
        for e in entries:
            runbooks.add_row(e.id, e.problem or e.title, e.component, e.versions, e.risk, key=str(e.path))
        records.clear()
        # The reviewer's index: a row is re-read only when its journal changed, so Home opens fast on a big store.
        changes = sorted(load_index(self.records_dir).entries, key=lambda e: e.change_id) if self.records_dir.is_dir() else []
        self._open_changes = {}
        for c in changes:
            self._open_changes[c.change_id] = c.outcome is None
            records.add_row(
                c.change_id, c.date, c.component, c.versions, c.risk, c.environment, c.outcome_text,
                "✓" if c.ok else "✗ broken", key=c.change_id,
            )
        for table, key in places.items():
            if key is not None:
                with contextlib.suppress(RowDoesNotExist):  # the row went (a runbook removed): the cursor stays at the top
                    table.move_cursor(row=table.get_row_index(key), animate=False)
        self._show_owed()
        status = Text(f"{len(entries)} runbook(s) in {self.runbooks_dir} · {len(changes)} change(s) in {self.records_dir} · ")
        status.append_text(self._context_text())
        self.query_one("#home-status", Static).update(status)
        self._show_keys()

    def _show_owed(self) -> None:
        """What emergencies still owe (a post-mortem addendum, signed approvals after the fact), until it is added;
        hidden when nothing is owed."""
        from console.review.obligations import open_obligations

        policy = getattr(self.app, "policy", None)
        hours = policy.emergency.post_mortem_hours if policy is not None else 24
        owed = open_obligations(RecordStore(self.records_dir), hours)
        panel = self.query_one("#home-owed", Static)
        panel.display = bool(owed)
        if owed:
            now = self.console.clock()
            sign = "; approvers run opsconsole approve ID" if any(o.what.startswith("retro-approval") for o in owed) else ""
            text = Text(f"Emergencies owe a post-mortem (open the record, a for an addendum of kind post-mortem{sign}):\n",
                        style="bold yellow")
            for o in owed:
                style = "bold white on red" if o.overdue(now) else "yellow"
                text.append(f"  {'OVERDUE ' if o.overdue(now) else ''}{o.describe(now)}\n", style=style)
            panel.update(text)

    def _context_text(self) -> Text:
        """The kube context a new change would start on, and the environment policy gives it (production in red)."""
        from console.engine.kubecontext import KubeconfigError, kubeconfig_paths, load_merged

        app = self.app
        try:
            current = load_merged(kubeconfig_paths(getattr(app, "kubeconfig", None))).get("current-context") or "none"
        except KubeconfigError:
            return Text("no kubeconfig", style="dim")
        policy = getattr(app, "policy", None)
        environment = policy.environment_of(current) if policy is not None else None
        production = bool(environment and policy is not None and policy.environments[environment].production)
        text = Text("context ")
        text.append(current, style="bold white on red" if production else "bold")
        text.append(f" ({environment or 'no environment in policy'})", style="bold red" if production else "dim")
        return text
