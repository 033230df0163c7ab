"""A sorted, filtered row index for very large live tables (``RowIndex``).

Rows by key, kept in sort order with ``bisect`` so a burst of watch changes costs O(changes * log n)
comparisons instead of a full re-sort, and a screen reads only the window it shows. The filter is k9s's:
a substring, ``!`` to invert, or ``-l`` and a label selector (``console.cluster.selectors``).

No IO, no clock, no UI: rows are any objects with attributes (the frozen dataclasses of ``rows.py``).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Hashable, Iterable
from dataclasses import fields, is_dataclass
from typing import Any

from console.cluster.selectors import Selector, parse_selector

__all__ = ["RowIndex"]


def _sort_value(value: Any) -> tuple[int, Any]:
    """A totally ordered stand-in for a cell value: numbers, then text, then tuples, then missing."""
    if value is None:
        return (9, 0)
    if isinstance(value, (bool, int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value.casefold())
    if isinstance(value, tuple):
        return (2, value)
    if isinstance(value, (list, frozenset, set)):
        return (1, ", ".join(sorted(str(v) for v in value)).casefold())
    return (1, str(value).casefold())


def _search_fields(row: Any) -> tuple[str, ...]:
    """The attributes a text filter looks at: the row class's SEARCH_FIELDS, else its scalar fields."""
    declared = getattr(type(row), "SEARCH_FIELDS", None)
    if declared is not None:
        return tuple(declared)
    if is_dataclass(row):
        return tuple(
            f.name for f in fields(row) if isinstance(getattr(row, f.name), (str, int, float, tuple, list))
        )
    return ()


