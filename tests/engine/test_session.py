"""ChangeSession driving real commands: gates, failure choices, rollback order, break-glass, confirmations, escalation,
cancel, and parameters that reach a command as one literal argument.

Commands run in the runbook's directory (the test's tmp_path), so relative file names are files the test can read.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from console.engine.runner import OutputLine
from console.engine.session import ChangeSession, SessionError
from console.journal import events as ev
from console.journal.journal import verify
from tests.support.wait import wait_for

from .conftest import FIXTURES, PY, FakeClock, events_of, pid_alive, run_forward, runbook_doc, types


def record_md(session: ChangeSession) -> str:
    return (session.ref.path / "record.md").read_text(encoding="utf-8")


def append(word: str, file: str = "order.txt") -> list[str]:
    """A command that appends one word to a file in the runbook's directory."""
    return ["sh", "-c", f'echo {word} >> {file}']


# -- gates -----------------------------------------------------------------------------------------------------------


def test_a_failed_gate_blocks_every_step(start, tmp_path: Path) -> None:
    doc = runbook_doc(
        gates=[
            {"id": "gate-ok", "kind": "check", "run": ["true"]},
            {"id": "gate-bad", "kind": "check", "run": ["sh", "-c", "echo not ready >&2; exit 1"]},
        ],
        steps=[{"id": "change", "run": append("changed", "step-ran"), "confirm": "none"}],
    )
    s = start(doc)
    s.run()
    s.run()
    nxt = s.next()
    assert (nxt.kind, nxt.item.step_id, nxt.options) == ("failure", "gate-bad", ("retry", "continue", "abort"))
    assert nxt.reason == "exit code 1 (expected 0)"
    with pytest.raises(SessionError, match="no step is ready to run"):
        s.run()
    with pytest.raises(SessionError, match="'rollback' is not a choice here"):
        s.choose("rollback")
    s.choose("retry")
    s.run()  # still failing
    assert s.next().kind == "failure"
    s.choose("abort")
    assert s.next().kind == "close" and s.next().suggested == "aborted"
    s.close("aborted")

    assert not (tmp_path / "step-ran").exists()
    started = [e.data["step_id"] for e in events_of(s, ev.STEP_STARTED)]
    assert started == ["gate-ok", "gate-bad", "gate-bad"]
    assert "| Outcome | **Aborted** |" in record_md(s)


# -- failure choices --------------------------------------------------------------------------------------------------


def test_retry_reruns_the_failed_step_after_a_fresh_confirmation(start, tmp_path: Path) -> None:
    flaky = ["sh", "-c", 'if [ -f flag ]; then echo second try; else touch flag; echo first try >&2; exit 1; fi']
    s = start(runbook_doc(steps=[{"id": "flaky", "run": flaky}]))
    run_forward(s, until="failure")
    s.choose("retry")
    assert s.next().kind == "confirm"  # the first confirmation was spent
    run_forward(s)
    finished = events_of(s, ev.STEP_FINISHED)
    assert [e.data["status"] for e in finished] == ["failed", "passed"]
    assert [e.data["attempt"] for e in events_of(s, ev.STEP_STARTED)] == [1, 2]
    choice = events_of(s, ev.FAILURE_CHOICE)[0].data
    assert (choice["choice"], choice["by"]) == ("retry", "alice")
    assert s.next().suggested == "success"
    s.close("success")
    # Each attempt has its own output file, both hashed into the journal and checked by verify.
    outputs = [e.data["file"]["path"] for e in finished]
    assert outputs == ["outputs/001-flaky.cast", "outputs/002-flaky.cast"]
    assert verify(s.store.journal_path(s.ref)).ok


