"""Reading and verifying a journal without opening it for writing.

``verify`` checks every line (canonical bytes, sequence, chain, hash), a torn tail (and its recorded recovery) and
the files events reference (outputs, artifacts); ``read_events`` reads as far as the first bad line, so an
offline reviewer still shows a broken record up to there.

The last line is judged by what a crash can leave. A write cut short leaves the start of an event line, perhaps
followed by zeros (blocks whose data never reached the disk): that is a torn tail, which recovery sets aside. A
complete, chain-consistent event that only lacks its newline is never set aside: recovery restores the newline.
Anything else at the tail (a blank line, a repeated event, a ``\r``, bytes after the event) is an altered record.
Once ``change.closed`` is in the chain only addenda may follow, and nothing after it is recoverable in place.

A long journal is read fast without changing any verdict: its leading run of intact lines (most journals: all of
them) is checked a thousand lines at a time (``batch.take``), and verifying reads the second half in a forked
process where that is safe and a CPU is free (``_in_two``); the first line either cannot take, and every line after
it, gets the line-by-line reading that finds and names what is wrong.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import pickle
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import add, and_, attrgetter, getitem, itemgetter
from pathlib import Path
from typing import Any

from pydantic_core import from_json

from console.journal import batch
from console.journal.chain import (
    CHANGE_ALIASED,
    CHANGE_CLOSED,
    EVENT_FIELDS,
    GENESIS,
    NEWLINE_RESTORED,
    TORN_TAIL,
    Event,
    canonical,
    canonical_of_parsed,
    may_follow_close,
)

_BOM = b"\xef\xbb\xbf"
_LINE_START = batch.LINE_START
_CONTROL = bytes(range(0x20))  # never raw in a canonical line: JSON escapes control characters in strings
_DECODER = json.JSONDecoder()
# The fields after "data" in the commonest canonical form of a line: 64-character alphanumeric hashes, a positive seq
# of at most 18 digits, and a ts and type needing no escape. Split at its quotes, such a tail is these pieces with the
# hash, prev, seq and ts and type between them (the seq's piece is ':N,'); a quote inside a value, which JSON escapes,
# would add pieces. Every line that has this shape is canonical in those fields; any other (a legitimate rarity or
# damage) takes the full path, which judges and names it exactly as before.
_HASH_FIELD = batch.HASH_FIELD
_TAIL_PIECES = batch.TAIL_PIECES
_ESCAPED = batch.ESCAPED  # what JSON writes escaped in a string, besides the quote
_NOT_RECOVERED = "a closed change takes only addenda, so it is not recovered in place (restore the journal from a copy)"
_NO_NEWLINE = (
    "a complete event with no final newline (the file's last byte was removed, or a write was cut one byte short)"
)

# A file reference is kept as (line, (path, sha256)).
_REF_LINE, _REF_KEY = itemgetter(0), itemgetter(1)
_PATH_SHA = itemgetter("path", "sha256")
_HASH, _TYPE, _DATA = attrgetter("hash"), attrgetter("type"), attrgetter("data")

# -- reading and verifying ----------------------------------------------------------------------------------


@dataclass
class Problem:
    """One thing wrong with a journal, at a 1-based line (0 when it concerns no line)."""

    line: int
    reason: str
    # "torn" (recovery sets it aside), "newline" (recovery restores it), "corrupt", "chain", "hash" or "file"
    kind: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


@dataclass
class ReadResult:
    """Events readable from a journal up to its first bad line, and that line's problem (if any)."""

    events: list[Event]
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class VerifyReport:
    """The outcome of ``verify``.

    ``events`` counts the event lines that could be read (recovered torn lines excluded) and ``head`` is the
    hash the file's chain ends at, which is what an operator compares with the head kept elsewhere.
    """

    ok: bool
    events: int
    head: str
    problems: list[Problem]
    warnings: list[str]
    # With a kept head: the events after it (line, type), each an addendum or a signature, which may follow it.
    after_head: list[tuple[int, str]] = field(default_factory=list)

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.events} events, head {self.head}"
        return f"{len(self.problems)} problem(s); first: {self.problems[0]}"


@dataclass
class _Facts:
    """What verifying needs of the lines that read as events, in line order: each one's line number, hash and type,
    and the files they reference, as (line, (path, sha256)), in the order the lines give them."""

    lines: list[int] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    refs: list[tuple[int, tuple[Any, Any]]] = field(default_factory=list)
    # The problems of references already checked (``checked``), which are then no longer in refs.
    problems: list[Problem] = field(default_factory=list)

    def add(self, no: int, event: Event) -> None:
        self.lines.append(no)
        self.hashes.append(event.hash)
        self.types.append(event.type)
        self.refs.extend((no, (ref["path"], ref["sha256"])) for ref in _file_refs(event.data))

    def extend(self, other: _Facts) -> None:
        self.lines += other.lines
        self.hashes += other.hashes
        self.types += other.types
        self.refs += other.refs
        self.problems += other.problems

    def checked(self, base: Path) -> None:
        """The references so far checked against the files under ``base``: their problems kept, the refs dropped."""
        self.problems += _file_problems(base, self.refs)
        self.refs = []


