"""The run-at-a-time read of intact lines (``batch.take``) takes exactly the lines the line-by-line read takes.

Above all it never takes a line that is not an event's and byte for byte ``json.dumps(event, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` of its event, however well its hash matches: the lines here are built with a hash computed over
their own (non-canonical) bytes, so only the canonical-form check stands between them and an accepted journal.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from console.journal import batch
from console.journal import verify as verify_module
from console.journal.chain import GENESIS, canonical
from console.journal.journal import Journal, scan, verify
from tests.support.journal_reads import fast_reads_off

TS = "2026-11-21T23:20:55.000000Z"


def _line(seq: int, prev: str, data: bytes, *, ts: bytes = TS.encode(), type_: bytes = b"note.added",
          tail: bytes | None = None) -> tuple[bytes, str]:
    """A line holding ``data`` as written (canonical or not) and the hash of its own bytes, as a forger would make it.

    ``tail``, if given, replaces the fields after the hash (``,"prev":...}``) as written."""
    rest = tail if tail is not None else b',"prev":"%s","seq":%d,"ts":"%s","type":"%s"}' % (prev.encode(), seq, ts, type_)
    head = b'{"data":' + data
    digest = hashlib.sha256(head + rest).hexdigest()
    return head + b',"hash":"' + digest.encode() + b'"' + rest, digest


def _journal(second_data: bytes, **second: Any) -> tuple[list[bytes], bytes]:
    """Three chained lines, the second holding ``second_data``: the lines, and the file's bytes."""
    first, h1 = _line(1, GENESIS, b'{"change_id":"CHG-1"}', type_=b"change.created")
    middle, h2 = _line(2, h1, second_data, **second)
    last, _ = _line(3, h2, b'{"text":"after"}')
    lines = [first, middle, last]
    return lines, b"\n".join(lines) + b"\n"


def _event_line(line: bytes) -> bool:
    """Whether ``line`` is a valid event's line: canonical, with fields of the right types."""
    try:
        event = json.loads(line)
        if canonical(event) != line:
            return False
    except ValueError:
        return False  # not JSON, or NaN and Infinity, which canonical JSON has no form for
    return (sorted(event) == ["data", "hash", "prev", "seq", "ts", "type"] and type(event["seq"]) is int
            and isinstance(event["data"], dict)
            and all(isinstance(event[name], str) for name in ("ts", "type", "prev", "hash")))




def _take(lines: list[bytes]) -> batch.Run | None:
    return batch.take(lines, 0, len(lines), GENESIS, ts=True, types={}, stops=())


NOT_CANONICAL = [
    # numbers: the forms json.loads reads and json.dumps never writes
    b'{"n":1e16}', b'{"n":1E+16}', b'{"n":1.0e+16}', b'{"n":10000000000000000.0}', b'{"n":1e-5}', b'{"n":0.00001}',
    b'{"n":1e-05 }', b'{"n":12.3450}', b'{"n":1.5E3}', b'{"n":-0}', b'{"n":0.10}', b'{"n":100.000}', b'{"n":1e0}',
    b'{"n":1.7976931348623157e308}', b'{"n":5E-324}', b'{"n":123456789012345678901234567890.0}',
    b'{"n":NaN}', b'{"n":Infinity}', b'{"n":-Infinity}', b'{"n":1e400}', b'{"n":01}', b'{"n":+1}', b'{"n":.5}',
    # escapes: a character written otherwise than json.dumps writes it
    b'{"s":"a\\/b"}', b'{"s":"\\u0041"}', b'{"s":"\\u00e9"}', b'{"s":"\\u0009"}', b'{"s":"\\u001F"}',
    b'{"s":"\\ud83d\\ude00"}', b'{"s":"\\u0022"}', b'{"s":"\\u005c"}', b'{"s":"\\ud800"}', b'{"s":"\\U0041"}',
    b'{"\\u0061":1}', b'{"s":"\\u2028"}', b'{"s":"\\u007f"}',
    # raw bytes json.dumps escapes, or that are not UTF-8
    b'{"s":"tab\there"}', b'{"s":"\x00"}', b'{"s":"\x1f"}', b'{"s":"\xc3"}', b'{"s":"\xed\xa0\x80"}', b'{"s":"\xff"}',
    # keys: unsorted, repeated, sorted by something other than code point
    b'{"b":1,"a":2}', b'{"a":1,"a":1}', b'{"a":1,"a":2}', b'{"a":{"d":1,"c":2}}', b'{"x":[{"b":1,"a":2}]}',
    b'{"\xc3\xa9":1,"z":2}', b'{"B":1,"a":2,"A":3}',
    # whitespace anywhere
    b'{"a": 1}', b'{ "a":1}', b'{"a":1} ', b' {"a":1}', b'{"a":[1, 2]}', b'{"a":1\t}', b'{"a":1}\r', b'{"a" :1}',
    # not one object
    b'{"a":1},{"b":2}', b'{"a":[1', b'{}{}', b'{"a":true,}', b'{"a":True}', b'',
    # canonical, but no event: data that is not an object
    b'[1,2]', b'"text"', b'null', b'1',
]


