"""Following a change while another console drives it: its journal and output casts read as they grow.

The follower only reads. Every file is opened read-only (``aiofiles``, so the reads run off the event loop), no
lock is taken and nothing is created, so the console writing the change is never slowed or blocked by it, on the
same host or through a shared filesystem (where polling, not inotify, is what sees another host's writes). A
read may end mid-line; only complete lines count (``LineBuffer``), and each journal line is checked against the
chain before it is believed.

``ChangeFollower.batches()`` yields what is new at each poll, in the order a reader wants it: an event that ends a
run comes after the whole of that run's output. It ends after ``change.closed``, once every cast is read to its end.
Who drives the change is read from its lock file (read, never locked) and said when it changes, so a follower
knows a stalled change from a console that is gone.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os

from console.journal import events as ev
from console.journal.chain import Event
from console.journal.store import sanitise
from console.review.follow_lines import (
    ChainCheck,
    JournalLineError,
    LineBuffer,
    OutputAssembler,
    OutputText,
    cast_step_id,
    holder_status,
    parse_cast_event,
    parse_cast_header,
)

POLL_S = 0.05  # well under the half second a follower may lag behind the writer
HOLDER_EVERY_S = 1.0  # who drives the change is read less often than what it writes
READ_CHUNK = 1 << 20
CAST_NAME = re.compile(r"^(\d{3,})-(.+)\.cast$")
RUN_ENDS = (ev.STEP_FINISHED, ev.STEP_INTERRUPTED)


@dataclass(frozen=True)
class EventItem:
    """A journal event, checked against the chain."""

    event: Event


@dataclass(frozen=True)
class OutputItem:
    """A whole line of a run's output; ``cast`` is the file's path relative to the change directory."""

    cast: str
    step_id: str
    line: OutputText
    started: float  # the cast header's timestamp (Unix seconds): when the run began


@dataclass(frozen=True)
class ProblemItem:
    """Something the follower cannot read past (a damaged journal line); the change is still shown up to it."""

    text: str


@dataclass(frozen=True)
class HolderItem:
    """Who drives the change now (said when it changes): a console, or none since it stopped without closing."""

    text: str


@dataclass(frozen=True)
class ClosedItem:
    """The change closed with this outcome; nothing follows."""

    outcome: str


FollowItem = EventItem | OutputItem | ProblemItem | HolderItem | ClosedItem


@dataclass
class _Cast:
    rel: str
    step_id: str
    handle: Any  # an aiofiles binary file opened for reading
    lines: LineBuffer = field(default_factory=LineBuffer)
    text: OutputAssembler = field(default_factory=OutputAssembler)
    header: dict[str, Any] | None = None


class ChangeFollower:
    """Reads one change directory as it grows, from the first event on."""

    def __init__(self, change_dir: Path, *, poll_s: float = POLL_S) -> None:
        self.change_dir = Path(change_dir)
        self.poll_s = poll_s
        self.events: list[Event] = []
        self.outcome: str | None = None
        self.problem: str | None = None
        self._chain = ChainCheck()
        self._journal_lines = LineBuffer()
        self._journal: Any = None
        self._holder: str | None = None
        self._holder_at = -HOLDER_EVERY_S
        self._line_no = 0  # complete lines read from the journal file
        self._suspect: tuple[int, str] | None = None  # a line that is no event (its number, why), until the next says what it was
        self._casts: dict[str, _Cast] = {}  # by file name
        self._done: set[str] = set()  # cast names read to their end and closed
        self._running: dict[str, int] = {}  # sanitised step id -> runs started and not yet ended

    async def batches(self) -> AsyncIterator[list[FollowItem]]:
        """What is new, a list per poll (empty polls are skipped). The last list ends with ``ClosedItem``, or with a
        ``ProblemItem`` when the journal cannot be read on (then the change's end can never be seen)."""
        try:
            while True:
                items = await self.poll()
                if items:
                    yield items
                if self.outcome is not None or self.problem is not None:
                    return
                await asyncio.sleep(self.poll_s)
        finally:
            await self.close()

    async def poll(self) -> list[FollowItem]:
        """Read whatever the files gained since the last poll."""
        out: list[FollowItem] = []
        problems: list[FollowItem] = []
        # The lock before the journal: a console closes the change, then lets go, so a lock found empty here and a
        # close in the journal read after it is a change that closed, not one that stopped.
        holder = await self._read_holder()
        for event in await self._read_journal(problems):
            if event.type in RUN_ENDS:
                out += await self._end_run(event)
            out.append(EventItem(event))
            if event.type == ev.STEP_STARTED and event.data.get("kind") != "manual":
                key = sanitise(str(event.data.get("step_id", "")))
                self._running[key] = self._running.get(key, 0) + 1
            if event.type == ev.CHANGE_CLOSED:
                self.outcome = str(event.data.get("outcome"))
        closing = self.outcome is not None
        if holder is not None and not closing:
            out.append(HolderItem(holder))
        await self._adopt(everything=closing)
        for cast in list(self._casts.values()):
            out += await self._read_cast(cast, final=closing)
        out += problems  # after what could be read before it
        if closing:
            out.append(ClosedItem(self.outcome or ""))
        return out

    async def close(self) -> None:
        """Close every file still open (idempotent)."""
        if self._journal is not None:
            await self._journal.close()
            self._journal = None
        for cast in self._casts.values():
            await cast.handle.close()
        self._casts.clear()

    # -- who drives it ----------------------------------------------------------------------------------------

    async def _read_holder(self) -> str | None:
        """The holder's line when it changed since it was last said (read at most every ``HOLDER_EVERY_S``)."""
        now = time.monotonic()
        if now - self._holder_at < HOLDER_EVERY_S:
            return None
        self._holder_at = now
        try:
            async with aiofiles.open(self.change_dir / ".lock", "rb") as f:
                raw = await f.read(4096)
        except FileNotFoundError:
            return None  # never driven yet, or a copy of a record without its lock file
        status = holder_status(raw, self.change_dir.name.rpartition("__")[2], this_host=socket.gethostname(), alive=_alive)
        if status is None or status == self._holder:
            return None
        self._holder = status
        return status

    # -- the journal ------------------------------------------------------------------------------------------

    async def _read_journal(self, out: list[FollowItem]) -> list[Event]:
        if self.problem is not None:
            return []
        if self._journal is None:
            try:
                self._journal = await aiofiles.open(self.change_dir / "journal.jsonl", "rb")
            except FileNotFoundError:
                return []  # the change directory is made a moment before its journal
        new: list[Event] = []
        while chunk := await self._journal.read(READ_CHUNK):
            for line in self._journal_lines.feed(chunk):
                self._line_no += 1
                problem = self._journal_line(line, new)
                if problem is not None:
                    self.problem = problem
                    out.append(ProblemItem(f"{problem}; nothing after it is shown (opsconsole records verify tells more)"))
                    self.events += new
                    return new
        self.events += new
        return new

    def _journal_line(self, line: bytes, new: list[Event]) -> str | None:
        """Accept one complete line into ``new``; the problem when the journal cannot be read past it.

        A line that is not an event may be a crash's torn line that a resume has just recovered: the recovery ends
        it with a newline and appends ``journal.torn_tail`` naming it. So it is held until the next line says
        which; a torn line with nothing after it is what the writer's crash left, and the follower waits.
        """
        if self._suspect is not None:
            number, error = self._suspect
            self._suspect = None
            try:
                event = self._chain.accept(line, self._line_no)
            except JournalLineError:
                return error
            if event.type != ev.TORN_TAIL or event.data.get("line") != number:
                return error
            new.append(event)
            return None
        try:
            new.append(self._chain.accept(line, self._line_no))
        except JournalLineError as exc:
            self._suspect = (self._line_no, str(exc))
        return None

    # -- the outputs ------------------------------------------------------------------------------------------

    async def _end_run(self, event: Event) -> list[FollowItem]:
        """A run ended: the rest of its output, read to the end of its cast, goes before the event that ends it."""
        key = sanitise(str(event.data.get("step_id", "")))
        if self._running.get(key):
            self._running[key] -= 1
        files = [event.data.get("file")] + list(event.data.get("files") or [])
        out: list[FollowItem] = []
        for ref in files:
            if not isinstance(ref, dict) or not isinstance(ref.get("path"), str):
                continue
            name = Path(ref["path"]).name
            if name in self._done or not CAST_NAME.match(name):
                continue
            cast = self._casts.get(name) or await self._open(name)
            if cast is not None:
                out += await self._read_cast(cast, final=True)
        return out

    async def _adopt(self, *, everything: bool) -> None:
        """Start reading new cast files: those of runs the journal says have started (all of them at close)."""
        try:
            names = await aiofiles.os.listdir(self.change_dir / "outputs")
        except FileNotFoundError:
            return
        for name in sorted(names):
            m = CAST_NAME.match(name)
            if m is None or name in self._casts or name in self._done:
                continue
            if everything or self._running.get(m.group(2)):
                await self._open(name)

    async def _open(self, name: str) -> _Cast | None:
        m = CAST_NAME.match(name)
        try:
            handle = await aiofiles.open(self.change_dir / "outputs" / name, "rb")
        except FileNotFoundError:
            return None
        cast = _Cast(f"outputs/{name}", m.group(2) if m else name, handle)
        self._casts[name] = cast
        return cast

    async def _read_cast(self, cast: _Cast, *, final: bool) -> list[FollowItem]:
        out: list[FollowItem] = []
        while chunk := await cast.handle.read(READ_CHUNK):
            for line in cast.lines.feed(chunk):
                out += self._cast_line(cast, line)
        if final:
            started = float(cast.header.get("timestamp", 0)) if cast.header else 0.0
            out += [OutputItem(cast.rel, cast.step_id, text, started) for text in cast.text.flush()]
            await cast.handle.close()
            name = Path(cast.rel).name
            self._casts.pop(name, None)
            self._done.add(name)
        return out

    def _cast_line(self, cast: _Cast, line: bytes) -> list[FollowItem]:
        if cast.header is None:
            cast.header = parse_cast_header(line) or {}
            cast.step_id = cast_step_id(cast.header) or cast.step_id
            return []
        parsed = parse_cast_event(line)
        if parsed is None:
            return []  # not an event line: the verifier reports it; a follower shows what it can
        started = float(cast.header.get("timestamp", 0))
        return [OutputItem(cast.rel, cast.step_id, text, started) for text in cast.text.feed(*parsed)]


def _alive(pid: int) -> bool:
    """Whether a process of this host exists (signal 0 checks without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True
