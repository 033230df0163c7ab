"""The journal's last bytes: what verify says about each way they can differ, and what recovery may do about it.

A write cut short by a crash leaves the start of an event line (possibly zero-filled); recovery sets that aside
and records it. Anything else at the tail is an altered record: verify names the line and recovery refuses. A
complete, chain-consistent event is never set aside, and once ``change.closed`` is in the chain nothing but
addenda follows it: no recovery, no second close.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.journal import events as ev
from console.journal.chain import ADDENDUM_ADDED, CHANGE_CLOSED, NEWLINE_RESTORED
from console.journal.journal import (
    GENESIS,
    Event,
    Journal,
    JournalCorruptError,
    JournalError,
    MissingNewlineError,
    TornTailError,
    event_hash,
    read_events,
    utc_ts,
    verify,
)
from console.review.summary import summarise

START = datetime(2026, 11, 21, 23, 20, 55, tzinfo=UTC)


def ticking() -> Callable[[], datetime]:
    ticks = iter(range(1, 10_000))
    return lambda: START + timedelta(seconds=next(ticks))


def write(path: Path, *, closed: bool, addenda: int = 0) -> bytes:
    """A change's journal as the engine writes it: created, a step, and (if ``closed``) change.closed, then addenda."""
    with Journal.create(path, clock=ticking()) as j:
        j.append(ev.CHANGE_CREATED, {"change_id": "CHG-2026-0001", "operator": "Zoë"})
        j.append(ev.STEP_STARTED, {"section": "step", "step_id": "restart"})
        j.append(ev.STEP_FINISHED, {"section": "step", "step_id": "restart", "status": "passed", "exit_code": 0})
        if closed:
            j.append(ev.CHANGE_CLOSED, {"outcome": "success", "followups": [], "signoff": {"name": "Zoë", "role": "operator"}})
        for n in range(addenda):
            j.append(ev.ADDENDUM_ADDED, {"author": "bob", "kind": "correction", "text": f"note {n}", "refers_to": 2})
    return path.read_bytes()


def lines_of(raw: bytes) -> list[bytes]:
    return raw.splitlines(keepends=True)


def forged_line(seq: int, type_: str, data: dict, prev: str) -> bytes:
    """A chain-consistent line appended by something other than ``Journal`` (a forger, or old code)."""
    ts = utc_ts(START + timedelta(hours=1, seconds=seq))
    return Event(seq, ts, type_, data, prev, event_hash(seq, ts, type_, data, prev)).to_line()


def test_vocabulary_agrees_with_events_module() -> None:
    assert (CHANGE_CLOSED, ADDENDUM_ADDED, NEWLINE_RESTORED) == (ev.CHANGE_CLOSED, ev.ADDENDUM_ADDED, ev.NEWLINE_RESTORED)


# -- a closed change: every changed tail byte is an altered record, never a recoverable one -------------------

BOM = b"\xef\xbb\xbf"

