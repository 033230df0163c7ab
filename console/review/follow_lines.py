"""Reading a change's files as they grow, line by line (pure: bytes in, events and output lines out).

A follower reads what another process is still writing, so it sees files in pieces: a read may end in the middle
of a line, and a line counts only once its newline is there (``LineBuffer``). Journal lines are checked as the
verifier checks them (canonical bytes, sequence, chain, hash) before they are believed; cast lines become the
header or ``[t, code, text]`` events, and the text of the events becomes whole output lines (``OutputAssembler``),
because a process writes chunks, not lines. ``describe`` says an event in one line, for line mode and the
decisions panel; ``holder_status`` says who drives the change, from its lock file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.errors import OpsConsoleError
from console.journal import events as ev
from console.journal.chain import EVENT_FIELDS, GENESIS, Event, canonical, event_hash
from console.review.export import strip_ansi
from console.review.render import OUTCOME_WORDS
from console.review.summary import format_duration


class LineBuffer:
    """Bytes in as they were read, complete lines out (without their newline); the unfinished rest is kept."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        data = self._rest + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self._rest = data
            return []
        self._rest = data[cut + 1 :]
        return data[:cut].split(b"\n")

    @property
    def pending(self) -> int:
        """Bytes of an unfinished last line, held until its newline comes."""
        return len(self._rest)


class JournalLineError(OpsConsoleError, ValueError):
    """A complete journal line that is not the next event of the chain; the message names the line."""


@dataclass
class ChainCheck:
    """The chain so far, to check each new line against: the next sequence number and the hash it must follow."""

    seq: int = 0
    head: str = GENESIS

    def accept(self, line: bytes, number: int | None = None) -> Event:
        """The event a complete line holds, once it is canonical and chained to the one before; else JournalLineError.

        ``number`` is the line's number in the file, for messages (it differs from the sequence after a recovered
        torn line)."""
        expected = self.seq + 1
        number = expected if number is None else number
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise JournalLineError(f"journal.jsonl line {number}: not a JSON event") from None
        if not isinstance(obj, dict) or sorted(obj) != sorted(EVENT_FIELDS) or not isinstance(obj["data"], dict):
            raise JournalLineError(f"journal.jsonl line {number}: not an event (fields {sorted(obj) if isinstance(obj, dict) else '?'})")
        event = Event(obj["seq"], obj["ts"], obj["type"], obj["data"], obj["prev"], obj["hash"])
        try:
            again = canonical(obj)
        except ValueError:
            again = b""
        if again != line:
            raise JournalLineError(f"journal.jsonl line {number}: not canonical JSON (the line was altered)")
        if event.seq != expected:
            raise JournalLineError(f"journal.jsonl line {number}: sequence {event.seq}, expected {expected}")
        if event.prev != self.head:
            raise JournalLineError(f"journal.jsonl line {number}: does not follow the event before it (prev hash differs)")
        if event_hash(event.seq, event.ts, event.type, event.data, event.prev) != event.hash:
            raise JournalLineError(f"journal.jsonl line {number}: hash does not match its content")
        self.seq, self.head = expected, event.hash
        return event


def parse_cast_header(line: bytes) -> dict[str, Any] | None:
    """A cast file's first line as its header, or None when it is not an asciicast v2 header."""
    try:
        header = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return header if isinstance(header, dict) and header.get("version") == 2 else None


def parse_cast_event(line: bytes) -> tuple[float, str, str] | None:
    """One ``[t, code, text]`` cast line, or None when it is not one."""
    try:
        item = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], (int, float))
            and isinstance(item[1], str) and isinstance(item[2], str)):
        return None
    return float(item[0]), item[1], item[2]


def cast_step_id(header: dict[str, Any]) -> str | None:
    """The step a cast belongs to, from the title the console gives it: ``"<section> <step id>: <title>"``."""
    title = str(header.get("title", ""))
    section, _, rest = title.partition(" ")
    step_id, colon, _ = rest.partition(":")
    return step_id if section and colon and step_id else None


@dataclass(frozen=True)
class OutputText:
    """One whole line of a command's output: seconds since the command started, ``o`` or ``m`` (marker), the text."""

    t: float
    code: str
    text: str
    stderr: bool = False


