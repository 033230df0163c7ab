"""The fast read of intact lines (``verify._fast_event``, ``verify._intact_prefix``) gives exactly what the full
path gives: the same events for every line the writer writes, and the same verdicts on any edited journal."""

from __future__ import annotations

import gc
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.journal import verify as verify_module
from console.journal.chain import GENESIS, Event, _encode, canonical, event_hash, utc_ts
from console.journal.journal import Journal, read_and_verify, read_events, scan, verify
from tests.support.journal_reads import fast_reads_off

STARTED = datetime(2026, 11, 21, 23, 20, 55, tzinfo=UTC)
CAST = b'{"version": 2}\n'
OUTPUTS = ("outputs/001-get.cast", "outputs/002-missing.cast")  # the second is never written: a file problem

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)




def _full_path_only(raw: bytes) -> Any:
    """What ``scan`` says with the fast reads switched off."""
    with fast_reads_off():
        return scan(raw)


def _full_path_verify(path: Path, head: str | None = None) -> Any:
    """What ``verify`` says with the fast reads switched off."""
    with fast_reads_off():
        return verify(path, head=head)


def _same(a: Any, b: Any) -> None:
    assert a.events == b.events
    assert a.problems == b.problems
    assert a.warnings == b.warnings
    assert a.parsed == b.parsed
    assert (a.torn_raw, a.tail_event) == (b.torn_raw, b.tail_event)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(st.text(max_size=10), _json_values, max_size=6), seq=st.integers(1, 10**12),
       type_=st.text(min_size=1, max_size=20))
def test_every_line_the_writer_writes_reads_as_the_full_path_reads_it(data: dict[str, Any], seq: int, type_: str) -> None:
    stored = json.loads(canonical(data))
    _digest, line = _encode(seq, utc_ts(STARTED), type_, canonical(data), GENESIS)
    event, reason = verify_module._parse_line(line[:-1])
    assert reason is None and event is not None
    fast = verify_module._fast_event(line[:-1])
    if fast is None:
        # Only a type that needs escaping leaves the fast read; everything else the writer writes takes it.
        assert canonical(type_) != b'"' + type_.encode() + b'"'
        return
    assert fast == (event, event.hash)
    assert fast[0].data == stored


def _journal(tmp: Path) -> bytes:
    ticks = iter(range(10_000))
    path = tmp / "journal.jsonl"
    journal = Journal.create(path, clock=lambda: STARTED + timedelta(seconds=next(ticks)))
    journal.append("change.created", {"change_id": "CHG-1", "operator": "Zoë", "note": "tab\there \"quoted\" ✓"})
    for n in range(6):
        journal.append("step.finished", {"step_id": f"s{n}", "duration_s": 1.5 + n, "exit_code": 0, "argv": ["kubectl", "get"],
                                         "file": {"path": OUTPUTS[n % 2], "sha256": hashlib.sha256(CAST).hexdigest()}})
    journal.append("journal.newline_restored", {"line": 3, "seq": 3})
    journal.append("note.added", {"text": "x" * 40, "author": "ops", "big": 10**25, "tiny": 1e-07})
    journal.append("change.closed", {"outcome": "success"})
    journal.append("addendum.added", {"author": "ops", "kind": "correction", "text": "later", "refers_to": 2})
    journal.close()
    return path.read_bytes()