# (id, edit of the closed journal's bytes, line of the first problem (0-based offset from the last line), reason)
CLOSED_TAIL_EDITS: list[tuple[str, Callable[[bytes], bytes], int, str]] = [
    ("final newline removed", lambda r: r[:-1], 0,
     ("a complete change.closed event with no final newline in a change closed on this line; "
     "a closed change takes only addenda, so it is not recovered in place (restore the journal from a copy)")),
    ("final newline made \\r\\n", lambda r: r[:-1] + b"\r\n", 0,
     "not in canonical form: it ends with a carriage return (a \\r\\n line ending)"),
    ("final newline made a space", lambda r: r[:-1] + b" ", 0,
     "not in canonical form: 1 byte(s) of whitespace after the event, with no final newline"),
    ("trailing spaces", lambda r: r[:-1] + b"  \n", 0, "not in canonical form: 2 byte(s) of whitespace after the event"),
    ("final newline flipped to another byte", lambda r: r[:-1] + b"x", 0,
     "not valid JSON: 1 byte(s) after the end of the event, with no final newline"),
    ("one byte appended", lambda r: r + b"x", 1,
     "not valid JSON (Expecting value at column 1), with no final newline"),
    ("one blank line appended", lambda r: r + b"\n", 1, "a blank line (an extra newline where an event should be)"),
    ("two blank lines appended", lambda r: r + b"\n\n", 1, "a blank line (an extra newline where an event should be)"),
    ("last line duplicated", lambda r: r + lines_of(r)[-1], 1, "repeats line 4 (the same event twice)"),
    ("last line duplicated without its newline", lambda r: r + lines_of(r)[-1][:-1], 1,
     "repeats line 4 (the same event twice), with no final newline"),
    ("complete JSON that is no event", lambda r: r + b'{"seq":5}', 1, "missing field 'data', with no final newline"),
    ("torn line after change.closed", lambda r: r + b'{"data":{"author":"bo', 1,
     ("a torn write after the change was closed on line 4; "
     "a closed change takes only addenda, so it is not recovered in place (restore the journal from a copy)")),
    ("zero-filled line after change.closed", lambda r: r + b"\0" * 40, 1,
     ("a torn write after the change was closed on line 4; "
     "a closed change takes only addenda, so it is not recovered in place (restore the journal from a copy)")),
    ("an opening brace appended", lambda r: r + b"{", 1,
     ("a torn write after the change was closed on line 4; "
     "a closed change takes only addenda, so it is not recovered in place (restore the journal from a copy)")),
]


@pytest.mark.parametrize("edit, offset, reason", [c[1:] for c in CLOSED_TAIL_EDITS], ids=[c[0] for c in CLOSED_TAIL_EDITS])
def test_a_changed_tail_of_a_closed_journal_fails_and_is_not_recovered(
    tmp_path: Path, edit: Callable[[bytes], bytes], offset: int, reason: str
) -> None:
    p = tmp_path / "journal.jsonl"
    original = write(p, closed=True)
    p.write_bytes(edit(original))
    tampered = p.read_bytes()

    report = verify(p)
    assert not report.ok
    first = report.first
    assert first is not None
    assert (first.line, first.reason) == (4 + offset, reason)
    assert first.kind not in ("torn", "newline")  # nothing here is the recoverable kind
    with pytest.raises(JournalError) as opened:
        Journal.open(p)
    assert not isinstance(opened.value, TornTailError)
    assert str(opened.value) == f"{p}: line {4 + offset}: {reason}"
    with pytest.raises(JournalCorruptError) as recovering:
        Journal.recover_torn_tail(p)
    assert recovering.value.line == 4 + offset and "\n" not in str(recovering.value)
    assert p.read_bytes() == tampered  # refusing writes nothing
    # The reviewer reads up to the first bad line: the close-out is shown when its own line is whole.
    whole = offset == 1 or "event with no final newline" in reason
    assert summarise(read_events(p).events).outcome == ("success" if whole else None)