class OutputAssembler:
    """Cast events in, whole lines out; text after the last newline waits for the rest of its line.

    The console writes stderr lines in red (``\\x1b[31m``…); that colour is how a line is known as stderr once it
    is in the cast file. Other escapes are stripped: a follower shows text, as the record's export does.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._pending_t: float | None = None

    def feed(self, t: float, code: str, text: str) -> list[OutputText]:
        if code != "o":
            return [*self.flush(), OutputText(t, code, text)]
        out: list[OutputText] = []
        pieces = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for i, piece in enumerate(pieces):
            if self._pending_t is None:
                if piece == "" and i == len(pieces) - 1:
                    break
                self._pending_t = t
            self._pending += piece
            if i < len(pieces) - 1:
                out.append(self._line())
        return out

    def flush(self) -> list[OutputText]:
        """The unfinished line, when nothing more will come (the run ended, or a marker follows)."""
        return [self._line()] if self._pending_t is not None else []

    def _line(self) -> OutputText:
        raw, t = self._pending, self._pending_t
        self._pending, self._pending_t = "", None
        assert t is not None
        return OutputText(t, "o", strip_ansi(raw), stderr=raw.startswith("\x1b[31m"))


def _who(data: dict[str, Any], key: str = "by") -> str:
    return f" by {data[key]}" if data.get(key) else ""


def describe(event: Event) -> str | None:
    """An event in one line as a follower shows it; None for events a follower need not see (params, snapshots)."""
    d = event.data
    step = d.get("step_id", "")
    t = event.type
    if t == ev.CHANGE_CREATED:
        rb = d.get("runbook") or {}
        return (f"change {d.get('change_id', '')} started by {d.get('operator', '?')}: {rb.get('title', '')} "
                f"({rb.get('component', '')} {rb.get('from', '')} → {rb.get('to', '')}, risk {rb.get('risk', '?')}) "
                f"on {d.get('environment', '?')} (context {d.get('context', '?')})")
    if t == ev.POLICY_CHECKED:
        failed = [c for c in d.get("checks") or [] if not c.get("ok")]
        return "policy checks: " + ("all passed" if not failed else "; ".join(f"{c.get('name')}: {c.get('message')}" for c in failed))
    if t == ev.APPROVAL_RECORDED:
        return f"approval: {d.get('name')} ({d.get('role')})" + (f" {d['reference']}" if d.get("reference") else "")
    if t == ev.BREAKGLASS_RECORDED:
        return f"BREAK-GLASS: {d.get('what', 'a rule')} overridden, approved by {d.get('approver', '?')}: {d.get('reason', '')}"
    if t == ev.SESSION_RESUMED:
        return f"resumed by {d.get('operator', '?')} on {d.get('host', '?')}"
    if t == ev.STEP_CONFIRMED:
        how = f"typed {d['word']!r}" if d.get("method") == "typed" and d.get("word") else str(d.get("method", "yes"))
        return f"{step}: confirmed ({how}){_who(d)}"
    if t == ev.STEP_CONFIRMATION_REFUSED:
        return f"{step}: confirmation refused (typed {d.get('typed', '')!r}){_who(d)}"
    if t == ev.STEP_STARTED:
        attempt = f" (attempt {d['attempt']})" if int(d.get("attempt") or 1) > 1 else ""
        what = f": {d['command']}" if d.get("command") else ""
        return f"{step} started{attempt}{what}"
    if t == ev.STEP_FINISHED:
        exit_code = f"exit {d['exit_code']}, " if d.get("exit_code") is not None else ""
        head = f"{step} {d.get('status', '?')} ({exit_code}{format_duration(d.get('duration_s'))})"
        return head + (f": {d['reason']}" if d.get("status") != "passed" and d.get("reason") else "")
    if t == ev.STEP_INTERRUPTED:
        return f"{step} interrupted: {d.get('reason', '')}"
    if t == ev.MANUAL_ANSWERED:
        return f"{step}: answered {d.get('answer')}{_who(d)}" + (f": {d['note']}" if d.get("note") else "")
    if t == ev.NOTE_ADDED:
        where = f" on {step}" if step else ""
        return f"note{where} by {d.get('author', '?')}: {d.get('text', '')}"
    if t == ev.ARTIFACT_SAVED:
        f = d.get("file") or {}
        return f"{step}: kept {f.get('path', d.get('kind', 'an artifact'))}"
    if t == ev.FAILURE_CHOICE:
        return f"{step} failed: {d.get('choice')} chosen{_who(d)}"
    if t == ev.FAILURE_HELD:
        return f"{step}: automatic rollback held{_who(d)}"
    if t == ev.ROLLBACK_STARTED:
        return f"ROLLBACK started ({'automatic' if d.get('automatic') else 'by the operator'}): {d.get('reason', '')}"
    if t == ev.ROLLBACK_FINISHED:
        return f"rollback {d.get('status')}" + (f" (failed at {d['failed_step']})" if d.get("failed_step") else "")
    if t == ev.TRIGGER_FIRED:
        return f"TRIGGER {d.get('trigger')}: {d.get('message', '')}"
    if t == ev.ESCALATION_PASSED:
        return f"escalation level {d.get('level')} passed ({d.get('minutes')} min after {step} failed)"
    if t == ev.CHANGE_CLOSED:
        return f"closed: {OUTCOME_WORDS.get(d.get('outcome'), str(d.get('outcome')))}" + _who(d.get("signoff") or {}, "name")
    if t == ev.ADDENDUM_ADDED:
        return f"addendum ({d.get('kind')}) by {d.get('author')}: {d.get('text', '')}"
    if t in (ev.TORN_TAIL, ev.NEWLINE_RESTORED):
        return f"journal recovered ({t}) at line {d.get('line')}"
    return None  # params, cluster snapshots, and types this version does not know


def holder_status(raw: bytes, change_id: str, *, this_host: str, alive: Callable[[int], bool]) -> str | None:
    """Who drives the change, from its lock file's bytes, in one line; None while the file is mid-write.

    The console writes its pid, user, host and start into the lock file when it takes the change and empties it
    when it lets go; a console killed outright leaves its record behind, which only this host can check.
    """
    resume = f"opsconsole resume {change_id} carries on from where it stopped"
    if not raw.strip():
        return f"no console drives the change now: it stopped before closing ({resume})"
    try:
        info = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(info, dict):
        return None
    pid, user, host, since = info.get("pid"), info.get("user", "?"), info.get("host", "?"), info.get("since", "?")
    if isinstance(pid, int) and host == this_host and not alive(pid):
        return f"the console that drove the change ({user}, pid {pid}) is gone ({resume})"
    return f"driven by {user} (pid {pid} on {host}) since {since}"
