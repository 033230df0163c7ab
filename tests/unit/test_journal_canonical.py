"""The canonical form: orjson's fast path gives json's bytes or steps aside, and keys that are not strings are
written so that the line verifies.

``canonical`` must be ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` byte for
byte: every line of every record ever written is checked against it. These tests hold the fast path to that over
every code point, millions of floats, generated JSON values, and the types orjson writes that json refuses.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import random
import struct
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.journal.chain import canonical, canonical_and_parsed, canonical_text, fast_canonical
from console.journal.journal import Journal, read_events, verify


def json_canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


FLOATS = st.floats(allow_nan=False, allow_infinity=False)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | FLOATS | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(JSON_VALUES)
def test_the_fast_path_is_json_or_nothing(value: Any) -> None:
    fast = fast_canonical(value)
    assert fast is None or fast == json_canonical(value)
    assert canonical(value) == json_canonical(value)


def test_floats_across_their_whole_range() -> None:
    # Every bit pattern is as likely as any other, so exponents from -1074 to 1023 all come up, beside the
    # short decimals durations are made of and the borders of json's two float forms.
    rng = random.Random(20261202)
    values = [1e16, 9999999999999998.0, 1e-4, 0.0001, 0.00011, 9.999999999999999e-05, 5e-324, 2.2250738585072014e-308,
              1.7976931348623157e308, 1e22, 1e-7, 2.5e-8, 1e-10, -0.0, 0.0, 0.1 + 0.2, 1 / 3, 12.345]
    for _ in range(200_000):
        bits = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        values.append(bits)
        values.append(round(rng.uniform(-1000, 1000), rng.randint(0, 6)))
    fast_taken = 0
    for value in values:
        if value != value or value in (float("inf"), float("-inf")):
            continue
        fast = fast_canonical([value])
        if fast is not None:
            fast_taken += 1
            assert fast == json_canonical([value]), repr(value)
    assert fast_taken > len(values) // 2  # the fast path is the common one, not a path never taken


def test_every_code_point_in_strings_and_keys() -> None:
    text = "".join(chr(c) for c in range(0xD800)) + "".join(chr(c) for c in range(0xE000, 0x110000, 7))
    for i in range(0, len(text), 61):
        piece = text[i : i + 61]
        for value in (piece, {piece: 1, "a": piece}, [piece, {"k": piece}]):
            fast = fast_canonical(value)
            assert fast is not None and fast == json_canonical(value)
    # Keys sort by code point either way: astral after the last BMP one, accented after ASCII.
    keys = {"\U0001f600": 1, "\uffff": 2, "a": 3, "é": 4, "": 5, "A": 6, "\x00": 7}
    assert fast_canonical(keys) == json_canonical(keys)


def test_what_the_fast_path_steps_aside_for() -> None:
    # Each is JSON that orjson writes differently, or refuses; the caller then takes json's own path.
    assert fast_canonical({"f": 1e-05}) is None  # orjson: 0.00001
    assert fast_canonical({"f": 2.5e-08}) is None  # orjson: 2.5e-8
    assert fast_canonical({"n": 2**64}) is None  # past 64 bits
    assert fast_canonical({1: "a"}) is None  # a key that is not a string
    # A string that only looks like such a float costs the slow path, never a wrong byte.
    assert fast_canonical({"s": "v0.00001 and 5e-7"}) is None
    assert canonical({"s": "v0.00001 and 5e-7"}) == json_canonical({"s": "v0.00001 and 5e-7"})


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Word(enum.StrEnum):
    YES = "yes"


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize("value", [
    {"id": uuid.UUID(int=7)}, {"c": Colour.RED}, {"at": datetime(2026, 1, 1, tzinfo=UTC)}, {"p": Point(1)},
    {"b": b"bytes"}, {"s": {1, 2}},
])
def test_types_orjson_writes_and_json_refuses_are_refused(value: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        json_canonical(value)
    with pytest.raises(TypeError):
        canonical(value)


@pytest.mark.parametrize("value", [
    {"level": Level.HIGH}, {"w": Word.YES}, OrderedDict([("b", 1), ("a", 2)]), {"t": (1, "x", (2.5,))},
    {"nested": OrderedDict(z=[1], a=None)},
])
def test_subclasses_and_tuples_are_written_as_json_writes_them(value: dict[str, Any]) -> None:
    data, parsed = canonical_and_parsed(value)
    assert data == json_canonical(value)
    assert parsed == json.loads(data)


@pytest.mark.parametrize("value", [
    {"ports": {10: "a", 9: "b"}}, {"flags": {True: 1, 2: "x"}}, {"m": {None: 0}}, {"f": {1.5: "a", 10.25: "b"}},
    {"deep": [{100: {20: 3, 3: 4}}]},
])
def test_keys_that_are_not_strings_are_written_in_the_readers_order(value: dict[str, Any]) -> None:
    data, parsed = canonical_and_parsed(value)
    assert json.loads(data) == parsed
    assert data == canonical_text(json.loads(data)).encode()  # what verify re-serialises: the same bytes
    assert canonical(parsed) == data


def test_a_journal_given_integer_keys_verifies_and_reopens_equal(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal.create(path) as journal:
        first = journal.append("note.added", {"by_port": {8080: "web", 443: "tls", 9: "x"}, "pair": (1, 2)})
        second = journal.append("note.added", {"tiny": 1e-05, "tinier": 2.5e-08, "big": 2**70})
    report = verify(path)
    assert report.ok, report.problems
    assert first.data == {"by_port": {"8080": "web", "443": "tls", "9": "x"}, "pair": [1, 2]}
    assert read_events(path).events == [first, second]
    with Journal.open(path) as reopened:
        assert reopened.events == [first, second]
