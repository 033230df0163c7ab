"""The follower's pure reading: complete lines only, the chain checked line by line, chunks made into lines."""

from __future__ import annotations

import pytest

from console.journal.chain import GENESIS, _encode, canonical
from console.review.follow_lines import ChainCheck, JournalLineError, LineBuffer, OutputAssembler, cast_step_id


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