def test_rollback_runs_the_rollback_steps_newest_first_each_once(start, tmp_path: Path) -> None:
    doc = runbook_doc(
        steps=[
            {"id": "s1", "run": append("s1"), "rollback": "undo-a"},
            {"id": "s2", "run": append("s2"), "rollback": "undo-b"},
            {"id": "s3", "run": append("s3"), "rollback": "undo-a"},
            {"id": "s4", "run": ["sh", "-c", "echo s4 >> order.txt; exit 3"], "rollback": "undo-c", "on_failure": "rollback"},
            {"id": "s5", "run": append("s5"), "rollback": "undo-d"},
        ],
        rollback=[
            {"id": "undo-a", "run": append("undo-a")},
            {"id": "undo-b", "run": append("undo-b")},
            {"id": "undo-c", "run": append("undo-c")},
            {"id": "undo-d", "run": append("undo-d")},
        ],
    )
    s = start(doc)
    run_forward(s, until="failure")
    assert s.next().options == ("retry", "rollback", "continue", "abort")
    s.choose("rollback")
    started = events_of(s, ev.ROLLBACK_STARTED)[0].data
    assert started["steps"] == ["undo-c", "undo-a", "undo-b"]
    assert started["reason"] == "s4 failed: exit code 3 (expected 0)"
    run_forward(s)  # confirms and runs each rollback step, then finishes the rollback
    assert (tmp_path / "order.txt").read_text().split() == ["s1", "s2", "s3", "s4", "undo-c", "undo-a", "undo-b"]
    assert events_of(s, ev.ROLLBACK_FINISHED)[0].data["status"] == "done"
    assert s.next().suggested == "rolled_back"
    s.close("rolled_back")
    md = record_md(s)
    assert "rollback started (s4 failed: exit code 3 (expected 0))" in md
    assert md.index("`undo-c`") < md.index("`undo-a`") < md.index("`undo-b`")


def test_continue_is_break_glass_with_reason_and_approver_shown_in_bold(start, tmp_path: Path) -> None:
    s = start(runbook_doc(steps=[
        {"id": "broken", "run": ["sh", "-c", "exit 1"]},
        {"id": "after", "run": append("after")},
    ]))
    run_forward(s, until="failure")
    with pytest.raises(SessionError, match="break-glass: give a reason and the approver's name"):
        s.choose("continue", reason="because", approver="")
    with pytest.raises(SessionError, match="break-glass"):
        s.choose("continue", reason="", approver="erin")
    assert not events_of(s, ev.BREAKGLASS_RECORDED) and not events_of(s, ev.FAILURE_CHOICE)
    s.choose("continue", reason="known flaky probe, service verified by hand", approver="erin")
    bg = events_of(s, ev.BREAKGLASS_RECORDED)[0].data
    assert bg["reason"] == "known flaky probe, service verified by hand" and bg["approver"] == "erin"
    assert bg["what"] == "continue after step failed: broken" and bg["step_id"] == "broken"
    run_forward(s)
    assert (tmp_path / "order.txt").read_text().split() == ["after"]
    assert s.next().suggested == "partial"
    s.close("partial")
    md = record_md(s)
    line = next(l for l in md.splitlines() if "continue after step failed: broken" in l)
    assert line.startswith("- **") and line.endswith("**")
    assert 'approved by erin: "known flaky probe, service verified by hand"' in line
    assert "`broken`: continue (by alice)" in md


def test_abort_ends_the_change_without_running_the_rest(start, tmp_path: Path) -> None:
    s = start(runbook_doc(steps=[
        {"id": "first", "run": append("first")},
        {"id": "broken", "run": ["sh", "-c", "exit 1"]},
        {"id": "never", "run": append("never")},
    ]))
    run_forward(s, until="failure")
    s.choose("abort")
    nxt = s.next()
    assert nxt.kind == "close" and nxt.suggested == "partial"  # "first" changed something before the abort
    s.close("partial", followups=["find out why broken broke"])
    assert (tmp_path / "order.txt").read_text().split() == ["first"]
    assert "- [ ] find out why broken broke" in record_md(s)


def test_a_runbook_on_failure_continue_records_who_decided(start) -> None:
    s = start(runbook_doc(steps=[
        {"id": "optional", "run": ["sh", "-c", "exit 2"], "on_failure": "continue"},
        {"id": "next", "run": ["true"]},
    ]))
    run_forward(s)
    choice = events_of(s, ev.FAILURE_CHOICE)[0].data
    assert (choice["choice"], choice["by"]) == ("continue", "runbook (on_failure: continue)")
    assert s.state.statuses == {"optional": "continued", "next": "passed"}


# -- confirmations -----------------------------------------------------------------------------------------------------


