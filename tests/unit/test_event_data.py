"""Event data models: one per event type; old and unknown events still read; the writer's check refuses bad data and
changes nothing; the sample records (written with the real journal API) read back field for field."""

from __future__ import annotations

import copy
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.engine.redact import Redactor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from console.cluster.triggers import TriggerHit
from console.engine.clusterwait import _fired
from console.journal import events as ev
from console.journal.audit import RunbookId, record_refusal
from console.journal.chain import Event
from console.journal.event_data import (
    MODELS,
    ArtifactSaved,
    ChangeClosed,
    ChangeCreated,
    EventData,
    EventDataError,
    StepFinished,
    StepStarted,
    check_data,
    parse_data,
)
from console.journal.journal import Journal
from console.journal.store import RecordStore
from console.review.addenda import add_addendum
from console.review.summary import summarise
from tests.support.journal_data_checks import faithful_problems
from tests.support.review_records import FixedClock, build_sample_store

WHEN = datetime(2026, 12, 1, 9, 30, 0, tzinfo=UTC)


def event(type_: str, data: dict, seq: int = 1) -> Event:
    return Event(seq, f"2026-11-18T12:00:{seq:02d}.000000Z", type_, data, "", "")


def test_every_event_type_has_a_model_and_the_table_names_it() -> None:
    types = {v for k, v in vars(ev).items() if k.isupper() and isinstance(v, str) and "." in v}
    assert types == set(MODELS)
    rows = {line.split(" ", 1)[0] for line in ev.__doc__.splitlines() if line[:1].islower()}
    assert types <= rows


def test_fields_added_later_are_absent_from_old_events_and_read_at_their_defaults() -> None:
    started = parse_data(event(ev.STEP_STARTED, {"section": "gate", "step_id": "nodes", "command": "kubectl wait"}))
    assert isinstance(started, StepStarted)
    assert (started.section, started.step_id, started.namespace, started.target, started.attempt) == ("gate", "nodes", None, None, 1)
    finished = parse_data(event(ev.STEP_FINISHED, {"section": "step", "step_id": "x", "status": "passed", "exit_code": 0}))
    assert isinstance(finished, StepFinished) and (finished.lines, finished.process_s, finished.file) == (None, None, None)
    created = parse_data(event(ev.CHANGE_CREATED, {"change_id": "CHG-2026-0001", "runbook": {"title": "t", "from": "1"}}))
    assert isinstance(created, ChangeCreated) and created.file is None and created.runbook == {"title": "t", "from": "1"}
    closed = parse_data(event(ev.CHANGE_CLOSED, {"outcome": "success"}))
    assert isinstance(closed, ChangeClosed) and (closed.suggested, closed.followups, closed.signoff) == (None, [], {})
    approval = parse_data(event(ev.APPROVAL_RECORDED, {"name": "bob", "role": "reviewer"}))
    assert approval.step_id is None  # given at start, for no step


def test_fields_a_model_does_not_name_are_kept_as_written() -> None:
    data = {"section": "step", "step_id": "plan", "kind": "plan", "description": "saved plan",
            "created_at": "2026-11-18T12:00:00+00:00", "summary": {"add": 1, "change": 0, "replace": 0, "destroy": 0},
            "file": {"path": "artifacts/plan.tfplan", "sha256": "ab" * 32}}
    art = parse_data(event(ev.ARTIFACT_SAVED, data))
    assert isinstance(art, ArtifactSaved) and art.model_extra == {"created_at": data["created_at"], "summary": data["summary"]}
    assert art.model_dump(exclude_unset=True) == data


def test_an_unknown_type_reads_as_generic_data() -> None:
    data = parse_data(event("future.event", {"x": 1, "section": "step"}))
    assert type(data) is EventData and data.model_extra == {"x": 1, "section": "step"}
    s = summarise([event(ev.CHANGE_CREATED, {"change_id": "CHG-1"}), event("future.event", {"x": 1}, 2)])
    assert s.unknown == ["future.event"] and s.change_id == "CHG-1"


