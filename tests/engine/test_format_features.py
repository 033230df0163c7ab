"""Retries, conditional steps, the order of the sections and duration parameters, driven through a real session:
each try and each skip is in the journal, a skipped step is never rolled back, and a duration below its minimum
never starts a change."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.engine.admission import SessionError
from console.engine.state import Item
from console.journal import events as ev
from console.runbook.params import ParamError

from .conftest import events_of, pass_confirmation, run_forward, runbook_doc


def _counting_check(counter: Path, passes_on: int) -> list[str]:
    """A check that fails until its ``passes_on``-th run (a health check that needs the pods a moment longer)."""
    script = 'n=$(cat "$1" 2>/dev/null || echo 0); n=$((n+1)); echo "$n" > "$1"; echo "try $n"; [ "$n" -ge "$2" ]'
    return ["sh", "-c", script, "sh", str(counter), str(passes_on)]


def test_a_check_with_retry_records_each_try_and_passes_on_the_third(start, tmp_path: Path) -> None:
    counter = tmp_path / "tries"
    s = start(runbook_doc(
        [{"id": "noop", "kind": "check", "run": ["true"]}],
        verification=[{"id": "health", "kind": "check", "run": _counting_check(counter, 3),
                       "retry": {"attempts": 5, "interval": "0s"}}],
    ))
    run_forward(s)
    started = [e.data for e in events_of(s, ev.STEP_STARTED) if e.data["step_id"] == "health"]
    finished = [e.data for e in events_of(s, ev.STEP_FINISHED) if e.data["step_id"] == "health"]
    assert [d["retry"] for d in started] == [{"try": n, "of": 5, "interval_s": 0.0} for n in (1, 2, 3)]
    assert [d["attempt"] for d in started] == [1, 2, 3]
    assert [(d["status"], d.get("retrying", False)) for d in finished] == [("failed", True), ("failed", True), ("passed", False)]
    # each try is a run of its own: its own output file
    assert len({d["file"]["path"] for d in finished}) == 3
    assert s.state.statuses["health"] == "passed" and s.next().kind == "close"
    assert not events_of(s, ev.FAILURE_CHOICE)


def test_a_check_fails_only_when_its_last_try_fails(start, tmp_path: Path) -> None:
    counter = tmp_path / "tries"
    s = start(runbook_doc([{"id": "noop", "kind": "check", "run": ["true"]}],
                          verification=[{"id": "health", "kind": "check", "run": _counting_check(counter, 9),
                                         "retry": {"attempts": 2, "interval": "0s"}}]))
    run_forward(s, until="failure")
    nxt = s.next()
    assert nxt.kind == "failure" and nxt.item == Item("verification", "health")
    finished = [e.data for e in events_of(s, ev.STEP_FINISHED) if e.data["step_id"] == "health"]
    assert [d.get("retrying", False) for d in finished] == [True, False]
    assert counter.read_text().strip() == "2"


def test_a_retried_step_ends_at_its_first_pass(start, tmp_path: Path) -> None:
    counter = tmp_path / "tries"
    s = start(runbook_doc([{"id": "health", "kind": "check", "run": _counting_check(counter, 1),
                            "retry": {"attempts": 4, "interval": "1h"}}]))
    run_forward(s)
    assert len(events_of(s, ev.STEP_STARTED)) == 1 and s.next().kind == "close"


TIERED = {"tier": {"type": "string", "choices": ["primary", "replica"], "default": "primary"}}


def _tiered(marker: Path) -> dict:
    return runbook_doc(
        [
            {"id": "promote", "title": "Promote {tier}", "run": ["sh", "-c", 'echo promote >> "$1"', "sh", str(marker)],
             "when": {"tier": "primary"}, "rollback": "demote"},
            {"id": "always", "kind": "check", "run": ["true"]},
        ],
        rollback=[{"id": "demote", "run": ["sh", "-c", 'echo demote >> "$1"', "sh", str(marker)]}],
        params=TIERED,
    )


def test_a_step_whose_condition_does_not_hold_is_recorded_skipped_and_never_rolled_back(start, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    s = start(_tiered(marker), params={"tier": "replica"})
    nxt = s.next()
    assert nxt.item == Item("step", "always")
    skipped = events_of(s, ev.STEP_SKIPPED)
    assert [e.data for e in skipped] == [{
        "section": "step", "step_id": "promote", "reason": "skipped: when tier is primary, and tier is replica",
        "when": {"tier": "primary"},
    }]
    assert s.state.statuses["promote"] == "skipped"
    # a rollback from here undoes nothing of the skipped step
    s.start_rollback("rehearsing a rollback after a skipped step")
    assert s.state.rollback_queue == []
    assert not marker.exists()


def test_a_step_whose_condition_holds_runs(start, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    s = start(_tiered(marker), params={"tier": "primary"})
    run_forward(s)
    assert marker.read_text() == "promote\n"
    assert not events_of(s, ev.STEP_SKIPPED)


def test_gates_run_before_backups_when_the_runbook_orders_them_so(start, tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    doc = runbook_doc(
        [{"id": "noop", "kind": "check", "run": ["true"]}],
        preconditions=[{"id": "take-backup", "kind": "check", "run": ["sh", "-c", 'echo b > "$1"', "sh", str(backup)],
                        "capture": "artifact", "backup": True}],
        gates=[{"id": "namespace-exists", "kind": "check", "run": ["false"]}],
    )
    doc["order"] = ["gates", "preconditions", "steps", "verification"]
    s = start(doc)
    assert [it.section for it in s.state.forward] == ["gate", "precondition", "step"]
    run_forward(s, until="failure")
    nxt = s.next()
    assert nxt.kind == "failure" and nxt.item == Item("gate", "namespace-exists")
    assert not backup.exists() and not [e for e in events_of(s, ev.STEP_STARTED) if e.data["step_id"] == "take-backup"]


WATCH = {"t": {"type": "duration", "default": "10m", "min": "1s", "description": "How long the command may take"}}


def test_a_timeout_named_by_a_duration_parameter_bounds_the_command_and_is_recorded(start) -> None:
    s = start(runbook_doc([{"id": "slow", "kind": "check", "run": ["sleep", "30"], "timeout": "{t}"}], params=WATCH),
              params={"t": "1s"})
    run_forward(s, until="failure")
    finished = events_of(s, ev.STEP_FINISHED)[-1].data
    assert finished["status"] == "failed" and "timed out" in finished["reason"], finished
    started = events_of(s, ev.STEP_STARTED)[-1].data
    # the dead kubeconfig's cluster has no rehearsal clock: the declared second, unscaled
    assert started["timing"] == {"declared": {"timeout_s": 1}, "factor": 1.0, "scaled": {"timeout_s": 1.0}}


def test_a_duration_below_its_minimum_never_starts_a_change(start) -> None:
    params = {"t": {"type": "duration", "default": "10m", "min": "5m", "description": "How long to watch"}}
    with pytest.raises((ParamError, SessionError)) as info:
        start(runbook_doc([{"id": "slow", "kind": "check", "run": ["true"], "timeout": "{t}"}], params=params),
              params={"t": "0s"})
    assert "parameter t: 0s is shorter than its minimum of 5m" in str(info.value)


def test_a_confirmation_is_still_asked_of_a_mutating_step_with_retry(start, tmp_path: Path) -> None:
    counter = tmp_path / "tries"
    s = start(runbook_doc([{"id": "apply", "run": _counting_check(counter, 2), "idempotent": True,
                            "retry": {"attempts": 3, "interval": "0s"}}]))
    pass_confirmation(s)
    s.run()
    assert [e.data["retry"]["try"] for e in events_of(s, ev.STEP_STARTED)] == [1, 2]
    assert len(events_of(s, ev.STEP_CONFIRMED)) == 1


def test_production_never_scales_a_duration(tmp_path: Path) -> None:
    from console.config import load_policy
    from console.engine.rehearsal_clock import clock_factor

    policy = load_policy()
    production = clock_factor(policy, "production", {"PATH": str(tmp_path)})
    assert production == type(production)(1.0, "production is not a rehearsal environment: durations run as declared")
    rehearsal = clock_factor(policy, "rehearsal", {"PATH": str(tmp_path)})
    assert rehearsal.factor == 1.0 and "durations run as declared" in rehearsal.source


def test_a_scaled_timeout_keeps_the_real_time_processes_need() -> None:
    from console.engine.timing import StepTiming

    t = StepTiming({"duration": 600, "timeout": 600, "interval": 60}, 20.0)
    assert (t.duration_s, t.interval_s, t.timeout_s) == (30.0, 3.0, 30.0)
    assert StepTiming({"timeout": 6}, 20.0).timeout_s == 6  # shorter than the floor: as declared
    assert StepTiming({"timeout": 3600}, 4.0).timeout_s == 900.0
    assert StepTiming({"duration": 600}, 4.0).shown("duration") == "10m (2m30s at the rehearsal clock's 4x)"
    assert StepTiming({}, 4.0).record() is None


def test_line_mode_shows_a_skipped_step_with_its_reason_and_each_try(start, tmp_path: Path) -> None:
    import io

    from console.engine.linemode import Answers, LineDriver

    counter = tmp_path / "tries"
    doc = _tiered(tmp_path / "ran")
    doc["verification"] = [{"id": "health", "kind": "check", "run": _counting_check(counter, 2),
                            "retry": {"attempts": 3, "interval": "0s"}}]
    s = start(doc, params={"tier": "replica"})
    out = io.StringIO()
    code = LineDriver(s, out=out, inp=io.StringIO(""), answers=Answers({"close": {"outcome": "auto"}})).drive()
    text = out.getvalue()
    assert code == 0, text
    assert "== step promote: skipped: when tier is primary, and tier is replica" in text
    assert "tried up to 3 times until it passes" in text
    assert "attempt 1 of 3 failed: exit code 1 (expected 0); trying again in 0s" in text and "attempt 2 of 3 ..." in text


def test_a_cancel_between_two_tries_ends_the_step_failed(start, tmp_path: Path) -> None:
    import threading
    import time

    s = start(runbook_doc([{"id": "health", "kind": "check", "run": ["false"], "retry": {"attempts": 3, "interval": "1h"}}]))
    runner = threading.Thread(target=s.run)
    runner.start()
    deadline = time.monotonic() + 30
    while not [e for e in events_of(s, ev.STEP_FINISHED) if e.data.get("retrying")]:
        assert time.monotonic() < deadline, "the first try never ended"
        time.sleep(0.02)
    s.cancel()
    runner.join(timeout=30)
    assert not runner.is_alive()
    last = events_of(s, ev.STEP_FINISHED)[-1].data
    assert last["status"] == "failed" and last["reason"].startswith("cancelled by the operator after try 1 of 3"), last
    assert len(events_of(s, ev.STEP_STARTED)) == 1 and s.next().kind == "failure"
