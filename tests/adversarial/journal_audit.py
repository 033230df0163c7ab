"""What a change journal must show however often its console was killed and resumed: events in, findings out.

A session is one console's life on a change: the first starts it, each later one resumes it. The crash loop knows
where each session began (the number of events on disk when it was started, so whatever the resuming console writes
first, an interruption, a recovered torn line or anything else, belongs to it) and who drove it. ``audit`` checks:

- no step that finished ``passed`` is ever started again;
- every start of a mutating step (a step or rollback step whose model says ``is_mutating``) follows a
  ``step.confirmed`` for it written in the same session, by that session's operator, after the step's previous
  start: a confirmation typed before a crash never lets a step run after it. The one exception is a rollback the
  console started by itself (``rollback.started`` with ``automatic``, for ``on_failure: rollback``): its steps run
  on that recorded decision, and only in the session that made it;
- nothing is lost: sequence numbers run without a gap, every start is closed by a finish, an interruption or an
  answer, and (given the change's directory) every output file on disk is named by an event. Artifacts no event
  names (the partial capture of a step killed mid-run) are listed apart: their text is in the step's output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.journal import events as ev
from console.runbook.models import Runbook

ENDS_A_START = frozenset({ev.STEP_FINISHED, ev.STEP_INTERRUPTED, ev.MANUAL_ANSWERED})


@dataclass(frozen=True)
class Session:
    """One console's life on a change: the first event it wrote and who drove it."""

    first_seq: int
    operator: str


@dataclass
class Audit:
    """Findings over one change's journal; ``clean`` when nothing reran, nothing ran unconfirmed and nothing was lost."""

    reruns: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    reconfirmations: int = 0
    stray_artifacts: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.reruns or self.unconfirmed or self.lost)

    def describe(self) -> str:
        parts = []
        for name in ("reruns", "unconfirmed", "lost"):
            items = getattr(self, name)
            if items:
                parts.append(f"{name}: " + "; ".join(items))
        return "\n".join(parts) or "clean"


def _key(e: Any) -> tuple[str, str]:
    return (e.data.get("section", "step"), e.data.get("step_id", ""))


def is_mutating(runbook: Runbook, section: str, step_id: str) -> bool:
    """Whether the step changes anything, by the runbook's own model."""
    try:
        step = runbook.rollback_step(step_id) if section == "rollback" else runbook.step(step_id)
    except KeyError:
        return True  # a step the runbook does not know is treated as the worst case
    return step.is_mutating


def session_at(sessions: Sequence[Session], seq: int) -> Session:
    found = sessions[0]
    for s in sessions:
        if s.first_seq <= seq:
            found = s
    return found


def audit(events: Sequence[Any], runbook: Runbook, sessions: Sequence[Session], change_dir: Path | None = None) -> Audit:
    """Check the journal of one change (see the module docstring)."""
    out = Audit()
    passed: set[tuple[str, str]] = set()
    confirms: dict[tuple[str, str], list[Any]] = {}
    last_start: dict[tuple[str, str], int] = {}
    open_start: Any = None
    confirmed_in: dict[tuple[str, str], set[int]] = {}
    automatic_rollback_from: int | None = None  # first_seq of the session whose console decided the rollback itself

    for i, e in enumerate(events):
        if e.seq != i + 1:
            out.lost.append(f"sequence gap: event {i + 1} has seq {e.seq}")
            break
    for e in events:
        key = _key(e)
        session = session_at(sessions, e.seq)
        if e.type == ev.ROLLBACK_STARTED:
            automatic_rollback_from = session.first_seq if e.data.get("automatic") else None
        if e.type == ev.STEP_CONFIRMED:
            confirms.setdefault(key, []).append(e)
            earlier = confirmed_in.setdefault(key, set())
            if any(first < session.first_seq for first in earlier):
                out.reconfirmations += 1
            earlier.add(session.first_seq)
        elif e.type == ev.STEP_STARTED:
            if open_start is not None:
                out.lost.append(f"{_key(open_start)[1]} (seq {open_start.seq}) started and never finished or interrupted")
            open_start = e
            if key in passed:
                out.reruns.append(f"{key[0]} {key[1]} ran again at seq {e.seq} after it passed")
            if key[0] in ("step", "rollback") and is_mutating(runbook, *key):
                after = max(session.first_seq, last_start.get(key, 0) + 1)
                mine = [c for c in confirms.get(key, []) if after <= c.seq < e.seq]
                by_me = [c for c in mine if c.data.get("by", session.operator) == session.operator]
                decided = key[0] == "rollback" and automatic_rollback_from == session.first_seq
                if not by_me and not decided:
                    typed = confirms.get(key, [])
                    before = f"; last confirmed at seq {typed[-1].seq} by {typed[-1].data.get('by')}" if typed else "; never confirmed"
                    out.unconfirmed.append(
                        f"{key[0]} {key[1]} started at seq {e.seq} in {session.operator}'s session (from seq "
                        f"{session.first_seq}) with no confirmation from that session{before}")
            last_start[key] = e.seq
        elif e.type in ENDS_A_START:
            if open_start is not None and _key(open_start) == key:
                open_start = None
            if e.type == ev.STEP_FINISHED and e.data.get("status") == "passed":
                passed.add(key)
    closed = bool(events) and events[-1].type == ev.CHANGE_CLOSED
    if open_start is not None and closed:
        out.lost.append(f"{_key(open_start)[1]} (seq {open_start.seq}) started and never finished or interrupted")
    if change_dir is not None:
        named = {e.data["file"].get("path") for e in events if isinstance(e.data.get("file"), dict)}
        for path in sorted((change_dir / "outputs").glob("*")):
            rel = path.relative_to(change_dir).as_posix()
            if rel not in named:
                out.lost.append(f"{rel} is on disk but no event names it (its step's output left the record)")
        for path in sorted((change_dir / "artifacts").glob("*")):
            rel = path.relative_to(change_dir).as_posix()
            if rel not in named:
                out.stray_artifacts.append(rel)
    return out


def subsequence_missing(events: Iterable[Any], expected: Sequence[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """The part of ``expected`` (type, step_id or None) not found in order in ``events``; empty when all are."""
    want = list(expected)
    for e in events:
        if want and e.type == want[0][0] and (want[0][1] is None or e.data.get("step_id") == want[0][1]):
            want.pop(0)
    return want


def step_trail(events: Iterable[Any]) -> list[tuple[str, str]]:
    """(type, step_id) of every step-lifecycle and rollback event, for assertion messages."""
    kinds = {ev.STEP_CONFIRMED, ev.STEP_STARTED, ev.STEP_FINISHED, ev.STEP_INTERRUPTED, ev.FAILURE_CHOICE,
             ev.ROLLBACK_STARTED, ev.ROLLBACK_FINISHED, ev.TRIGGER_FIRED, ev.CHANGE_CLOSED, ev.MANUAL_ANSWERED,
             ev.APPROVAL_RECORDED, ev.ESCALATION_PASSED}
    trail = []
    for e in events:
        if e.type in kinds:
            detail = e.data.get("step_id") or e.data.get("status") or e.data.get("outcome") or e.data.get("trigger") or ""
            if e.type == ev.STEP_FINISHED:
                detail = f"{detail}:{e.data.get('status')}"
            trail.append((e.type, str(detail)))
    return trail
