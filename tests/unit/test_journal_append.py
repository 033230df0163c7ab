"""One event appended: its timestamp from the system clock, and what a failed write leaves."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.journal import journal as jmod
from console.journal.chain import CHANGE_CLOSED, now_ts, utc_ts, utc_ts_ns
from console.journal.journal import Journal, JournalError, read_events, verify

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
YEAR_9999 = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1) * 1000


@given(ns=st.integers(0, YEAR_9999), later_ns=st.integers(0, 3 * 10**9))
def test_the_nanosecond_timestamp_is_utc_ts_of_the_same_instant(ns: int, later_ns: int) -> None:
    # Cut to the microsecond, as datetime.now cuts the system clock; the second call may reuse the first's second.
    for at in (ns, ns + later_ns):
        assert utc_ts_ns(at) == utc_ts(EPOCH + timedelta(microseconds=at // 1000))


def test_the_nanosecond_timestamp_at_second_boundaries() -> None:
    second = 1_795_000_000 * 10**9
    for at in (second - 1, second, second + 999, second + 10**9 - 1, second - 1):
        assert utc_ts_ns(at) == utc_ts(EPOCH + timedelta(microseconds=at // 1000))


def test_an_event_appended_with_the_system_clock_is_stamped_now(tmp_path: Path) -> None:
    with Journal.create(tmp_path / "journal.jsonl") as journal:
        before = utc_ts(datetime.now(UTC))
        event = journal.append("note.added", {"text": "x"})
        after = now_ts()
    assert before <= event.ts <= after


def test_a_failed_fsync_keeps_no_event_and_refuses_further_appends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal.create(path)
    first = journal.append("note.added", {"text": "kept"})

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(jmod.os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        journal.append("note.added", {"text": "lost"})
    monkeypatch.undo()
    assert journal.events == [first] and journal.head == first.hash
    with pytest.raises(JournalError, match="an earlier write failed"):
        journal.append("note.added", {"text": "after"})
    journal.close()


def test_a_refused_event_changes_nothing_and_the_next_one_chains_on(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal.create(path) as journal:
        first = journal.append("note.added", {"n": 1})
        with pytest.raises(ValueError):
            journal.append("", {"n": 2})
        with pytest.raises(TypeError):
            journal.append("note.added", {"n": object()})
        second = journal.append("note.added", {"n": 2})
    assert (second.seq, second.prev) == (2, first.hash)
    assert read_events(path).events == [first, second] and verify(path).ok


def test_appending_change_closed_closes_the_journal_to_all_but_addenda(tmp_path: Path) -> None:
    with Journal.create(tmp_path / "journal.jsonl") as journal:
        journal.append(CHANGE_CLOSED, {"outcome": "success"})
        with pytest.raises(JournalError, match="only addenda may follow it"):
            journal.append("step.started", {})


def test_each_append_is_one_write_and_one_fsync_of_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a bare write+fsync loop does, and nothing more: no flush of another file, no directory sync, no stat."""
    path = tmp_path / "journal.jsonl"
    journal = Journal.create(path)
    calls: list[tuple[str, int, int]] = []
    real_write, real_fsync = os.write, os.fsync

    def write(fd: int, buf: bytes) -> int:
        calls.append(("write", fd, len(buf)))
        return real_write(fd, buf)

    def fsync(fd: int) -> None:
        calls.append(("fsync", fd, 0))
        real_fsync(fd)

    monkeypatch.setattr(jmod.os, "write", write)
    monkeypatch.setattr(jmod.os, "fsync", fsync)
    events = [journal.append("note.added", {"n": n}) for n in range(3)]
    monkeypatch.undo()
    fd = calls[0][1]
    assert calls == [c for e in events for c in (("write", fd, len(e.to_line())), ("fsync", fd, 0))]
    journal.close()
