"""The change state machine on event lists alone (console/engine/state.py is pure): fold, next_action, rollback_queue."""

from __future__ import annotations

from typing import Any

import pytest

from console.engine.state import Item, State, failure_options, fold, forward_plan, next_action, rollback_queue
from console.journal import events as ev
from console.journal.journal import Event
from console.runbook.models import Runbook

from .conftest import runbook_doc


def make_runbook() -> Runbook:
    doc = runbook_doc(
        preconditions=[{"id": "backup", "kind": "check", "run": ["true"]}],
        gates=[{"id": "gate", "kind": "check", "run": ["true"]}],
        steps=[
            {"id": "one", "run": ["true"], "rollback": "undo-one"},
            {"id": "two", "run": ["true"], "confirm": "typed", "confirm_word": "{namespace}", "rollback": "undo-two"},
            {"id": "look", "kind": "check", "run": ["true"]},
            {"id": "three", "run": ["true"], "rollback": "undo-one"},
            {"id": "hand", "kind": "manual", "instructions": "Do it by hand."},
            {"id": "sign", "kind": "approval", "role": "engineering-manager"},
        ],
        rollback=[
            {"id": "undo-one", "run": ["true"]},
            {"id": "undo-two", "run": ["true"], "confirm": "yes"},
        ],
        verification=[{"id": "verify", "kind": "check", "run": ["true"]}],
        params={"namespace": {"type": "string", "default": "web"}},
    )
    return Runbook.model_validate(doc)


RB = make_runbook()


class Events:
    """Builds an event list the way the journal numbers it."""

    def __init__(self) -> None:
        self.items: list[Event] = []

    def add(self, type_: str, **data: Any) -> Events:
        seq = len(self.items) + 1
        self.items.append(Event(seq, f"2026-11-18T12:{seq // 60:02d}:{seq % 60:02d}.000000Z", type_, data, "", ""))
        return self

    def passed(self, section: str, step_id: str) -> Events:
        return self.add(ev.STEP_STARTED, section=section, step_id=step_id).add(
            ev.STEP_FINISHED, section=section, step_id=step_id, status="passed")

    def failed(self, section: str, step_id: str, reason: str = "exit code 1") -> Events:
        return self.add(ev.STEP_STARTED, section=section, step_id=step_id).add(
            ev.STEP_FINISHED, section=section, step_id=step_id, status="failed", reason=reason)

    def confirmed(self, section: str, step_id: str) -> Events:
        return self.add(ev.STEP_CONFIRMED, section=section, step_id=step_id)

    def state(self) -> State:
        return fold(RB, self.items)


def through_look() -> Events:
    """Preconditions, gate, and steps one, two and look done."""
    e = Events().passed("precondition", "backup").passed("gate", "gate")
    e.confirmed("step", "one").passed("step", "one")
    e.confirmed("step", "two").passed("step", "two")
    return e.passed("step", "look")


def word(step) -> str:
    return step.confirm_word.replace("{namespace}", "web")


# -- fold ----------------------------------------------------------------------------------------------------------


def test_the_forward_plan_walks_preconditions_gates_steps_then_verification() -> None:
    plan = forward_plan(RB)
    assert [(i.section, i.step_id) for i in plan] == [
        ("precondition", "backup"), ("gate", "gate"), ("step", "one"), ("step", "two"), ("step", "look"),
        ("step", "three"), ("step", "hand"), ("step", "sign"), ("verification", "verify"),
    ]


def test_an_empty_journal_starts_at_the_first_precondition() -> None:
    state = Events().state()
    assert state.phase == "running" and state.position == 0
    nxt = next_action(state, RB)
    assert nxt.kind == "run" and nxt.item == Item("precondition", "backup")


def test_fold_tracks_position_statuses_attempts_and_mutation() -> None:
    e = Events().passed("precondition", "backup").passed("gate", "gate")
    state = e.state()
    assert state.position == 2 and not state.mutated
    e.confirmed("step", "one").failed("step", "one")
    state = e.state()
    assert state.phase == "failed" and state.statuses["one"] == "failed" and state.mutated
    assert state.failure is not None and state.failure.reason == "exit code 1"
    assert state.failure.at == e.items[-1].ts
    e.add(ev.FAILURE_CHOICE, section="step", step_id="one", choice="retry")
    e.confirmed("step", "one").passed("step", "one")
    state = e.state()
    assert state.attempts["one"] == 2 and state.statuses["one"] == "passed" and state.position == 3
    assert state.seq == len(e.items)


def test_a_running_step_is_remembered_until_it_ends() -> None:
    e = Events().add(ev.STEP_STARTED, section="precondition", step_id="backup")
    state = e.state()
    assert state.running == Item("precondition", "backup") and state.statuses["backup"] == "running"
    assert state.position == 0  # not done: a crash here must not count as passed


# -- next_action for each phase ---------------------------------------------------------------------------------------


