"""Reading and verifying a journal without opening it for writing.

``verify`` checks every line (canonical bytes, sequence, chain, hash), a torn tail (and its recorded recovery) and
the files events reference (outputs, artifacts); ``read_events`` reads as far as the first bad line, so an
offline reviewer still shows a broken record up to there.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from console.journal.chain import EVENT_FIELDS, GENESIS, TORN_TAIL, Event, canonical

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
