"""The change journal: one JSON event per line, appended with fsync and chained by SHA-256.

Each line is the canonical JSON of ``{seq, ts, type, data, prev, hash}`` where ``hash`` is the SHA-256 of the
canonical JSON of the other five fields and ``prev`` is the hash of the line before (``GENESIS`` for the first).
Because every line must be byte-for-byte canonical, any changed byte is caught by ``verify`` and named by line.

A power cut in the middle of a write leaves a torn last line. It is reported, never dropped or rewritten:
``Journal.recover_torn_tail`` is the explicit operator action that terminates the torn line and appends a
``journal.torn_tail`` event quoting its bytes, after which the journal opens and verifies again. A last line that
is a complete, chain-consistent event lacking only its newline is not torn: the event is whole and may be the
one that closed the change, so recovery appends the newline and a ``journal.newline_restored`` event instead.
Once ``change.closed`` is in the chain the journal takes addenda only, and recovers nothing: a closed record that
was damaged is restored from a copy, not patched where it lies.

``verify`` and ``read_events`` (``verify.py``, re-exported here) read a journal without opening it for writing;
the primitives both sides agree on (canonical lines, hashes, ``Event``, the errors) are in ``chain.py``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.journal.chain import (
    CHANGE_CLOSED,
    EVENT_FIELDS,
    GENESIS,
    NEWLINE_RESTORED,
    TORN_TAIL,
    Clock,
    Event,
    JournalCorruptError,
    JournalError,
    JournalExistsError,
    MissingNewlineError,
    TornTailError,
    _encode,
    canonical,
    canonical_and_parsed,
    event_hash,
    may_follow_close,
    now_ts,
    parse_ts,
    utc_ts,
)

# The journal's whole API in one place: the primitives and the readers are re-exported for callers.
__all__ = [
    "EVENT_FIELDS", "GENESIS", "NEWLINE_RESTORED", "TORN_TAIL", "Clock", "Event", "Journal", "JournalCorruptError",
    "JournalError", "JournalExistsError", "MissingNewlineError", "Problem", "ReadResult", "TornTailError",
    "VerifyReport", "canonical", "event_hash", "fsync_dir", "parse_ts", "read_and_verify", "read_events", "scan", "utc_ts",
    "verify",
]
from console.journal.verify import (
    Problem,
    ReadResult,
    VerifyReport,
    read_and_verify,
    read_events,
    scan,
    verify,
)


def _write_all(fd: int, buf: bytes) -> None:
    # os.write on a regular file normally takes everything; loop anyway rather than assume it.
    n = os.write(fd, buf)
    if n == len(buf):
        return
    view = memoryview(buf)[n:]
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
    After a ``change.closed`` event it appends ``addendum.added`` events only.
    """

    def __init__(self, path: Path, fd: int, events: list[Event], clock: Clock | None) -> None:
        self._path = path
        self._fd: int | None = fd
        self._events = events
        # The timestamp of an event appended now: with the system clock, formatted from time.time_ns() directly.
        self._ts: Callable[[], str] = (lambda: utc_ts(clock())) if clock is not None else now_ts
        self._lock = threading.Lock()
        self._broken: str | None = None
        self._closed_at: int | None = next((e.seq for e in events if e.type == CHANGE_CLOSED), None)

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
            if first.kind == "newline" and result.tail_event is not None:
                raise MissingNewlineError(path, first.line, result.tail_event.to_line()[:-1], first.reason)
            raise JournalCorruptError(path, first.line, first.reason)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        return cls(path, fd, result.events, clock)

    @classmethod
    def recover_torn_tail(cls, path: Path, *, clock: Clock | None = None) -> Journal:
        """Record a torn last line and continue: the operator's explicit answer to ``TornTailError``.

        A torn line (the start of an event, cut short) is set aside: ``b"\\n"`` (if it lacks one) and a
        ``journal.torn_tail`` event chained to the last good event, holding the torn bytes (base64), their length
        and SHA-256. A complete, chain-consistent event lacking only its newline (``MissingNewlineError``) keeps its
        place: ``b"\\n"`` and a ``journal.newline_restored`` event naming its line and seq. Either way the newline
        and the event go down in one write, so a second crash leaves at worst a torn event line, recovered the same
        way; nothing already in the file is truncated or rewritten.

        Raises ``JournalError`` if there is nothing to recover, and ``JournalCorruptError`` for anything else,
        including any damage to a journal whose chain holds ``change.closed`` (a closed change takes only addenda).
        """
        path = Path(path)
        raw = path.read_bytes()
        result = scan(raw)
        if not result.problems:
            raise JournalError(f"{path}: no torn tail to recover; the journal is intact")
        first = result.problems[0]
        if first.kind == "newline" and result.tail_event is not None:
            whole = result.tail_event
            data: dict[str, Any] = {"line": first.line, "seq": whole.seq}
            return cls._recover(path, result.events + [whole], clock, NEWLINE_RESTORED, data)
        if first.kind != "torn":
            raise JournalCorruptError(path, first.line, first.reason)
        torn = result.torn_raw or b""
        data = {
            "line": first.line,
            "sha256": hashlib.sha256(torn).hexdigest(),
            "bytes_b64": base64.b64encode(torn).decode("ascii"),
            "length": len(torn),
        }
        return cls._recover(path, result.events, clock, TORN_TAIL, data, terminate=not raw.endswith(b"\n"))

    @classmethod
    def _recover(
        cls, path: Path, events: list[Event], clock: Clock | None, type: str, data: dict[str, Any], *, terminate: bool = True
    ) -> Journal:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        journal = cls(path, fd, events, clock)
        try:
            journal._append_all([(type, data)], lead=b"\n" if terminate else b"")
        except BaseException:
            journal.close()
            raise
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

    def append(self, type: str, data: dict[str, Any]) -> Event:
        """Append one event and return it once it is fsynced.

        ``data`` must be a JSON object of JSON values; anything else raises ``TypeError``/``ValueError`` before
        a byte is written. The stored data is the JSON round trip of what was given (tuples become lists),
        so the returned event equals the one a later ``open`` reads back. After ``change.closed`` only
        ``addendum.added`` is accepted (``JournalError`` otherwise): a closed change is never reopened or closed again.
        """
        # append_all's steps for one event, without its list: this is the path every step's events take.
        with self._lock:
            event, line = self._prepare(type, data, len(self._events) + 1)
            try:
                _write_all(self._fd, line)  # type: ignore[arg-type]  # _prepare checked the file is open
                os.fsync(self._fd)  # type: ignore[arg-type]
            except OSError as exc:
                self._broken = str(exc)  # the file may now hold part of the line; only a reopen can say what is there
                raise
            self._events.append(event)
            if event.type == CHANGE_CLOSED:
                self._closed_at = event.seq
            return event

    def append_all(self, items: list[tuple[str, dict[str, Any]]]) -> list[Event]:
        """Append several events in one write and one fsync: a crash leaves all of them or none (a change's
        opening events: it is created, its parameters, policy verdicts and approvals recorded, as one)."""
        return self._append_all(items)

    def _append_all(self, items: list[tuple[str, dict[str, Any]]], *, lead: bytes = b"") -> list[Event]:
        """``append_all``, writing ``lead`` (a recovery's newline) in the same write, before the lines."""
        if not items:
            return []
        with self._lock:
            start = len(self._events)
            lines = lead
            try:
                for type_, data in items:
                    event, line = self._prepare(type_, data, len(self._events) + 1)
                    self._events.append(event)  # provisional: the next line chains to it
                    lines += line
                _write_all(self._fd, lines)  # type: ignore[arg-type]  # _prepare checked the file is open
                os.fsync(self._fd)  # type: ignore[arg-type]
            except OSError as exc:
                # The file may now hold part of these lines; only a reopen can say what is there.
                del self._events[start:]
                self._broken = str(exc)
                raise
            except BaseException:
                del self._events[start:]  # refused before a byte was written
                raise
            for event in self._events[start:]:
                if event.type == CHANGE_CLOSED:
                    self._closed_at = event.seq
            return self._events[start:]

    def _prepare(self, type: str, data: dict[str, Any], seq: int) -> tuple[Event, bytes]:
        """The event and its canonical line, checked as ``append`` checks it; nothing is written."""
        if not isinstance(type, str) or not type:
            raise ValueError("event type must be a non-empty string")
        if not isinstance(data, dict):
            raise TypeError(f"event data must be a dict, not {data.__class__.__name__}")
        data_json, stored = canonical_and_parsed(data)
        if self._fd is None:
            raise JournalError(f"{self._path} is closed")
        if self._broken is not None:
            raise JournalError(f"{self._path}: an earlier write failed ({self._broken}); reopen the journal")
        if self._closed_at is not None and not may_follow_close(type):
            raise JournalError(
                f"{self._path}: the change was closed (event {self._closed_at}); only addenda may follow it, not {type}"
            )
        prev = self._events[-1].hash if self._events else GENESIS
        ts = self._ts()
        digest, line = _encode(seq, ts, type, data_json, prev)
        return Event.trusted(seq, ts, type, stored, prev, digest), line

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
