"""The journal's primitives: canonical lines, event hashes, the Event record and the journal's errors.

Shared by the writer (``journal.py``) and the reader (``verify.py``), so both agree byte for byte on what a
line must be.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic_core import from_json

from console.errors import OpsConsoleError

GENESIS: str = "0" * 64
TORN_TAIL = "journal.torn_tail"
NEWLINE_RESTORED = "journal.newline_restored"
EVENT_FIELDS = ("data", "hash", "prev", "seq", "ts", "type")
# The change events the journal itself enforces: after CHANGE_CLOSED only AFTER_CLOSE's may be appended, so
# no path (a recovery, a resumed session, a bug) can reopen or close again a change that is closed on disk.
# events.py names every event type; the same strings, checked equal by the tests.
CHANGE_CLOSED = "change.closed"
ADDENDUM_ADDED = "addendum.added"
CHANGE_ALIASED = "change.aliased"
# What a closed change still takes: readings added later, never a change to what happened.
AFTER_CLOSE = frozenset({ADDENDUM_ADDED, CHANGE_ALIASED})


def may_follow_close(event_type: str) -> bool:
    """Whether a closed change's journal may take this event: an addendum, a team ID's alias, or a signature over
    its head (``signature.closeout``)."""
    return event_type in AFTER_CLOSE or event_type.startswith("signature.")

Clock = Callable[[], datetime]


# One encoder for every call: json.dumps would build a new one each time, which shows in append rates.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# The C encoder behind _ENCODER, made once (JSONEncoder.encode makes a new one on every call, half the time of a small
# event's serialisation), with the same settings and the same error for a value JSON has no form for. Without its cycle
# check (markers None): that check keeps state between calls, which threads would share; a cycle (never in JSON data)
# is caught by the recursion limit instead. None where the C module is absent: then _ENCODER.
_MAKE_C_ENCODER: Callable[..., Callable[[Any, int], list[str]]] | None = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODER = (
    _MAKE_C_ENCODER(None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", True, False, False)
    if _MAKE_C_ENCODER is not None else None
)


# How the encoder writes a string (ensure_ascii=False): the C function itself, without the encoder around it.
_encode_string: Callable[[str], str] = json.encoder.encode_basestring


def canonical_text(obj: Any) -> str:
    """``canonical(obj)`` before UTF-8 encoding."""
    if _C_ENCODER is None:
        return _ENCODER.encode(obj)
    try:
        return "".join(_C_ENCODER(obj, 0))
    except RecursionError:
        raise ValueError("not JSON: a value that contains itself, or nested too deeply") from None


def canonical(obj: Any) -> bytes:
    """The one serialisation the journal accepts: sorted keys, no spaces, UTF-8, no NaN or Infinity.

    Same bytes as ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` for any
    JSON value; NaN and Infinity raise ``ValueError`` because they are not JSON, and so does a value that contains
    itself. Any other value JSON has no form for raises ``TypeError``. A key that is not a string (see
    ``canonical_and_parsed``) is written as the string JSON makes of it, in the order of those strings.
    """
    return canonical_and_parsed(obj)[0]


def canonical_and_parsed(obj: Any) -> tuple[bytes, Any]:
    """``canonical(obj)`` and what a JSON reader returns for those bytes (lists for tuples, string keys).

    orjson writes the bytes when ``fast_canonical`` vouches for them and they read back as ``obj`` itself (it also
    writes a few types json refuses, a UUID or an Enum, which read back as something else). Otherwise json writes
    them, and raises for what is not JSON. ``json.dumps`` writes an int, float, bool or None key as a string but
    sorts by the keys as they were (9 before 10), so its bytes for ``{10: "a", 9: "b"}`` are not canonical for a
    reader, which sees the strings "10" and "9": a line written so would fail its own verification. When the value
    read back differs from ``obj`` (such a key, or only a tuple), the bytes are made again from what was read back,
    which reads back as itself.
    """
    data = fast_canonical(obj)
    if data is not None:
        # orjson's reader on orjson's bytes: exact for them (no integer past 64 bits gets this far), and the
        # comparison below would catch any value read back otherwise.
        parsed = _orjson_loads(data)
        if parsed == obj:
            return data, parsed
    data = canonical_text(obj).encode()
    parsed = _parse(data)
    if parsed != obj:
        data = canonical_of_parsed(parsed)
    return data, parsed


def canonical_of_parsed(obj: Any) -> bytes:
    """``canonical(obj)`` for what a JSON reader returned (string keys, no tuples): orjson's bytes where
    ``fast_canonical`` vouches for them, else json's; no read-back check, which such a value needs none of."""
    return fast_canonical(obj) or canonical_text(obj).encode()


def fast_canonical(obj: Any) -> bytes | None:
    """``canonical(obj)`` for JSON data (what a JSON reader returns), by orjson: eight times json's speed; None when
    its bytes might not be json's, and the caller takes ``canonical_text``.

    orjson and json write strings, integers, ``true``/``false``/``null`` and sorted keys byte for byte alike (key
    order by code point either way); floats alike too, except below 1e-4, which json writes with an exponent of two
    digits or more (``1e-05``, ``2.5e-08``) and orjson either without one (``0.00001``) or with one digit
    (``2.5e-8``). Both of orjson's forms are looked for in its bytes, and any sight of them (a string holding
    ``0.0000`` or ``5e-7`` too) gives None. Anything orjson refuses (a key that is not a string, an integer past 64
    bits, nesting past 254 levels, a lone surrogate) and any subclass of a JSON type, dataclass or datetime (handed
    back to a ``default`` that is not there) gives None as well. The tests hold this against json over millions of
    floats, every code point and generated JSON values.
    """
    try:
        data = _orjson_dumps(obj, None, _ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is one
        return None
    # find, not in: ``in`` on bytes first tries its operand as an integer, and raises and clears an error to learn
    # it is not one (half the time of these checks).
    if data.find(b"0.0000") != -1 or (data.find(b"e-") != -1 and _SHORT_NEGATIVE_EXPONENT.search(data) is not None):
        return None
    return data


_orjson_dumps = orjson.dumps
_orjson_loads = orjson.loads
_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_SHORT_NEGATIVE_EXPONENT = re.compile(rb"[0-9]e-[0-9](?![0-9])")


def _parse(data: bytes) -> Any:
    """What a JSON reader returns for canonical bytes: pydantic-core's parser, the same values as json.loads for
    what canonical writes (a property the tests check) in a quarter of the time."""
    try:
        return from_json(data)
    except ValueError:
        return json.loads(data)  # nested deeper than pydantic-core follows (200 levels)


def utc_ts(dt: datetime) -> str:
    """``2026-11-21T23:20:55.123456Z``: UTC, always with microseconds, so timestamps sort as strings."""
    if dt.tzinfo is None:
        # A naive datetime's zone is a guess; a record must not guess when something happened.
        raise ValueError("utc_ts needs a timezone-aware datetime")
    utc = dt.astimezone(UTC)
    if utc.year < 1000:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # as it always was (the C library's %Y of a 3-digit year)
    # The same text for every 4-digit year, in half the time: isoformat ends "+00:00" for UTC.
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_ts(ts: str) -> datetime:
    """The inverse of ``utc_ts`` (an aware UTC datetime)."""
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


# The last second utc_ts_ns formatted, with its text up to the microseconds: appends come many to a second, and the
# date and time of day are most of the formatting. One tuple, replaced whole, so threads never see half of it.
_second: tuple[int, str] = (-1, "")


def utc_ts_ns(ns: int) -> str:
    """``utc_ts`` of the instant ``ns`` nanoseconds after the epoch, cut (not rounded) to the microsecond as
    ``datetime.now`` cuts the system clock: ``utc_ts_ns(time.time_ns())`` is ``utc_ts(_now())``, a quarter of its time.
    """
    global _second
    us = ns // 1000
    secs = us // 1_000_000
    second, text = _second
    if second != secs:
        text = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(secs))
        _second = (secs, text)
    return f"{text}{us % 1_000_000:06d}Z"


def now_ts() -> str:
    """``utc_ts(_now())``: the timestamp of an event appended now."""
    return utc_ts_ns(time.time_ns())


def event_hash(seq: int, ts: str, type: str, data: dict[str, Any], prev: str) -> str:
    """SHA-256 hex of the canonical JSON of the five hashed fields."""
    return hashlib.sha256(canonical({"seq": seq, "ts": ts, "type": type, "data": data, "prev": prev})).hexdigest()


def _encode(seq: int, ts: str, type: str, data_json: bytes, prev: str) -> tuple[str, bytes]:
    """The hash and the line of an event, from ``canonical(data)`` serialised once.

    With sorted keys the line is ``{"data":D,"hash":H,"prev":P,"seq":S,"ts":T,"type":Y}`` and the hashed bytes
    are the same without ``,"hash":H``, so both are assembled from pieces rather than serialising ``data``
    three times; the tests check the result against ``canonical`` of the whole.
    """
    # prev (hex) and ts (digits, "-:.TZ") never need escaping; type might (the encoder's own string escaping, done
    # once per type: a journal has a few dozen).
    type_json = _TYPE_JSON.get(type)
    if type_json is None:
        type_json = _encode_string(type).encode()
        if len(_TYPE_JSON) < 4096:
            _TYPE_JSON[type] = type_json
    tail = b',"prev":"%s","seq":%d,"ts":"%s","type":%s}' % (prev.encode(), seq, ts.encode(), type_json)
    sha = _LINE_HEAD_SHA.copy()  # the state after '{"data":', every line's first bytes: copied, not recomputed
    sha.update(data_json)
    sha.update(tail)
    digest = sha.hexdigest()
    return digest, b'{"data":%s,"hash":"%s"%s\n' % (data_json, digest.encode(), tail)


_LINE_HEAD_SHA = hashlib.sha256(b'{"data":')
_TYPE_JSON: dict[str, bytes] = {}


@dataclass(frozen=True)
class Event:
    """One journal line, as written and as read back."""

    seq: int
    ts: str
    type: str
    data: dict[str, Any]
    prev: str
    hash: str

    @classmethod
    def trusted(cls, seq: int, ts: str, type: str, data: dict[str, Any], prev: str, hash: str) -> Event:
        """The event of fields already checked, made without the frozen ``__init__``'s six ``object.__setattr__``
        (the frozen check is on setattr only): the fields are set in the instance's own ``__dict__``, made on first use
        with the keys the class shares among its instances, a third less time and memory than a new dict for the
        100,000 events of a long journal."""
        event = object.__new__(cls)
        fields = event.__dict__
        fields["seq"], fields["ts"], fields["type"] = seq, ts, type
        fields["data"], fields["prev"], fields["hash"] = data, prev, hash
        return event

    def to_line(self) -> bytes:
        """The exact bytes of this event's line, newline included."""
        return canonical(self.as_dict()) + b"\n"

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "type": self.type, "data": self.data, "prev": self.prev, "hash": self.hash}

    @property
    def when(self) -> datetime:
        return parse_ts(self.ts)


class JournalError(OpsConsoleError):
    """Base class of every journal failure."""


class TornTailError(JournalError):
    """The last line was cut short (a crash or power cut mid-write); see ``Journal.recover_torn_tail``."""

    def __init__(self, path: Path, line: int, raw: bytes, reason: str) -> None:
        self.path = path
        self.line = line
        self.raw = raw
        self.reason = reason
        super().__init__(self._message())

    def _message(self) -> str:
        return (
            f"{self.path}: line {self.line} is torn ({self.reason}); nothing was changed. Review it, then recover "
            "explicitly (resume --recover-torn-tail, or Journal.recover_torn_tail) to record it and continue."
        )


class MissingNewlineError(TornTailError):
    """The last line is a complete, chain-consistent event without its newline: recovery restores the newline.

    Never set aside like a torn line: the event is whole, and dropping it could drop a ``change.closed``.
    """

    def _message(self) -> str:
        return (
            f"{self.path}: line {self.line}: {self.reason}; nothing was changed. Recover explicitly (resume "
            "--recover-torn-tail, or Journal.recover_torn_tail) to restore the newline and record that it was missing."
        )


class JournalCorruptError(JournalError):
    """A line other than a torn tail is wrong: the journal was damaged or edited."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        super().__init__(f"{path}: line {line}: {reason}")


class JournalExistsError(JournalError):
    """``Journal.create`` found a file already there; journals are never overwritten."""