class RowIndex:
    """Rows by key, filtered and kept sorted for a live table that may hold 10,000+ rows.

    The visible rows are held as a sorted list of ``(sort value, key)`` entries. Small batches of
    changes are applied with ``bisect`` (remove the old entry, insert the new one); a batch larger than
    about an eighth of the table, a new filter or a new sort column instead marks the list dirty and it
    is rebuilt once, lazily, by the next read. Readers ask only for the ``window`` a screen shows.

    Filter text follows k9s: plain text is a case-insensitive substring match over the row's visible
    fields, a leading ``!`` inverts the match, and ``-l app=web,tier!=db`` is a label selector over
    the row's ``labels`` mapping.
    """

    def __init__(self, rows: Iterable[Any] = (), *, key: Callable[[Any], Hashable] | None = None) -> None:
        self._keyfn: Callable[[Any], Hashable] = key or (lambda r: r.key)
        self._rows: dict[Hashable, Any] = {}
        self._entries: dict[Hashable, tuple[Any, Hashable]] = {}  # visible rows only
        self._order: list[tuple[Any, Hashable]] = []
        self._dirty = False
        self._blobs: dict[Hashable, str] = {}
        self._filter_text = ""
        self._needle = ""
        self._selector: Selector | None = None
        self._invert = False
        self._sort_column: str | None = None
        self._reverse = False
        self.upsert(rows)

    # -- state ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def get(self, key: Hashable) -> Any | None:
        """The row stored under ``key`` (visible or not), or None."""
        return self._rows.get(key)

    @property
    def visible_count(self) -> int:
        """How many rows pass the current filter."""
        return len(self._entries)

    @property
    def filter_text(self) -> str:
        return self._filter_text

    @property
    def sort_column(self) -> str | None:
        return self._sort_column

    @property
    def sort_reverse(self) -> bool:
        return self._reverse

    # -- changes -------------------------------------------------------------------------------

    def upsert(self, rows: Iterable[Any]) -> None:
        """Insert or replace rows (by key); a key upserted twice is still one row."""
        batch = rows if isinstance(rows, (list, tuple)) else list(rows)
        bulk = self._dirty or len(batch) > max(64, len(self._entries) // 8)
        self._dirty = bulk
        order = self._order
        for row in batch:
            k = self._keyfn(row)
            self._rows[k] = row
            self._blobs.pop(k, None)
            old = self._entries.pop(k, None)
            new = (self._sort_of(row), k) if self._accepts(k, row) else None
            if new is not None:
                self._entries[k] = new
            if bulk or old == new:
                continue
            if old is not None:
                del order[bisect_left(order, old)]
            if new is not None:
                insort(order, new)

    def remove(self, keys: Iterable[Hashable]) -> None:
        """Forget rows by key; unknown keys are ignored (a DELETED event may repeat)."""
        batch = keys if isinstance(keys, (list, tuple, set, frozenset)) else list(keys)
        bulk = self._dirty or len(batch) > max(64, len(self._entries) // 8)
        self._dirty = bulk
        for k in batch:
            self._rows.pop(k, None)
            self._blobs.pop(k, None)
            old = self._entries.pop(k, None)
            if old is not None and not bulk:
                del self._order[bisect_left(self._order, old)]

    def clear(self) -> None:
        """Drop every row, keeping the filter and sort (a re-list after a 410 starts here)."""
        self._rows.clear()
        self._entries.clear()
        self._order.clear()
        self._blobs.clear()
        self._dirty = False

    def set_filter(self, text: str) -> None:
        """Set the filter; raises ``SelectorError`` for a bad ``-l`` selector and keeps the old filter."""
        raw = text.strip()
        body = raw
        invert = body.startswith("!")
        if invert:
            body = body[1:].strip()
        selector: Selector | None = None
        needle = ""
        if body == "-l" or body.startswith(("-l ", "-l\t")):
            selector = parse_selector(body[2:].strip())
        else:
            needle = body.casefold()
        if not body:
            invert = False  # "!" alone filters nothing out, like an empty filter
        self._filter_text, self._selector, self._needle, self._invert = raw, selector, needle, invert
        self._refilter()

    def set_sort(self, column: str | None, reverse: bool = False) -> None:
        """Sort by a row attribute (or a name in the row class's SORT_KEYS); None sorts by key."""
        if column == self._sort_column and reverse == self._reverse:
            return
        if column != self._sort_column:
            self._sort_column = column
            self._entries = {k: (self._sort_of(self._rows[k]), k) for k in self._entries}
            self._dirty = True
        # Reversal needs no re-sort: reads walk the ascending list from the other end.
        self._reverse = reverse

    # -- reads ---------------------------------------------------------------------------------

    def window(self, start: int, count: int) -> list[Any]:
        """The visible rows at positions ``start`` .. ``start + count - 1`` in the current order."""
        self._ensure_sorted()
        order, n = self._order, len(self._order)
        start = max(0, start)
        if count <= 0 or start >= n:
            return []
        if not self._reverse:
            picked = order[start : start + count]
        else:
            hi = n - start
            picked = order[max(0, hi - count) : hi][::-1]
        rows = self._rows
        return [rows[k] for _, k in picked]

    def position_of(self, key: Hashable) -> int | None:
        """The row's position in the current visible order, or None when filtered out or unknown."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._ensure_sorted()
        i = bisect_left(self._order, entry)
        return len(self._order) - 1 - i if self._reverse else i

    def visible_keys(self) -> list[Hashable]:
        """Every visible key in order (for tests and small tables; screens should use ``window``)."""
        self._ensure_sorted()
        keys = [k for _, k in self._order]
        return keys[::-1] if self._reverse else keys

    # -- internals -----------------------------------------------------------------------------

    def _ensure_sorted(self) -> None:
        if self._dirty:
            self._order = sorted(self._entries.values())
            self._dirty = False

    def _refilter(self) -> None:
        self._entries = {
            k: (self._sort_of(row), k) for k, row in self._rows.items() if self._accepts(k, row)
        }
        self._dirty = True

    def _sort_of(self, row: Any) -> Any:
        column = self._sort_column
        if column is None:
            return ()
        custom = getattr(type(row), "SORT_KEYS", None)
        if custom and column in custom:
            return _sort_value(custom[column](row))
        return _sort_value(getattr(row, column, None))

    def _accepts(self, key: Hashable, row: Any) -> bool:
        if self._selector is not None:
            hit = self._selector.matches(getattr(row, "labels", None))
        elif self._needle:
            blob = self._blobs.get(key)
            if blob is None:
                blob = self._blob(row)
                self._blobs[key] = blob
            hit = self._needle in blob
        else:
            return True
        return hit != self._invert

    @staticmethod
    def _blob(row: Any) -> str:
        parts: list[str] = []
        for name in _search_fields(row):
            value = getattr(row, name, None)
            if value is None:
                continue
            if isinstance(value, (tuple, list)):
                parts.extend(str(v) for v in value)
            else:
                parts.append(str(value))
        # A separator no one types keeps a needle from matching across two fields.
        return "\x1f".join(parts).casefold()
