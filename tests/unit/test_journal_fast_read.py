"""The fast read of intact lines (``verify._fast_event``, ``verify._intact_prefix``) gives exactly what the full
path gives: the same events for every line the writer writes, and the same verdicts on any edited journal."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.journal import verify as verify_module
from console.journal.chain import GENESIS, _encode, canonical, utc_ts
from console.journal.journal import Journal, read_and_verify, read_events, scan, verify

STARTED = datetime(2026, 11, 21, 23, 20, 55, tzinfo=UTC)

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _full_path_only(raw: bytes) -> Any:
    """What ``scan`` says with the fast read switched off: every line through ``_parse_line``."""
    saved = verify_module._fast_event
    verify_module._fast_event = lambda b: None  # type: ignore[assignment]
    try:
        return scan(raw)
    finally:
        verify_module._fast_event = saved


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
        journal.append("step.finished", {"step_id": f"s{n}", "duration_s": 1.5 + n, "exit_code": 0, "argv": ["kubectl", "get"]})
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
    return tmp_path_factory.mktemp("edited") / "journal.jsonl"


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
    # One read and one scan for the reviewer: what read_events and verify say apart.
    edited.write_bytes(raw)
    assert read_and_verify(edited) == (read_events(edited), verify(edited))


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
