"""The console's core promises on runbooks unlike the shipped ones: a confirmation belongs to the session that saw
it, an automatic rollback waits for no one, the record names what the change was, and what is shown, recorded and
run is one bound step."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from console.engine.binding import bind
from console.engine.session import ChangeSession, SessionError
from console.engine.state import Item
from console.journal import events as ev
from console.journal.cast import read_cast
from console.journal.journal import read_events
from console.journal.store import RecordStore
from console.runbook.loader import RunbookError, load_runbook, load_runbook_text

from .conftest import (
    FIXTURES,
    events_of,
    opsconsole,
    pass_confirmation,
    run_forward,
    runbook_doc,
    write_kubeconfig,
    write_runbook,
)

PY = sys.executable


def _mark(path: Path) -> list[str]:
    """A mutating step that leaves a file behind, so a test can tell whether it ran."""
    return ["sh", "-c", 'echo ran >> "$1"', "sh", str(path)]


# -- 1. a confirmation belongs to the session that saw it -----------------------------------------------------------


def test_a_resumed_change_asks_again_for_a_step_confirmed_before_the_crash(start, store: RecordStore, tmp_path: Path, kubeconfig: Path) -> None:
    marker = tmp_path / "ran"
    s = start(runbook_doc([{"id": "change", "title": "Change it", "run": _mark(marker)}]))
    pass_confirmation(s)
    assert s.next().kind == "run"
    s.release()  # the console dies right after step.confirmed: nothing else is written

    bob = ChangeSession.resume(s.change_id, store=store, policy=s.policy, operator="bob", kubeconfig=str(kubeconfig))
    try:
        nxt = bob.next()
        assert nxt.kind == "confirm", "a confirmation typed before the crash must not run the step"
        assert bob.confirm("yes")
        bob.run()
    finally:
        bob.release()
    assert marker.read_text() == "ran\n"
    journal = read_events(store.journal_path(store.find(s.change_id))).events
    kinds = [(e.type, e.data.get("by")) for e in journal if e.type in (ev.STEP_CONFIRMED, ev.SESSION_RESUMED, ev.STEP_STARTED)]
    assert kinds == [(ev.STEP_CONFIRMED, "alice"), (ev.SESSION_RESUMED, None), (ev.STEP_CONFIRMED, "bob"), (ev.STEP_STARTED, None)]
    resumed = next(e for e in journal if e.type == ev.SESSION_RESUMED)
    assert resumed.data["operator"] == "bob"


def test_resume_in_line_mode_never_runs_on_the_dead_sessions_confirmation(tmp_path: Path, kubeconfig: Path, records_dir: Path) -> None:
    marker = tmp_path / "ran"
    runbook = write_runbook(tmp_path, runbook_doc([{"id": "change", "title": "Change it", "run": _mark(marker)}]))
    env = {"OPSCONSOLE_RECORDS": str(records_dir)}
    store = RecordStore(records_dir)
    from console.config import load_policy
    from console.engine.session import StartRequest

    s = ChangeSession.start(
        StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator="alice", kubeconfig=str(kubeconfig)),
        store=store, policy=load_policy(),
    )
    pass_confirmation(s)
    s.release()

    # Another operator resumes with no input at all: the step must ask, get nothing, and stay unrun.
    result = opsconsole("resume", s.change_id, "--plain", "--kubeconfig", str(kubeconfig), "--operator", "bob", env=env, input="")
    assert "run this step? [yes/no]" in result.stdout, result.stdout + result.stderr
    assert not marker.exists()
    journal = read_events(store.journal_path(store.find(s.change_id))).events
    assert not [e for e in journal if e.type == ev.STEP_STARTED]

    done = opsconsole("resume", s.change_id, "--plain", "--kubeconfig", str(kubeconfig), "--operator", "bob", env=env, input="yes\n\n\n\n\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert marker.read_text() == "ran\n"
    journal = read_events(store.journal_path(store.find(s.change_id))).events
    confirmations = [e.data["by"] for e in journal if e.type == ev.STEP_CONFIRMED]
    assert confirmations == ["alice", "bob"]


def test_an_interrupted_mutating_step_that_asks_no_confirmation_is_confirmed_before_it_runs_again(start, store: RecordStore, tmp_path: Path, kubeconfig: Path) -> None:
    s = start(runbook_doc([{"id": "quiet", "confirm": "none", "run": _mark(tmp_path / "ran")}]))
    assert s.next().kind == "run"  # the runbook asks none the first time
    s._append(ev.STEP_STARTED, {"section": "step", "step_id": "quiet", "title": "", "kind": "command", "command": "", "argv": [], "attempt": 1})
    s.release()  # killed mid-step

    bob = ChangeSession.resume(s.change_id, store=store, policy=s.policy, operator="bob", kubeconfig=str(kubeconfig))
    try:
        nxt = bob.next()
        assert (nxt.kind, nxt.confirm) == ("confirm", "yes")
        assert bob.confirm("yes", by="bob")
        assert bob.next().kind == "run"
    finally:
        bob.release()


# -- 6. on_failure: rollback is automatic ----------------------------------------------------------------------------


def _failing_with_rollback(tmp_path: Path) -> dict:
    return runbook_doc(
        [
            {"id": "apply", "title": "Apply", "run": _mark(tmp_path / "applied"), "rollback": "undo"},
            {"id": "check", "title": "Check", "run": ["sh", "-c", "exit 3"], "on_failure": "rollback", "mutates": False},
        ],
        rollback=[{"id": "undo", "title": "Undo", "run": _mark(tmp_path / "undone")}],
    )


def test_an_unattended_run_rolls_back_by_itself_with_no_failure_answer(tmp_path: Path, kubeconfig: Path, records_dir: Path) -> None:
    runbook = write_runbook(tmp_path, _failing_with_rollback(tmp_path))
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: alice\nconfirm: {apply: 'yes'}\nclose: {outcome: auto}\n")
    result = opsconsole("run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--answers", str(answers),
                        env={"OPSCONSOLE_RECORDS": str(records_dir)}, input="")
    assert result.returncode == 1, result.stdout + result.stderr  # rolled back
    assert "rolling back (automatic, recorded)" in result.stdout
    assert (tmp_path / "undone").read_text() == "ran\n"
    (change,) = RecordStore(records_dir).list_changes()
    journal = read_events(change.path / "journal.jsonl").events
    choice = next(e for e in journal if e.type == ev.FAILURE_CHOICE)
    assert choice.data == {"section": "step", "step_id": "check", "choice": "rollback", "by": "console (on_failure: rollback)",
                           "automatic": True, "countdown_s": 0}
    started = next(e for e in journal if e.type == ev.ROLLBACK_STARTED)
    assert started.data["automatic"] is True and started.data["steps"] == ["undo"]
    after = [e.type for e in journal[journal.index(started):]]
    assert ev.STEP_CONFIRMED not in after, "an automatic rollback's steps wait for no confirmation"
    closed = next(e for e in journal if e.type == ev.CHANGE_CLOSED)
    assert closed.data["outcome"] == "rolled_back"


def test_line_mode_counts_down_then_rolls_back_and_enter_holds_it(tmp_path: Path, kubeconfig: Path, records_dir: Path) -> None:
    runbook = write_runbook(tmp_path, _failing_with_rollback(tmp_path))
    policy = tmp_path / "policy.toml"
    policy.write_text("[rollback]\ncountdown_s = 1\n")
    env = {"OPSCONSOLE_RECORDS": str(records_dir)}
    base = ["run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--config", str(policy), "--operator", "alice"]

    # Nobody holds it (input ends): it rolls back after the countdown.
    ran = opsconsole(*base, env=env, input="yes\n")
    assert "rolling back automatically in 1s" in ran.stdout, ran.stdout + ran.stderr
    assert "rolling back (automatic, recorded)" in ran.stdout
    assert (tmp_path / "undone").exists()

    # Enter during the countdown holds it; the operator then chooses to abort.
    (tmp_path / "undone").unlink()
    held = opsconsole(*base, env=env, input="yes\n\nabort\n\n\n\n")
    assert "held (recorded)" in held.stdout, held.stdout + held.stderr
    assert not (tmp_path / "undone").exists()
    changes = sorted(RecordStore(records_dir).list_changes(), key=lambda c: c.change_id)
    journal = read_events(changes[-1].path / "journal.jsonl").events
    held_event = next(e for e in journal if e.type == ev.FAILURE_HELD)
    assert held_event.data == {"section": "step", "step_id": "check", "by": "alice"}
    choice = next(e for e in journal if e.type == ev.FAILURE_CHOICE)
    assert (choice.data["choice"], choice.data["by"], choice.data.get("automatic")) == ("abort", "alice", None)


def test_an_automatic_rollback_is_refused_once_held_and_a_resume_asks_again(start, store: RecordStore, tmp_path: Path, kubeconfig: Path) -> None:
    s = start(_failing_with_rollback(tmp_path))
    run_forward(s, until="failure")
    assert s.next().auto_rollback
    s.hold_rollback()
    assert not s.next().auto_rollback
    with pytest.raises(SessionError, match="no automatic rollback is due"):
        s.auto_rollback(countdown_s=0)
    s.choose("retry")
    run_forward(s, until="failure")
    assert s.next().auto_rollback, "a new failure counts down again"
    s.auto_rollback(countdown_s=10)
    assert s.next().kind == "run" and s.next().item == Item("rollback", "undo")
    s.release()  # the console dies before the rollback step runs

    bob = ChangeSession.resume(s.change_id, store=store, policy=s.policy, operator="bob", kubeconfig=str(kubeconfig))
    try:
        assert bob.next().kind == "confirm", "the resuming operator confirms the rollback step themselves"
    finally:
        bob.release()


# -- 8. the record says what the change was --------------------------------------------------------------------------


def _release_doc() -> dict:
    doc = runbook_doc([{"id": "noop", "kind": "check", "run": ["true"]}],
                      params={"version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
                              "previous": {"type": "string", "default": "1.4.2"}})
    doc["metadata"].update({"title": "Release web {version}", "from": "{previous}", "to": "{version}"})
    doc["why"] = "Ships {version} to {environment}."
    doc["scope"] = "web in {namespace}"
    return doc


def test_the_record_names_the_release_it_ran(start, store: RecordStore) -> None:
    s = start(_release_doc(), params={"version": "1.5.1"})
    created = s.events[0].data
    assert created["runbook"]["title"] == "Release web 1.5.1"
    assert (created["runbook"]["from"], created["runbook"]["to"]) == ("1.4.2", "1.5.1")
    assert created["description"] == "Ships 1.5.1 to rehearsal."
    assert created["scope"] == "web in default"
    assert s.ref.path.name.endswith("__1.4.2-1.5.1__" + s.change_id)
    params = events_of(s, ev.PARAMS_SET)[0].data["params"]
    assert params["namespace"] == "default"  # the built-in namespace is part of the record


def test_a_version_parameter_that_cannot_name_a_version_is_refused(start) -> None:
    doc = _release_doc()
    doc["params"]["version"].pop("pattern")
    with pytest.raises(SessionError, match=r"metadata.to: '\{version\}' gives '1.5 final', which is not a version"):
        start(doc, params={"version": "1.5 final"})


def test_metadata_placeholders_are_checked_where_they_are_written(tmp_path: Path) -> None:
    doc = _release_doc()
    doc["metadata"]["to"] = "{verison}"
    doc["why"] = "Ships in {change_id}."
    path = write_runbook(tmp_path, doc)
    with pytest.raises(RunbookError) as err:
        load_runbook(path)
    messages = [str(p) for p in err.value.problems]
    assert any(m.startswith(f"{path}:") and "metadata.to: unknown parameter {verison} (did you mean {version}?)" in m for m in messages), messages
    assert any("why: unknown parameter {change_id}" in m for m in messages), messages


# -- 9. shown, recorded and run: one bound step ------------------------------------------------------------------------


def test_the_command_shown_is_the_command_recorded_and_the_command_run(start, tmp_path: Path) -> None:
    dump = tmp_path / "argv.json"
    doc = runbook_doc(
        [{"id": "dump", "title": "Dump for {who}", "confirm": "yes",
          "run": [PY, str(FIXTURES / "argv_dump.py"), str(dump), "{who}", "x; rm -rf /", "{namespace}"],
          "env": {"GREETING": "hello {who}"}}],
        params={"who": {"type": "string", "default": "o'brien"}},
    )
    s = start(doc)
    item = s.next().item
    shown = s.command_for(item)
    pass_confirmation(s)
    s.run()
    started = events_of(s, ev.STEP_STARTED)[0].data
    assert started["command"] == shown
    assert started["title"] == "Dump for o'brien"
    ran = json.loads(dump.read_text())
    assert ran == ["o'brien", "x; rm -rf /", "default"]
    assert started["argv"][3:] == ran
    header, _ = read_cast(s.ref.path / events_of(s, ev.STEP_FINISHED)[0].data["file"]["path"])
    assert header["command"] == shown


def test_a_rollout_step_is_shown_recorded_and_watched_in_one_namespace(tmp_path: Path, store: RecordStore) -> None:
    config = write_kubeconfig(tmp_path / "kubeconfig")
    data = json.loads(config.read_text())
    for c in data["contexts"]:
        c["context"]["namespace"] = "team-a"
    config.write_text(json.dumps(data))
    doc = runbook_doc([{"id": "wait", "kind": "rollout", "target": "deployment/web", "timeout": "1s"}])
    from console.config import load_policy
    from console.engine.session import StartRequest

    runbook = write_runbook(tmp_path, doc)
    for params, expected in (({}, "team-a"), ({"namespace": "team-b"}, "team-b")):
        s = ChangeSession.start(
            StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator="alice",
                         kubeconfig=str(config), params=params),
            store=store, policy=load_policy(),
        )
        try:
            item = s.next().item
            assert f"rollout status deployment/web -n {expected} " in s.command_for(item)
            assert s.bind(item).namespace == expected
            s.run()  # the dead server never answers: the wait times out, recorded with the namespace it watched
            started = events_of(s, ev.STEP_STARTED)[0].data
            assert (started["namespace"], started["target"]) == (expected, "deployment/web")
            assert started["command"] == s.command_for(item)
        finally:
            s.release()


def test_a_bound_step_names_every_namespace_it_touches(tmp_path: Path) -> None:
    text = json.dumps(runbook_doc(
        [{"id": "point", "run": ["kubectl", "-n", "web", "set", "env", "deploy/web", "CACHE=redis.cache"]},
         {"id": "wait", "kind": "rollout", "target": "deployment/redis", "namespace": "{cache_ns}"},
         {"id": "local", "run": ["sh", "-c", "true"]}],
        params={"cache_ns": {"type": "string", "default": "cache"}},
        verification=[{"id": "smoke", "kind": "check", "run": ["kubectl", "get", "pods", "--namespace=edge"]}],
    ))
    rb = load_runbook_text(text, tmp_path / "rb.yaml").runbook
    values = {"cache_ns": "cache", "namespace": "default"}
    got = {s.id: bind(s, sec, values, rb, tmp_path).namespaces() for sec, steps in rb.sections() for s in steps}
    assert got == {"point": ["default", "web"], "wait": ["cache"], "local": [], "smoke": ["default", "edge"]}


# -- 2. a runbook that quotes a secret in its commands cannot start ------------------------------------------------------


def test_a_runbook_with_a_secret_in_its_command_text_is_refused_naming_where(start, records_dir: Path, tmp_path: Path) -> None:
    doc = runbook_doc([{"id": "connect", "title": "Connect", "run": ["sh", "-c", "DB_PASSWORD=hunter22x psql -c 'select 1'"]}])
    with pytest.raises(RunbookError) as refused:
        start(doc)
    (problem,) = refused.value.problems
    text = str(problem)
    assert text.startswith(f"{tmp_path / 'runbook.yaml'}:") and "steps.0.run.2" in text.replace("[", ".").replace("]", ""), text
    assert "hunter22x" not in text and "DB_PASSWORD=hu" in text
    assert RecordStore(records_dir).list_changes() == []
    from console.journal.audit import read_refusals

    (entry,) = read_refusals(records_dir).entries
    assert all("hunter22x" not in p.read_text() for p in (records_dir / "refused").glob("*.jsonl"))
    assert "secret" in entry.data["reason"]