@pytest.mark.parametrize("data", NOT_CANONICAL, ids=lambda d: repr(d)[2:-1])
def test_a_line_not_in_canonical_form_is_never_taken_however_its_hash_matches(tmp_path: Path, data: bytes) -> None:
    lines, raw = _journal(data)
    assert not _event_line(lines[1])  # the case is what it says it is
    assert _take(lines) is None
    assert _take(lines[1:2]) is None
    result = scan(raw)
    assert result.problems and result.problems[0].line == 2 and result.problems[0].kind == "corrupt"
    with fast_reads_off():
        full = scan(raw)
    assert (result.problems, result.events, result.parsed) == (full.problems, full.events, full.parsed)
    path = tmp_path / "journal.jsonl"
    path.write_bytes(raw)
    report = verify(path)
    assert not report.ok and report.first is not None and report.first.line == 2
    saved = verify_module.PARALLEL_LINES
    verify_module.PARALLEL_LINES = 10**9
    try:
        assert verify(path) == report
    finally:
        verify_module.PARALLEL_LINES = saved


NOT_CANONICAL_TAILS = [
    b',"prev":"%s","seq":02,"ts":"' + TS.encode() + b'","type":"note.added"}',
    b',"prev":"%s","seq":2.0,"ts":"' + TS.encode() + b'","type":"note.added"}',
    b',"prev":"%s","seq":2e0,"ts":"' + TS.encode() + b'","type":"note.added"}',
    b',"prev":"%s","seq": 2,"ts":"' + TS.encode() + b'","type":"note.added"}',
    b',"prev":"%s","seq":2,"ts":"2026\\/11","type":"note.added"}',
    b',"prev":"%s","seq":2,"ts":"' + TS.encode() + b'","type":"note\\u002eadded"}',
    b',"prev":"%s","seq":2,"ts":"' + TS.encode() + b'","type":"note.added" }',
    b',"prev":"%s","seq":2,"type":"note.added","ts":"' + TS.encode() + b'"}',
    b',"prev":"%s","seq":2,"ts":"' + TS.encode() + b'","type":"note.added","zz":1}',
    b',"prev":"%s","seq":2,"ts":"' + TS.encode() + b'","type":"note.added"}  ',
    b',"prev":"%s","seq":2,"ts":"' + TS.encode() + b'","type":"note.added"}\r',
    b',"prev":"%s","seq":2,"ts":"' + TS.encode() + b'","type":"\xff"}',
    b',"prev":"%s","seq":2,"ts":"' + TS.encode() + b'","type":"a\tb"}',
    b',"prev":"%s","seq":true,"ts":"' + TS.encode() + b'","type":"note.added"}',
    b',"prev":"%s","seq":2,"ts":1,"type":"note.added"}',
]


@pytest.mark.parametrize("tail", NOT_CANONICAL_TAILS, ids=lambda t: repr(t)[2:-1])
def test_fields_after_data_not_in_canonical_form_are_never_taken(tail: bytes) -> None:
    first, h1 = _line(1, GENESIS, b'{"change_id":"CHG-1"}', type_=b"change.created")
    second, _ = _line(2, h1, b'{"a":1}', tail=tail.replace(b"%s", h1.encode()))
    assert not _event_line(second)
    assert _take([first, second]) is None
    raw = first + b"\n" + second + b"\n"
    result = scan(raw)
    assert result.problems and result.problems[0].line == 2
    with fast_reads_off():
        assert scan(raw).problems == result.problems


CANONICAL = [
    {"n": 1e16}, {"n": 1e-05}, {"n": -0.0}, {"n": 12.345}, {"n": 10**30}, {"n": -(10**30)}, {"n": 1.7976931348623157e308},
    {"n": 5e-324}, {"n": 0.1 + 0.2}, {"n": 1.0}, {"n": 123456789.0}, {"n": 0}, {"b": True, "c": None, "d": False},
    {"s": 'quote " backslash \\ slash / tab \t newline \n nul \x00 unit \x1f del \x7f'}, {"s": "é ✓ 😀 \u2028 \ufeff"},
    {"é": 1, "z": 2, "A": 3, "a": {"y": [1, {"b": 2, "a": [None]}], "x": []}}, {}, {"": ""}, {"k": [[[]], {}]},
    {"data": 1, "hash": "0" * 64, "prev": "x", "seq": 1}, {"t": ',"hash":"' + "1" * 64 + '"}'},
]