@dataclass
class _Scan:
    events: list[Event]  # good events before the first problem
    problems: list[Problem]
    warnings: list[str]
    parsed: list[tuple[int, Event]]  # every line that reads as an event, with its line number (but see facts)
    torn_raw: bytes | None
    tail_event: Event | None = None  # a complete, chain-consistent last event that lacks only its newline
    line_count: int = 0
    # A scan that keeps no events (verify's): the intact prefix's lines as facts, and only later lines in parsed.
    facts: _Facts = field(default_factory=_Facts)

    def all_facts(self) -> _Facts:
        """What verifying needs of every line that reads as an event, in line order."""
        facts = _Facts()
        facts.extend(self.facts)
        if self.parsed:
            numbers, events = zip(*self.parsed, strict=True)
            facts.lines += numbers
            facts.hashes += map(_HASH, events)
            facts.types += map(_TYPE, events)
            facts.refs += _refs(numbers, list(map(_DATA, events)))
        return facts


def _parse_line(b: bytes) -> tuple[Event | None, str | None]:
    """The event a line holds (None if it holds none) and what is wrong with the line (None if nothing)."""
    try:
        obj = json.loads(b.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 (byte {exc.start + 1} of the line)"
    except json.JSONDecodeError as exc:
        return None, _json_error(b, exc)
    except RecursionError:
        return None, "not valid JSON (nested too deeply)"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    for name in EVENT_FIELDS:
        if name not in obj:
            return None, f"missing field {name!r}"
    extra = sorted(set(obj) - set(EVENT_FIELDS))
    if extra:
        return None, f"unexpected field {extra[0]!r}"
    seq = obj["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool):
        return None, "field 'seq' is not an integer"
    for name in ("ts", "type", "prev", "hash"):
        if not isinstance(obj[name], str):
            return None, f"field {name!r} is not a string"
    if not isinstance(obj["data"], dict):
        return None, "field 'data' is not an object"
    event = Event(seq, obj["ts"], obj["type"], obj["data"], obj["prev"], obj["hash"])
    try:
        again = canonical(obj)
    except ValueError:
        again = None  # NaN or Infinity: json.loads accepts them, canonical JSON does not
    if again != b:
        # Equal content but different bytes (spacing, key order, escaping) would pass a hash check on the parsed
        # object; insisting on the exact bytes is what makes every flipped byte visible.
        return event, _non_canonical(b, again)
    return event, None


# What the fast read takes from a line: seq, ts, type, data, prev, hash, and the SHA-256 of the hashed bytes.
_Fields = tuple[int, str, str, dict[str, Any], str, str, str]


def _fast_fields(b: bytes) -> _Fields | None:
    """The fields of a canonical line and the SHA-256 of its hashed bytes, or None to take ``_parse_line``'s path.

    Sound by construction: it returns fields only when the tail after ``data`` has ``_TAIL_PIECES``' shape (canonical
    by that shape) and ``data`` re-serialises to its own bytes, so the line is ``canonical`` of the event, and then
    ``json.loads`` of the line gives these very fields. Only ``data`` is parsed (with pydantic-core's parser, several
    times faster than ``json``'s and exact for what ``canonical`` writes: a byte it reads differently fails the
    comparison). Whatever it returns None for, ``_parse_line`` judges.
    """
    k = b.rfind(_HASH_FIELD)  # the last one is the top-level field when the tail has its shape: nothing after it quotes
    if k <= 8 or not b.startswith(_LINE_START):
        return None
    pieces = b[k:].split(b'"')
    if len(pieces) != 19:
        return None
    c0, f_hash, c1, hash_, c2, f_prev, c3, prev, c4, f_seq, seq, f_ts, c5, ts, c6, f_type, c7, type_, end = pieces
    if (c0, f_hash, c1, c2, f_prev, c3, c4, f_seq, f_ts, c5, c6, f_type, c7, end) != _TAIL_PIECES:
        return None
    digits = seq[1:-1]  # seq's piece is ':N,'
    if not (
        len(hash_) == 64 and hash_.isalnum() and len(prev) == 64 and prev.isalnum()  # isalnum: ASCII letters, digits
        and seq[:1] == b":" and seq[-1:] == b"," and digits.isdigit() and digits[:1] != b"0" and len(digits) <= 18
        and len(ts) + len(type_) == len((ts + type_).translate(None, _ESCAPED))
    ):
        return None
    data_bytes = b[8:k]
    try:
        type_text, ts_text = type_.decode(), ts.decode()
        data = from_json(data_bytes)
        if not isinstance(data, dict) or canonical_of_parsed(data) != data_bytes:
            return None
    except (ValueError, RecursionError):
        return None  # not JSON or UTF-8, NaN or Infinity, a lone surrogate, nested too deeply: the full path names it
    digest = hashlib.sha256(b[:k] + b[k + 74 :]).hexdigest()  # without ,"hash":"<64 characters>"
    return int(digits), ts_text, type_text, data, prev.decode(), hash_.decode(), digest


def _fast_event(b: bytes) -> tuple[Event, str] | None:
    """``_fast_fields`` as the event and the SHA-256 of its hashed bytes."""
    fields = _fast_fields(b)
    if fields is None:
        return None
    seq, ts, type_, data, prev, hash_, digest = fields
    return Event.trusted(seq, ts, type_, data, prev, hash_), digest


@contextmanager
def _no_gc() -> Iterator[None]:
    """Cyclic garbage collection paused while a journal's events are built.

    Reading 100,000 events makes millions of objects and no cycles; the collector, running every few hundred
    allocations over a growing heap, more than doubled the time to read them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _json_error(b: bytes, exc: json.JSONDecodeError) -> str:
    """What is wrong with a line that is not JSON, named as an operator would see it."""
    if not b:
        return "a blank line (an extra newline where an event should be)"
    if b.startswith(_BOM):
        return "starts with a UTF-8 byte order mark (the file was re-saved by an editor)"
    if exc.msg == "Extra data":
        return f"not valid JSON: {len(exc.doc[exc.pos:].encode())} byte(s) after the end of the event"
    return f"not valid JSON ({exc.msg} at column {exc.colno})"


def _non_canonical(b: bytes, again: bytes | None) -> str:
    if again is not None and b.startswith(again):
        after = b[len(again) :]
        if after == b"\r":
            return "not in canonical form: it ends with a carriage return (a \\r\\n line ending)"
        return f"not in canonical form: {len(after)} byte(s) of whitespace after the event"  # JSON allows only that
    return "not in canonical form (spacing, key order, escaping or number format differs)"


def _could_be_cut_short(b: bytes) -> bool:
    """Whether ``b`` is what a crash leaves of a line being written: its start, perhaps followed by zero bytes.

    A canonical line starts with ``{"data":``, holds no raw control byte and is one JSON object, so a complete JSON
    value is no prefix (it is a whole line with something else wrong), and neither is anything after the zeros.
    """
    zero = b.find(b"\0")
    if zero != -1:
        if b.count(b"\0", zero) != len(b) - zero:
            return False
        b = b[:zero]
        if not b:
            return True  # zeros only: the size reached the disk, the data did not
    if not (b.startswith(_LINE_START) or _LINE_START.startswith(b)):
        return False
    if len(b.translate(None, _CONTROL)) != len(b):
        return False
    try:
        text = b.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data" or exc.end != len(b):
            return False
        text = b[: exc.start].decode("utf-8")  # a character cut in two at the very end
    try:
        _DECODER.raw_decode(text)
    except json.JSONDecodeError:
        return True
    except RecursionError:
        return True  # nested deeper than the decoder follows, and still open: nothing says it was complete
    return False


def _chain_reason(
    event: Event, b: bytes, want_seq: int | None, want_prev: str | None, prev_line: int, lines: list[bytes]
) -> tuple[str, str] | None:
    """How a canonical line fails to continue the chain (kind, reason), or None when it follows on."""
    if want_seq is not None and event.seq != want_seq:
        if prev_line and b == lines[prev_line - 1]:
            return "chain", f"repeats line {prev_line} (the same event twice)"
        return "chain", f"seq is {event.seq}, expected {want_seq}"
    if want_prev is not None and event.prev != want_prev:
        if want_prev == GENESIS:
            return "chain", "prev is not the genesis hash"
        return "chain", f"prev does not match the hash of the event on line {prev_line}"
    if _hashed_bytes_digest(b, event.hash) != event.hash:
        return "hash", "hash does not match its content"
    return None


def _hashed_bytes_digest(line: bytes, stored_hash: str) -> str:
    """SHA-256 of a canonical line without its ``,"hash":H`` field, i.e. of the five hashed fields.

    Only for lines already checked to be canonical: then the last ``,"hash":`` in the line is the top-level
    one, because the fields after it (prev, seq, ts, type) are scalars and a ``"`` inside a JSON string is
    always escaped. Saves re-serialising every event when verifying long journals.
    """
    field = b',"hash":' + canonical(stored_hash)
    k = line.rfind(field)
    return hashlib.sha256(line[:k] + line[k + len(field) :]).hexdigest()


def _quotes_torn(candidate: bytes, line_no: int, torn: bytes) -> bool:
    """Whether ``candidate`` is a journal.torn_tail event recording exactly ``torn`` as line ``line_no``."""
    if b'"type":"journal.torn_tail"' not in candidate:  # cheap filter: most lines are not
        return False
    event, _reason = _parse_line(candidate)
    if event is None or event.type != TORN_TAIL:
        return False
    return event.data.get("line") == line_no and event.data.get("sha256") == hashlib.sha256(torn).hexdigest()


def _tail(
    b: bytes, event: Event | None, reason: str | None, kind: str, terminated: bool, closed_line: int | None
) -> tuple[str | None, str, bool]:
    """The verdict on the last line: (reason, kind, whether it is a complete event lacking only its newline)."""
    if terminated:
        if event is None and b"\0" in b and _could_be_cut_short(b):
            reason, kind = f"{len(b)} bytes ending in zeros: the last write was cut short", "torn"
        else:
            return reason, kind, False
    elif event is not None and reason is None:
        if closed_line is not None or event.type == CHANGE_CLOSED:
            where = f"on line {closed_line}" if closed_line is not None else "on this line"
            return (f"a complete {event.type} event with no final newline in a change closed {where}; {_NOT_RECOVERED}",
                    "corrupt", True)
        return _NO_NEWLINE, "newline", True
    elif event is None and _could_be_cut_short(b):
        reason, kind = f"no trailing newline ({len(b)} bytes): the last write was cut short", "torn"
    else:
        # Whole JSON, or bytes no event starts with: not what a write cut short leaves.
        return f"{reason}, with no final newline", kind, False
    if closed_line is not None:
        return f"a torn write after the change was closed on line {closed_line}; {_NOT_RECOVERED}", "corrupt", False
    return reason, kind, False


def _set_aside(
    b: bytes, want_seq: int | None, want_prev: str | None, prev_line: int, lines: list[bytes]
) -> Event | None:
    """The event a line recorded as torn actually holds, if it is complete and chain-consistent (else None)."""
    event, reason = _parse_line(b)
    if event is None or reason is not None or _chain_reason(event, b, want_seq, want_prev, prev_line, lines):
        return None
    return event


def scan(raw: bytes, *, first_only: bool = False) -> _Scan:
    """Check every line and the chain of a journal's bytes (no file checks)."""
    with _no_gc():
        return _scan(raw, first_only)


_TORN_TYPE = b'"type":"journal.torn_tail"'
# Events the full loop keeps state for (the close, a restored newline's warning): the intact prefix ends before one.
_PREFIX_ENDS = frozenset({CHANGE_CLOSED, NEWLINE_RESTORED})
# How many lines ``batch.take`` checks at once: long enough that the interpreter's work per run is nothing, short
# enough that a run's objects stay in the CPU's caches (the time per line grows again beyond a few thousand).
RUN_LINES = 1000


def _intact_prefix(raw: bytes, lines: list[bytes], terminated: bool, out: _Scan, keep: bool = True) -> int:
    """Take the leading run of intact events (most journals: every line) into ``out``; return how many.

    The same verdict as the full loop in ``_scan`` for each line it takes, with none of that loop's cases: a
    canonical line that continues the chain, is not followed by a torn-tail record, and is not the last line of a
    file without its final newline. The first line that is anything else is left to the full loop, which then goes
    on from there. Without ``keep`` the lines go into ``out.facts``, and no event is made: verifying alone needs
    none, and making 100,000 events and freeing them again is a sixth of the time it takes (and a long journal's
    second half is then read by a second process: ``_in_two``).
    """
    stop = len(lines) if terminated else len(lines) - 1
    torn_at = raw.find(_TORN_TYPE)
    if torn_at != -1:  # no line before the one quoted by a torn-tail record (rare: a recovered crash)
        stop = min(stop, raw.count(b"\n", 0, torn_at) - 1)
    return _prefix(lines, 0, stop, GENESIS, keep, out)[0]


def _prefix(lines: list[bytes], n: int, stop: int, want_prev: str, keep: bool, out: _Scan) -> tuple[int, str]:
    """``_intact_prefix``'s reading of ``lines[n:stop]``, the line before ending in ``want_prev``: the index after
    the last line taken and that line's hash.

    ``RUN_LINES`` lines at a time by ``batch.take``; a run it does not take (something in it is not the common
    case, or is wrong) is read line by line by ``_run``, which stops at the first line it cannot take.
    """
    types: dict[bytes, str] = {}
    while n < stop:
        end = min(n + RUN_LINES, stop)
        run = batch.take(lines, n, end, want_prev, ts=keep, types=types, stops=_PREFIX_ENDS)
        if run is None:
            n, want_prev = _run(lines, n, end, want_prev, keep, out)
            if n < end:
                break
            continue
        numbers = range(n + 1, end + 1)
        if keep:
            assert run.ts is not None
            prevs = [want_prev, *run.hashes[:-1]]
            events = list(map(Event.trusted, numbers, run.ts, run.types, run.data, prevs, run.hashes))
            out.events += events
            out.parsed += zip(numbers, events, strict=True)
        else:
            facts = out.facts
            facts.lines += numbers
            facts.hashes += run.hashes
            facts.types += run.types
            facts.refs += _refs(numbers, run.data)
        n, want_prev = end, run.hashes[-1]
    return n, want_prev


def _refs(numbers: Iterable[int], data: list[dict[str, Any]]) -> list[tuple[int, tuple[Any, Any]]]:
    """``_file_refs`` of events' data (on lines ``numbers``, ascending) as (line, (path, sha256)), in order.

    The common case, one whole ``"file"`` reference in every event, takes C loops only (``map``); otherwise the
    events with one are picked out (``compress``), and events with a ``"files"`` list, rarer, are read one by one.
    """
    numbers = list(numbers)
    found: list[Any] = list(map(dict.get, data, repeat("file")))
    refs: list[tuple[int, tuple[Any, Any]]]
    try:
        refs = list(zip(numbers, map(_PATH_SHA, found), strict=True))
    except (KeyError, TypeError):  # an event without a "file", or with one that is not a whole reference
        dicts = list(map(isinstance, found, repeat(dict)))
        ones: list[dict[str, Any]] = list(compress(found, dicts))
        nos = list(compress(numbers, dicts))
        whole = list(map(and_, map(dict.__contains__, ones, repeat("path")), map(dict.__contains__, ones, repeat("sha256"))))
        refs = list(zip(compress(nos, whole), map(_PATH_SHA, compress(ones, whole)), strict=True))
    many = list(map(dict.get, data, repeat("files")))
    lists = list(map(isinstance, many, repeat(list))) if any(many) else []
    if any(lists):
        for no, event_data in zip(compress(numbers, lists), compress(data, lists), strict=True):
            refs += [(no, (f["path"], f["sha256"])) for f in event_data["files"] if isinstance(f, dict) and "path" in f
                     and "sha256" in f]
        refs.sort(key=itemgetter(0))  # stable: a line's "file" stays before its "files", as _file_refs gives them
    return refs


def _run(lines: list[bytes], n: int, stop: int, want_prev: str, keep: bool, out: _Scan) -> tuple[int, str]:
    """``_prefix``'s line-by-line reading of ``lines[n:stop]``, the line before ending in ``want_prev``: the index
    after the last line taken and that line's hash."""
    events, parsed, facts = out.events, out.parsed, out.facts
    while n < stop:
        fields = _fast_fields(lines[n])
        if fields is None:
            break
        seq, ts, type_, data, prev, hash_, digest = fields
        if seq != n + 1 or prev != want_prev or digest != hash_ or type_ in _PREFIX_ENDS:
            break
        n += 1
        event = Event.trusted(seq, ts, type_, data, prev, hash_)
        if keep:
            events.append(event)
            parsed.append((n, event))
        else:
            facts.add(n, event)
        want_prev = digest
    return n, want_prev


# From how many lines verifying reads the second half in a second process: below it, starting the process and taking
# back its facts would cost more than half the lines take.
PARALLEL_LINES = 20_000


def _may_fork() -> bool:
    """Whether a second process may be forked here: the platform has fork, and this process runs one thread (a fork
    copies only the calling thread, and a lock another thread held would stay held in the child)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def _spare_cpu() -> bool:
    """Whether a second process would get a CPU of its own: two or more usable, and the load leaves one free. On a
    busy machine the two halves would only take turns, and the fork and the facts sent back are then pure cost.

    The load average counts this process too (a verify of a long journal is itself a running process, about 1.0 on
    an otherwise idle machine): up to half a CPU more than that still leaves one free. It is a minute's average, so
    what runs right now must leave one free as well: with one other busy process on two CPUs, the child shares a CPU
    with it and the halves take as long as one process reading both (measured), and with more, longer."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if usable < 2 or os.getloadavg()[0] >= usable - 0.5:
        return False
    running = _running_now()
    return running is None or running < usable


def _running_now() -> int | None:
    """How many tasks are running or ready to run on the machine now, this process included (Linux's
    /proc/loadavg, its fourth field "running/total"); None where there is no such file."""
    try:
        with open("/proc/loadavg", "rb") as f:
            return int(f.read().split()[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return None


def _has_lines(raw: bytes, n: int) -> bool:
    """Whether ``raw`` holds ``n`` lines or more, counted no further than that."""
    at, found, step = 0, 0, 1 << 20
    while found < n and at < len(raw):
        found += raw.count(b"\n", at, at + step)
        at += step
    return found >= n


def _in_two(raw: bytes, base: Path) -> tuple[list[bytes], _Scan, int] | None:
    """``_intact_prefix`` without events of a long journal in two processes: the lines, the scan so far, and how many
    lines the prefix took; None (nothing done) if the journal holds a torn-tail record or is not long enough.

    Each process splits and reads its own half of the bytes (the file cut at the newline nearest its middle), so no
    line is split twice, nor copied into the child by writing to it. The child applies ``_prefix``'s test to its half,
    taking its first line's ``prev`` on trust, and sends back its facts, how far it got and that ``prev``. They are
    used only if this process's half is intact to its last line and ends in that very hash; otherwise (or if the
    child failed) this process splits and reads on from where it stopped, as one process would have. So the prefix,
    line for line, is what ``_prefix`` alone takes. Each process also checks the files its half references (the
    parent while the child may still be reading), so little is left to do once the halves are put together.

    The lines returned are the file's, but for the child's half up to the line before the first one the prefix did not
    take: ``_scan`` reads on from there and looks back one line at most, so those are left empty (b"").
    """
    cut = raw.find(b"\n", len(raw) // 2) + 1
    if cut == 0 or cut == len(raw) or raw.find(_TORN_TYPE) != -1:
        return None  # no second half, or a recovered crash: one process, as _intact_prefix reads it
    terminated = raw.endswith(b"\n")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 1
        try:
            os.close(read_fd)
            payload = pickle.dumps(_second_half(raw, cut, terminated, base), pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_fd, "wb") as sink:
                sink.write(payload)
            status = 0
        finally:
            os._exit(status)  # no atexit, no buffers flushed twice: the parent owns all of that
    os.close(write_fd)
    pipe = os.fdopen(read_fd, "rb")
    try:
        lines = raw[:cut].split(b"\n")
        lines.pop()  # what follows the last newline before the cut: the child's
        mid = len(lines)
        out = _Scan([], [], [], [], None)
        n, want_prev = _prefix(lines, 0, mid, GENESIS, False, out)
        if n == mid:
            out.facts.checked(base)
        payload = pipe.read()
    finally:
        pipe.close()  # first: a child still writing gets a broken pipe and exits, so the wait below ends
        _, status = os.waitpid(pid, 0)
    theirs = pickle.loads(payload) if status == 0 and payload else None
    if n == mid and theirs is not None and theirs[0] == want_prev:
        _, end, resume_at, packed = theirs
        out.facts.extend(_unpacked(mid + 1, *packed))
        # The lines from the one before the first not taken (still in this half when the child took none).
        back = max(end - 1, mid)
        lines += [b""] * (back - mid)
        lines += raw[resume_at if end > mid else cut :].split(b"\n")
    else:
        lines += raw[cut:].split(b"\n")
        end = n
    if terminated:
        lines.pop()
    out.line_count = len(lines)
    if n == mid and end == mid:  # the child's half is unread (unusable, or it took nothing): read it here
        end = _prefix(lines, mid, len(lines) if terminated else len(lines) - 1, want_prev, False, out)[0]
    return lines, out, end


def _second_half(raw: bytes, cut: int, terminated: bool, base: Path) -> tuple[str | None, int, int, tuple[Any, ...]]:
    """What the child of ``_in_two`` sends back: the ``prev`` of the first line of its half (taken on trust), the
    index after the last line its prefix took, the byte offset of the line before that, and its facts packed."""
    mid = raw.count(b"\n", 0, cut)
    lines = [b""] * mid + raw[cut:].split(b"\n")  # its lines at their indices in the file; the parent's left empty
    if terminated:
        lines.pop()
    stop = len(lines) if terminated else len(lines) - 1
    first = _fast_fields(lines[mid]) if mid < stop else None
    first_prev = first[4] if first is not None else None
    half = _Scan([], [], [], [], None)
    end = _prefix(lines, mid, stop, first_prev, False, half)[0] if first_prev is not None else mid
    half.facts.checked(base)
    resume_at = cut + sum(map(len, lines[mid : end - 1])) + max(end - 1 - mid, 0)  # where line end - 1 starts
    return first_prev, end, resume_at, _packed(half.facts)


def _packed(facts: _Facts) -> tuple[str, list[str], list[int], list[tuple[Any, Any]], list[Problem]]:
    """The child's facts as it sends them (its lines are consecutive, so their numbers are not sent): the hashes as
    one string, and each file reference's (path, sha256) as the one tuple of its kind, which pickle then sends once
    (a long journal names its few hundred outputs over and over)."""
    keys = list(map(_REF_KEY, facts.refs))
    try:
        one = dict(zip(keys, keys, strict=True))  # each distinct key to one tuple equal to it
        keys = list(map(one.__getitem__, keys))
    except TypeError:
        pass  # a path or hash that is a list or an object: sent as it is
    return "".join(facts.hashes), facts.types, list(map(_REF_LINE, facts.refs)), keys, facts.problems


def _unpacked(
    first: int, hashes: str, types: list[str], ref_lines: list[int], keys: list[tuple[Any, Any]], problems: list[Problem]
) -> _Facts:
    """``_packed``'s facts again, the first on line ``first``."""
    cut = range(0, len(hashes), 64)
    return _Facts(
        list(range(first, first + len(types))),
        list(map(getitem, repeat(hashes), map(slice, cut, map(add, cut, repeat(64))))),
        types,
        list(zip(ref_lines, keys, strict=True)),
        problems,
    )


def _scan(raw: bytes, first_only: bool, keep: bool = True, base: Path | None = None) -> _Scan:
    """``scan``; without ``keep``, the intact prefix as facts, not events (verifying only: see ``_intact_prefix``),
    a long journal's in two processes where one can be started safely and would have a CPU to itself, each then
    checking the files its half references under ``base`` (see ``_in_two``)."""
    two = None
    if not keep and base is not None and _may_fork() and _spare_cpu() and _has_lines(raw, PARALLEL_LINES):
        two = _in_two(raw, base)
    if two is not None:
        lines, out, i = two
        terminated = raw.endswith(b"\n")
    else:
        lines = raw.split(b"\n")
        terminated = lines[-1] == b""
        if terminated:
            lines.pop()
        out = _Scan([], [], [], [], None, line_count=len(lines))
        i = _intact_prefix(raw, lines, terminated, out, keep)
    want_seq: int | None = i + 1  # None after an unreadable line: resynchronise on the next one
    want_prev: str | None = (out.events[-1].hash if keep else out.facts.hashes[-1]) if i else GENESIS
    prev_line = i
    closed_line: int | None = None  # the line of the chain's change.closed, once seen
    while i < len(lines):
        no, b = i + 1, lines[i]
        last = i == len(lines) - 1
        if not last and _quotes_torn(lines[i + 1], no, b):
            whole = _set_aside(b, want_seq, want_prev, prev_line, lines)
            if whole is None:
                out.warnings.append(
                    f"line {no}: torn write of {len(b)} bytes, recorded by the journal.torn_tail event on line {no + 1}"
                )
            else:  # left by recoveries before a complete event was kept: the record lost an event it held
                reopened = whole.type == CHANGE_CLOSED
                what = "which reopened a closed change" if reopened else "which dropped it from the chain"
                out.problems.append(Problem(
                    no, f"a complete, valid {whole.type} event that the journal.torn_tail event on line {no + 1} "
                    f"set aside as torn, {what}", "chain",
                ))
                if first_only:
                    break
            i += 1
            continue
        fast = _fast_event(b)
        event: Event | None
        if fast is not None:
            (event, digest), reason = fast, None
        else:
            event, reason = _parse_line(b)
            digest = _hashed_bytes_digest(b, event.hash) if event is not None and reason is None else ""
        kind = "corrupt"
        if reason is None and event is not None:
            # The checks inline (the common case, every line of a long journal); the reason only when one fails.
            if (
                (want_seq is not None and event.seq != want_seq)
                or (want_prev is not None and event.prev != want_prev)
                or digest != event.hash
            ):
                kind, reason = _chain_reason(event, b, want_seq, want_prev, prev_line, lines) or (kind, reason)
            elif closed_line is not None and not may_follow_close(event.type):
                kind = "chain"
                reason = (f"a {event.type} event after the change was closed on line {closed_line}: "
                          "only addenda may follow a closed change")
        if last and (event is None or not terminated):
            reason, kind, complete = _tail(b, event, reason, kind, terminated, closed_line)
            if kind == "torn":
                out.torn_raw = b
            elif complete:
                out.tail_event = event
        if event is not None:
            out.parsed.append((no, event))
        if reason is not None:
            out.problems.append(Problem(no, reason, kind))
            if first_only:
                break
        elif event is not None:
            if not out.problems:
                out.events.append(event)
            if event.type == CHANGE_CLOSED:
                closed_line = no
            elif event.type == NEWLINE_RESTORED:
                out.warnings.append(
                    f"line {event.data.get('line')}: its final newline was missing; restored and recorded by the "
                    f"journal.newline_restored event on line {no}"
                )
        want_seq = event.seq + 1 if event is not None else None
        want_prev = event.hash if event is not None else None
        prev_line = no
        i += 1
    return out


def read_events(path: Path) -> ReadResult:
    """Read a journal tolerantly: the events up to the first bad line, and that line's problem.

    For the offline reviewer, which shows a damaged record "readable up to line N" instead of nothing.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return ReadResult([], Problem(0, f"{path} is missing", "file"))
    result = scan(raw, first_only=True)
    # A complete last event that lacks only its newline is readable: a reviewer sees a closed change as closed.
    events = result.events + [result.tail_event] if result.tail_event is not None else result.events
    return ReadResult(events, result.problems[0] if result.problems else None)


def _file_refs(data: dict[str, Any]) -> list[dict[str, Any]]:
    refs: list[dict[str, Any]] = []
    one = data.get("file")
    if isinstance(one, dict) and "path" in one and "sha256" in one:
        refs.append(one)
    many = data.get("files")
    if isinstance(many, list):
        refs.extend(f for f in many if isinstance(f, dict) and "path" in f and "sha256" in f)
    return refs


def _check_file(base: Path, rel: Any, sha256: Any, cache: dict[Path, str | None]) -> str | None:
    from console.journal.cast import sha256_file

    if not isinstance(rel, str) or not rel:
        return "a file reference has no usable path"
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts:
        return f"{rel}: path leaves the change directory"
    full = base / rel
    if full not in cache:  # several events may name one file; read it once
        cache[full] = sha256_file(full) if full.is_file() else None
    if cache[full] is None:
        return f"{rel} is missing"
    if not isinstance(sha256, str) or cache[full] != sha256.lower():
        return f"{rel}: SHA-256 differs from the journal"
    return None


def _file_problems(base: Path, refs: list[tuple[int, tuple[Any, Any]]]) -> list[Problem]:
    """The problems of the files referenced as (line, (path, sha256)), in that order.

    Each distinct (path, sha256) is checked once; when every one holds (the common case) no reference is looked at
    again. A path or hash that is not a string is checked reference by reference, as ``_check_file`` says why.
    """
    cache: dict[Path, str | None] = {}
    reasons: dict[tuple[str, str], str | None] = {}
    clean = True
    try:
        for key in set(map(_REF_KEY, refs)):
            if isinstance(key[0], str) and isinstance(key[1], str):
                reason = reasons[key] = _check_file(base, key[0], key[1], cache)
                clean = clean and reason is None
            else:
                clean = False
    except TypeError:
        clean = False  # a path or hash that is a list or an object: not a key, checked below one by one
    if clean:
        return []
    problems: list[Problem] = []
    for no, (rel, sha256) in refs:
        if isinstance(rel, str) and isinstance(sha256, str):
            key = (rel, sha256)
            if key not in reasons:
                reasons[key] = _check_file(base, rel, sha256, cache)
            reason = reasons[key]
        else:
            reason = _check_file(base, rel, sha256, cache)
        if reason is not None:
            problems.append(Problem(no, reason, "file"))
    return problems


def verify(path: Path, *, head: str | None = None) -> VerifyReport:
    """Check a journal line by line, its chain, the files its events reference and, if given, its head.

    Files: an event whose data has ``"file": {"path", "sha256"}`` (or ``"files": [...]`` of those), with paths
    relative to the journal's directory, must point at a file with that SHA-256.
    """
    path = Path(path)
    raw, early = _read(path)
    if early is not None:
        return early[1]
    # The collector stays off until the scan is freed again: turned on with it alive, it would first walk every one of
    # its objects to find nothing to collect.
    with _no_gc():
        return _verified(path, _scan(raw, False, keep=False, base=path.parent), head)


def read_and_verify(path: Path, *, head: str | None = None) -> tuple[ReadResult, VerifyReport]:
    """``read_events`` and ``verify`` of one journal from one read and one scan of it (a reviewer wants both)."""
    path = Path(path)
    raw, early = _read(path)
    if early is not None:
        return early
    with _no_gc():
        result = _scan(raw, False)
        return _readable(result), _verified(path, result, head)


def _read(path: Path) -> tuple[bytes, tuple[ReadResult, VerifyReport] | None]:
    """A journal's bytes, or what reading and verifying say of a journal that is missing or empty."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        missing = Problem(0, f"{path} is missing", "file")
        return b"", (ReadResult([], missing), VerifyReport(False, 0, GENESIS, [missing], []))
    if not raw:
        # Nothing to check is not the same as intact: a record whose every byte was removed must not pass.
        problem = Problem(0, "the journal is empty: it holds no events, not even the change's first", "corrupt")
        return raw, (ReadResult([], None), VerifyReport(False, 0, GENESIS, [problem], []))
    return raw, None


def _readable(result: _Scan) -> ReadResult:
    """What ``read_events`` gives, from a full scan: the events before the first problem, the tail event if the
    scan reached it with nothing wrong before it (as ``scan(first_only=True)`` would have)."""
    first = result.problems[0] if result.problems else None
    reached_tail = first is None or first.line == result.line_count  # problems come in line order
    if result.tail_event is not None and reached_tail:
        return ReadResult(result.events + [result.tail_event], first)
    return ReadResult(result.events, first)


def _verified(path: Path, result: _Scan, head: str | None) -> VerifyReport:
    facts = result.all_facts()
    problems = result.problems + facts.problems + _file_problems(path.parent, facts.refs)
    problems.sort(key=lambda p: p.line)  # stable: a line's own problem stays before its file's
    actual = facts.hashes[-1] if facts.hashes else GENESIS
    after: list[tuple[int, str]] = []
    if head is not None:
        head_problem, after = check_head(facts, head)
        if head_problem is not None:
            problems.append(head_problem)
    return VerifyReport(not problems, len(facts.hashes), actual, problems, result.warnings, after)


def may_follow_head(event_type: str) -> bool:
    """Whether an event may come after the head kept at close-out: an addendum, a signature, or the team ID a
    later sync gave a provisional change (``change.aliased``); nothing else."""
    return event_type.startswith(("addendum", "signature")) or event_type == CHANGE_ALIASED


def check_head(facts: _Facts, head: str) -> tuple[Problem | None, list[tuple[int, str]]]:
    """Whether the chain went through ``head`` and only addenda and signatures follow it.

    Returns the problem (None when the head holds) and the events after the head as (line, type).
    """
    wanted = head.strip().lower()
    last_line, actual = (facts.lines[-1], facts.hashes[-1]) if facts.hashes else (0, GENESIS)
    if wanted not in facts.hashes:
        return Problem(last_line, f"chain ends at {actual}, expected {head.strip()}", "chain"), []
    at = facts.hashes.index(wanted)
    after = list(zip(facts.lines[at + 1 :], facts.types[at + 1 :], strict=True))
    for no, event_type in after:
        if not may_follow_head(event_type):
            kept_line = facts.lines[at]
            return Problem(no, f"a {event_type} event after the kept head (line {kept_line}): only addenda and "
                               "signatures may follow it", "chain"), after
    return None, after
