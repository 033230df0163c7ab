"""Command output as asciicast v2 files, written as it arrives so ``asciinema play`` can replay a step.

A cast file is a JSON header line followed by one ``[seconds, code, text]`` line per event, where code is
``"o"`` (output; stderr goes in as output too, coloured by the caller if it likes) or ``"m"`` (a marker).
Each line goes to disk with one ``os.write`` as it comes, so a crash loses at most the line being written;
``close`` fsyncs and returns the file's SHA-256, which the journal records.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from console.errors import OpsConsoleError

STREAMS = ("o", "m")


class CastError(OpsConsoleError, ValueError):
    """A cast file that cannot be read as asciicast v2."""


def sha256_file(path: Path) -> str:
    """SHA-256 hex of a file's bytes, read in chunks so large outputs do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# What JSON escapes in a string besides line ends (quotes, backslashes, the other control characters), as UTF-8 bytes.
_ESCAPED = bytes([*range(0x0A), 0x0B, 0x0C, *range(0x0E, 0x20), ord('"'), ord("\\")])


def event_line(t: float, code: str, text: str) -> bytes:
    """The event's line, byte for byte what ``_line([t, code, text])`` writes, made faster for plain output.

    An event holds every line of one read of the command's output, and the JSON encoder's walk through it character by
    character was most of the cost of writing it. Where the only characters to escape are CR and LF (ordinary output),
    two byte replaces do the escaping; anything else goes to the encoder.
    """
    if type(t) is float and math.isfinite(t) and code in STREAMS:
        try:
            raw = text.encode()
        except UnicodeEncodeError:  # a lone surrogate: the encoder's ASCII form
            return _line([t, code, text])
        if len(raw.translate(None, _ESCAPED)) == len(raw):
            body = raw.replace(b"\r", b"\\r").replace(b"\n", b"\\n")
            return b'[%s, "%s", "%s"]\n' % (repr(t).encode(), code.encode(), body)
    return _line([t, code, text])


def _line(obj: object) -> bytes:
    try:
        return (json.dumps(obj, ensure_ascii=False) + "\n").encode()
    except UnicodeEncodeError:
        # Lone surrogates (undecodable bytes kept by surrogateescape) cannot be UTF-8; escaping keeps them legible.
        return (json.dumps(obj, ensure_ascii=True) + "\n").encode()


class CastWriter:
    """Writes one asciicast v2 file; thread-safe, so a process's stdout and stderr readers can share it.

    ``started`` is the wall-clock start (the header's timestamp); event times come from ``clock`` (monotonic
    by default, so a clock step during a window does not reorder output) relative to construction. Times
    never go backwards in the file, even if a caller passes an earlier ``at``.
    """

    def __init__(
        self,
        path: Path,
        *,
        width: int = 120,
        height: int = 40,
        title: str = "",
        command: str = "",
        started: datetime,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = Path(path)
        self._clock = clock
        self._t0 = clock()
        self._last = 0.0
        self._lock = threading.Lock()
        self._sha: str | None = None
        header = {
            "version": 2,
            "width": int(width),
            "height": int(height),
            "timestamp": int(started.timestamp()),
            "title": title,
            "command": command,
            "env": {"TERM": "xterm-256color", "SHELL": "/bin/sh"},
        }
        # O_EXCL: an output already recorded (and hashed into a journal) is never overwritten.
        self._fd: int | None = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            self._write(_line(header))
        except OSError:
            os.close(self._fd)
            self._fd = None
            raise

    @property
    def path(self) -> Path:
        return self._path

    @property
    def elapsed(self) -> float:
        """Seconds since the writer was created, on its own clock."""
        return self._clock() - self._t0

    def _write(self, buf: bytes) -> None:
        assert self._fd is not None
        view = memoryview(buf)
        while view:
            view = view[os.write(self._fd, view) :]

    def _event(self, at: float | None, code: str, text: str) -> None:
        with self._lock:
            if self._fd is None:
                raise ValueError(f"{self._path} is closed")
            t = self.elapsed if at is None else float(at)
            t = max(t, self._last)
            self._last = t
            self._write(event_line(round(t, 6), code, text))

    def write(self, text: str, *, at: float | None = None, stream: str = "o") -> None:
        """Record output ``text`` at ``at`` seconds (default: now). Empty text is not recorded."""
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {STREAMS}, not {stream!r}")
        if text:
            self._event(at, stream, text)

    def marker(self, label: str, at: float | None = None) -> None:
        """A marker (``asciinema play`` can pause at it): step boundaries, exit codes."""
        self._event(at, "m", label)

    def close(self) -> str:
        """fsync and close; return the file's SHA-256. Calling it again returns the same digest."""
        with self._lock:
            if self._fd is not None:
                try:
                    os.fsync(self._fd)
                finally:
                    os.close(self._fd)
                    self._fd = None
                self._sha = sha256_file(self._path)
            assert self._sha is not None
            return self._sha

    def __enter__(self) -> CastWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_cast(path: Path) -> tuple[dict[str, Any], list[tuple[float, str, str]]]:
    """The header and events of a cast file, in file order.

    A torn last line (no newline, or not valid JSON) is left out: it is what a crash mid-write leaves.
    Anything wrong earlier raises ``CastError`` naming the line.
    """
    raw = Path(path).read_bytes()
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    elif lines:
        lines.pop()  # torn: no trailing newline
    if not lines:
        raise CastError(f"{path}: no header line")
    parsed: list[object] = []
    for i, b in enumerate(lines):
        try:
            parsed.append(json.loads(b))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if i == len(lines) - 1 and i > 0:
                break  # torn last line that happened to end in a newline
            raise CastError(f"{path}: line {i + 1}: not valid JSON ({exc})") from None
    header = parsed[0]
    if not isinstance(header, dict) or header.get("version") != 2:
        raise CastError(f"{path}: line 1: not an asciicast v2 header")
    events: list[tuple[float, str, str]] = []
    for i, ev in enumerate(parsed[1:], start=2):
        if (
            not isinstance(ev, list)
            or len(ev) != 3
            or not isinstance(ev[0], (int, float))
            or not isinstance(ev[1], str)
            or not isinstance(ev[2], str)
        ):
            raise CastError(f"{path}: line {i}: not an asciicast v2 event")
        events.append((float(ev[0]), ev[1], ev[2]))
    return header, events
