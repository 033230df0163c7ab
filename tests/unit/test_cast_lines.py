"""The asciicast event line: the fast form for plain output is byte for byte what the JSON encoder writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from console.journal.cast import CastWriter, _line, event_line, read_cast

# Output-like text: mostly printable with line ends, sometimes a quote, a backslash, a tab, an escape or a surrogate.
_CHARS = st.one_of(
    st.sampled_from([*"ab Z09=:/.-[]{}", "\r\n", "\n", "\r", "é", "€", "\u2028", "\x7f"]),
    st.sampled_from(['"', "\\", "\t", "\x1b", "\x00", "\udcff"]),
    st.characters(),
)
_TEXT = st.lists(_CHARS, max_size=60).map("".join)
_TIMES = st.one_of(st.floats(min_value=0, max_value=1e7, allow_nan=False), st.floats(), st.integers(0, 10**6))


def encoder_line(t: float, code: str, text: str) -> bytes:
    """What the JSON encoder writes for the event (ASCII escapes where a lone surrogate cannot be UTF-8)."""
    try:
        return (json.dumps([t, code, text], ensure_ascii=False) + "\n").encode()
    except UnicodeEncodeError:
        return (json.dumps([t, code, text], ensure_ascii=True) + "\n").encode()


@settings(max_examples=500, deadline=None)
@given(_TIMES, st.sampled_from(["o", "m", 'q"']), _TEXT)
def test_an_event_line_is_what_the_json_encoder_writes(t: float, code: str, text: str) -> None:
    assert event_line(t, code, text) == encoder_line(t, code, text) == _line([t, code, text])


def test_a_cast_of_plain_and_awkward_output_reads_back_as_written(tmp_path: Path) -> None:
    texts = ["pod/web-1 Running\r\ntoken=[REDACTED]\r\n", 'say "hi"\t\\ \x1b[31mred\x1b[0m\r\n', "é € \u2028\r\n"]
    with CastWriter(tmp_path / "x.cast", started=datetime.now(UTC)) as cast:
        for i, text in enumerate(texts):
            cast.write(text, at=i * 0.5)
    _, events = read_cast(tmp_path / "x.cast")
    assert events == [(i * 0.5, "o", text) for i, text in enumerate(texts)]