def test_a_mutating_step_asks_yes_then_runs_and_a_rerun_asks_again() -> None:
    e = Events().passed("precondition", "backup").passed("gate", "gate")
    nxt = next_action(e.state(), RB)
    assert (nxt.kind, nxt.confirm, nxt.item) == ("confirm", "yes", Item("step", "one"))
    e.confirmed("step", "one")
    assert next_action(e.state(), RB).kind == "run"
    e.failed("step", "one").add(ev.FAILURE_CHOICE, section="step", step_id="one", choice="retry")
    # The confirmation was spent by the first attempt: a retry is confirmed again.
    nxt = next_action(e.state(), RB)
    assert (nxt.kind, nxt.item) == ("confirm", Item("step", "one"))


def test_a_typed_confirmation_asks_for_its_word_with_parameters_filled_in() -> None:
    e = Events().passed("precondition", "backup").passed("gate", "gate").confirmed("step", "one").passed("step", "one")
    nxt = next_action(e.state(), RB, word_for=word)
    assert (nxt.kind, nxt.confirm, nxt.word) == ("confirm", "typed", "web")
    # A refused confirmation changes nothing: the same question comes back.
    e.add(ev.STEP_CONFIRMATION_REFUSED, section="step", step_id="two", typed="wbe")
    assert next_action(e.state(), RB, word_for=word) == nxt


def test_manual_and_approval_steps_ask_for_answers() -> None:
    e = through_look().confirmed("step", "three").passed("step", "three")
    nxt = next_action(e.state(), RB)
    assert (nxt.kind, nxt.item) == ("manual", Item("step", "hand"))
    e.add(ev.STEP_STARTED, section="step", step_id="hand").add(ev.MANUAL_ANSWERED, section="step", step_id="hand", answer="done")
    nxt = next_action(e.state(), RB)
    assert (nxt.kind, nxt.item) == ("approval", Item("step", "sign"))
    e.add(ev.APPROVAL_RECORDED, section="step", step_id="sign", name="dave", role="engineering-manager")
    nxt = next_action(e.state(), RB)
    assert (nxt.kind, nxt.item) == ("run", Item("verification", "verify"))
    e.passed("verification", "verify")
    state = e.state()
    assert state.phase == "ready_to_close"
    assert next_action(state, RB).kind == "close" and next_action(state, RB).suggested == "success"


def test_a_manual_answer_of_no_is_a_failure() -> None:
    e = through_look().confirmed("step", "three").passed("step", "three")
    e.add(ev.STEP_STARTED, section="step", step_id="hand").add(ev.MANUAL_ANSWERED, section="step", step_id="hand", answer="no", note="could not")
    nxt = next_action(e.state(), RB)
    assert nxt.kind == "failure" and nxt.reason == "could not"


@pytest.mark.parametrize(
    ("section", "step_id", "options"),
    [
        ("precondition", "backup", ("retry", "continue", "abort")),
        ("gate", "gate", ("retry", "continue", "abort")),
        ("step", "one", ("retry", "rollback", "continue", "abort")),
    ],
)
def test_a_failure_offers_the_choices_of_its_section(section: str, step_id: str, options: tuple[str, ...]) -> None:
    e = Events()
    if section != "precondition":
        e.passed("precondition", "backup")
    if section == "step":
        e.passed("gate", "gate").confirmed("step", "one")
    e.failed(section, step_id, "boom")
    nxt = next_action(e.state(), RB)
    assert (nxt.kind, nxt.item, nxt.options, nxt.reason) == ("failure", Item(section, step_id), options, "boom")
    assert failure_options("rollback") == ("retry", "continue", "abort")


def test_a_failed_gate_never_lets_a_step_run_whatever_is_retried() -> None:
    e = Events().passed("precondition", "backup")
    for _ in range(3):
        e.failed("gate", "gate").add(ev.FAILURE_CHOICE, section="gate", step_id="gate", choice="retry")
        nxt = next_action(e.state(), RB)
        assert nxt.item == Item("gate", "gate")
    e.failed("gate", "gate").add(ev.FAILURE_CHOICE, section="gate", step_id="gate", choice="abort")
    state = e.state()
    assert state.phase == "ready_to_close" and state.aborted and not state.mutated
    assert next_action(state, RB).suggested == "aborted"
    assert all(s.data["section"] != "step" for s in e.items if s.type == ev.STEP_STARTED)


def test_continue_moves_past_the_failed_step_and_marks_the_outcome_partial() -> None:
    e = through_look().confirmed("step", "three").failed("step", "three")
    e.add(ev.FAILURE_CHOICE, section="step", step_id="three", choice="continue")
    state = e.state()
    assert state.statuses["three"] == "continued" and state.phase == "running"
    assert next_action(state, RB).item == Item("step", "hand")
    assert state.suggested_outcome() == "partial"


def test_abort_after_a_mutating_step_is_partial_not_aborted() -> None:
    e = through_look().confirmed("step", "three").failed("step", "three")
    e.add(ev.FAILURE_CHOICE, section="step", step_id="three", choice="abort")
    state = e.state()
    assert state.phase == "ready_to_close" and state.suggested_outcome() == "partial"


