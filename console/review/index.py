"""The record list's cache: one row per change, kept in ``<root>/.index.json`` so a big store opens fast.

A row is what the Records screen and ``records report`` need (who, what, when, outcome, duration, integrity),
folded from the change's journal with ``summarise`` and checked with ``verify``. The cache is keyed by the
change directory (relative to the root) and holds the journal's size, mtime_ns and chain head as it was when
the row was built. A row is reused only while the journal's size and mtime_ns are unchanged; any append,
rewrite or truncation rebuilds it. The cache is never authoritative: the Record screen and ``records verify``
always check the journal itself, and a missing, unreadable or foreign cache file is simply rebuilt.

Also here, because the list and the reports share them: the filter query (``component:web risk:high
since:2026-11-01 alice``) and the sort order of rows.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from console.errors import OpsConsoleError
from console.journal import events as ev
from console.journal.journal import read_and_verify
from console.journal.store import DIR_RE
from console.review.summary import summarise

INDEX_NAME = ".index.json"
INDEX_VERSION = 1
JOURNAL_NAME = "journal.jsonl"


@dataclass
class IndexEntry:
    """One change as the list shows it; ``ok``/``problem`` are the journal's integrity when the row was built."""

    change_id: str
    rel: str  # the change directory, relative to the store root
    date: str
    title: str = ""
    component: str = ""
    from_version: str = ""
    to_version: str = ""
    risk: str = ""
    environment: str = ""
    operator: str = ""
    outcome: str | None = None
    created: str | None = None
    closed: str | None = None
    duration_s: float | None = None
    events: int = 0
    breakglass: int = 0
    rolled_back: bool = False
    emergency: bool = False
    addenda: int = 0
    ok: bool = True
    problem: str = ""
    head: str = ""
    size: int = -1
    mtime_ns: int = -1

    @property
    def versions(self) -> str:
        return f"{self.from_version}→{self.to_version}"

    @property
    def outcome_text(self) -> str:
        return (self.outcome or "in progress").replace("_", " ")


_FIELDS = {f.name for f in fields(IndexEntry)}


@dataclass
class IndexLoad:
    """What ``load_index`` found: the rows (sorted by ID) and how many came from the cache."""

    entries: list[IndexEntry]
    reused: int = 0
    rebuilt: int = 0
    written: bool = False
    cache_error: str | None = None  # why the cache could not be written (a read-only store still lists)
    skipped: list[str] = field(default_factory=list)


def build_entry(root: Path, change_dir: Path, *, change_id: str, date: str) -> IndexEntry:
    """A fresh row for one change, read and verified from its journal (the cache is not consulted)."""
    journal = change_dir / JOURNAL_NAME
    try:
        st = journal.stat()
        size, mtime_ns = st.st_size, st.st_mtime_ns
    except FileNotFoundError:
        size, mtime_ns = -1, -1
    # Stat before reading: if the journal grows in between, the stored stat is older than the content and the
    # next load rebuilds the row, rather than trusting a row built from bytes the stat does not describe.
    result, report = read_and_verify(journal)  # one read and one scan for both
    s = summarise(result.events)
    first = report.first
    problem = ""
    if first is not None:
        problem = f"line {first.line}: {first.reason}" if first.line else first.reason
    return IndexEntry(
        change_id=s.change_id or change_id,
        rel=change_dir.relative_to(root).as_posix(),
        date=s.date or date,
        title=s.title,
        component=s.component,
        from_version=s.from_version,
        to_version=s.to_version,
        risk=s.risk,
        environment=s.environment,
        operator=s.operator,
        outcome=s.outcome,
        created=s.created,
        closed=s.closed,
        duration_s=s.duration_s,
        events=len(result.events),
        breakglass=len(s.breakglass),
        rolled_back=s.outcome == "rolled_back" or any(r["type"] == ev.ROLLBACK_STARTED for r in s.rollbacks),
        emergency=s.emergency,
        addenda=len(s.addenda),
        ok=report.ok,
        problem=problem,
        head=report.head,
        size=size,
        mtime_ns=mtime_ns,
    )


