"""The journal audit on journals written by hand: each finding it must make, and a clean resume it must accept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console.journal import events as ev
from console.journal.chain import Event
from console.runbook.loader import load_runbook_text

from .journal_audit import Session, audit, subsequence_missing

RUNBOOK = load_runbook_text("""
apiVersion: opsconsole/v1
kind: Runbook
metadata: {id: audit, title: Audit, component: c, from: "1", to: "2", risk: low, environments: [rehearsal], owners: [p]}
why: w
scope: s
blast_radius: b
done_when: [d]
gates:
  - {id: look, kind: check, run: ["true"]}
steps:
  - {id: change, run: ["true"], rollback: undo}
  - {id: wait, kind: observe, duration: 1s}
rollback:
  steps:
    - {id: undo, run: ["true"]}
""").runbook

ALICE, BOB = Session(1, "alice"), Session(6, "bob")


def journal(*items: tuple[str, dict[str, Any]]) -> list[Event]:
    return [Event(i + 1, f"2026-11-21T10:00:{i:02d}.000000Z", t, d, "", "") for i, (t, d) in enumerate(items)]


def step(type_: str, step_id: str, section: str = "step", **data: Any) -> tuple[str, dict[str, Any]]:
    return type_, {"section": section, "step_id": step_id, **data}


OPENING = [(ev.CHANGE_CREATED, {}), step(ev.STEP_STARTED, "look", "gate"), step(ev.STEP_FINISHED, "look", "gate", status="passed")]


def test_a_confirmation_typed_before_the_crash_is_not_one_for_the_resumed_session() -> None:
    events = journal(*OPENING, step(ev.STEP_CONFIRMED, "change", by="alice"), (ev.CLUSTER_SNAPSHOT, {"when": "before"}),
                     step(ev.STEP_STARTED, "change"), step(ev.STEP_FINISHED, "change", status="passed"))
    found = audit(events, RUNBOOK, [ALICE, BOB])
    (problem,) = found.unconfirmed
    assert problem.startswith("step change started at seq 6 in bob's session (from seq 6)")
    assert not found.clean
    assert audit(events, RUNBOOK, [ALICE]).clean  # the same journal written by one console is sound


def test_a_confirmation_again_in_the_resumed_session_by_its_operator_is_one() -> None:
    events = journal(*OPENING, step(ev.STEP_CONFIRMED, "change", by="alice"), (ev.CLUSTER_SNAPSHOT, {"when": "before"}),
                     step(ev.STEP_CONFIRMED, "change", by="bob"), step(ev.STEP_STARTED, "change"),
                     step(ev.STEP_FINISHED, "change", status="passed"))
    found = audit(events, RUNBOOK, [ALICE, BOB])
    assert found.clean, found.describe()
    assert found.reconfirmations == 1
    by_someone_else = journal(*OPENING, step(ev.STEP_CONFIRMED, "change", by="alice"), (ev.NOTE_ADDED, {}),
                              step(ev.STEP_CONFIRMED, "change", by="alice"), step(ev.STEP_STARTED, "change"))
    assert audit(by_someone_else, RUNBOOK, [ALICE, BOB]).unconfirmed


def test_a_rerun_needs_a_confirmation_after_the_previous_start() -> None:
    events = journal(*OPENING, step(ev.STEP_CONFIRMED, "change", by="alice"), step(ev.STEP_STARTED, "change"),
                     step(ev.STEP_FINISHED, "change", status="failed"), step(ev.FAILURE_CHOICE, "change", choice="retry"),
                     step(ev.STEP_STARTED, "change"))
    (problem,) = audit(events, RUNBOOK, [ALICE]).unconfirmed
    assert "seq 8" in problem


def test_rollback_steps_are_held_to_the_same_rule_and_looking_steps_are_not() -> None:
    events = journal(*OPENING, step(ev.STEP_CONFIRMED, "change", by="alice"), step(ev.STEP_STARTED, "change"),
                     step(ev.STEP_FINISHED, "change", status="passed"), step(ev.STEP_STARTED, "wait"),
                     step(ev.STEP_FINISHED, "wait", status="failed"), (ev.ROLLBACK_STARTED, {"steps": ["undo"]}),
                     step(ev.STEP_STARTED, "undo", "rollback"))
    (problem,) = audit(events, RUNBOOK, [ALICE]).unconfirmed
    assert problem.startswith("rollback undo started")


def test_a_step_that_passed_and_ran_again_is_a_rerun() -> None:
    events = journal(*OPENING, step(ev.STEP_STARTED, "look", "gate"), step(ev.STEP_FINISHED, "look", "gate", status="passed"))
    (problem,) = audit(events, RUNBOOK, [ALICE]).reruns
    assert problem == "gate look ran again at seq 4 after it passed"


def test_a_start_with_no_end_and_a_sequence_gap_are_losses() -> None:
    events = journal(*OPENING, step(ev.STEP_CONFIRMED, "change", by="alice"), step(ev.STEP_STARTED, "change"),
                     step(ev.STEP_CONFIRMED, "change", by="bob"), step(ev.STEP_STARTED, "change"),
                     step(ev.STEP_FINISHED, "change", status="passed"), (ev.CHANGE_CLOSED, {"outcome": "success"}))
    assert audit(events, RUNBOOK, [ALICE, BOB]).lost == ["change (seq 5) started and never finished or interrupted"]
    gap = [*events[:3], *events[4:]]
    assert audit(gap, RUNBOOK, [ALICE]).lost[0] == "sequence gap: event 4 has seq 5"


def test_an_output_file_no_event_names_is_a_loss(tmp_path: Path) -> None:
    (tmp_path / "outputs").mkdir()
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "outputs" / "001-look.cast").write_text("named")
    (tmp_path / "outputs" / "002-change.cast").write_text("lost")
    (tmp_path / "artifacts" / "change.out").write_text("partial capture")
    events = journal(*OPENING[:2], step(ev.STEP_FINISHED, "look", "gate", status="passed", file={"path": "outputs/001-look.cast"}))
    found = audit(events, RUNBOOK, [ALICE], tmp_path)
    assert found.lost == ["outputs/002-change.cast is on disk but no event names it (its step's output left the record)"]
    assert found.stray_artifacts == ["artifacts/change.out"]


def test_subsequence() -> None:
    events = journal(*OPENING)
    assert subsequence_missing(events, [(ev.CHANGE_CREATED, None), (ev.STEP_FINISHED, "look")]) == []
    assert subsequence_missing(events, [(ev.STEP_FINISHED, "look"), (ev.STEP_STARTED, "look")]) == [(ev.STEP_STARTED, "look")]