def test_data_that_does_not_validate_is_read_as_written() -> None:
    # Written by hand or by a version that did not check: the folds read it field by field, as they always did.
    odd = {"section": "step", "step_id": "x", "status": "passed", "exit_code": "one", "duration_s": 1.5}
    data = parse_data(event(ev.STEP_FINISHED, odd))
    assert isinstance(data, StepFinished)
    assert (data.status, data.exit_code, data.duration_s, data.reason, data.file) == ("passed", "one", 1.5, "", None)
    s = summarise([event(ev.STEP_STARTED, {"section": "step", "step_id": "x"}), event(ev.STEP_FINISHED, odd, 2)])
    assert [(r.status, r.exit_code, r.duration_s) for r in s.runs] == [("passed", "one", 1.5)]
    closed = summarise([event(ev.CHANGE_CLOSED, {"outcome": "postponed", "followups": ["a"]})])
    assert (closed.outcome, closed.followups) == ("postponed", ["a"])


# -- the writer's check ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("type_", "data", "message"), [
    ("step.finishd", {"section": "step", "step_id": "x", "status": "passed"}, "'step.finishd' is not an event type"),
    (ev.STEP_FINISHED, {"section": "step", "status": "passed"}, "step.finished event data lacks step_id"),
    (ev.STEP_FINISHED, {"section": "step", "step_id": "x", "status": "ok"},
     r"step.finished event data: status: Input should be 'passed' or 'failed' \(given 'ok'\)"),
    (ev.STEP_FINISHED, {"section": "step", "step_id": "x", "status": "passed", "exit_code": "0"},
     r"exit_code: Input should be a valid integer \(given '0'\)"),
    (ev.STEP_FINISHED, {"section": "step", "step_id": "x", "status": "passed", "file": {"path": "outputs/001-x.cast"}},
     "file.sha256: Field required"),
    (ev.CHANGE_CLOSED, {"outcome": "done"}, "outcome: Input should be"),
    (ev.ROLLBACK_STARTED, {"reason": "r", "steps": "undo"}, "steps: Input should be a valid array"),
    (ev.ADDENDUM_ADDED, {"author": "rita", "kind": "correction", "text": "t"}, "lacks refers_to"),
    (ev.STEP_STARTED, [], "must be a JSON object"),
])
def test_the_writer_refuses_data_its_model_does_not_allow(type_: str, data: dict, message: str) -> None:
    with pytest.raises(EventDataError, match=message):
        check_data(type_, data)


def test_the_check_changes_nothing_and_sees_what_the_journal_writes() -> None:
    data = {"reason": "gate failed", "steps": ("undo-two", "undo-one"), "automatic": True, "note": "kept as written"}
    before = copy.deepcopy(data)
    model = check_data(ev.ROLLBACK_STARTED, data)
    assert data == before  # a tuple stays a tuple here; on disk it is a list, as the check saw it
    assert model.steps == ["undo-two", "undo-one"] and model.model_extra == {"note": "kept as written"}


def test_the_console_s_own_shapes_pass_the_check() -> None:
    fired = _fired(TriggerHit(0, "pod_restarts", "pod/web-1", "restarted 4 times", "web"), name_namespace=True)
    check_data(ev.TRIGGER_FIRED, fired.record)
    assert fired.record["namespace"] == "web" and "fired in namespace web" in fired.reason


# -- records written with the real journal API read back field for field ---------------------------------------


def test_the_sample_records_a_refusal_and_an_addendum_read_back_field_for_field(records_dir: Path) -> None:
    build_sample_store(records_dir)
    store = RecordStore(records_dir)
    add_addendum(store, store.find("CHG-2026-0001"), redact=Redactor().redact, author="rita", kind="correction", text="t", refers_to=3,
                 clock=FixedClock(WHEN))
    record_refusal(records_dir, operator="alice", environment="production", context="prod-ctx",
                   runbook=RunbookId(None, "/srv/runbooks/web.yaml", None), reason="change window: closed",
                   verdicts=[{"name": "window", "ok": False, "message": "closed", "overridable": True}],
                   params={"namespace": "web"}, host="laptop", clock=FixedClock(WHEN))
    problems, seen = faithful_problems(records_dir)
    assert problems == []
    assert {ev.CHANGE_CREATED, ev.STEP_FINISHED, ev.ROLLBACK_FINISHED, ev.ADDENDUM_ADDED, ev.CHANGE_REFUSED} <= seen


def test_a_recovered_tail_reads_back_field_for_field(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal.create(path, clock=FixedClock(WHEN)) as journal:
        journal.append(ev.NOTE_ADDED, {"step_id": None, "text": "t", "author": "a"})
    with path.open("ab") as handle:
        handle.write(b'{"data":{"text":"cut')
    Journal.recover_torn_tail(path, clock=FixedClock(WHEN)).close()
    problems, seen = faithful_problems(tmp_path)
    assert problems == [] and ev.TORN_TAIL in seen
