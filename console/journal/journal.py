"""The change journal: one JSON event per line, appended with fsync and chained by SHA-256.

Each line is the canonical JSON of ``{seq, ts, type, data, prev, hash}`` where ``hash`` is the SHA-256 of the
canonical JSON of the other five fields and ``prev`` is the hash of the line before (``GENESIS`` for the first).
Because every line must be byte-for-byte canonical, any changed byte is caught by ``verify`` and named by line.

A power cut in the middle of a write leaves a torn last line. It is reported, never dropped or rewritten:
``Journal.recover_torn_tail`` is the explicit operator action that terminates the torn line and appends a
``journal.torn_tail`` event quoting its bytes, after which the journal opens and verifies again.

``verify`` checks a journal and the files its events reference (outputs, artifacts) without opening it for
writing; ``read_events`` reads as far as the first bad line, for an offline reviewer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

GENESIS: str = "0" * 64
TORN_TAIL = "journal.torn_tail"
EVENT_FIELDS = ("data", "hash", "prev", "seq", "ts", "type")

Clock = Callable[[], datetime]


# One encoder for every call: json.dumps would build a new one each time, which shows in append rates.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical(obj: Any) -> bytes:
    """The one serialisation the journal accepts: sorted keys, no spaces, UTF-8, no NaN or Infinity.

    Same bytes as ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` for any
    JSON value; NaN and Infinity raise ``ValueError`` because they are not JSON.
    """
    return _ENCODER.encode(obj).encode()


def utc_ts(dt: datetime) -> str:
    """``2026-11-21T23:20:55.123456Z``: UTC, always with microseconds, so timestamps sort as strings."""
    if dt.tzinfo is None:
        # A naive datetime's zone is a guess; a record must not guess when something happened.
        raise ValueError("utc_ts needs a timezone-aware datetime")
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(ts: str) -> datetime:
    """The inverse of ``utc_ts`` (an aware UTC datetime)."""
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def event_hash(seq: int, ts: str, type: str, data: dict, prev: str) -> str:
    """SHA-256 hex of the canonical JSON of the five hashed fields."""
    return hashlib.sha256(canonical({"seq": seq, "ts": ts, "type": type, "data": data, "prev": prev})).hexdigest()


def _encode(seq: int, ts: str, type: str, data_json: bytes, prev: str) -> tuple[str, bytes]:
    """The hash and the line of an event, from ``canonical(data)`` serialised once.

    With sorted keys the line is ``{"data":D,"hash":H,"prev":P,"seq":S,"ts":T,"type":Y}`` and the hashed bytes
    are the same without ``,"hash":H``, so both are assembled from pieces rather than serialising ``data``
    three times; the tests check the result against ``canonical`` of the whole.
    """
    # prev (hex) and ts (digits, "-:.TZ") never need escaping; type might.
    tail = b',"prev":"%s","seq":%d,"ts":"%s","type":%s}' % (prev.encode(), seq, ts.encode(), canonical(type))
    digest = hashlib.sha256(b'{"data":' + data_json + tail).hexdigest()
    return digest, b'{"data":' + data_json + b',"hash":"' + digest.encode() + b'"' + tail + b"\n"


@dataclass(frozen=True)
class Event:
    """One journal line, as written and as read back."""

    seq: int
    ts: str
    type: str
    data: dict
    prev: str
    hash: str

    def to_line(self) -> bytes:
        """The exact bytes of this event's line, newline included."""
        return canonical(self.as_dict()) + b"\n"

    def as_dict(self) -> dict:
        return {"seq": self.seq, "ts": self.ts, "type": self.type, "data": self.data, "prev": self.prev, "hash": self.hash}

    @property
    def when(self) -> datetime:
        return parse_ts(self.ts)


class JournalError(Exception):
    """Base class of every journal failure."""


class TornTailError(JournalError):
    """The last line was cut short (a crash or power cut mid-write); see ``Journal.recover_torn_tail``."""

    def __init__(self, path: Path, line: int, raw: bytes, reason: str) -> None:
        self.path = path
        self.line = line
        self.raw = raw
        self.reason = reason
        super().__init__(
            f"{path}: line {line} is torn ({reason}); nothing was changed. "
            "Review it, then recover explicitly (Journal.recover_torn_tail) to record it and continue."
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


def _write_all(fd: int, buf: bytes) -> None:
    # os.write on a regular file normally takes everything; loop anyway rather than assume it.
    view = memoryview(buf)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def fsync_dir(path: Path) -> None:
    """fsync a directory so a newly created entry in it survives a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """An open journal file: verified on open, appended to with one ``os.write`` + ``os.fsync`` per event.

    ``append`` returns only after the line is on disk, so a caller that acts after it never acts on something
    the record does not hold. One ``Journal`` per file per process; the change lock keeps other processes out.
    """

    def __init__(self, path: Path, fd: int, events: list[Event], clock: Clock | None) -> None:
        self._path = path
        self._fd: int | None = fd
        self._events = events
        self._clock: Clock = clock or _now
        self._lock = threading.Lock()
        self._broken: str | None = None

    # -- opening ------------------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, *, clock: Clock | None = None) -> Journal:
        """Create an empty journal; raises ``JournalExistsError`` if the file exists."""
        path = Path(path)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except FileExistsError:
            raise JournalExistsError(f"{path} already exists; a journal is never overwritten") from None
        try:
            os.fsync(fd)
            fsync_dir(path.parent)
        except OSError:
            os.close(fd)
            raise
        return cls(path, fd, [], clock)

    @classmethod
    def open(cls, path: Path, *, clock: Clock | None = None) -> Journal:
        """Open an existing journal after checking every line and the chain.

        Raises ``TornTailError`` for a torn last line and ``JournalCorruptError`` (first bad line, 1-based)
        for anything else. Referenced files are not checked here; that is ``verify``'s job.
        """
        path = Path(path)
        raw = path.read_bytes()
        result = scan(raw)
        if result.problems:
            first = result.problems[0]
            if first.kind == "torn":
                raise TornTailError(path, first.line, result.torn_raw or b"", first.reason)
            raise JournalCorruptError(path, first.line, first.reason)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        return cls(path, fd, result.events, clock)

    @classmethod
    def recover_torn_tail(cls, path: Path, *, clock: Clock | None = None) -> Journal:
        """Record a torn last line and continue: the operator's explicit answer to ``TornTailError``.

        Appends ``b"\\n"`` (if the torn line lacks one) and then a ``journal.torn_tail`` event, chained to the
        last good event, holding the torn bytes (base64), their length and SHA-256. Nothing already in the file
        is truncated or rewritten. Raises ``JournalError`` if there is no torn tail to recover.
        """
        path = Path(path)
        raw = path.read_bytes()
        result = scan(raw)
        if not result.problems:
            raise JournalError(f"{path}: no torn tail to recover; the journal is intact")
        first = result.problems[0]
        if first.kind != "torn":
            raise JournalCorruptError(path, first.line, first.reason)
        torn = result.torn_raw or b""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            if not raw.endswith(b"\n"):
                # Terminate the torn line on its own and make that durable first: a second crash here leaves
                # a terminated torn line, which is torn again on the next open and recovered the same way.
                # (Only a crash in the middle of writing the marker line itself is not recoverable this way.)
                _write_all(fd, b"\n")
                os.fsync(fd)
        except OSError:
            os.close(fd)
            raise
        journal = cls(path, fd, result.events, clock)
        journal.append(
            TORN_TAIL,
            {
                "line": first.line,
                "sha256": hashlib.sha256(torn).hexdigest(),
                "bytes_b64": base64.b64encode(torn).decode("ascii"),
                "length": len(torn),
            },
        )
        return journal

    # -- reading ------------------------------------------------------------------------------------------

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    @property
    def head(self) -> str:
        """The last event's hash (``GENESIS`` when empty): keep it elsewhere to catch a rewritten chain."""
        with self._lock:
            return self._events[-1].hash if self._events else GENESIS

    @property
    def path(self) -> Path:
        return self._path

    @property
    def closed(self) -> bool:
        return self._fd is None

    # -- writing ------------------------------------------------------------------------------------------

    def append(self, type: str, data: dict) -> Event:
        """Append one event and return it once it is fsynced.

        ``data`` must be a JSON object of JSON values; anything else raises ``TypeError``/``ValueError`` before
        a byte is written. The stored data is the JSON round trip of what was given (tuples become lists),
        so the returned event equals the one a later ``open`` reads back.
        """
        if not isinstance(type, str) or not type:
            raise ValueError("event type must be a non-empty string")
        if not isinstance(data, dict):
            raise TypeError(f"event data must be a dict, not {data.__class__.__name__}")
        # Serialise first: a non-JSON value fails here, with nothing written.
        data_json = canonical(data)
        stored = json.loads(data_json.decode())
        with self._lock:
            if self._fd is None:
                raise JournalError(f"{self._path} is closed")
            if self._broken is not None:
                raise JournalError(f"{self._path}: an earlier write failed ({self._broken}); reopen the journal")
            seq = len(self._events) + 1
            prev = self._events[-1].hash if self._events else GENESIS
            ts = utc_ts(self._clock())
            digest, line = _encode(seq, ts, type, data_json, prev)
            event = Event(seq, ts, type, stored, prev, digest)
            try:
                _write_all(self._fd, line)
                os.fsync(self._fd)
            except OSError as exc:
                # The file may now hold part of this line; only a reopen can say what is there.
                self._broken = str(exc)
                raise
            self._events.append(event)
            return event

    def close(self) -> None:
        """Close the file (idempotent). Every append was already fsynced, so there is nothing to flush."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self._path)!r}, events={len(self._events)})"


# -- reading and verifying ----------------------------------------------------------------------------------


@dataclass
class Problem:
    """One thing wrong with a journal, at a 1-based line (0 when it concerns no line)."""

    line: int
    reason: str
    kind: str  # "torn", "corrupt", "chain", "hash" or "file"

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

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.events} events, head {self.head}"
        return f"{len(self.problems)} problem(s); first: {self.problems[0]}"


@dataclass
class _Scan:
    events: list[Event]  # good events before the first problem
    problems: list[Problem]
    warnings: list[str]
    parsed: list[tuple[int, Event]]  # every line that reads as an event, with its line number
    torn_raw: bytes | None


def _parse_line(b: bytes) -> tuple[Event | None, str | None]:
    """The event a line holds (None if it holds none) and what is wrong with the line (None if nothing)."""
    try:
        obj = json.loads(b.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 (byte {exc.start + 1} of the line)"
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at column {exc.colno})"
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
        return event, "not in canonical form (spacing, key order, escaping or number format differs)"
    return event, None


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
    event, reason = _parse_line(candidate)
    if event is None or event.type != TORN_TAIL:
        return False
    return event.data.get("line") == line_no and event.data.get("sha256") == hashlib.sha256(torn).hexdigest()


def scan(raw: bytes, *, first_only: bool = False) -> _Scan:
    """Check every line and the chain of a journal's bytes (no file checks)."""
    lines = raw.split(b"\n")
    terminated = lines[-1] == b""
    if terminated:
        lines.pop()
    out = _Scan([], [], [], [], None)
    want_seq: int | None = 1  # None after an unreadable line: resynchronise on the next one
    want_prev: str | None = GENESIS
    prev_line = 0
    i = 0
    while i < len(lines):
        no, b = i + 1, lines[i]
        last = i == len(lines) - 1
        if not last and _quotes_torn(lines[i + 1], no, b):
            out.warnings.append(
                f"line {no}: torn write of {len(b)} bytes, recorded by the journal.torn_tail event on line {no + 1}"
            )
            i += 1
            continue
        event, reason = _parse_line(b)
        kind = "corrupt"
        if last and not terminated:
            kind, reason = "torn", f"no trailing newline ({len(b)} bytes): the last write was cut short"
            out.torn_raw, event = b, None
        elif last and event is None:
            kind, reason = "torn", f"{reason} on the last line: the last write was cut short"
            out.torn_raw = b
        elif reason is None and event is not None:
            if want_seq is not None and event.seq != want_seq:
                kind, reason = "chain", f"seq is {event.seq}, expected {want_seq}"
            elif want_prev is not None and event.prev != want_prev:
                kind = "chain"
                reason = (
                    "prev is not the genesis hash"
                    if want_prev == GENESIS
                    else f"prev does not match the hash of the event on line {prev_line}"
                )
            elif _hashed_bytes_digest(b, event.hash) != event.hash:
                kind, reason = "hash", "hash does not match its content"
        if event is not None:
            out.parsed.append((no, event))
        if reason is not None:
            out.problems.append(Problem(no, reason, kind))
            if first_only:
                break
        elif not out.problems and event is not None:
            out.events.append(event)
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
    return ReadResult(result.events, result.problems[0] if result.problems else None)


def _file_refs(data: dict) -> list[dict]:
    refs = []
    one = data.get("file")
    if isinstance(one, dict) and "path" in one and "sha256" in one:
        refs.append(one)
    many = data.get("files")
    if isinstance(many, list):
        refs.extend(f for f in many if isinstance(f, dict) and "path" in f and "sha256" in f)
    return refs


def _check_file(base: Path, ref: dict, cache: dict[Path, str | None]) -> str | None:
    from console.journal.cast import sha256_file

    rel = ref["path"]
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
    if not isinstance(ref["sha256"], str) or cache[full] != ref["sha256"].lower():
        return f"{rel}: SHA-256 differs from the journal"
    return None


def verify(path: Path, *, head: str | None = None) -> VerifyReport:
    """Check a journal line by line, its chain, the files its events reference and, if given, its head.

    Files: an event whose data has ``"file": {"path", "sha256"}`` (or ``"files": [...]`` of those), with paths
    relative to the journal's directory, must point at a file with that SHA-256.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return VerifyReport(False, 0, GENESIS, [Problem(0, f"{path} is missing", "file")], [])
    result = scan(raw)
    problems = list(result.problems)
    cache: dict[Path, str | None] = {}
    seen: dict[tuple[object, object], str | None] = {}  # (path, sha256) -> reason: a repeated reference costs a lookup
    for line_no, event in result.parsed:
        for ref in _file_refs(event.data):
            key = (ref["path"], ref["sha256"])
            if not (isinstance(key[0], str) and isinstance(key[1], str)):
                reason = _check_file(path.parent, ref, cache)
            elif key in seen:
                reason = seen[key]
            else:
                reason = seen[key] = _check_file(path.parent, ref, cache)
            if reason is not None:
                problems.append(Problem(line_no, reason, "file"))
    problems.sort(key=lambda p: p.line)  # stable: a line's own problem stays before its file's
    last_line, actual = (result.parsed[-1][0], result.parsed[-1][1].hash) if result.parsed else (0, GENESIS)
    if head is not None and head.strip().lower() != actual:
        problems.append(Problem(last_line, f"chain ends at {actual}, expected {head.strip()}", "chain"))
    return VerifyReport(not problems, len(result.parsed), actual, problems, result.warnings)
