"""Label selectors and a sorted, filtered row index for very large live tables.

Two pure pieces live here:

* ``parse_selector`` / ``matches``: Kubernetes label selectors with the grammar of apimachinery's
  ``labels.Parse`` (``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x,y)``, ``a``, ``!a``,
  ``a>1``, ``a<1``), used by the table filter (``-l app=web``) and by the rollback triggers.
* ``RowIndex``: rows by key, kept in sort order with ``bisect`` so a burst of watch changes costs
  O(changes * log n) comparisons instead of a full re-sort, and a screen reads only the window it shows.

No IO, no clock, no UI: rows are any objects with attributes (the frozen dataclasses of ``rows.py``).
"""

from __future__ import annotations

import re
from bisect import bisect_left, insort
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

__all__ = [
    "Requirement",
    "RowIndex",
    "Selector",
    "SelectorError",
    "matches",
    "parse_selector",
]


class SelectorError(ValueError):
    """A label selector that does not parse; the message says what and where."""


_OPERATORS = ("=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt")

# A label key: optional DNS-subdomain prefix and a "/" then a name of at most 63 characters.
_NAME_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_PREFIX_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One clause of a selector: ``key op values`` (values empty for exists / not-exists)."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this clause, with apimachinery's semantics."""
        present = self.key in labels
        if self.op in ("=", "=="):
            return present and labels[self.key] == self.values[0]
        if self.op == "in":
            return present and labels[self.key] in self.values
        # Like Kubernetes, != and notin also match objects that lack the key entirely.
        if self.op == "!=":
            return not present or labels[self.key] != self.values[0]
        if self.op == "notin":
            return not present or labels[self.key] not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("gt", "lt"):
            if not present:
                return False
            try:
                have = int(labels[self.key])
            except ValueError:
                return False
            want = int(self.values[0])
            return have > want if self.op == "gt" else have < want
        raise SelectorError(f"unknown operator {self.op!r}")


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed selector: all requirements must hold (an empty selector matches everything)."""

    requirements: tuple[Requirement, ...] = ()
    text: str = ""

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether ``labels`` (None counts as no labels) satisfy every requirement."""
        lab = labels or {}
        return all(r.matches(lab) for r in self.requirements)


def matches(selector: Selector | str, labels: Mapping[str, str] | None) -> bool:
    """Whether ``labels`` match ``selector`` (a ``Selector`` or selector text)."""
    if isinstance(selector, str):
        selector = parse_selector(selector)
    return selector.matches(labels)


# --- lexer -------------------------------------------------------------------------------------

_SPECIAL = "!=(),<>"


def _tokens(text: str) -> list[tuple[str, int]]:
    """Split selector text into (token, column) pairs the way apimachinery's lexer does."""
    out: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in _SPECIAL:
            # Two-character operators first: "==" and "!=".
            if text.startswith("==", i) or text.startswith("!=", i):
                out.append((text[i : i + 2], i))
                i += 2
            else:
                out.append((c, i))
                i += 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in _SPECIAL:
            j += 1
        out.append((text[i:j], i))
        i = j
    return out


def _check_key(key: str, col: int, text: str) -> None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _PREFIX_RE.match(prefix)):
        raise SelectorError(f"invalid label key {key!r} at column {col + 1} in {text!r}: bad prefix")
    if not name or len(name) > 63 or not _NAME_RE.match(name):
        raise SelectorError(
            f"invalid label key {key!r} at column {col + 1} in {text!r}: must be 63 characters or fewer, "
            "alphanumeric, '-', '_' or '.', starting and ending with an alphanumeric character"
        )


def _check_value(value: str, col: int, text: str) -> None:
    if value and (len(value) > 63 or not _NAME_RE.match(value)):
        raise SelectorError(f"invalid label value {value!r} at column {col + 1} in {text!r}")


def parse_selector(text: str) -> Selector:
    """Parse label-selector text; raises ``SelectorError`` naming the column of the first problem."""
    toks = _tokens(text)
    reqs: list[Requirement] = []
    pos = 0

    def peek() -> tuple[str, int] | None:
        return toks[pos] if pos < len(toks) else None

    def take(expect: str | None = None) -> tuple[str, int]:
        nonlocal pos
        tok = peek()
        if tok is None:
            raise SelectorError(f"unexpected end of selector {text!r}" + (f", expected {expect!r}" if expect else ""))
        if expect is not None and tok[0] != expect:
            raise SelectorError(f"expected {expect!r} at column {tok[1] + 1} in {text!r}, found {tok[0]!r}")
        pos += 1
        return tok

    def is_word(tok: tuple[str, int] | None) -> bool:
        return tok is not None and tok[0] not in _SPECIAL and tok[0] not in ("==", "!=")

    while pos < len(toks):
        tok = take()
        if tok[0] == "!":
            key = take()
            if not is_word(key):
                raise SelectorError(f"expected a label key after '!' at column {key[1] + 1} in {text!r}")
            _check_key(key[0], key[1], text)
            reqs.append(Requirement(key[0], "!"))
        elif is_word(tok):
            _check_key(tok[0], tok[1], text)
            nxt = peek()
            if nxt is None or nxt[0] == ",":
                reqs.append(Requirement(tok[0], "exists"))
            elif nxt[0] in ("=", "==", "!="):
                take()
                val = peek()
                # An empty value is legal ("a=" matches a label set to the empty string).
                if is_word(val):
                    assert val is not None
                    take()
                    _check_value(val[0], val[1], text)
                    reqs.append(Requirement(tok[0], nxt[0], (val[0],)))
                else:
                    reqs.append(Requirement(tok[0], nxt[0], ("",)))
            elif nxt[0] in ("<", ">"):
                take()
                val = take()
                try:
                    int(val[0])
                except ValueError:
                    raise SelectorError(
                        f"expected an integer after {nxt[0]!r} at column {val[1] + 1} in {text!r}"
                    ) from None
                reqs.append(Requirement(tok[0], "gt" if nxt[0] == ">" else "lt", (val[0],)))
            elif nxt[0] in ("in", "notin"):
                take()
                take("(")
                values: list[str] = []
                while True:
                    val = take()
                    if val[0] == ")" and not values:
                        break
                    if is_word(val):
                        _check_value(val[0], val[1], text)
                        values.append(val[0])
                        val = take()
                    elif val[0] in (",", ")"):
                        values.append("")  # "in (a,,b)" holds an empty value, as in apimachinery
                    if val[0] == ")":
                        break
                    if val[0] != ",":
                        raise SelectorError(f"expected ',' or ')' at column {val[1] + 1} in {text!r}")
                if nxt[0] == "in" and not values:
                    raise SelectorError(f"'in' needs at least one value in {text!r}")
                reqs.append(Requirement(tok[0], nxt[0], tuple(values)))
            else:
                raise SelectorError(f"unexpected {nxt[0]!r} at column {nxt[1] + 1} in {text!r}")
        else:
            raise SelectorError(f"unexpected {tok[0]!r} at column {tok[1] + 1} in {text!r}")
        sep = peek()
        if sep is not None:
            if sep[0] != ",":
                raise SelectorError(f"expected ',' at column {sep[1] + 1} in {text!r}, found {sep[0]!r}")
            take()
            if peek() is None:
                raise SelectorError(f"selector {text!r} ends with ','")
    return Selector(tuple(reqs), text)


# --- the row index -----------------------------------------------------------------------------


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
        if body == "-l" or body.startswith("-l ") or body.startswith("-l\t"):
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
