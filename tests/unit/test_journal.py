"""The journal: append, reopen, verify, torn tails, file references, head checks."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from console.journal import journal as jmod
from console.journal.journal import (
    GENESIS,
    Journal,
    JournalCorruptError,
    JournalError,
    JournalExistsError,
    TornTailError,
    canonical,
    read_events,
    utc_ts,
    verify,
)


class FakeClock:
    """A clock that advances one millisecond per reading, from a fixed start."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 23, 20, 55, 123456, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def make(path: Path, n: int = 5) -> Journal:
    j = Journal.create(path, clock=FakeClock())
    for i in range(n):
        j.append("step.started", {"step": f"s{i}", "n": i})
    return j


def test_utc_ts_format() -> None:
    dt = datetime(2026, 11, 21, 23, 20, 55, 123456, tzinfo=UTC)
    assert utc_ts(dt) == "2026-11-21T23:20:55.123456Z"
    assert utc_ts(dt.replace(microsecond=0)) == "2026-11-21T23:20:55.000000Z"
    plus_two = timezone(timedelta(hours=2))
    assert utc_ts(datetime(2026, 11, 22, 1, 20, 55, 5, tzinfo=plus_two)) == "2026-11-21T23:20:55.000005Z"
    with pytest.raises(ValueError):
        utc_ts(datetime(2026, 11, 21))


