"""The follower's pure reading: complete lines only, the chain checked line by line, chunks made into lines."""

from __future__ import annotations

import pytest

from console.journal.chain import GENESIS, _encode, canonical
from console.review.follow_lines import ChainCheck, JournalLineError, LineBuffer, OutputAssembler, cast_step_id, holder_status


def test_a_line_counts_only_once_its_newline_is_there() -> None:
    buf = LineBuffer()
    assert buf.feed(b'{"a":') == []
    assert buf.pending == 5
    assert buf.feed(b'1}\n{"b"') == [b'{"a":1}']
    assert buf.feed(b":2}\n\n") == [b'{"b":2}', b""]
    assert buf.pending == 0


def _line(seq: int, prev: str, data: dict) -> tuple[str, bytes]:
    digest, line = _encode(seq, "2026-11-21T10:00:00.000000Z", "note.added", canonical(data), prev)
    return digest, line[:-1]


def test_the_chain_is_checked_line_by_line() -> None:
    check = ChainCheck()
    h1, first = _line(1, GENESIS, {"text": "one"})
    h2, second = _line(2, h1, {"text": "two"})
    assert check.accept(first).data == {"text": "one"}
    with pytest.raises(JournalLineError, match="line 2: not canonical"):
        check.accept(second.replace(b'"two"', b'"tw0" '))
    with pytest.raises(JournalLineError, match="line 2: hash does not match"):
        check.accept(second.replace(b'"two"', b'"tw0"'))
    _, stray = _line(2, GENESIS, {"text": "two"})
    with pytest.raises(JournalLineError, match="line 2: does not follow"):
        check.accept(stray)
    assert check.accept(second).hash == h2


def test_chunks_become_lines_and_stderr_keeps_its_mark() -> None:
    text = OutputAssembler()
    assert text.feed(0.1, "o", "half") == []
    lines = text.feed(0.2, "o", " a line\r\nnext\r\n\x1b[31merr\x1b[0m\r\n")
    assert [(x.t, x.text, x.stderr) for x in lines] == [(0.1, "half a line", False), (0.2, "next", False), (0.2, "err", True)]
    assert text.feed(0.3, "o", "unfinished") == []
    marker = text.feed(0.4, "m", "exit 0")
    assert [(x.code, x.text) for x in marker] == [("o", "unfinished"), ("m", "exit 0")]
    assert text.flush() == []


def test_a_cast_names_its_step_in_its_title() -> None:
    assert cast_step_id({"title": "step restart: Restart the deployment"}) == "restart"
    assert cast_step_id({"title": "whatever"}) is None


def test_who_drives_the_change_is_read_from_its_lock_file() -> None:
    record = b'{"pid": 4242, "user": "alice", "host": "jump-1", "since": "2026-11-21T10:00:00.000000Z"}'
    def status(raw: bytes, host: str = "jump-1", alive: bool = True) -> str | None:
        return holder_status(raw, "CHG-2026-0042", this_host=host, alive=lambda pid: alive)

    assert status(record) == "driven by alice (pid 4242 on jump-1) since 2026-11-21T10:00:00.000000Z"
    gone = "the console that drove the change (alice, pid 4242) is gone (opsconsole resume CHG-2026-0042 carries on from where it stopped)"
    assert status(record, alive=False) == gone
    # Another host's process cannot be checked from here: its record stands.
    assert status(record, host="jump-2", alive=False).startswith("driven by alice (pid 4242 on jump-1)")
    assert status(b"").startswith("no console drives the change now: it stopped before closing")
    assert status(b'{"pid": 42') is None  # caught mid-write
