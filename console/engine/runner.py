"""The command runner: a real process in its own process group, its output streamed as it comes.

Stdout and stderr are read in batches (whatever the pipe holds, up to 64 KiB of whole lines); each batch is
timestamped, redacted as one text, written to the run's asciicast file as one event with one write (so a crash loses
at most the batch in flight, and nothing unredacted is ever written) and handed to listeners line by line; the runner
keeps only a bounded tail in memory, however much a command prints. A line too long to hold (MAX_LINE) is cut into
pieces, each redacted with OVERLAP of the line on both sides of it, so a secret a cut goes through is still masked.
A timeout or a cancel stops the whole group: SIGINT, then SIGTERM, then SIGKILL after grace periods, so a ``kubectl``
and anything it started are gone when the step ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import IO, Any, NamedTuple

from console.engine.redact import MASK, Redactor, StreamRedactor, cut_redacted
from console.journal.cast import CastWriter

SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None
MAX_LINE = 64 * 1024  # a single "line" longer than this is split, so one endless line cannot grow memory
# Each piece of a split line is redacted with this much of the line on either side of it, so a secret that a cut goes
# through is seen whole (a JWT, a base64 key in a JSON string, a name and its value are all far shorter). A secret
# parameter longer than this (a whole kubeconfig or certificate bundle) widens it for its run: see ``overlap``.
OVERLAP = 16 * 1024
READ_SIZE = 64 * 1024  # one read takes at most this much: one batch of lines, redacted and written together
# The pipes are made this large (Linux allows up to /proc/sys/fs/pipe-max-size, 1 MiB by default), so a command that
# prints fast runs ahead while the console redacts the last read, instead of stopping whenever 64 KiB wait unread; on a
# busy machine that stop-and-go, not the redaction, was what held capture back. A read still returns whatever is there,
# so a slow command's lines come one by one as before.
PIPE_SIZE = 1024 * 1024


class OutputLine(NamedTuple):
    """One line of a command's output, as the listeners see it (already redacted).

    A named tuple rather than a frozen dataclass: one is made per line, and a frozen dataclass's ``__init__`` cost
    as much as the redaction of that line.
    """

    t: float  # seconds since the command started
    stream: str  # "stdout" or "stderr"
    text: str


class OutputPiece(OutputLine):
    """A piece of a line too long to hold (MAX_LINE) that the next output line of its stream continues: a listener
    that keeps the output as printed (a backup artifact) joins it to the next one instead of ending a line there."""

    __slots__ = ()


Listener = Callable[[OutputLine], None]
_new_line = tuple.__new__


@dataclass
class Expectation:
    """What stdout must (or must not) contain, checked line by line as it streams (``^``/``$`` per line)."""

    exit_codes: Sequence[int] = (0,)
    matches: re.Pattern[str] | None = None
    not_matches: re.Pattern[str] | None = None


@dataclass
class RunResult:
    """How a command ended, with what the record needs."""

    exit_code: int | None
    duration_s: float
    timed_out: bool = False
    cancelled: bool = False
    lines: int = 0
    tail: list[str] = field(default_factory=list)
    matched: bool = False
    forbidden_line: str | None = None
    error: str | None = None  # the command could not be started at all
    cast_sha256: str | None = None

    def verdict(self, expect: Expectation) -> tuple[bool, str]:
        """(passed, reason) against the expectation."""
        if self.error:
            return False, self.error
        if self.timed_out:
            return False, f"timed out after {self.duration_s:.1f}s"
        if self.cancelled:
            return False, "cancelled by the operator"
        if self.exit_code not in expect.exit_codes:
            return False, f"exit code {self.exit_code} (expected {', '.join(map(str, expect.exit_codes))})"
        if expect.matches is not None and not self.matched:
            return False, f"output never matched /{expect.matches.pattern}/"
        if self.forbidden_line is not None:
            assert expect.not_matches is not None  # a forbidden line is only ever recorded against this pattern
            return False, f"output matched /{expect.not_matches.pattern}/: {cut_redacted(self.forbidden_line, 200)}"
        return True, "passed"


@dataclass
class Grace:
    """How long each signal gets before the next, stronger one."""

    interrupt_s: float = 5.0
    terminate_s: float = 5.0


class CommandRunner:
    """Runs one command to completion; ``cancel()`` may be called from any thread."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        redactor: Redactor | None = None,
        cast: CastWriter | None = None,
        listeners: Sequence[Listener] = (),
        expect: Expectation | None = None,
        tail_lines: int = 500,
        grace: Grace | None = None,
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.timeout_s = timeout_s
        self.redactor = redactor or Redactor()
        self.cast = cast
        self.listeners = list(listeners)
        self.expect = expect or Expectation()
        self.tail: deque[str] = deque(maxlen=tail_lines)
        self.grace = grace or Grace()
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._start = 0.0
        self._lines = 0
        self._matched = False
        self._forbidden: str | None = None

    def cancel(self) -> None:
        """Stop the command (and its whole process group); safe to call before, during or after the run."""
        self._cancel.set()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def run(self) -> RunResult:
        self._start = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                self._launch_argv(),
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, so signals reach everything it starts
            )
        except OSError as exc:
            message = f"cannot start {self.argv[0]}: {exc.strerror or exc}"
            self._deliver("stderr", [message])
            return RunResult(None, time.monotonic() - self._start, lines=self._lines, tail=list(self.tail), error=message)
        readers = [
            threading.Thread(target=self._pump, args=(self._proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=self._pump, args=(self._proc.stderr, "stderr"), daemon=True),
        ]
        for pipe in (self._proc.stdout, self._proc.stderr):
            _widen(pipe)
        for t in readers:
            t.start()
        timed_out = self._wait()
        drain_until = time.monotonic() + 0.5
        for t in readers:
            t.join(timeout=max(0.0, drain_until - time.monotonic()))
        if any(t.is_alive() for t in readers):
            # The leader is gone but something it left in the background still holds the output open: the
            # step has ended, so what it started goes too (otherwise it outlives the step and the readers).
            self._kill_stragglers()
        for t in readers:
            t.join(timeout=5)
        duration = time.monotonic() - self._start
        return RunResult(
            exit_code=self._proc.returncode,
            duration_s=duration,
            timed_out=timed_out,
            cancelled=self._cancel.is_set() and not timed_out,
            lines=self._lines,
            tail=list(self.tail),
            matched=self._matched,
            forbidden_line=self._forbidden,
        )

    def _launch_argv(self) -> list[str]:
        """The argv to exec: the command, made to die with the console where Linux allows it.

        A console that crashes must not leave a kubectl or terraform acting on production with nobody watching and
        nothing recording; resume then finds the step interrupted and asks before running it again. ``setpriv``
        (util-linux) sets the parent-death signal and execs the command, so no Python runs between fork and exec.
        """
        if SETPRIV is None:
            return list(self.argv)
        program = self.argv[0]
        path = (self.env or os.environ).get("PATH", os.defpath)
        found: str | None
        if "/" in program:
            found = program if os.path.isabs(program) or self.cwd is None else os.path.join(self.cwd, program)
        else:
            found = shutil.which(program, path=path)
        if found is None or not os.access(found, os.X_OK):
            raise FileNotFoundError(2, "No such file or directory", program)
        return [SETPRIV, "--pdeathsig", "TERM", "--", *self.argv]

    def _wait(self) -> bool:
        """Wait for exit, a timeout or a cancel; returns whether it timed out."""
        assert self._proc is not None
        deadline = self._start + self.timeout_s if self.timeout_s else None
        while True:
            try:
                self._proc.wait(timeout=0.05)
                return False
            except subprocess.TimeoutExpired:
                pass
            if self._cancel.is_set():
                self._stop_group()
                return False
            if deadline is not None and time.monotonic() >= deadline:
                self._stop_group()
                return True

    def _stop_group(self) -> None:
        assert self._proc is not None
        pgid = self._proc.pid  # start_new_session makes the child the group leader
        for sig, wait_s in ((signal.SIGINT, self.grace.interrupt_s), (signal.SIGTERM, self.grace.terminate_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self._proc.wait(timeout=wait_s)
                # The leader is gone; make sure nothing it started lingers in the group.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                return
            except subprocess.TimeoutExpired:
                continue

    def overlap(self) -> int:
        """How much of an over-long line each piece is redacted with on either side: OVERLAP, or more when one of
        the change's secret values is longer (in bytes, plus a margin for the name a rule wants before it), so a
        cut through that value still leaves it whole on both sides."""
        return max(OVERLAP, self.redactor.longest_bytes + 1024)

    def _kill_stragglers(self) -> None:
        assert self._proc is not None
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self._deliver("stderr", ["(processes the command left running were stopped when it ended)"])

    def _pump(self, pipe: IO[bytes], stream: str) -> None:
        redacting = StreamRedactor(self.redactor)
        cutting: _CutLine | None = None  # a line too long to hold, being redacted and delivered in pieces
        buf = b""
        while True:
            chunk = pipe.read1(READ_SIZE) if hasattr(pipe, "read1") else pipe.read(READ_SIZE)
            if not chunk:
                break
            buf += chunk
            if cutting is not None:
                buf = self._cut(redacting, stream, cutting, buf, eof=False)
                if not cutting.ended:
                    continue
                cutting = None
            cut = buf.rfind(b"\n")
            if cut >= 0:
                block, buf = buf[:cut], buf[cut + 1 :]
                self._block(redacting, stream, block)
            if len(buf) >= MAX_LINE + self.overlap():
                cutting = _CutLine()
                buf = self._cut(redacting, stream, cutting, buf, eof=False)
                if cutting.ended:  # cannot be: buf held no line end
                    cutting = None
        if cutting is not None:
            self._cut(redacting, stream, cutting, buf, eof=True)
        elif buf:
            self._block(redacting, stream, buf)
        self._deliver(stream, redacting.flush())
        pipe.close()

    def _cut(self, redacting: StreamRedactor, stream: str, line: _CutLine, buf: bytes, *, eof: bool) -> bytes:
        """Redact and deliver the pieces of an over-long line that ``buf`` starts with; return what is left.

        A piece is cut once the OVERLAP bytes after it are here (or the line's end), so it is redacted with the text on
        both sides of the cut (see ``Redactor.redact_piece``): memory stays at a piece and two overlaps per stream
        however long the line is.
        """
        overlap = self.overlap()
        while True:
            nl = buf.find(b"\n")
            end = nl if nl >= 0 else len(buf)  # where the line ends, or what of it is here
            if end <= MAX_LINE and (nl >= 0 or eof):
                self._piece(redacting, stream, line, buf[:end], b"", goes_on=False)
                line.ended = True
                return buf[end + 1 :]
            if end <= MAX_LINE or (nl < 0 and not eof and len(buf) < MAX_LINE + overlap):
                return buf  # wait for more
            at = MAX_LINE
            while at > MAX_LINE - 3 and buf[at] & 0xC0 == 0x80:  # not inside a UTF-8 character (3 bytes back at most)
                at -= 1
            ahead_end = min(at + overlap, end)
            self._piece(redacting, stream, line, buf[:at], buf[at:ahead_end], goes_on=ahead_end < end or (nl < 0 and not eof))
            buf = buf[at:]

    def _piece(self, redacting: StreamRedactor, stream: str, line: _CutLine, piece: bytes, ahead: bytes, *,
               goes_on: bool) -> None:
        text = piece.decode("utf-8", errors="replace")
        if not ahead and not goes_on:
            text = text.rstrip("\r")
        if line.rest_masked:
            safe = MASK
        else:
            after = ahead.decode("utf-8", errors="replace")
            safe, line.carried, line.rest_masked = self.redactor.redact_piece(
                text, line.context, after, carried=line.carried, goes_on=goes_on)
        line.context = (line.context + text)[-self.overlap():]
        # The line goes on after this piece: its last output is the piece, unless the line redactor holds it back
        # (a Secret's data block waiting for its kind), when it comes later as a line of its own.
        goes_on_after = bool(ahead) or goes_on
        if line.first:
            line.first = False
            outs = [out.rstrip("\r") for out in redacting.feed(safe)]
        elif text:
            outs = [out.rstrip("\r") for out in redacting.feed_more(safe)]
        else:
            return
        self._deliver(stream, outs, continued=goes_on_after and not redacting.holding)

    def _block(self, redacting: StreamRedactor, stream: str, block: bytes) -> None:
        """Every complete line read in one go, redacted, then delivered together (one cast event, one lock)."""
        text = block.decode("utf-8", errors="replace")
        # Unless the block needs the line-by-line redactor's memory (it holds a key block, a Secret's data, an env entry,
        # or the last block left one open), one pass of the patterns over the whole block.
        safe = self.redactor.redact_batch(text) if redacting.idle else None
        if safe is not None:
            # A mask only ever removes line ends, so the same count of them means no match crossed one; otherwise
            # each line is redacted on its own, so the lines stay the lines the command printed.
            lines = safe.split("\n")
            if len(lines) != text.count("\n") + 1:
                lines = [self.redactor.redact(line) for line in text.split("\n")]
            if "\r" in safe:
                lines = [line.rstrip("\r") for line in lines]
        else:
            lines = []
            for line in text.split("\n"):
                lines.extend(out.rstrip("\r") for out in redacting.feed(line.rstrip("\r")))
        self._deliver(stream, lines)

    def _deliver(self, stream: str, texts: list[str], *, continued: bool = False) -> None:
        """Hand ``texts`` to the tail, the expectations, the cast and the listeners; ``continued``: the last of them
        is a piece of a line that the next delivery of this stream goes on with (an :class:`OutputPiece`)."""
        if not texts:
            return
        t = time.monotonic() - self._start
        with self._lock:
            self._lines += len(texts)
            self.tail.extend(texts)
            # Expectations read stdout only: stderr is diagnostics ("No resources found", warnings), not the answer.
            if stream == "stdout" and (self.expect.matches is not None or self.expect.not_matches is not None):
                for text in texts:
                    if self.expect.matches is not None and not self._matched and self.expect.matches.search(text):
                        self._matched = True
                    if self.expect.not_matches is not None and self._forbidden is None and self.expect.not_matches.search(text):
                        self._forbidden = text
            if self.cast is not None:
                if stream == "stderr":
                    self.cast.write("".join(f"\x1b[31m{text}\x1b[0m\r\n" for text in texts), at=t)
                else:
                    self.cast.write("\r\n".join(texts) + "\r\n", at=t)
        if self.listeners:
            # Built and handed out by C-level loops (tuple.__new__ skips the named tuple's Python __new__): this is
            # once per line of output. Each listener gets the batch's lines in order, one listener after the other.
            lines = list(map(_new_line, repeat(OutputLine), zip(repeat(t), repeat(stream), texts)))
            if continued:
                lines[-1] = _new_line(OutputPiece, lines[-1])
            for listener in self.listeners:
                deque(map(listener, lines), maxlen=0)


@dataclass
class _CutLine:
    """Where the redaction of a line being cut into pieces stands."""

    first: bool = True  # the next piece is the line's start (the line-by-line redactor sees it as the line)
    context: str = ""  # the end of the pieces so far, as printed: what the next piece is redacted after
    carried: int = 0  # how far into the next piece a secret found before it runs
    rest_masked: bool = False  # a secret ran out of sight: the rest of the line is masked (fail closed)
    ended: bool = False


def _widen(pipe: IO[bytes] | None) -> None:
    """Make ``pipe`` hold PIPE_SIZE bytes where the system allows it; the default (64 KiB) otherwise."""
    if pipe is None or not hasattr(fcntl, "F_SETPIPE_SZ"):
        return
    with contextlib.suppress(OSError):  # EPERM above the system's limit for unprivileged users: keep the default
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def run_command(argv: Sequence[str], **kwargs: Any) -> RunResult:
    """Run ``argv`` to completion with a CommandRunner (see its arguments)."""
    return CommandRunner(argv, **kwargs).run()