def test_append_reopen_verify(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    j = make(p)
    events = j.events
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev == GENESIS
    assert all(b.prev == a.hash for a, b in itertools.pairwise(events))
    assert j.head == events[-1].hash
    first_ts = events[0].ts
    assert first_ts == "2026-11-21T23:20:55.124456Z"
    j.close()

    raw = p.read_bytes()
    assert raw == b"".join(e.to_line() for e in events)
    line = json.loads(raw.splitlines()[0])
    assert set(line) == {"seq", "ts", "type", "data", "prev", "hash"}
    body = {k: line[k] for k in ("seq", "ts", "type", "data", "prev")}
    assert line["hash"] == hashlib.sha256(canonical(body)).hexdigest()

    again = Journal.open(p)
    assert again.events == events and again.head == events[-1].hash
    e6 = again.append("step.finished", {"ok": True})
    assert e6.seq == 6 and e6.prev == events[-1].hash
    again.close()

    report = verify(p)
    assert report.ok, report.problems
    assert report.events == 6 and report.head == e6.hash and report.warnings == []
    assert verify(p, head=e6.hash).ok


def test_empty_journal(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    Journal.create(p).close()
    j = Journal.open(p)  # a crash between create and the first append leaves this; it opens to take that append
    assert j.events == [] and j.head == GENESIS
    report = verify(p)  # but as a record it holds nothing, which verify does not call intact
    assert not report.ok and report.events == 0 and report.head == GENESIS
    assert report.first is not None and report.first.line == 0 and report.first.reason.startswith("the journal is empty")


def test_each_append_is_fsynced_before_it_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "journal.jsonl"
    j = Journal.create(p)
    calls: list[tuple[int, int]] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        # Record how much of the file was written when fsync ran: the whole new line must be there.
        calls.append((fd, os.fstat(fd).st_size))
        real_fsync(fd)

    monkeypatch.setattr(jmod.os, "fsync", counting_fsync)
    for i in range(3):
        before = len(calls)
        event = j.append("x", {"i": i})
        assert len(calls) == before + 1
        assert calls[-1][1] == p.stat().st_size
        assert p.read_bytes().endswith(event.to_line())


def test_create_refuses_existing_file(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    p.write_bytes(b"")
    with pytest.raises(JournalExistsError):
        Journal.create(p)


@pytest.mark.parametrize(
    "data, exc",
    [({"x": object()}, TypeError), ({"x": float("nan")}, ValueError), ({"x": "\ud800"}, ValueError), (["no"], TypeError)],
)
def test_bad_data_writes_nothing(tmp_path: Path, data: object, exc: type[Exception]) -> None:
    p = tmp_path / "journal.jsonl"
    j = make(p, 2)
    size = p.stat().st_size
    with pytest.raises(exc):
        j.append("x", data)  # type: ignore[arg-type]
    assert p.stat().st_size == size
    assert len(j.events) == 2
    assert j.append("x", {"fine": 1}).seq == 3


def test_data_is_stored_as_its_json_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    j = Journal.create(p)
    given = {"argv": ("kubectl", "get"), "exit": {3: "three"}}
    event = j.append("x", given)
    assert event.data == {"argv": ["kubectl", "get"], "exit": {"3": "three"}}
    given["argv"] = ("changed",)  # the journal keeps its own copy
    j.close()
    assert Journal.open(p).events[0] == event


def test_append_after_close_raises(tmp_path: Path) -> None:
    j = make(tmp_path / "journal.jsonl", 1)
    j.close()
    j.close()  # idempotent
    with pytest.raises(JournalError):
        j.append("x", {})


def test_concurrent_appends_keep_one_chain(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    j = Journal.create(p)

    def worker(k: int) -> None:
        for i in range(25):
            j.append("t", {"thread": k, "i": i})

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    j.close()
    report = verify(p)
    assert report.ok, report.problems
    assert report.events == 100
    seen = {(e.data["thread"], e.data["i"]) for e in Journal.open(p).events}
    assert len(seen) == 100


# -- damage ---------------------------------------------------------------------------------------------------


def test_torn_tail_detected_reported_and_recovered(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    j = make(p, 4)
    head = j.head
    j.close()
    torn = b'{"data":{"step":"s4","n":4},"hash":"9f'  # a write cut short by a power cut
    with open(p, "ab") as f:
        f.write(torn)
    before = p.read_bytes()

    with pytest.raises(TornTailError) as info:
        Journal.open(p)
    assert info.value.line == 5 and info.value.raw == torn
    assert p.read_bytes() == before  # detecting never rewrites

    report = verify(p)
    assert not report.ok
    assert report.problems[0].kind == "torn" and report.problems[0].line == 5
    assert report.events == 4 and report.head == head
    tolerant = read_events(p)
    assert len(tolerant.events) == 4 and tolerant.problem is not None and tolerant.problem.kind == "torn"

    recovered = Journal.recover_torn_tail(p, clock=FakeClock())
    marker = recovered.events[-1]
    assert marker.type == "journal.torn_tail" and marker.seq == 5 and marker.prev == head
    assert marker.data == {
        "line": 5,
        "sha256": hashlib.sha256(torn).hexdigest(),
        "bytes_b64": base64.b64encode(torn).decode(),
        "length": len(torn),
    }
    recovered.append("step.started", {"step": "again"})
    recovered.close()

    raw = p.read_bytes()
    assert raw.startswith(before + b"\n")  # the torn bytes are still there, untouched
    assert raw.splitlines()[4] == torn
    report = verify(p)
    assert report.ok, report.problems
    assert report.events == 6
    assert report.warnings and "line 5" in report.warnings[0]
    assert [e.seq for e in Journal.open(p).events] == [1, 2, 3, 4, 5, 6]


def test_torn_tail_of_garbage_ending_in_newline(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    make(p, 2).close()
    with open(p, "ab") as f:
        f.write(b"\0\0\0\0\n")  # a size update that reached the disk before the data did
    with pytest.raises(TornTailError) as info:
        Journal.open(p)
    assert info.value.line == 3
    j = Journal.recover_torn_tail(p)
    j.close()
    assert p.read_bytes().count(b"\n") == 4  # no extra newline added
    assert verify(p).ok


def test_recover_refuses_intact_or_corrupt_journals(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    make(p, 3).close()
    with pytest.raises(JournalError, match="no torn tail"):
        Journal.recover_torn_tail(p)
    lines = p.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"n":1', b'"n":7')
    p.write_bytes(b"".join(lines) + b"{")
    with pytest.raises(JournalCorruptError) as info:
        Journal.recover_torn_tail(p)
    assert info.value.line == 2


def test_torn_marker_must_quote_the_exact_bytes(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    make(p, 2).close()
    with open(p, "ab") as f:
        f.write(b'{"da')
    Journal.recover_torn_tail(p).close()
    raw = bytearray(p.read_bytes())
    raw[raw.index(b'{"da\n') + 2] ^= 0x01  # alter the torn line: the marker no longer vouches for it
    p.write_bytes(bytes(raw))
    report = verify(p)
    assert not report.ok
    assert report.problems[0].line == 3 and report.problems[0].kind == "corrupt"


@pytest.mark.parametrize(
    "edit, line, kind, reason",
    [
        (lambda ls: ls.__setitem__(2, ls[2].replace(b'"n":2', b'"n":3')), 3, "hash", "hash does not match its content"),
        (lambda ls: ls.__setitem__(2, ls[2].replace(b'"n":2', b'"n": 2')), 3, "corrupt", "not in canonical form"),
        (lambda ls: ls.__setitem__(1, ls[1].replace(b'"seq":2', b'"seq":7')), 2, "chain", "seq is 7, expected 2"),
        (lambda ls: ls.pop(1), 2, "chain", "seq is 3, expected 2"),
        (lambda ls: ls.insert(0, b"not json\n"), 1, "corrupt", "not valid JSON"),
        (lambda ls: ls.__setitem__(3, b"\n"), 4, "corrupt", "a blank line"),
        (lambda ls: ls.__setitem__(0, b"[1]\n"), 1, "corrupt", "not a JSON object"),
    ],
)
def test_first_problem_is_precise(tmp_path: Path, edit, line: int, kind: str, reason: str) -> None:
    p = tmp_path / "journal.jsonl"
    make(p, 5).close()
    lines = p.read_bytes().splitlines(keepends=True)
    edit(lines)
    p.write_bytes(b"".join(lines))
    report = verify(p)
    assert not report.ok
    first = report.problems[0]
    assert (first.line, first.kind) == (line, kind)
    assert first.reason.startswith(reason)
    assert str(first).startswith(f"line {line}: {reason}")
    with pytest.raises(JournalCorruptError) as info:
        Journal.open(p)
    assert info.value.line == line
    tolerant = read_events(p)
    assert len(tolerant.events) == line - 1 and tolerant.problem == first


def test_a_rewritten_chain_is_caught_only_by_head(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    j = make(p, 3)
    kept_head = j.head
    j.close()
    # Rewrite history end to end: every line stays self-consistent, so only the kept head can tell.
    events = Journal.open(p).events
    forged = Journal.create(tmp_path / "forged.jsonl", clock=FakeClock())
    for e in events:
        forged.append(e.type, {**e.data, "n": 99} if e.seq == 2 else e.data)
    forged.close()
    os.replace(tmp_path / "forged.jsonl", p)
    assert verify(p).ok
    report = verify(p, head=kept_head)
    assert not report.ok
    assert report.problems[-1].kind == "chain"
    assert report.problems[-1].reason == f"chain ends at {report.head}, expected {kept_head}"
    assert report.problems[-1].line == 3


def test_file_references_are_checked(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    (tmp_path / "outputs").mkdir()
    (tmp_path / "artifacts").mkdir()
    cast = tmp_path / "outputs" / "003-restart.cast"
    cast.write_bytes(b"output")
    backup = tmp_path / "artifacts" / "backup.yaml"
    backup.write_bytes(b"kind: List\n")
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    j = Journal.create(p)
    j.append("change.opened", {})
    j.append("command.finished", {"file": {"path": "outputs/003-restart.cast", "sha256": sha(b"output")}})
    j.append("artifact.saved", {"files": [{"path": "artifacts/backup.yaml", "sha256": sha(b"kind: List\n")}]})
    j.append("artifact.saved", {"files": [{"path": "artifacts/gone.yaml", "sha256": sha(b"")}]})
    j.append("sneaky", {"file": {"path": "../outside", "sha256": sha(b"")}})
    j.close()

    report = verify(p)
    assert [(q.line, q.kind, q.reason) for q in report.problems] == [
        (4, "file", "artifacts/gone.yaml is missing"),
        (5, "file", "../outside: path leaves the change directory"),
    ]
    cast.write_bytes(b"outpuT")
    report = verify(p)
    assert (report.problems[0].line, report.problems[0].reason) == (2, "outputs/003-restart.cast: SHA-256 differs from the journal")


def test_missing_journal(tmp_path: Path) -> None:
    report = verify(tmp_path / "journal.jsonl")
    assert not report.ok and report.problems[0].kind == "file"
    assert read_events(tmp_path / "journal.jsonl").problem is not None


def test_line_encoding_matches_the_definition_for_awkward_content(tmp_path: Path) -> None:
    p = tmp_path / "journal.jsonl"
    j = Journal.create(p)
    awkward = {
        "hash": "a nested key named hash",
        "text": 'quotes " and \\ backslashes, ,"hash":"x" and \n\t\x01 controls, Zoë ✓ 🚀',
        "n": [1, -2.5, 1e300, True, None],
        "z": {"b": 1, "a": {"hash": "deeper"}},
    }
    event = j.append('type with "quotes" \\ and ,"hash":"', awkward)
    j.close()
    body = {"seq": event.seq, "ts": event.ts, "type": event.type, "data": event.data, "prev": event.prev}
    assert event.hash == jmod.event_hash(**body) == hashlib.sha256(canonical(body)).hexdigest()
    assert p.read_bytes() == canonical({**body, "hash": event.hash}) + b"\n" == event.to_line()
    assert verify(p).ok


def test_a_complete_line_missing_only_its_newline_is_never_set_aside(tmp_path: Path) -> None:
    # The event is whole and chained: whether a byte was removed later or the write stopped one byte short, setting
    # it aside would drop an event the record holds (a change.closed among them), so only the newline is restored.
    p = tmp_path / "journal.jsonl"
    j = make(p, 3)
    events = j.events
    j.close()
    whole = p.read_bytes()
    p.write_bytes(whole[:-1])
    with pytest.raises(TornTailError) as info:
        Journal.open(p)
    assert info.value.line == 3
    recovered = Journal.recover_torn_tail(p)
    assert recovered.events[:3] == events
    assert recovered.events[-1].type == "journal.newline_restored" and recovered.events[-1].data == {"line": 3, "seq": 3}
    recovered.close()
    assert p.read_bytes().startswith(whole)
    report = verify(p)
    assert report.ok and report.events == 4 and len(report.warnings) == 1


def test_events_appended_together_reach_the_disk_in_one_write(tmp_path, monkeypatch) -> None:
    """A change's opening events are one write: a crash leaves all of them or none; a refused one writes nothing."""
    from console.journal.journal import Journal, read_events

    path = tmp_path / "journal.jsonl"
    journal = Journal.create(path)
    writes: list[int] = []
    real_write = os.write

    def counting(fd: int, data: bytes) -> int:
        writes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counting)
    events = journal.append_all([("change.created", {"a": 1}), ("params.set", {"params": {}}), ("policy.checked", {"checks": []})])
    monkeypatch.undo()
    assert [e.seq for e in events] == [1, 2, 3] and len(writes) == 1
    with pytest.raises(TypeError):
        journal.append_all([("note.added", {"text": "x"}), ("note.added", "not a dict")])  # type: ignore[list-item]
    assert [e.seq for e in journal.events] == [1, 2, 3]
    journal.close()
    assert [e.type for e in read_events(path).events] == ["change.created", "params.set", "policy.checked"]