def _change_dirs(root: Path) -> Iterable[tuple[str, str, str, str]]:
    """(directory path, its path relative to root, change ID, date) of every change directory, opening no file.

    Plain strings, not ``Path``: a store of 10,000 changes lists in a fraction of the time.
    """
    try:
        years = [e for e in os.scandir(root) if e.is_dir() and len(e.name) == 4 and e.name.isdigit()]
    except FileNotFoundError:
        return
    for year in sorted(years, key=lambda e: e.name):
        for entry in os.scandir(year.path):
            m = DIR_RE.match(entry.name)
            if m is not None and entry.is_dir():
                yield entry.path, f"{year.name}/{entry.name}", m.group(4), m.group(1)


def _read_cache(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):  # missing, unreadable or garbled: rebuild
        return {}
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION or not isinstance(data.get("entries"), dict):
        return {}
    entries: dict[str, dict[str, Any]] = data["entries"]
    return entries


def _from_cache(raw: object) -> IndexEntry | None:
    if not isinstance(raw, dict) or raw.keys() != _FIELDS:
        return None  # written by another version: rebuild rather than guess
    try:
        return IndexEntry(**raw)
    except TypeError:
        return None


def _write_cache(path: Path, entries: Sequence[IndexEntry]) -> None:
    body = json.dumps({"version": INDEX_VERSION, "entries": {e.rel: asdict(e) for e in entries}}, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(prefix=".index.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
        # No fsync: the cache is rebuilt from the journals if a crash loses it; replace keeps it whole.
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


Progress = Callable[[list[IndexEntry]], None]


def load_index(root: Path, *, write: bool = True, progress: Progress | None = None, first_progress: int = 50) -> IndexLoad:
    """Every change under ``root``, reusing cached rows whose journal is unchanged (same size and mtime_ns).

    Rows are rebuilt from the journal when it changed, is new, or the cache lacks or garbles them; rows of
    changes no longer on disk are dropped. The cache is rewritten (atomically) only when something changed.

    ``progress`` is called with the rows so far (in the store's order) while rows are being rebuilt: after
    ``first_progress`` rebuilt rows, then each time the number rebuilt doubles, so a cold store shows rows at once
    and a list refilled at each call costs at most twice the final fill.
    """
    root = Path(root)
    cache_path = root / INDEX_NAME
    cached = _read_cache(cache_path)
    out = IndexLoad([])
    changed = False
    seen: set[str] = set()
    next_progress = first_progress
    for path, rel, change_id, date in _change_dirs(root):
        seen.add(rel)
        try:
            st = os.stat(os.path.join(path, JOURNAL_NAME))
            size, mtime_ns = st.st_size, st.st_mtime_ns
        except FileNotFoundError:
            size, mtime_ns = -1, -1
        entry = _from_cache(cached.get(rel))
        if entry is not None and entry.size == size and entry.mtime_ns == mtime_ns and entry.rel == rel:
            out.reused += 1
        else:
            entry = build_entry(root, Path(path), change_id=change_id, date=date)
            out.rebuilt += 1
            changed = True
            if progress is not None and out.rebuilt >= next_progress:
                progress([*out.entries, entry])
                next_progress *= 2
        out.entries.append(entry)
    if set(cached) - seen:
        changed = True
    out.entries.sort(key=lambda e: _id_sort_key(e.change_id))
    if write and changed and root.is_dir():
        try:
            _write_cache(cache_path, out.entries)
            out.written = True
        except OSError as exc:  # a read-only store (someone else's records) still lists, just without a cache
            out.cache_error = f"{cache_path}: {exc.strerror or exc}"
    return out


def _id_sort_key(change_id: str) -> tuple[int, int, str]:
    parts = change_id.split("-")
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return int(parts[1]), int(parts[2]), change_id
    return 0, 0, change_id


# -- filtering and sorting ------------------------------------------------------------------------------------

RISK_ORDER = {"low": 0, "medium": 1, "high": 2, "critical": 3}
FILTER_KEYS = {
    "id": "change_id",
    "component": "component",
    "comp": "component",
    "outcome": "outcome",
    "risk": "risk",
    "operator": "operator",
    "op": "operator",
    "env": "environment",
    "environment": "environment",
    "integrity": "integrity",
    "since": "since",
    "until": "until",
}


class QueryError(OpsConsoleError, ValueError):
    """A filter query that cannot be understood, e.g. an unknown ``key:``."""


@dataclass
class Query:
    """A parsed filter: bare words must each appear somewhere in the row; ``key:a,b`` needs one of a or b."""

    words: list[str] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)
    since: str | None = None
    until: str | None = None


def parse_query(text: str) -> Query:
    """``web risk:high,critical outcome:rolled-back since:2026-11 until:2026-11-30 op:alice``."""
    q = Query()
    for token in text.split():
        key, sep, value = token.partition(":")
        if not sep:
            q.words.append(token.lower())
            continue
        name = FILTER_KEYS.get(key.lower())
        if name is None:
            raise QueryError(f"unknown filter {key!r}: use one of {', '.join(sorted(set(FILTER_KEYS)))}")
        if not value:
            raise QueryError(f"{key}: needs a value, e.g. {key}:web")
        if name in ("since", "until"):
            if not _looks_like_date(value):
                raise QueryError(f"{key}:{value}: dates are YYYY, YYYY-MM or YYYY-MM-DD")
            setattr(q, name, value)
            continue
        values = [v.lower().replace("-", "_") if name == "outcome" else v.lower() for v in value.split(",") if v]
        q.columns.setdefault(name, []).extend(values)
    return q


def _looks_like_date(value: str) -> bool:
    parts = value.split("-")
    return 1 <= len(parts) <= 3 and all(p.isdigit() for p in parts) and len(parts[0]) == 4


def _column_value(entry: IndexEntry, name: str) -> str:
    if name == "integrity":
        return "ok" if entry.ok else "broken"
    if name == "outcome":
        return entry.outcome or "in_progress"
    return str(getattr(entry, name) or "").lower()


def matches(entry: IndexEntry, q: Query) -> bool:
    """Whether one row passes the filter (case-insensitive; dates compare as prefixes of YYYY-MM-DD)."""
    if q.since and entry.date[: len(q.since)] < q.since:
        return False
    if q.until and entry.date[: len(q.until)] > q.until:
        return False
    for name, wanted in q.columns.items():
        value = _column_value(entry, name)
        # Exact for closed vocabularies, substring for names (component "web" finds "web-frontend").
        exact = name in ("outcome", "risk", "integrity")
        if not any((value == w) if exact else (w in value) for w in wanted):
            return False
    if q.words:
        hay = " ".join(
            [entry.change_id, entry.date, entry.title, entry.component, entry.versions, entry.risk,
             entry.environment, entry.operator, entry.outcome_text, "ok" if entry.ok else "broken"]
        ).lower()
        return all(w in hay for w in q.words)
    return True


def filter_entries(entries: Iterable[IndexEntry], q: Query) -> list[IndexEntry]:
    return [e for e in entries if matches(e, q)]


SORT_KEYS = ("id", "date", "component", "versions", "risk", "environment", "operator", "outcome", "duration", "integrity")


def sort_entries(entries: Iterable[IndexEntry], key: str, *, reverse: bool = False) -> list[IndexEntry]:
    """Rows ordered by one column (ties by ID); unknown durations and risks sort last either way."""
    if key not in SORT_KEYS:
        raise QueryError(f"cannot sort by {key!r}: use one of {', '.join(SORT_KEYS)}")
    rows = list(entries)

    def value(e: IndexEntry) -> tuple[Any, ...]:
        if key == "id":
            return _id_sort_key(e.change_id)
        if key == "duration":
            return (e.duration_s is None, e.duration_s or 0.0)
        if key == "risk":
            return (e.risk not in RISK_ORDER, RISK_ORDER.get(e.risk, 0), e.risk)
        if key == "integrity":
            return (e.ok,)
        if key == "versions":
            return (e.versions.lower(),)
        if key == "date":
            return (e.created or e.date,)
        if key == "outcome":
            return (e.outcome_text,)
        return (str(getattr(e, key) or "").lower(),)

    rows.sort(key=lambda e: _id_sort_key(e.change_id))
    rows.sort(key=value, reverse=reverse)
    if reverse and key in ("duration", "risk"):
        # Keep the unknowns at the bottom when the order flips, where nobody mistakes them for the extreme.
        known = [e for e in rows if value(e)[0] is False]
        rows = known + [e for e in rows if value(e)[0] is not False]
    return rows
