"""LiveTable: a virtual table over a ``RowIndex`` that renders only the rows on screen.

Textual's ``DataTable`` re-renders every visible row after any mutation and keeps per-row bookkeeping that
is O(total rows) to rebuild (NOTES.md section 2), which is what makes live tables of thousands of pods slow.
This widget holds no rows at all: the sorted, filtered rows live in a pure ``RowIndex`` and each frame asks
it for the ``window`` the viewport shows. The virtual height is ``visible_count + 1`` (the header line is
fixed), so 10,000 rows cost what 40 rows cost, and after a batch of changes ``data_changed`` compares the
window with what was last drawn and refreshes only the lines that differ (nothing at all when every change
was off screen).

The cursor follows an object, not a position: when the highlighted pod moves because the sort order
changed or rows were inserted above it, the highlight moves with it, so Enter always opens the object the
operator was looking at.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.cluster.row_index import RowIndex

__all__ = ["Column", "LiveTable", "progress_bar"]


@dataclass(frozen=True)
class Column:
    """One column: its header, a width, how to get the cell text from a row, and how to sort by it.

    ``sort`` names the row attribute (or a ``SORT_KEYS`` entry of the row class) the ``RowIndex`` sorts
    by; None makes the column unsortable. A ``flex`` column takes the width the fixed ones leave over.
    ``style`` may name a component class for one cell (the progress bar, a red status) by row.
    """

    key: str
    label: str
    width: int
    cell: Callable[[Any], str]
    sort: str | None = None
    flex: int = 0
    align: str = "left"
    style: Callable[[Any], str | None] | None = None


def progress_bar(fraction: float, width: int = 10) -> str:
    """A text progress bar of ``width`` cells (eighths for a smooth edge)."""
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return bar + "░" * (width - cell_len(bar))


def _fit(text: str, width: int, align: str) -> str:
    """``text`` cut or padded to exactly ``width`` cells; a cut shows an ellipsis."""
    if width <= 0:
        return ""
    if text.isascii():
        if len(text) > width:
            return text[: width - 1] + "…" if width > 1 else text[:width]
        return text.rjust(width) if align == "right" else text.ljust(width)
    size = cell_len(text)
    if size > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
    pad = " " * (width - size)
    return pad + text if align == "right" else text + pad


_SEVERITY_CLASS = {"warn": "live-table--warn", "error": "live-table--error"}


class LiveTable(ScrollView, can_focus=True):
    """A keyboard-driven table showing the visible rows of a ``RowIndex`` (see the module docstring).

    Callers mutate ``table.index`` (upsert, remove, clear) and then call ``data_changed()`` once per
    batch. Sorting and filtering go through the table (``set_sort``, ``cycle_sort``, ``set_filter``) so
    the header and the cursor follow.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="table.up", tooltip="Move the highlight up one row"),
        Binding("down,j", "cursor_down", "Down", show=False, id="table.down", tooltip="Move the highlight down one row"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="table.page_up", tooltip="Up one screen"),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id="table.page_down", tooltip="Down one screen"),
        Binding("home,g", "first", "First", show=False, id="table.first", tooltip="Go to the first row"),
        Binding("end,G", "last", "Last", show=False, id="table.last", tooltip="Go to the last row"),
        Binding("enter", "select", "Details", id="table.select", tooltip="Show the highlighted object's details"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "live-table--header", "live-table--sorted", "live-table--cursor", "live-table--cursor-blur",
        "live-table--warn", "live-table--error", "live-table--ok", "live-table--empty", "live-table--muted",
    }

    DEFAULT_CSS = """
    LiveTable { overflow-x: hidden; overflow-y: auto; scrollbar-size-vertical: 1; height: 1fr; }
    LiveTable > .live-table--header { text-style: bold; color: $text-accent; }
    LiveTable > .live-table--sorted { text-style: bold underline; color: $text-accent; }
    LiveTable > .live-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    LiveTable > .live-table--cursor-blur { background: $block-cursor-blurred-background; }
    LiveTable > .live-table--warn { color: $text-warning; }
    LiveTable > .live-table--error { color: $text-error; }
    LiveTable > .live-table--ok { color: $text-success; }
    LiveTable > .live-table--empty { color: $text-muted; text-style: italic; }
    LiveTable > .live-table--muted { color: $text-muted; }
    """

    class RowHighlighted(Message):
        """The highlight moved to another object (key None: the table is empty)."""

        def __init__(self, table: LiveTable, key: Hashable | None) -> None:
            super().__init__()
            self.table, self.key = table, key

        @property
        def control(self) -> LiveTable:
            return self.table

    class RowSelected(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, table: LiveTable, key: Hashable, row: Any) -> None:
            super().__init__()
            self.table, self.key, self.row = table, key, row

        @property
        def control(self) -> LiveTable:
            return self.table

    class SortChanged(Message):
        """The sort column or direction changed (a header click or a key)."""

        def __init__(self, table: LiveTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> LiveTable:
            return self.table

    def __init__(self, columns: Sequence[Column], index: RowIndex | None = None, *, empty_text: str = "no rows",
                 row_key: Callable[[Any], Hashable] = lambda row: row.key,
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.row_key = row_key
        self.columns: tuple[Column, ...] = tuple(columns)
        self.index = index if index is not None else RowIndex()
        self.empty_text = empty_text
        self.sort_key: str | None = None  # a Column.key
        self._cursor = 0
        self._cursor_key: Hashable | None = None
        self._version = 0
        self._window_key: tuple[int, int, int] | None = None
        self._window_rows: list[Any] = []
        self._columns_layout: tuple[int, list[tuple[Column, int]]] | None = None
        self._styles: dict[str, Style] = {}
        self._strips: dict[tuple[Any, ...], Strip] = {}
        self.paints = 0  # lines rendered; tests and the benchmark read it

    # -- public API ------------------------------------------------------------------------------

    @property
    def cursor_row(self) -> int:
        """The highlighted position in the visible order."""
        return self._cursor

    @property
    def cursor_key(self) -> Hashable | None:
        """The key of the highlighted row, None when the table is empty."""
        return self._cursor_key

    def cursor_object(self) -> Any | None:
        """The highlighted row, or None."""
        return self.index.get(self._cursor_key) if self._cursor_key is not None else None

    def visible_rows(self) -> list[Any]:
        """The rows the viewport shows now, top to bottom."""
        return list(self._window())

    def data_changed(self) -> bool:
        """Call after mutating ``index``: moves the cursor with its object, refreshes the changed lines.

        Returns True when something on screen changed (a line, the row count or the cursor).
        """
        old_rows = self._window_rows if self._window_key is not None else []
        old_cursor, old_scroll = self._cursor, round(self.scroll_y)
        self._version += 1
        size_changed = self._sync_virtual_size()
        self._settle_cursor(follow=True)
        new_rows = self._window()
        if round(self.scroll_y) != old_scroll:
            return True  # the scroll watcher repaints everything
        dirty = {i for i in range(max(len(old_rows), len(new_rows)))
                 if i >= len(old_rows) or i >= len(new_rows)
                 or not (old_rows[i] is new_rows[i] or old_rows[i] == new_rows[i])}
        if self._cursor != old_cursor:
            dirty.update((old_cursor - old_scroll, self._cursor - old_scroll))
        if not new_rows and old_rows:
            dirty.add(0)  # the "no rows" line
        self._refresh_lines(sorted(i for i in dirty if 0 <= i < self._rows_height()))
        return bool(dirty) or size_changed

    def reset(self) -> None:
        """Forget every row (a context switch); the filter and sort stay."""
        self.index.clear()
        self._cursor, self._cursor_key = 0, None
        self.scroll_to(y=0, animate=False)
        self.data_changed()
        self.refresh()

    def set_filter(self, text: str) -> None:
        """Apply a k9s filter; raises ``SelectorError`` (filter unchanged) for a bad ``-l`` selector."""
        self.index.set_filter(text)
        self._after_reorder()

    def set_sort(self, column_key: str | None, reverse: bool = False) -> None:
        """Sort by a column (its ``key``); None restores the index's natural order."""
        col = self._column(column_key) if column_key is not None else None
        if column_key is not None and (col is None or col.sort is None):
            raise KeyError(f"column {column_key!r} is not sortable")
        self.sort_key = column_key
        self.index.set_sort(col.sort if col else None, reverse)
        self._after_reorder()
        self.post_message(self.SortChanged(self))

    def cycle_sort(self) -> None:
        """Sort by the next sortable column (k9s-like cycling), ascending."""
        keys = [c.key for c in self.columns if c.sort is not None]
        if not keys:
            return
        nxt = keys[(keys.index(self.sort_key) + 1) % len(keys)] if self.sort_key in keys else keys[0]
        self.set_sort(nxt, False)

    def toggle_reverse(self) -> None:
        """Flip the sort direction of the current column."""
        self.set_sort(self.sort_key, not self.index.sort_reverse)

    def move_cursor_to_key(self, key: Hashable) -> bool:
        """Highlight the row with ``key`` if visible; returns whether it is."""
        pos = self.index.position_of(key)
        if pos is None:
            return False
        self._move_cursor(pos)
        return True

    # -- actions ---------------------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        self._move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self._move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        self._move_cursor(self._cursor - max(1, self._rows_height() - 1))

    def action_page_down(self) -> None:
        self._move_cursor(self._cursor + max(1, self._rows_height() - 1))

    def action_first(self) -> None:
        self._move_cursor(0)

    def action_last(self) -> None:
        self._move_cursor(self.index.visible_count - 1)

    def action_select(self) -> None:
        row = self.cursor_object()
        if row is not None:
            self.post_message(self.RowSelected(self, self._cursor_key, row))

    # -- rendering -------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._strips.clear()
        self._columns_layout = None

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        self._sync_virtual_size(force=True)
        self._ensure_cursor_visible()

    def on_focus(self) -> None:
        self._refresh_cursor_line()

    def on_blur(self) -> None:
        self._refresh_cursor_line()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return self._header_strip(width)
        rows = self._window()
        i = y - 1
        if i >= len(rows):
            if i == 0 and not rows:
                return self._text_strip(self.empty_text, width, "live-table--empty")
            return Strip.blank(width, self.rich_style)
        row = rows[i]
        pos = round(self.scroll_y) + i
        cursor = 2 if pos == self._cursor and self.has_focus else 1 if pos == self._cursor else 0
        cache_key: tuple[Any, int, int] | None = (row, cursor, width)
        try:
            strip = self._strips.get((row, cursor, width))
        except TypeError:  # a row with an unhashable field: render it every time
            strip, cache_key = None, None
        if strip is None:
            strip = self._row_strip(row, width, cursor)
            if cache_key is not None:
                if len(self._strips) > 4096:
                    self._strips.clear()
                self._strips[cache_key] = strip
        self.paints += 1
        return strip

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self.get_component_rich_style(name, partial=True)
            self._styles[name] = style
        return style

    def _layout(self, width: int) -> list[tuple[Column, int]]:
        if self._columns_layout is not None and self._columns_layout[0] == width:
            return self._columns_layout[1]
        gaps = max(0, len(self.columns) - 1)
        fixed = sum(c.width for c in self.columns if not c.flex)
        weights = sum(int(c.flex) for c in self.columns if c.flex)
        spare = max(0, width - fixed - gaps)
        layout: list[tuple[Column, int]] = []
        for c in self.columns:
            if c.flex:
                layout.append((c, max(c.width, spare * int(c.flex) // weights)))
            else:
                layout.append((c, c.width))
        self._columns_layout = (width, layout)
        return layout

    def _header_strip(self, width: int) -> Strip:
        base = self.rich_style
        head, sorted_style = self._style("live-table--header"), self._style("live-table--sorted")
        segments: list[Segment] = []
        for n, (col, w) in enumerate(self._layout(width)):
            label = col.label
            is_sorted = col.key == self.sort_key
            if is_sorted:
                label += "▼" if self.index.sort_reverse else "▲"
            if n:
                segments.append(Segment(" ", base))
            segments.append(Segment(_fit(label, w, col.align), base + (sorted_style if is_sorted else head)))
        return Strip(segments).adjust_cell_length(width, base)

    def _row_strip(self, row: Any, width: int, cursor: int) -> Strip:
        base = self.rich_style
        severity = getattr(row, "severity", "ok")
        row_style = base + self._style(_SEVERITY_CLASS[severity]) if severity in _SEVERITY_CLASS else base
        cursor_style = self._style("live-table--cursor" if cursor == 2 else "live-table--cursor-blur") if cursor else None
        gap = Segment(" ", row_style + cursor_style if cursor_style else row_style)
        segments: list[Segment] = []
        for n, (col, w) in enumerate(self._layout(width)):
            style = row_style
            if col.style is not None:
                extra = col.style(row)
                if extra:
                    style = style + self._style(extra)
            if cursor_style is not None:
                style = style + cursor_style
            if n:
                segments.append(gap)
            segments.append(Segment(_fit(str(col.cell(row)), w, col.align), style))
        fill = row_style + cursor_style if cursor_style else row_style
        return Strip(segments).adjust_cell_length(width, fill)

    def _text_strip(self, text: str, width: int, style_name: str) -> Strip:
        style = self.rich_style + self._style(style_name)
        return Strip([Segment(_fit(text, width, "left"), style)]).adjust_cell_length(width, self.rich_style)

    # -- internals -------------------------------------------------------------------------------

    def _column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)

    def _rows_height(self) -> int:
        return max(0, self.scrollable_content_region.height - 1)

    def _window(self) -> list[Any]:
        start, count = round(self.scroll_y), self._rows_height()
        key = (start, count, self._version)
        if key != self._window_key:
            self._window_rows = self.index.window(start, count)
            self._window_key = key
        return self._window_rows

    def _sync_virtual_size(self, force: bool = False) -> bool:
        want = Size(self.scrollable_content_region.width, self.index.visible_count + 1)
        if force or want != self.virtual_size:
            changed = want != self.virtual_size
            self.virtual_size = want
            return changed
        return False

    def _settle_cursor(self, *, follow: bool) -> None:
        count = self.index.visible_count
        before = self._cursor_key
        if follow and self._cursor_key is not None:
            pos = self.index.position_of(self._cursor_key)
            if pos is not None:
                self._cursor = pos
        self._cursor = max(0, min(self._cursor, count - 1)) if count else 0
        if count:
            picked = self.index.window(self._cursor, 1)
            self._cursor_key = self.row_key(picked[0]) if picked else None
        else:
            self._cursor_key = None
        if self._cursor_key != before:
            self.post_message(self.RowHighlighted(self, self._cursor_key))
        self._ensure_cursor_visible()

    def _after_reorder(self) -> None:
        self._version += 1
        self._sync_virtual_size()
        self._settle_cursor(follow=True)
        self._strips.clear()
        self.refresh()

    def _move_cursor(self, pos: int) -> None:
        count = self.index.visible_count
        if not count:
            return
        pos = max(0, min(pos, count - 1))
        if pos == self._cursor and self._cursor_key is not None:
            return
        self._refresh_cursor_line()
        self._cursor = pos
        self._settle_cursor(follow=False)
        self._refresh_cursor_line()

    def _ensure_cursor_visible(self) -> None:
        height = self._rows_height()
        if height <= 0:
            return
        top = round(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + height:
            self.scroll_to(y=self._cursor - height + 1, animate=False)

    def _refresh_lines(self, lines: list[int]) -> None:
        """Refresh row lines (0 = first row under the header), one region per contiguous run."""
        width = self.size.width
        run_start = prev = None
        for i in lines + [None]:
            if i is not None and prev is not None and i == prev + 1:
                prev = i
                continue
            if run_start is not None and prev is not None:
                self.refresh(Region(0, 1 + run_start, width, prev - run_start + 1))
            run_start = prev = i

    def _refresh_cursor_line(self) -> None:
        line = self._cursor - round(self.scroll_y)
        if 0 <= line < self._rows_height():
            self.refresh(Region(0, 1 + line, self.size.width, 1))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            x = 0
            for col, w in self._layout(self.size.width):
                if x <= offset.x < x + w + 1:
                    if col.sort is not None:
                        reverse = (not self.index.sort_reverse) if col.key == self.sort_key else False
                        self.set_sort(col.key, reverse)
                    return
                x += w + 1
            return
        pos = round(self.scroll_y) + offset.y - 1
        if pos < self.index.visible_count:
            self._move_cursor(pos)
            if event.chain >= 2:
                self.action_select()
