"""ResourcePanel: the shared body of the Pods, Nodes, Rollouts and Events panels.

A panel owns the objects of its kinds (a ``ClusterCache``), renders them to rows with the pure renderers
of ``console.cluster.rows`` and keeps the rows in a ``LiveTable``'s ``RowIndex``. It is fed batches of
``Change``s on the UI thread (``apply_changes``) and never talks to the cluster itself. Its border title
says what it shows, how many, and the state of its watch; when the watch is not live it says how old the
data is, so a frozen table is never mistaken for a quiet cluster.

Keys: ``/`` filters (k9s semantics: text, ``!`` inverts, ``-l`` label selector), ``s`` cycles the sort
column, ``S`` reverses it, ``escape`` clears the filter, ``enter`` posts ``ObjectChosen``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input

from console.cluster.selectors import SelectorError
from console.cluster.watch_changes import Change, ClusterCache, KindDelta, WatchStatus
from screens.widgets.live_table import Column, LiveTable

__all__ = ["ResourcePanel", "status_badge"]

Obj = dict[str, Any]

_STATE_BADGE = {
    "syncing": ("◌ syncing", "$text-warning"),
    "live": ("● live", "$text-success"),
    "reconnecting": ("⟳ reconnecting", "$text-warning"),
    "forbidden": ("✖ forbidden", "$text-error"),
    "error": ("✖ error", "$text-error"),
    "stopped": ("■ stopped", "$text-muted"),
}


def _age(seconds: float) -> str:
    s = int(max(0.0, seconds))
    if s < 120:
        return f"{s}s"
    if s < 3 * 3600:
        return f"{s // 60}m"
    return f"{s // 3600}h"


def status_badge(statuses: Sequence[WatchStatus], now: float, data_since: float | None) -> str:
    """Content markup for the worst watch state of a panel's kinds, with the data's age when not live.

    ``data_since`` is when the data was last known to be current (the moment the watch stopped being live).
    """
    if not statuses:
        return "[$text-muted]■ not watching[/]"
    order = ("error", "forbidden", "reconnecting", "syncing", "stopped", "live")
    worst = min(statuses, key=lambda s: order.index(s.state) if s.state in order else 0)
    text, colour = _STATE_BADGE.get(worst.state, (worst.state, "$text-warning"))
    if worst.state != "live":
        if worst.synced and data_since is not None:
            text += f" · data {_age(now - data_since)} old"
        elif worst.state != "syncing":
            text += " · no data"
        if worst.message and worst.state in ("forbidden", "error", "reconnecting"):
            text += f": {worst.message[:60]}"
    return f"[{colour}]{escape(text)}[/]"


class ResourcePanel(Vertical):
    """A bordered live table of one or more kinds, with its filter box and watch badge.

    Subclasses set ``TITLE``, ``KINDS``, ``COLUMNS``, ``DEFAULT_SORT`` and implement ``make_row`` and
    ``row_key``.
    """

    TITLE: ClassVar[str] = ""
    KINDS: ClassVar[tuple[str, ...]] = ()
    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    DEFAULT_SORT: ClassVar[tuple[str | None, bool]] = (None, False)
    EMPTY: ClassVar[str] = "nothing here"
    # How often (seconds) the rows on screen are rendered again so their ages keep up with the clock.
    AGE_REFRESH_S: ClassVar[float] = 1.0
    # z (zoom) maximizes the panel; Textual allows that only for focusable widgets unless told otherwise, and the
    # panel itself never has the focus (its table does).
    ALLOW_MAXIMIZE: ClassVar[bool | None] = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "open_filter", "Filter", id="panel.filter",
                tooltip="Filter rows: text, !text to invert, -l app=web for a label selector"),
        Binding("s", "cycle_sort", "Sort", id="panel.sort", tooltip="Sort by the next column"),
        Binding("S", "reverse_sort", "Reverse", id="panel.reverse", tooltip="Reverse the sort order"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="panel.clear_filter",
                tooltip="Remove the filter"),
    ]

    class ObjectChosen(Message):
        """Enter on a row: the panel's object, for a details view."""

        def __init__(self, panel: ResourcePanel, kind: str, key: str, obj: Obj) -> None:
            super().__init__()
            self.panel, self.kind, self.key, self.obj = panel, kind, key, obj

        @property
        def control(self) -> ResourcePanel:
            return self.panel

    class Failed(Message):
        """Applying changes failed; the panel shows an error badge and keeps its last rows."""

        def __init__(self, panel: ResourcePanel, error: BaseException) -> None:
            super().__init__()
            self.panel, self.error = panel, error

    def __init__(self, *, clock: Callable[[], datetime], id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.clock = clock
        self.cache = ClusterCache()
        self.table = LiveTable(self.COLUMNS, empty_text=self.EMPTY, row_key=self.row_key_of_row)
        self._where: dict[Hashable, tuple[str, str]] = {}  # row key -> (kind, change key)
        self._row_keys: dict[tuple[str, str], Hashable] = {}  # (kind, change key) -> row key
        self._statuses: dict[str, WatchStatus] = {}
        self._data_since: float | None = None
        self._error: str = ""
        self.applied = 0  # changes applied so far (tests and the benchmark read it)

    # -- to override -----------------------------------------------------------------------------

    def make_row(self, kind: str, obj: Obj, now: datetime) -> Any:
        """The row for one object."""
        raise NotImplementedError

    @staticmethod
    def row_key_of_row(row: Any) -> Hashable:
        return row.key

    # -- composition -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.table
        filt = Input(placeholder="filter: text, !text, -l app=web", classes="panel-filter")
        filt.display = False
        yield filt

    def on_mount(self) -> None:
        column, reverse = self.DEFAULT_SORT
        if column is not None:
            self.table.set_sort(column, reverse)
        self._update_title()
        self.set_interval(self.AGE_REFRESH_S, self.refresh_ages)

    # -- feeding ---------------------------------------------------------------------------------

    def apply_changes(self, changes: Iterable[Change]) -> bool:
        """Apply a batch of this panel's changes; returns True when something on screen changed."""
        deltas = self.cache.apply(changes)
        if not deltas:
            return False
        now = self.clock()
        upserts: dict[Hashable, Any] = {}
        removes: set[Hashable] = set()
        for kind, delta in deltas.items():
            self._collect(kind, delta, now, upserts, removes)
        if removes:
            self.table.index.remove(removes)
        if upserts:
            self.table.index.upsert(list(upserts.values()))
        self.applied += sum(len(d.upserted) + len(d.deleted) for d in deltas.values())
        changed = self.table.data_changed()
        self.after_apply(deltas)
        self._update_title()
        return changed

    def _collect(self, kind: str, delta: KindDelta, now: datetime, upserts: dict[Hashable, Any],
                 removes: set[Hashable]) -> None:
        for key in delta.deleted:
            rk = self._row_keys.pop((kind, key), None)
            if rk is not None:
                self._where.pop(rk, None)
                removes.add(rk)
                upserts.pop(rk, None)
        for key in delta.upserted:
            obj = self.cache.get(kind, key)
            if obj is None:
                continue
            row = self.make_row(kind, obj, now)
            rk = self.row_key_of_row(row)
            loc = (kind, key)
            old = self._row_keys.get(loc)
            if old != rk:
                if old is not None:  # an event's uid appeared late, say
                    removes.add(old)
                    self._where.pop(old, None)
                self._row_keys[loc] = rk
            # One (kind, key) tuple per row, kept by both maps; a change to a known row replaces neither entry.
            if self._where.get(rk) != loc:
                self._where[rk] = loc
            upserts[rk] = row
            removes.discard(rk)

    def after_apply(self, deltas: Mapping[str, KindDelta]) -> None:
        """A hook for subclasses that derive something from the objects (the nodes' pod counts)."""

    def reset(self) -> None:
        """Forget every object (a context or namespace switch)."""
        self.cache.clear()
        self._where.clear()
        self._row_keys.clear()
        self._statuses.clear()
        self._data_since = None
        self._error = ""
        self.remove_class("-error")
        self.table.reset()
        self._update_title()

    def rerender(self, keys: Iterable[Hashable]) -> bool:
        """Render the rows under ``keys`` again from their objects (a derived input changed)."""
        now = self.clock()
        rows = []
        for rk in keys:
            where = self._where.get(rk)
            obj = self.cache.get(*where) if where else None
            if where is not None and obj is not None:
                rows.append(self.make_row(where[0], obj, now))
        if not rows:
            return False
        self.table.index.upsert(rows)
        return self.table.data_changed()

    def refresh_ages(self) -> None:
        """Re-render the rows on screen with the current time (ages, "5m ago"); off-screen rows wait."""
        self.rerender([self.row_key_of_row(r) for r in self.table.visible_rows()])
        if any(s.state != "live" for s in self._statuses.values()):
            self._update_title()  # the data's age ticks

    def set_statuses(self, statuses: Mapping[str, WatchStatus]) -> None:
        """The watch states of this panel's kinds (called on every tick; cheap when nothing changed)."""
        mine = {k: s for k, s in statuses.items() if k in self.KINDS}
        if mine == self._statuses:
            return
        was_live = self._statuses and all(s.state == "live" for s in self._statuses.values())
        self._statuses = mine
        live = all(s.state == "live" for s in mine.values())
        if was_live and not live:
            # The data was current up to the moment the first kind left "live".
            self._data_since = min(s.since for s in mine.values() if s.state != "live")
        elif live:
            self._data_since = None
        self._update_title()

    def set_error(self, message: str) -> None:
        """Show an error badge (a failed worker or a failed batch); cleared by ``reset``."""
        self._error = message
        self.add_class("-error")
        self._update_title()

    # -- object access ---------------------------------------------------------------------------

    def object_for(self, row_key: Hashable) -> tuple[str, str, Obj] | None:
        """(kind, change key, object) of a row, or None when it has gone."""
        where = self._where.get(row_key)
        if where is None:
            return None
        obj = self.cache.get(*where)
        return (where[0], where[1], obj) if obj is not None else None

    # -- title -----------------------------------------------------------------------------------

    def _update_title(self) -> None:
        idx = self.table.index
        shown, total = idx.visible_count, len(idx)
        count = f"{total:,}" if shown == total else f"{shown:,}/{total:,}"
        title = f"[b]{escape(self.TITLE)}[/b] {escape(f'[{count}]')}"
        now = self.clock().timestamp()
        if self.is_mounted or self._statuses:
            title += " " + status_badge(list(self._statuses.values()), now, self._data_since)
        if self._error:
            title += f" [$text-error]⚠ {escape(self._error[:60])}[/]"
        sub = []
        if idx.filter_text:
            sub.append(f"filter: {escape(idx.filter_text)}")
        col = next((c for c in self.COLUMNS if c.key == self.table.sort_key), None)
        if col is not None:
            sub.append(f"sort: {escape(col.label)} {'▼' if idx.sort_reverse else '▲'}")
        if title != self.border_title:
            self.border_title = title
        subtitle = " · ".join(sub)
        if subtitle != (self.border_subtitle or ""):
            self.border_subtitle = subtitle

    # -- actions ---------------------------------------------------------------------------------

    def action_open_filter(self) -> None:
        box = self.query_one(".panel-filter", Input)
        box.value = self.table.index.filter_text
        box.display = True
        box.focus()

    def action_cycle_sort(self) -> None:
        self.table.cycle_sort()
        self._update_title()

    def action_reverse_sort(self) -> None:
        self.table.toggle_reverse()
        self._update_title()

    def action_clear_filter(self) -> None:
        box = self.query_one(".panel-filter", Input)
        if box.display:
            box.display = False
            self.table.focus()
        if self.table.index.filter_text:
            self.set_filter("")

    def set_filter(self, text: str) -> None:
        """Apply a k9s filter; raises ``SelectorError`` for a bad ``-l`` selector (the old one stays)."""
        self.table.set_filter(text)
        self._update_title()

    @on(Input.Changed, ".panel-filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        event.stop()
        try:
            self.set_filter(event.value)
        except SelectorError:
            event.input.add_class("-bad-selector")  # half-typed selector: keep the last good filter
        else:
            event.input.remove_class("-bad-selector")

    @on(Input.Submitted, ".panel-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.set_filter(event.value)
        except SelectorError as exc:
            event.input.add_class("-bad-selector")
            self.notify(str(exc), title="Filter", severity="error")
            return
        event.input.display = False
        self.table.focus()

    @on(LiveTable.RowSelected)
    def _row_selected(self, event: LiveTable.RowSelected) -> None:
        event.stop()
        found = self.object_for(event.key)
        if found is not None:
            self.post_message(self.ObjectChosen(self, *found))

    @on(LiveTable.SortChanged)
    def _sort_changed(self, event: LiveTable.SortChanged) -> None:
        event.stop()
        self._update_title()
