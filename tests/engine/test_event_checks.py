"""The session checks each event against its type's model before writing it: a bad one is refused with nothing
written, and a good one is written exactly as the session composed it (no default added, no field dropped)."""

from __future__ import annotations

import json

import pytest

from console.journal import events as ev
from console.journal.event_data import EventDataError
from console.journal.journal import canonical, verify

from .conftest import run_forward, runbook_doc


def test_an_event_its_model_refuses_is_not_written(start) -> None:
    s = start(runbook_doc(steps=[{"id": "one", "run": ["true"], "confirm": "none"}]))
    path = s.store.journal_path(s.ref)
    before, seq, heard = path.read_bytes(), s.state.seq, []
    s.event_listeners.append(heard.append)
    with pytest.raises(EventDataError, match=r"step.finished event data: status: Input should be 'passed' or 'failed'"):
        s._append(ev.STEP_FINISHED, {"section": "step", "step_id": "one", "status": "ok"})
    with pytest.raises(EventDataError, match="step.started event data lacks step_id"):
        s._append(ev.STEP_STARTED, {"section": "step", "kind": "command", "command": "true", "attempt": 1})
    assert path.read_bytes() == before
    assert (s.state.seq, len(s.events), heard) == (seq, seq, [])
    run_forward(s)  # the change goes on as if nothing had been tried
    s.close("success")
    assert verify(path).ok


def test_an_event_is_written_as_the_session_composed_it(start) -> None:
    s = start(runbook_doc(steps=[{"id": "one", "run": ["true"], "confirm": "none"}]))
    # A field the model does not name is kept, and a field left out is not filled in with its default.
    data = {"step_id": "one", "text": "paged the on-call", "author": "alice", "channel": "pager"}
    event = s._append(ev.NOTE_ADDED, data)
    line = s.store.journal_path(s.ref).read_bytes().splitlines()[-1]
    assert json.loads(line)["data"] == data
    assert line + b"\n" == event.to_line() and canonical(data) in line
