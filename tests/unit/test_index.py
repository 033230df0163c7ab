"""The record list's index cache: rows built from journals, reused only while a journal is unchanged, never
trusted over it; and the filter query and sort order the Records screen uses."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from console.engine.redact import Redactor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from console.journal.store import RecordStore
from console.review.addenda import add_addendum
from console.review.index import (
    INDEX_NAME,
    IndexEntry,
    QueryError,
    filter_entries,
    load_index,
    parse_query,
    sort_entries,
)
from tests.support.review_records import build_sample_store, tamper_line


@pytest.fixture
def store(records_dir: Path) -> RecordStore:
    build_sample_store(records_dir)
    return RecordStore(records_dir)


def by_id(entries: list[IndexEntry]) -> dict[str, IndexEntry]:
    return {e.change_id: e for e in entries}


def test_rows_are_folded_from_the_journals(store: RecordStore) -> None:
    load = load_index(store.root)
    assert (load.rebuilt, load.reused, load.written) == (4, 0, True)
    rows = by_id(load.entries)
    api = rows["CHG-2026-0002"]
    assert (api.component, api.versions, api.risk, api.environment, api.operator) == ("api", "2.0.0→2.1.0", "high", "production", "bob")
    assert (api.outcome, api.duration_s, api.breakglass, api.rolled_back, api.emergency, api.ok) == ("rolled_back", 120.0, 1, True, True, True)
    db = rows["CHG-2026-0003"]
    assert db.outcome is None and db.outcome_text == "in progress" and db.duration_s == 65.0
    assert [e.change_id for e in load.entries] == sorted(rows)


def test_a_second_load_reuses_every_row_and_writes_nothing(store: RecordStore) -> None:
    load_index(store.root)
    mtime = (store.root / INDEX_NAME).stat().st_mtime_ns
    again = load_index(store.root)
    assert (again.rebuilt, again.reused, again.written) == (0, 4, False)
    assert (store.root / INDEX_NAME).stat().st_mtime_ns == mtime


def test_an_appended_event_rebuilds_that_row_only(store: RecordStore) -> None:
    load_index(store.root)
    ref = store.find("CHG-2026-0001")
    add_addendum(store, ref, redact=Redactor().redact, author="rita", kind="correction", text="the backup was of web-config only")
    load = load_index(store.root)
    assert (load.rebuilt, load.reused) == (1, 3)
    assert by_id(load.entries)["CHG-2026-0001"].addenda == 1


def test_an_edit_of_the_same_size_is_caught_by_mtime(store: RecordStore) -> None:
    load_index(store.root)
    journal = store.journal_path(store.find("CHG-2026-0001"))
    st = journal.stat()
    tamper_line(journal, 3, b'"name":"bob"', b'"name":"eve"')
    assert journal.stat().st_size == st.st_size
    row = by_id(load_index(store.root).entries)["CHG-2026-0001"]
    assert not row.ok and row.problem == "line 3: hash does not match its content"


def test_the_cache_is_never_trusted_once_the_stat_differs(store: RecordStore) -> None:
    """Even an edit that restores size and mtime is only hidden in the list: the stat is the whole key."""
    load_index(store.root)
    journal = store.journal_path(store.find("CHG-2026-0002"))
    st = journal.stat()
    tamper_line(journal, 2, b'"carol"', b'"mallo"')
    os.utime(journal, ns=(st.st_atime_ns, st.st_mtime_ns))
    # The list may show the cached ✓ here; that is why the Record screen and `records verify` read the journal.
    assert by_id(load_index(store.root).entries)["CHG-2026-0002"].ok is True
    os.utime(journal, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert by_id(load_index(store.root).entries)["CHG-2026-0002"].ok is False


def test_garbled_or_foreign_caches_are_rebuilt(store: RecordStore) -> None:
    (store.root / INDEX_NAME).write_text("{not json")
    assert load_index(store.root).rebuilt == 4
    data = json.loads((store.root / INDEX_NAME).read_text())
    first = next(iter(data["entries"]))
    data["entries"][first]["extra_field"] = 1
    (store.root / INDEX_NAME).write_text(json.dumps(data))
    assert load_index(store.root).rebuilt == 1
    (store.root / INDEX_NAME).write_text(json.dumps({"version": 99, "entries": {}}))
    assert load_index(store.root).rebuilt == 4


def test_removed_changes_leave_the_cache(store: RecordStore) -> None:
    load_index(store.root)
    ref = store.find("CHG-2026-0004")
    for p in sorted(ref.path.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    ref.path.rmdir()
    load = load_index(store.root)
    assert load.written and len(load.entries) == 3
    assert len(json.loads((store.root / INDEX_NAME).read_text())["entries"]) == 3


def test_a_store_that_cannot_take_the_cache_still_lists(store: RecordStore) -> None:
    # Something in the cache's place that cannot be replaced (tests run as root, so a chmod would not stop it).
    (store.root / INDEX_NAME).mkdir()
    (store.root / INDEX_NAME / "x").write_text("")
    load = load_index(store.root)
    assert len(load.entries) == 4 and not load.written
    assert load.cache_error and INDEX_NAME in load.cache_error
    assert not list(store.root.glob(".index.*.tmp"))  # the temporary file went with the failure


def test_a_missing_root_is_an_empty_list(tmp_path: Path) -> None:
    assert load_index(tmp_path / "nowhere").entries == []


# -- query and sort --------------------------------------------------------------------------------------------


def test_query_parsing() -> None:
    q = parse_query("web  risk:high,Critical outcome:rolled-back since:2026-11 until:2026-11-30 op:alice")
    assert q.words == ["web"]
    assert q.columns == {"risk": ["high", "critical"], "outcome": ["rolled_back"], "operator": ["alice"]}
    assert (q.since, q.until) == ("2026-11", "2026-11-30")
    for bad, message in (("colour:red", "unknown filter 'colour'"), ("risk:", "needs a value"),
                         ("since:yesterday", "dates are YYYY")):
        with pytest.raises(QueryError, match=message):
            parse_query(bad)


def test_filters_and_sorts(store: RecordStore) -> None:
    rows = load_index(store.root).entries

    def ids(text: str) -> list[str]:
        return [e.change_id[-4:] for e in filter_entries(rows, parse_query(text))]

    assert ids("component:web") == ["0001", "0004"]
    assert ids("outcome:in-progress") == ["0003"]
    assert ids("risk:medium,low env:staging") == ["0004"]
    assert ids("since:2026-11-10 until:2026-11-22") == ["0002", "0003"]
    assert ids("until:2026-11") == ["0001", "0002", "0003", "0004"]  # a month prefix covers the month
    assert ids("BOB") == ["0002"]
    assert ids("integrity:ok") == ["0001", "0002", "0003", "0004"]
    assert [e.change_id[-4:] for e in sort_entries(rows, "duration", reverse=True)] == ["0001", "0002", "0003", "0004"]
    assert [e.change_id[-4:] for e in sort_entries(rows, "risk")] == ["0004", "0001", "0002", "0003"]
    assert [e.change_id[-4:] for e in sort_entries(rows, "outcome")] == ["0003", "0002", "0001", "0004"]
    with pytest.raises(QueryError):
        sort_entries(rows, "colour")


def test_unknown_durations_stay_last_in_both_orders() -> None:
    rows = [IndexEntry("CHG-2026-0001", "a", "2026-01-01", duration_s=None),
            IndexEntry("CHG-2026-0002", "b", "2026-01-01", duration_s=5.0),
            IndexEntry("CHG-2026-0003", "c", "2026-01-01", duration_s=9.0)]
    assert [e.duration_s for e in sort_entries(rows, "duration")] == [5.0, 9.0, None]
    assert [e.duration_s for e in sort_entries(rows, "duration", reverse=True)] == [9.0, 5.0, None]