def test_a_byte_order_mark_names_line_1(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    p.write_bytes(BOM + write(p, closed=True))
    report = verify(p)
    assert not report.ok
    assert (report.problems[0].line, report.problems[0].reason) == (
        1, "starts with a UTF-8 byte order mark (the file was re-saved by an editor)")
    with pytest.raises(JournalCorruptError):
        Journal.recover_torn_tail(p)


def test_a_one_line_journal_with_a_byte_order_mark_is_not_a_torn_tail(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    with Journal.create(p, clock=ticking()) as j:
        j.append(ev.CHANGE_CREATED, {"change_id": "CHG-2026-0001"})
    p.write_bytes(BOM + p.read_bytes())
    with pytest.raises(JournalCorruptError) as info:
        Journal.open(p)
    assert info.value.reason == "starts with a UTF-8 byte order mark (the file was re-saved by an editor)"


def test_an_empty_journal_does_not_verify(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    Journal.create(p).close()
    report = verify(p)
    assert not report.ok and report.events == 0
    assert str(report.first) == "the journal is empty: it holds no events, not even the change's first"
    # Opening it stays possible: it is what a crash between creating the file and the first append leaves.
    assert Journal.open(p).events == []


def test_a_closed_journal_takes_only_addenda(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    write(p, closed=True)
    j = Journal.open(p)
    for type_ in (ev.STEP_STARTED, ev.CHANGE_CLOSED, ev.TORN_TAIL):
        with pytest.raises(JournalError) as info:
            j.append(type_, {})
        assert str(info.value) == f"{p}: the change was closed (event 4); only addenda may follow it, not {type_}"
    assert j.append(ev.ADDENDUM_ADDED, {"author": "bob", "kind": "correction", "text": "x", "refers_to": None}).seq == 5
    j.close()
    assert verify(p).ok


def test_verify_flags_an_event_after_change_closed_that_is_no_addendum(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    raw = write(p, closed=True, addenda=1)
    last = Journal.open(p).events[-1]
    p.write_bytes(raw + forged_line(6, ev.STEP_STARTED, {"step_id": "again"}, last.hash))
    report = verify(p)
    assert not report.ok
    assert (report.first.line, report.first.kind, report.first.reason) == (  # type: ignore[union-attr]
        6, "chain", "a step.started event after the change was closed on line 4: only addenda may follow a closed change")


def test_a_closed_journal_with_a_torn_addendum_is_not_recovered(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    raw = write(p, closed=True, addenda=1)
    p.write_bytes(raw + b'{"data":{"author":"bob","kind":"follow-up","te')
    with pytest.raises(JournalCorruptError) as info:
        Journal.open(p)
    assert info.value.line == 6 and "closed on line 4" in info.value.reason
    with pytest.raises(JournalCorruptError):
        Journal.recover_torn_tail(p)


# -- an open change: a cut-short write is recovered; a complete event keeps its place ---------------------------


def test_every_cut_inside_the_last_line_of_an_open_change_is_a_torn_tail(tmp_path: Path) -> None:
    """A crash can cut the last write at any byte; each prefix is set aside and recorded, nothing before it lost."""
    p = tmp_path / "journal.jsonl"
    original = write(p, closed=False)
    *kept, last = lines_of(original)
    good = b"".join(kept)
    for cut in range(1, len(last) - 1):  # every proper prefix (the complete line minus its newline comes next)
        for zeros in (0, len(last) - cut):  # as written, and with the rest of the line zero-filled
            torn = last[:cut] + b"\0" * zeros
            p.write_bytes(good + torn)
            with pytest.raises(TornTailError) as info:
                Journal.open(p)
            assert not isinstance(info.value, MissingNewlineError)
            assert (info.value.line, info.value.raw) == (3, torn), cut
            j = Journal.recover_torn_tail(p, clock=ticking())
            j.close()
            events = j.events
            assert [e.type for e in events] == [ev.CHANGE_CREATED, ev.STEP_STARTED, ev.TORN_TAIL]
            assert events[-1].data["sha256"] == hashlib.sha256(torn).hexdigest()
            assert base64.b64decode(events[-1].data["bytes_b64"]) == torn
            assert p.read_bytes().startswith(good + torn + b"\n")
            assert verify(p).ok, cut


def test_a_zero_filled_terminated_last_line_is_torn(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    original = write(p, closed=False)
    p.write_bytes(original + b'{"data":{"st' + b"\0" * 30 + b"\n")
    with pytest.raises(TornTailError):
        Journal.open(p)


def test_a_complete_last_event_missing_its_newline_keeps_its_place(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    original = write(p, closed=False)
    p.write_bytes(original[:-1])
    report = verify(p)
    assert not report.ok
    assert report.events == 3  # the complete event counts, and the chain's head is its hash
    assert (report.first.line, report.first.kind, report.first.reason) == (  # type: ignore[union-attr]
        3, "newline", "a complete event with no final newline (the file's last byte was removed, or a write was cut one byte short)")
    assert [e.seq for e in read_events(p).events] == [1, 2, 3]
    with pytest.raises(MissingNewlineError) as info:
        Journal.open(p)
    assert info.value.line == 3
    assert p.read_bytes() == original[:-1]  # detecting never writes

    j = Journal.recover_torn_tail(p, clock=ticking())
    events = j.events
    assert [e.type for e in events] == [ev.CHANGE_CREATED, ev.STEP_STARTED, ev.STEP_FINISHED, NEWLINE_RESTORED]
    assert events[-1].data == {"line": 3, "seq": 3} and events[-1].prev == events[2].hash
    j.append(ev.NOTE_ADDED, {"text": "carry on"})
    j.close()
    raw = p.read_bytes()
    assert raw.startswith(original)  # every byte kept, the newline back where the writer put it
    assert lines_of(raw)[3] == events[-1].to_line()
    report = verify(p)
    assert report.ok, report.problems
    assert report.warnings == [
        "line 3: its final newline was missing; restored and recorded by the journal.newline_restored event on line 4"]


def test_a_complete_event_missing_its_newline_whose_chain_is_wrong_is_not_recovered(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    original = write(p, closed=False)
    # A line that parses and hashes but does not follow the chain: a splice, not a cut-short write.
    p.write_bytes(original + forged_line(9, ev.NOTE_ADDED, {"text": "x"}, GENESIS)[:-1])
    report = verify(p)
    assert (report.first.line, report.first.reason) == (4, "seq is 9, expected 4, with no final newline")  # type: ignore[union-attr]
    with pytest.raises(JournalCorruptError):
        Journal.recover_torn_tail(p)


def test_a_recovery_writes_its_marker_in_one_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The newline and the marker go down together, so no crash leaves the torn line terminated without its marker."""
    from console.journal import journal as jmod

    p = tmp_path / "journal.jsonl"
    original = write(p, closed=False)
    p.write_bytes(original + b'{"data":{"se')
    writes: list[bytes] = []
    real_write = jmod.os.write

    def recording_write(fd: int, buf: bytes) -> int:
        writes.append(bytes(buf))
        return real_write(fd, buf)

    monkeypatch.setattr(jmod.os, "write", recording_write)
    Journal.recover_torn_tail(p, clock=ticking()).close()
    assert len(writes) == 1 and writes[0].startswith(b"\n{") and writes[0].endswith(b"\n")


# -- what an older recovery left behind --------------------------------------------------------------------------


def test_verify_flags_a_complete_event_an_older_recovery_set_aside(tmp_path: Path) -> None:
    """Records recovered before this rule: the change.closed line set aside as torn, and the change closed again."""
    p = tmp_path / "journal.jsonl"
    original = write(p, closed=True)
    events = Journal.open(p).events
    closed = lines_of(original)[-1]
    torn = closed[:-1]
    marker = forged_line(4, ev.TORN_TAIL, {"line": 4, "sha256": hashlib.sha256(torn).hexdigest(),
                                            "bytes_b64": base64.b64encode(torn).decode(), "length": len(torn)},
                         events[2].hash)
    again = forged_line(5, ev.CHANGE_CLOSED, {"outcome": "success"}, Event(**json.loads(marker)).hash)
    p.write_bytes(original + marker + again)
    report = verify(p)
    assert not report.ok
    assert (report.first.line, report.first.kind, report.first.reason) == (  # type: ignore[union-attr]
        4, "chain", ("a complete, valid change.closed event that the journal.torn_tail event on line 5 set aside as torn, "
                    "which reopened a closed change"))


# -- the limit: a cut inside the close-out line looks like a crash during close-out -----------------------------


def test_a_cut_inside_the_close_out_line_is_caught_by_the_head_kept_at_close_out(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    original = write(p, closed=True)
    kept_head = Journal.open(p).head
    p.write_bytes(original[: len(original) - 40])  # indistinguishable from a power cut while writing change.closed
    assert verify(p).first.kind == "torn"  # type: ignore[union-attr]
    Journal.recover_torn_tail(p, clock=ticking()).close()
    report = verify(p, head=kept_head)
    assert not report.ok and report.problems[-1].reason.startswith("chain ends at ")
