"""A change's state as a fold over its journal events, and what the operator must do next (pure).

The session writes an event, then folds it; resuming a change is loading its journal and folding every event.
Nothing here reads a clock or a file, so every rule of the state machine is tested on event lists alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from console.journal import events as ev
from console.journal.event_data import (
    ApprovalRecorded,
    ArtifactSaved,
    ChangeClosed,
    FailureChoice,
    FailureHeld,
    ManualAnswered,
    RollbackFinished,
    RollbackStarted,
    SessionResumed,
    StepConfirmed,
    StepEventData,
    StepFinished,
    StepInterrupted,
    StepSkipped,
    StepStarted,
    parse_data,
)
from console.runbook.models import Runbook, Step

FORWARD_SECTIONS = ("precondition", "gate", "step", "verification")


@dataclass(frozen=True)
class Item:
    """One step in its section."""

    section: str
    step_id: str


@dataclass
class Failure:
    section: str
    step_id: str
    reason: str
    at: str


@dataclass
class State:
    """Where a change stands. ``phase`` is one of: running, failed, rolling_back, ready_to_close, closed."""

    forward: list[Item]
    position: int = 0
    phase: str = "running"
    statuses: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    # Confirmations of the current session only: a resume starts a new session and clears them.
    confirmed: set[str] = field(default_factory=set)
    running: Item | None = None
    failure: Failure | None = None
    rollback_queue: list[str] = field(default_factory=list)
    rollback_pos: int = 0
    rollback_automatic: bool = False  # started by the console itself (on_failure: rollback), in this session
    failure_held: bool = False  # the operator held the automatic rollback of the current failure
    rolled_back: bool = False
    rollback_failed: bool = False
    aborted: bool = False
    continued_after_failure: bool = False
    mutated: bool = False
    outcome: str | None = None
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seq: int = 0
    tries: dict[str, tuple[int, int]] = field(default_factory=dict)  # a step with retry: its latest try, of how many
    skipped: dict[str, str] = field(default_factory=dict)  # a step skipped by its when:, and why

    @property
    def current(self) -> Item | None:
        """The step the change is on (forward or rollback), or None when there is none."""
        if self.phase == "rolling_back" or (self.phase == "failed" and self.failure and self.failure.section == "rollback"):
            if self.rollback_pos < len(self.rollback_queue):
                return Item("rollback", self.rollback_queue[self.rollback_pos])
            return None
        if self.position < len(self.forward):
            return self.forward[self.position]
        return None

    def suggested_outcome(self) -> str:
        if self.rolled_back:
            return "rolled_back"
        if self.rollback_failed or self.continued_after_failure:
            return "partial"
        if self.aborted:
            return "partial" if self.mutated else "aborted"
        return "success"


def forward_plan(runbook: Runbook) -> list[Item]:
    items: list[Item] = []
    for section, steps in runbook.sections():
        if section in FORWARD_SECTIONS:
            items.extend(Item(section, s.id) for s in steps)
    return items


def rollback_queue(runbook: Runbook, state: State) -> list[str]:
    """Rollback steps for the steps already attempted, newest first, each once."""
    queue: list[str] = []
    # A skipped step (its when: did not hold) changed nothing, so nothing of it is undone.
    done = [it for it in state.forward[: state.position + 1]
            if it.section == "step" and state.statuses.get(it.step_id) not in (None, "skipped")]
    for item in reversed(done):
        for target in runbook.step(item.step_id).rollback_ids:
            if target not in queue:
                queue.append(target)
    return queue


def _advance(state: State, item: Item) -> None:
    if item.section == "rollback":
        state.rollback_pos += 1
        if state.rollback_pos >= len(state.rollback_queue):
            state.phase = "rolling_back"  # the session closes the rollback with rollback.finished
        return
    if state.position < len(state.forward) and state.forward[state.position] == item:
        state.position += 1
    if state.position >= len(state.forward):
        state.phase = "ready_to_close"


def apply(state: State, runbook: Runbook, e: Any) -> State:
    """Fold one event into the state (mutates and returns it); the event's data is read through its type's model."""
    d = parse_data(e)
    state.seq = e.seq
    if isinstance(d, StepEventData) and d.section == ev.EVIDENCE_SECTION:
        return state  # close-out evidence sits beside the plan: it never moves, fails or marks one of its steps
    item = Item(d.section, d.step_id) if isinstance(d, StepEventData) and d.step_id is not None else None
    if isinstance(d, SessionResumed):
        # A confirmation belongs to the session that saw it, and so does a decision to roll back without asking.
        state.confirmed.clear()
        state.rollback_automatic = False
    elif isinstance(d, StepConfirmed) and item:
        state.confirmed.add(item.step_id)
    elif isinstance(d, StepStarted) and item:
        state.running = item
        state.statuses[item.step_id] = "running"
        state.attempts[item.step_id] = state.attempts.get(item.step_id, 0) + 1
        if d.retry:
            state.tries[item.step_id] = (int(d.retry.get("try", 1)), int(d.retry.get("of", 1)))
        state.confirmed.discard(item.step_id)
        if item.section in ("step", "rollback") and _mutating(runbook, item.step_id):
            state.mutated = True
    elif isinstance(d, StepInterrupted) and item:
        state.running = None
        state.statuses[item.step_id] = "interrupted"
        state.confirmed.discard(item.step_id)
    elif isinstance(d, StepFinished) and d.retrying and item:
        # One failed try of a step with retry, another to follow: the step is still running, not failed.
        state.statuses[item.step_id] = "retrying"
    elif isinstance(d, StepSkipped) and item:
        state.statuses[item.step_id] = "skipped"
        state.skipped[item.step_id] = d.reason
        _advance(state, item)
    elif isinstance(d, (StepFinished, ManualAnswered)) and item:
        state.running = None
        if isinstance(d, StepFinished):
            passed, why = d.status == "passed", d.reason
        else:
            passed, why = d.answer in ("done", "yes", "approved"), d.note
        if passed:
            state.statuses[item.step_id] = "passed"
            _advance(state, item)
        else:
            state.statuses[item.step_id] = "failed"
            state.failure = Failure(item.section, item.step_id, why or "failed", e.ts)
            state.failure_held = False
            state.phase = "failed"
    elif isinstance(d, ApprovalRecorded) and item:
        state.statuses[item.step_id] = "passed"
        state.confirmed.discard(item.step_id)
        _advance(state, item)
    elif isinstance(d, ArtifactSaved) and item:
        state.artifacts.setdefault(item.step_id, []).append(e.data)  # the reference as recorded, for later steps
    elif isinstance(d, FailureHeld) and state.failure is not None:
        state.failure_held = True
    elif isinstance(d, FailureChoice) and state.failure is not None:
        failed = Item(state.failure.section, state.failure.step_id)
        if d.choice == "retry":
            state.statuses[failed.step_id] = "pending"
            state.failure = None
            state.phase = "rolling_back" if failed.section == "rollback" else "running"
        elif d.choice == "continue":
            state.statuses[failed.step_id] = "continued"
            state.failure = None
            state.continued_after_failure = True
            state.phase = "rolling_back" if failed.section == "rollback" else "running"
            _advance(state, failed)
        elif d.choice == "abort":
            state.failure = None
            state.aborted = True
            if failed.section == "rollback":
                state.rollback_failed = True
            state.phase = "ready_to_close"
        # "rollback" is followed by rollback.started, which does the work
    elif isinstance(d, RollbackStarted):
        state.phase = "rolling_back"
        state.failure = None
        state.rollback_queue = list(d.steps)
        state.rollback_pos = 0
        state.rollback_automatic = bool(d.automatic)
    elif isinstance(d, RollbackFinished):
        if d.status == "done":
            state.rolled_back = True
        else:
            state.rollback_failed = True
        state.phase = "ready_to_close"
    elif isinstance(d, ChangeClosed):
        state.phase = "closed"
        state.outcome = d.outcome
    return state


def _mutating(runbook: Runbook, step_id: str) -> bool:
    try:
        return runbook.step(step_id).is_mutating
    except KeyError:
        return False


def fold(runbook: Runbook, events: Iterable[Any]) -> State:
    state = State(forward=forward_plan(runbook))
    for e in events:
        apply(state, runbook, e)
    return state


# -- what happens next ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Next:
    """What the driver must do now.

    kind: skip (the step's when: does not hold: the session records it skipped, with ``reason``),
    confirm (ask the step's confirmation), run (start the step), manual (ask the operator's answer),
    approval (ask who approves), failure (offer ``options``), finish_rollback (the session closes the rollback),
    close (ask for outcome, follow-ups and sign-off), done.
    """

    kind: str
    item: Item | None = None
    step: Step | None = None
    confirm: str = "none"
    word: str | None = None
    options: tuple[str, ...] = ()
    reason: str = ""
    suggested: str | None = None
    auto_rollback: bool = False  # a failure the console rolls back by itself once the countdown ends


def failure_options(section: str) -> tuple[str, ...]:
    if section in ("precondition", "gate"):
        return ("retry", "continue", "abort")
    if section == "rollback":
        return ("retry", "continue", "abort")
    return ("retry", "rollback", "continue", "abort")


def next_action(state: State, runbook: Runbook, *, word_for: Any = None, skip_for: Any = None) -> Next:
    """The next thing the change needs. ``word_for(step)`` gives a typed confirmation's word, parameters filled in;
    ``skip_for(step)`` why a step is skipped (its ``when:`` does not hold), or None."""
    if state.phase == "closed":
        return Next("done", suggested=state.outcome)
    if state.phase == "ready_to_close":
        return Next("close", suggested=state.suggested_outcome())
    if state.phase == "failed" and state.failure is not None:
        f = state.failure
        step = runbook.step(f.step_id)
        options = failure_options(f.section)
        auto = step.on_failure == "rollback" and "rollback" in options and not state.failure_held
        return Next("failure", Item(f.section, f.step_id), step, options=options, reason=f.reason, auto_rollback=auto)
    item = state.current
    if item is None:
        if state.phase == "rolling_back":
            return Next("finish_rollback")
        return Next("close", suggested=state.suggested_outcome())
    step = runbook.rollback_step(item.step_id) if item.section == "rollback" else runbook.step(item.step_id)
    # A gate or precondition always runs, whatever its when: says (lint refuses one there).
    gated = item.section in ("precondition", "gate")
    skipped = skip_for(step) if (skip_for and state.running is None and not gated) else None
    if skipped:
        return Next("skip", item, step, reason=skipped)
    confirm = step.confirmation(item.section)  # type: ignore[arg-type]
    if step.kind == "approval":
        return Next("approval", item, step)
    if confirm == "none" and step.is_mutating and state.statuses.get(item.step_id) == "interrupted":
        # It may have half-run: running it again is a decision for the operator, even where the runbook asks none.
        confirm = "yes"
    if item.section == "rollback" and state.rollback_automatic and step.kind not in ("manual", "approval"):
        # The console decided this rollback itself (recorded); its steps run without waiting for a person.
        return Next("run", item, step)
    if confirm != "none" and item.step_id not in state.confirmed:
        word = word_for(step) if (confirm == "typed" and word_for) else step.confirm_word
        return Next("confirm", item, step, confirm=confirm, word=word)
    if step.kind == "manual":
        return Next("manual", item, step)
    return Next("run", item, step)