def test_a_wrong_typed_word_is_refused_and_recorded(start, tmp_path: Path) -> None:
    doc = runbook_doc(
        params={"namespace": {"type": "string", "default": "payments"}},
        steps=[{"id": "restart", "run": append("{namespace}"), "confirm": "typed", "confirm_word": "{namespace}"}],
    )
    s = start(doc)
    nxt = s.next()
    assert (nxt.kind, nxt.confirm, nxt.word) == ("confirm", "typed", "payments")
    assert s.confirm("payment") is False
    assert s.confirm("yes") is False
    refused = events_of(s, ev.STEP_CONFIRMATION_REFUSED)
    assert [e.data["typed"] for e in refused] == ["payment", "yes"]
    assert all(e.data["step_id"] == "restart" and e.data["by"] == "alice" for e in refused)
    assert ev.STEP_STARTED not in types(s) and not (tmp_path / "order.txt").exists()
    with pytest.raises(SessionError, match="no step is ready to run"):
        s.run()
    assert s.confirm("payments") is True
    confirmed = events_of(s, ev.STEP_CONFIRMED)[0].data
    assert (confirmed["method"], confirmed["word"]) == ("typed", "payments")
    s.run()
    assert (tmp_path / "order.txt").read_text().split() == ["payments"]
    s.close("success")
    assert "`restart`: typed `payment`" in record_md(s)


def test_a_yes_confirmation_accepts_only_yes(start) -> None:
    s = start(runbook_doc(steps=[{"id": "go", "run": ["true"]}]))
    assert s.confirm("sure") is False
    assert s.confirm("Y") is True


# -- escalation ----------------------------------------------------------------------------------------------------------


def test_escalation_deadlines_are_recorded_when_passed(start, clock: FakeClock) -> None:
    s = start(runbook_doc(steps=[{"id": "broken", "run": ["sh", "-c", "exit 1"]}]), clock=clock)
    run_forward(s, until="failure")
    failed_at = s.state.failure.at
    clock.advance(minutes=4)
    assert s.check_escalations() == []
    clock.advance(minutes=2)
    assert s.check_escalations() == ["manual rollback"]
    assert s.check_escalations() == []  # recorded once
    clock.advance(minutes=30)
    assert s.check_escalations() == ["senior engineer", "leadership"]
    passed = events_of(s, ev.ESCALATION_PASSED)
    assert [(e.data["level"], e.data["minutes"], e.data["step_id"], e.data["failed_at"]) for e in passed] == [
        ("manual rollback", 5, "broken", failed_at),
        ("senior engineer", 15, "broken", failed_at),
        ("leadership", 30, "broken", failed_at),
    ]
    assert passed[0].ts == "2026-11-18T12:06:00.000000Z"  # the journal stamps with the session's clock
    s.choose("abort")
    assert s.check_escalations() == []  # no failure waiting, nothing to escalate
    s.close("aborted")
    md = record_md(s)
    assert "Escalation deadlines passed:" in md
    assert "leadership after 30 min (step `broken`)" in md


def test_a_new_failure_starts_its_own_escalation_clock(start, clock: FakeClock) -> None:
    s = start(runbook_doc(steps=[{"id": "broken", "run": ["sh", "-c", "exit 1"]}]), clock=clock)
    run_forward(s, until="failure")
    clock.advance(minutes=6)
    assert s.check_escalations() == ["manual rollback"]
    s.choose("retry")
    run_forward(s, until="failure")
    clock.advance(minutes=1)
    assert s.check_escalations() == []  # only a minute since this failure
    clock.advance(minutes=5)
    assert s.check_escalations() == ["manual rollback"]


# -- cancel ------------------------------------------------------------------------------------------------------------


def test_cancelling_a_step_kills_its_process_tree_and_records_a_failure(start, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    s = start(runbook_doc(steps=[{"id": "long", "run": [PY, str(FIXTURES / "spawn_tree.py"), str(pidfile)], "confirm": "none"}]))
    ready = threading.Event()

    def listen(line: OutputLine) -> None:
        if line.text == "ready":
            ready.set()

    outcome = {}
    # The session's run blocks, so it goes on a thread and this one cancels, as the UI's cancel key does. The
    # grandchild ignores SIGINT and SIGTERM: it is gone only because the whole group gets SIGKILL in the end.
    worker = threading.Thread(target=lambda: outcome.setdefault("o", s.run(listeners=[listen])))
    worker.start()
    assert ready.wait(15), "the process tree never became ready"
    s.cancel()
    worker.join(30)
    assert not worker.is_alive()
    assert outcome["o"].passed is False and outcome["o"].reason == "cancelled by the operator"
    finished = events_of(s, ev.STEP_FINISHED)[0].data
    assert (finished["status"], finished["reason"]) == ("failed", "cancelled by the operator")
    pids = [int(l.split()[1]) for l in pidfile.read_text().splitlines()]
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=10, what=f"{pids} to be gone after the cancel")


