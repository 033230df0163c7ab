"""One rehearsal of an adversarial runbook through the real console, and the assertions every rehearsal makes.

``rehearse`` runs a change start to finish in one console (a crash loop with no kill points), so a test can inject
a fault when the journal reaches a state. The assertions name what they expected and print the change's step trail
and the console's last output when they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from console.journal import events as ev

from .crashloop import ANSWERS, Console, Loop, crash_loop, load
from .journal_audit import audit, step_trail, subsequence_missing

Expected = Sequence[tuple[str, str | None]]


def rehearse(console: Console, runbooks: Path, runbook_id: str, answers: str | None = None, *,
             extra: Sequence[str] = (), on_events: Callable[[list[dict[str, Any]]], None] | None = None) -> Loop:
    return crash_loop(console, runbooks / f"{runbook_id}.yaml", ANSWERS / f"{answers or runbook_id}.yaml", [],
                      run_extra=extra, on_events=on_events)


def trail(loop: Loop) -> str:
    return "step trail: " + ", ".join(f"{t}({d})" for t, d in step_trail(loop.events)) + "\nconsole output ends:\n" + loop.tail()


def assert_closed(loop: Loop, outcome: str) -> None:
    assert loop.closed, f"the change did not close (exit codes {loop.exit_codes})\n" + trail(loop)
    assert loop.outcome == outcome, f"closed {loop.outcome}, expected {outcome}\n" + trail(loop)


def assert_order(loop: Loop, expected: Expected) -> None:
    missing = subsequence_missing(loop.events, expected)
    assert not missing, f"not in the journal in this order from {missing[0]} on: {list(missing)}\n" + trail(loop)


def assert_record_sound(console: Console, loop: Loop, runbook: Path) -> None:
    """``records verify`` passes and the journal audit is clean: nothing rerun after passing, nothing unconfirmed,
    nothing lost."""
    verified = console("records", "verify", loop.change_id)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    change_dir = console.journal().parent
    found = audit(loop.events, load(runbook), loop.sessions, change_dir)
    assert found.clean, found.describe() + "\n" + trail(loop)


def one(loop: Loop, type_: str, step_id: str | None = None) -> Any:
    found = [e for e in loop.events if e.type == type_ and (step_id is None or e.data.get("step_id") == step_id)]
    assert len(found) == 1, f"expected one {type_} {step_id or ''}, found {len(found)}\n" + trail(loop)
    return found[0]


def assert_automatic_rollback(loop: Loop, failed_step: str, queue: list[str], operators: Sequence[str]) -> None:
    """The rollback after ``failed_step`` was the console's own decision (on_failure: rollback), recorded as such,
    with the rollback steps in ``queue`` order, each started and finished passed without waiting for a confirmation
    (nobody need be at the keys for an automatic rollback)."""
    choice = one(loop, ev.FAILURE_CHOICE, failed_step)
    assert choice.data["choice"] == "rollback", choice.data
    by = str(choice.data.get("by", ""))
    assert by.strip() and by not in operators, (
        f"the rollback decision is recorded as made by {by!r}, not as the console's automatic decision\n" + trail(loop))
    started = one(loop, ev.ROLLBACK_STARTED)
    assert started.data["steps"] == queue, started.data
    assert started.data.get("automatic") is True and choice.data.get("automatic") is True, (started.data, choice.data)
    assert choice.seq < started.seq
    expected: list[tuple[str, str | None]] = [(ev.FAILURE_CHOICE, failed_step), (ev.ROLLBACK_STARTED, None)]
    for step_id in queue:
        expected += [(ev.STEP_STARTED, step_id), (ev.STEP_FINISHED, step_id)]
    after = [e for e in loop.events if e.seq > started.seq]
    assert not [e for e in after if e.type == ev.STEP_CONFIRMED], "an automatic rollback waited for a confirmation\n" + trail(loop)
    expected += [(ev.ROLLBACK_FINISHED, None), (ev.CHANGE_CLOSED, None)]
    assert_order(loop, expected)
    for step_id in queue:
        finished = [e for e in loop.events if e.type == ev.STEP_FINISHED and e.data["step_id"] == step_id]
        assert finished[-1].data["status"] == "passed", finished[-1].data
    assert one(loop, ev.ROLLBACK_FINISHED).data["status"] == "done"


def assert_trigger_ended(loop: Loop, step_id: str, trigger: str) -> None:
    """``step_id`` ended because the rollback trigger ``trigger`` fired while it ran (not by a timeout or deadline):
    its finish is failed and names the trigger, or a ``trigger.fired`` naming it is recorded between its start and the
    failure's decision."""
    started = [e for e in loop.events if e.type == ev.STEP_STARTED and e.data["step_id"] == step_id]
    finished = [e for e in loop.events if e.type == ev.STEP_FINISHED and e.data["step_id"] == step_id]
    assert started and finished, f"{step_id} never ran to its end\n" + trail(loop)
    last = finished[-1]
    assert last.data["status"] == "failed", last.data
    decided = next((e.seq for e in loop.events if e.type == ev.FAILURE_CHOICE and e.seq > last.seq), loop.events[-1].seq)
    fired = [e.data.get("trigger") for e in loop.events
             if e.type == ev.TRIGGER_FIRED and started[-1].seq < e.seq < decided]
    named = (last.data.get("trigger") or {}).get("trigger")
    assert trigger in fired or named == trigger, (
        f"{step_id} ended with {last.data.get('reason')!r} (triggers fired: {fired}), not with the {trigger} trigger "
        "firing while it ran\n" + trail(loop))