def test_the_rollback_phase_runs_its_queue_then_asks_to_finish() -> None:
    e = through_look().confirmed("step", "three").failed("step", "three")
    queue = rollback_queue(RB, e.state())
    e.add(ev.FAILURE_CHOICE, section="step", step_id="three", choice="rollback")
    e.add(ev.ROLLBACK_STARTED, reason="three failed", steps=queue)
    state = e.state()
    assert state.phase == "rolling_back" and state.current == Item("rollback", "undo-one")
    # undo-one has no confirm of its own but is mutating: a rollback step is confirmed like a step.
    nxt = next_action(state, RB)
    assert (nxt.kind, nxt.confirm, nxt.item) == ("confirm", "yes", Item("rollback", "undo-one"))
    e.confirmed("rollback", "undo-one").passed("rollback", "undo-one")
    assert next_action(e.state(), RB).item == Item("rollback", "undo-two")
    e.confirmed("rollback", "undo-two").passed("rollback", "undo-two")
    assert next_action(e.state(), RB).kind == "finish_rollback"
    e.add(ev.ROLLBACK_FINISHED, status="done")
    state = e.state()
    assert state.phase == "ready_to_close" and state.rolled_back
    assert next_action(state, RB).suggested == "rolled_back"
    e.add(ev.CHANGE_CLOSED, outcome="rolled_back")
    nxt = next_action(e.state(), RB)
    assert (nxt.kind, nxt.suggested) == ("done", "rolled_back")


def test_a_failed_rollback_step_offers_retry_and_a_retry_stays_in_the_rollback() -> None:
    e = through_look().confirmed("step", "three").failed("step", "three")
    e.add(ev.ROLLBACK_STARTED, reason="x", steps=["undo-one", "undo-two"])
    e.confirmed("rollback", "undo-one").failed("rollback", "undo-one", "undo broke")
    nxt = next_action(e.state(), RB)
    assert (nxt.kind, nxt.item, nxt.options) == ("failure", Item("rollback", "undo-one"), ("retry", "continue", "abort"))
    e.add(ev.FAILURE_CHOICE, section="rollback", step_id="undo-one", choice="retry")
    state = e.state()
    assert state.phase == "rolling_back" and state.current == Item("rollback", "undo-one")
    e.confirmed("rollback", "undo-one").failed("rollback", "undo-one").add(
        ev.FAILURE_CHOICE, section="rollback", step_id="undo-one", choice="abort")
    state = e.state()
    assert state.rollback_failed and state.phase == "ready_to_close" and state.suggested_outcome() == "partial"


def test_an_interrupted_step_is_not_done_and_must_be_confirmed_again() -> None:
    e = Events().passed("precondition", "backup").passed("gate", "gate").confirmed("step", "one")
    e.add(ev.STEP_STARTED, section="step", step_id="one")
    e.add(ev.STEP_INTERRUPTED, section="step", step_id="one", reason="console stopped")
    state = e.state()
    assert state.running is None and state.statuses["one"] == "interrupted" and state.position == 2
    nxt = next_action(state, RB)
    assert (nxt.kind, nxt.item) == ("confirm", Item("step", "one"))


# -- rollback_queue ---------------------------------------------------------------------------------------------------


def test_rollback_queue_is_newest_first_each_once_for_attempted_steps_only() -> None:
    # one (undo-one), two (undo-two), look (no rollback), three (undo-one again) failed.
    e = through_look().confirmed("step", "three").failed("step", "three")
    assert rollback_queue(RB, e.state()) == ["undo-one", "undo-two"]
    # Only one and two done, look not reached: three's rollback is not there, undo-two first.
    e2 = Events().passed("precondition", "backup").passed("gate", "gate").confirmed("step", "one").passed("step", "one")
    e2.confirmed("step", "two").failed("step", "two")
    assert rollback_queue(RB, e2.state()) == ["undo-two", "undo-one"]
    # Nothing attempted yet (a gate failed): nothing to roll back.
    e3 = Events().passed("precondition", "backup").failed("gate", "gate")
    assert rollback_queue(RB, e3.state()) == []


def test_a_step_naming_several_rollback_steps_queues_them_in_its_order() -> None:
    rb = Runbook.model_validate(runbook_doc(
        steps=[
            {"id": "config", "run": ["true"], "rollback": ["restore-config", "restart"]},
            {"id": "image", "run": ["true"], "rollback": "undo-image"},
        ],
        rollback=[{"id": i, "run": ["true"]} for i in ("restore-config", "restart", "undo-image")],
    ))
    events = [
        Event(1, "t", ev.STEP_STARTED, {"section": "step", "step_id": "config"}, "", ""),
        Event(2, "t", ev.STEP_FINISHED, {"section": "step", "step_id": "config", "status": "passed"}, "", ""),
        Event(3, "t", ev.STEP_STARTED, {"section": "step", "step_id": "image"}, "", ""),
        Event(4, "t", ev.STEP_FINISHED, {"section": "step", "step_id": "image", "status": "failed"}, "", ""),
    ]
    assert rollback_queue(rb, fold(rb, events)) == ["undo-image", "restore-config", "restart"]