# -- parameters reach commands as literal arguments --------------------------------------------------------------------


HOSTILE = ["x; rm -rf /", "$(id)", "`touch pwned`; echo $HOME 'quoted' \"double\" * ?"]


@pytest.mark.parametrize("shell", [False, True], ids=["argv", "shell"])
@pytest.mark.parametrize("value", HOSTILE, ids=["semicolon-rm", "command-substitution", "mixed"])
def test_a_parameter_reaches_the_command_as_one_literal_argument(start, tmp_path: Path, value: str, shell: bool) -> None:
    out = tmp_path / "argv.json"
    doc = runbook_doc(
        params={"target": {"type": "string"}},
        steps=[{
            "id": "dump",
            "run": [PY, str(FIXTURES / "argv_dump.py"), str(out), "{target}", "--after"],
            "shell": shell,
            # Should quoting ever break, the injected commands find nothing to run.
            "env": {"PATH": str(tmp_path / "empty-path")},
            "confirm": "none",
        }],
    )
    s = start(doc, params={"target": value})
    run_forward(s)
    assert json.loads(out.read_text()) == [value, "--after"]
    assert not (tmp_path / "pwned").exists()
    started = events_of(s, ev.STEP_STARTED)[0].data
    if shell:
        assert started["argv"][:2] == ["/bin/sh", "-c"] and len(started["argv"]) == 3
    else:
        assert started["argv"][-2:] == [value, "--after"]
    assert events_of(s, ev.STEP_FINISHED)[0].data["status"] == "passed"


def test_a_failed_backup_never_continues_by_itself_but_a_step_may(start, tmp_path: Path) -> None:
    doc = runbook_doc(
        preconditions=[{"id": "backup", "kind": "check", "run": ["sh", "-c", "exit 2"], "on_failure": "continue",
                        "capture": "artifact"}],
        gates=[{"id": "gate", "kind": "check", "run": ["sh", "-c", "exit 1"], "on_failure": "continue"}],
        steps=[{"id": "optional", "run": ["sh", "-c", "exit 3"], "confirm": "none", "on_failure": "continue"},
               {"id": "after", "run": append("after", "after-ran"), "confirm": "none"}],
    )
    s = start(doc)
    s.run()
    assert (s.next().kind, s.next().item.step_id) == ("failure", "backup")  # the runbook's "continue" is not enough
    s.choose("continue", reason="backup taken by hand", approver="carol")
    s.run()
    assert (s.next().kind, s.next().item.step_id) == ("failure", "gate")
    s.choose("continue", reason="gate checked by hand", approver="carol")
    s.run()  # the optional step fails and the runbook lets it go on, recorded as such
    assert (s.next().kind, s.next().item.step_id) == ("run", "after")
    choices = [(e.data["step_id"], e.data["by"]) for e in events_of(s, ev.FAILURE_CHOICE)]
    assert choices == [("backup", "alice"), ("gate", "alice"), ("optional", "runbook (on_failure: continue)")]
    assert [e.data["step_id"] for e in events_of(s, ev.BREAKGLASS_RECORDED)] == ["backup", "gate"]


def test_a_retried_manual_step_keeps_both_notes_as_evidence(start, tmp_path: Path) -> None:
    doc = runbook_doc(
        preconditions=[{"id": "snapshot", "kind": "manual", "instructions": "take a snapshot", "capture": "artifact",
                        "backup": True}],
        steps=[{"id": "change", "run": ["true"], "confirm": "none"}],
    )
    s = start(doc)
    s.answer_manual("no", "the storage console was down")
    s.choose("retry")
    s.answer_manual("done", "snapshot snap-0042")
    saved = [e.data["file"]["path"] for e in events_of(s, ev.ARTIFACT_SAVED)]
    assert saved == ["artifacts/snapshot.txt", "artifacts/snapshot.2.txt"]  # the first note is never overwritten
    assert (s.ref.path / saved[1]).read_text() == "snapshot snap-0042\n"
    assert (s.ref.path / saved[0]).read_text() == "the storage console was down\n"