@pytest.fixture(scope="module")
def intact(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _journal(tmp_path_factory.mktemp("fast"))


def test_an_intact_journal_reads_the_same_and_mostly_by_the_fast_read(intact: bytes) -> None:
    fast = scan(intact)
    _same(fast, _full_path_only(intact))
    assert not fast.problems and len(fast.events) == intact.count(b"\n")
    out = verify_module._Scan([], [], [], [], None)
    lines = intact.split(b"\n")[:-1]
    # The prefix stops at the restored-newline event (the full loop keeps its warning); the rest is still right.
    assert verify_module._intact_prefix(intact, lines, True, out) == 7


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("edited")
    (base / "outputs").mkdir()
    (base / OUTPUTS[0]).write_bytes(CAST)
    return base / "journal.jsonl"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(how=st.sampled_from(["flip", "delete", "insert", "truncate"]), where=st.integers(0, 10**6),
       byte=st.integers(0, 255))
def test_every_edit_gets_the_full_paths_verdict(
    intact: bytes, edited: Path, how: str, where: int, byte: int
) -> None:
    at = where % len(intact)
    if how == "flip":
        raw = intact[:at] + bytes([intact[at] ^ (byte or 1)]) + intact[at + 1 :]
    elif how == "delete":
        raw = intact[:at] + intact[at + 1 :]
    elif how == "insert":
        raw = intact[:at] + bytes([byte]) + intact[at:]
    else:
        raw = intact[:at]
    fast = scan(raw)
    _same(fast, _full_path_only(raw))
    if how != "truncate" and raw != intact:
        assert fast.problems  # and an edit is still caught
    # One read and one scan for the reviewer: what read_events and verify say apart. And verify, which keeps no
    # events, says what the full path says, with and without a kept head (the intact journal's fifth event's).
    edited.write_bytes(raw)
    report = verify(edited)
    assert read_and_verify(edited) == (read_events(edited), report)
    assert report == _full_path_verify(edited)
    head = json.loads(intact.split(b"\n")[4])["hash"]
    assert verify(edited, head=head) == _full_path_verify(edited, head) == read_and_verify(edited, head=head)[1]


def test_a_recorded_torn_tail_is_left_to_the_full_path(tmp_path: Path) -> None:
    intact = _journal(tmp_path)
    lines = intact.split(b"\n")
    path = tmp_path / "torn.jsonl"
    path.write_bytes(b"\n".join(lines[:4]) + b"\n" + lines[4][:30])
    journal = Journal.recover_torn_tail(path)
    journal.append("note.added", {"text": "after", "author": "ops"})
    journal.close()
    raw = path.read_bytes()
    _same(scan(raw), _full_path_only(raw))
    assert scan(raw).warnings and not scan(raw).problems


def test_scanning_pauses_the_collector_and_restores_it() -> None:
    raw = b'{"data":{},"hash":"x"}\n'
    assert gc.isenabled()
    scan(raw)
    assert gc.isenabled()
    gc.disable()
    try:
        scan(raw)
        assert not gc.isenabled()
    finally:
        gc.enable()


def _line(seq: int, ts: str, type_: str, data: dict[str, Any], prev: str) -> bytes:
    return Event(seq, ts, type_, data, prev, event_hash(seq, ts, type_, data, prev)).to_line()


_FIRST = _line(1, "2026-11-21T23:20:55.000000Z", "change.created", {"change_id": "CHG-1"}, GENESIS)
_PREV = json.loads(_FIRST)["hash"]
_TS = "2026-11-21T23:20:56.000000Z"


@pytest.mark.parametrize("second", [
    _line(2, _TS, "note.added", {"text": "plain"}, _PREV),  # the common shape
    _line(2, _TS, "note.ajouté", {"text": "é"}, _PREV),  # a type in UTF-8, needing no escape
    _line(2, _TS, 'note."quoted"', {}, _PREV),  # a type with escaped quotes: more pieces than the shape
    _line(2, _TS, "note\tadded", {}, _PREV),  # a type with an escaped control character
    _line(2, "2026-11-21\\T23", "note.added", {}, _PREV),  # a ts with an escaped backslash
    _line(2, "", "note.added", {}, _PREV),  # any string is a ts to the chain
    _line(2, _TS, "note.added", {"inner": {"hash": "0" * 64, "prev": _PREV, "seq": 9}}, _PREV),  # a hash field in data
    _line(2, _TS, "note.added", {"text": ',"hash":"' + "1" * 64 + '"}'}, _PREV),  # and in a string
    _line(2, _TS, "note.added", {}, _PREV.upper()),  # a prev in capitals: canonical, but not the chain's
    _line(0, _TS, "note.added", {}, _PREV),  # seq 0, and a negative one
    _line(-2, _TS, "note.added", {}, _PREV),
    _line(10**19, _TS, "note.added", {}, _PREV),  # longer than the shape's 18 digits
    _line(2, _TS, "note.added", {}, _PREV).replace(b'"seq":2', b'"seq":02'),  # not canonical
    _line(2, _TS, "note.added", {}, _PREV).replace(b'"seq":2', b'"seq":2.0'),
    _line(2, _TS, "note.added", {}, _PREV).replace(b'"hash":"', b'"hash":"a', 1),  # a hash of 65 characters
    re.sub(rb'"hash":"([0-9a-f]+)"', lambda m: b'"hash":"' + m[1].upper() + b'"', _line(2, _TS, "note.added", {}, _PREV)),
    _line(2, _TS, "note.added", {}, _PREV)[:-2] + b' }\n',  # a space before the end
    _line(2, _TS, "note.added", {}, _PREV)[:-1] + b'{}\n',  # bytes after the event
])
def test_unusual_tails_get_the_full_paths_verdict(tmp_path: Path, second: bytes) -> None:
    raw = _FIRST + second
    _same(scan(raw), _full_path_only(raw))
    path = tmp_path / "journal.jsonl"
    path.write_bytes(raw)
    assert verify(path) == _full_path_verify(path) == read_and_verify(path)[1]