@pytest.mark.parametrize("data", CANONICAL, ids=lambda d: json.dumps(d)[:40])
def test_every_canonical_line_is_taken_with_the_fields_json_reads(data: dict[str, Any]) -> None:
    lines, _raw = _journal(canonical(data))
    run = _take(lines)
    assert run is not None
    assert run.data == [json.loads(line)["data"] for line in lines] and run.data[1] == data
    assert run.hashes == [json.loads(line)["hash"] for line in lines]
    assert run.types == ["change.created", "note.added", "note.added"] and run.ts == [TS] * 3


def test_a_run_is_taken_only_whole_and_only_on_its_chain(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal.create(path)
    for n in range(12):
        journal.append("step.finished", {"step_id": f"s{n}", "duration_s": n / 7, "file": {"path": "a", "sha256": "b"}})
    journal.close()
    lines = path.read_bytes().split(b"\n")[:-1]
    whole = batch.take(lines, 0, 12, GENESIS, ts=False, types={}, stops=())
    assert whole is not None and whole.ts is None
    tail = batch.take(lines, 5, 12, whole.hashes[4], ts=True, types={}, stops=())
    assert tail is not None and tail.hashes == whole.hashes[5:]
    assert batch.take(lines, 5, 12, whole.hashes[3], ts=True, types={}, stops=()) is None  # the wrong prev
    assert batch.take(lines, 5, 12, whole.hashes[4], ts=True, types={}, stops=("step.finished",)) is None
    assert batch.take(lines[1:], 0, 11, whole.hashes[0], ts=True, types={}, stops=()) is None  # seq 2 on line 1
    assert batch.take(lines, 0, 12, GENESIS, ts=True, types={}, stops=()) is not None
    swapped = lines[:6] + [lines[7], lines[6]] + lines[8:]
    assert batch.take(swapped, 0, 12, GENESIS, ts=True, types={}, stops=()) is None


@pytest.mark.parametrize("run_lines", [1, 3, 7, 1000])
def test_runs_of_any_length_read_a_long_journal_as_the_line_by_line_read(tmp_path: Path, run_lines: int) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal.create(path)
    for n in range(40):
        journal.append("step.finished", {"step_id": f"s{n}", "n": n * 1.5, "files": [{"path": "x", "sha256": "y"}]})
    journal.close()
    intact = path.read_bytes()
    lines = intact.split(b"\n")
    forged, _ = _line(23, json.loads(lines[21])["hash"], b'{"b":1,"a":2}')
    edits = [intact, b"\n".join(lines[:22] + [forged] + lines[23:]), intact.replace(b'"n":15.0', b'"n":15.00', 1),
             intact.replace(b'"s17"', b'"s17" ', 1), b"\n".join(lines[:30] + lines[31:])]
    saved = verify_module.RUN_LINES
    verify_module.RUN_LINES = run_lines
    try:
        for raw in edits:
            result = scan(raw)
            with fast_reads_off():
                full = scan(raw)
            assert (result.events, result.problems, result.parsed) == (full.events, full.problems, full.parsed)
            path.write_bytes(raw)
            report = verify(path)
            with fast_reads_off():
                assert verify(path) == report
    finally:
        verify_module.RUN_LINES = saved


REFS_DATA: list[dict[str, Any]] = [
    {"file": {"path": "a", "sha256": "1"}},
    {},
    {"file": {"path": "b"}},
    {"file": ["path", "sha256"]},
    {"file": "a"},
    {"file": None, "files": [{"path": "c", "sha256": "2"}, {"path": "d"}, "e", {"path": ["x"], "sha256": {"y": 1}}]},
    {"file": {"path": "a", "sha256": "1"}, "files": [{"path": "f", "sha256": "3"}]},
    {"files": {"path": "g", "sha256": "4"}},
    {"file": {"sha256": "5", "path": 7, "extra": True}},
]


@pytest.mark.parametrize("start", range(len(REFS_DATA)))
def test_file_references_are_read_from_runs_as_from_each_event(start: int) -> None:
    data = REFS_DATA[start:] + REFS_DATA[:start]
    numbers = range(10, 10 + len(data))
    expected = [(no, (ref["path"], ref["sha256"])) for no, one in zip(numbers, data, strict=True)
                for ref in verify_module._file_refs(one)]
    assert verify_module._refs(numbers, data) == expected
    whole = [{"file": {"path": f"p{n}", "sha256": "s"}} for n in range(5)]
    assert verify_module._refs(range(1, 6), whole) == [(n + 1, (f"p{n}", "s")) for n in range(5)]
