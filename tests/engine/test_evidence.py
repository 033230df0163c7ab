"""Evidence kept at close-out: a runbook's ``evidence:`` entries collected once, before ``change.closed``.

``run`` entries are real commands (``sh``, the real ``kubectl`` reading the change's pinned kubeconfig) whose
output lands as an asciicast under outputs/ and as an artifact under artifacts/, both hashed into the journal;
``from_step`` entries point at the output a step already left on record. The crash test kills a console with
SIGKILL while an evidence command runs and resumes it in a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from rich.console import Console

from console.config import load_policy
from console.engine.session import ChangeSession
from console.engine.state import fold
from console.journal import events as ev
from console.journal.cast import read_cast, sha256_file
from console.journal.journal import read_events, verify
from console.journal.store import RecordStore
from console.review.summary import summarise
from console.runbook.lint import lint
from console.runbook.loader import load_runbook
from tests.support.wait import wait_for

from .conftest import PY, REPO, opsconsole, run_forward, runbook_doc, write_runbook

SECRET = "hunter2-very-secret"


def with_evidence(doc: dict[str, Any], evidence: list[dict[str, Any]]) -> dict[str, Any]:
    doc["evidence"] = evidence
    return doc


def evidence_events(session_or_events: Any, type_: str) -> list[Any]:
    events = session_or_events.events if hasattr(session_or_events, "events") else session_or_events
    return [e for e in events if e.type == type_ and e.data.get("section") == "evidence"]


def record_md(path: Path) -> str:
    return (path / "record.md").read_text(encoding="utf-8")


def full_doc() -> dict[str, Any]:
    return with_evidence(
        runbook_doc(
            params={"namespace": {"type": "string", "default": "web"}, "token": {"type": "string", "secret": True}},
            steps=[{
                "id": "write-config", "title": "Write the config",
                "run": ["sh", "-c", "echo 'config for {namespace}' | tee config.txt"], "capture": "artifact",
            }],
            verification=[{"id": "check", "kind": "check", "run": ["grep", "-q", "{namespace}", "config.txt"]}],
        ),
        [
            {
                "id": "context", "title": "Context and config at close",
                "run": ["sh", "-c", "kubectl config current-context; echo ns={namespace} token={token}; cat config.txt"],
            },
            {"id": "config-as-written", "title": "The config step's output", "from_step": "write-config"},
        ],
    )


# -- both kinds ------------------------------------------------------------------------------------------------------


def test_close_out_runs_command_evidence_and_references_step_output(start, tmp_path: Path) -> None:
    s = start(full_doc(), context="rehearsal-b", params={"token": SECRET})
    run_forward(s)
    assert s.next().suggested == "success"
    head = s.close("success")
    change = s.ref.path
    events = read_events(change / "journal.jsonl").events
    closed_at = next(i for i, e in enumerate(events) if e.type == ev.CHANGE_CLOSED)

    # The command: started, its output kept as an artifact, finished with exit code, duration and the cast's hash.
    (started,) = evidence_events(events, ev.STEP_STARTED)
    assert started.data["step_id"] == "context" and started.data["attempt"] == 1
    assert started.data["command"] == "sh -c 'kubectl config current-context; echo ns=web token=[REDACTED]; cat config.txt'"
    (finished,) = evidence_events(events, ev.STEP_FINISHED)
    assert (finished.data["step_id"], finished.data["status"], finished.data["exit_code"]) == ("context", "passed", 0)
    assert finished.data["duration_s"] >= 0
    saved = evidence_events(events, ev.ARTIFACT_SAVED)
    assert [a.data["step_id"] for a in saved] == ["context", "config-as-written"]
    assert all(a.data["kind"] == "evidence" for a in saved)
    assert max(events.index(e) for e in [started, finished, *saved]) < closed_at

    out = change / saved[0].data["file"]["path"]
    assert saved[0].data["file"]["path"] == "artifacts/context.out"
    # The change's pinned context (not the kubeconfig's current one), parameters filled in, the secret redacted.
    assert out.read_text() == "rehearsal-b\nns=web token=[REDACTED]\nconfig for web\n"
    assert sha256_file(out) == saved[0].data["file"]["sha256"]
    cast = change / finished.data["file"]["path"]
    assert cast.parent.name == "outputs" and cast.name.endswith("-context.cast")
    assert sha256_file(cast) == finished.data["file"]["sha256"]
    _header, printed = read_cast(cast)
    assert "rehearsal-b" in "".join(text for _t, code, text in printed if code == "o")
    assert SECRET not in cast.read_text() and SECRET not in (change / "journal.jsonl").read_text()

    # The step reference points at the step's own recorded files: no copy, the hashes the step recorded.
    step_done = next(e for e in events if e.type == ev.STEP_FINISHED and e.data["step_id"] == "write-config")
    step_art = next(e for e in events if e.type == ev.ARTIFACT_SAVED and e.data["step_id"] == "write-config")
    ref = saved[1].data
    assert ref["from_step"] == "write-config" and ref["status"] == "passed" and ref["attempt"] == 1
    assert ref["file"] == step_done.data["file"]
    assert ref["files"] == [step_art.data["file"]]
    assert sorted(p.name for p in (change / "artifacts").iterdir()) == ["context.out", "runbook.yaml", "write-config.out"]

    # The fold of the plan does not see the evidence: the state before close-out is the state after it.
    assert fold(s.runbook, events[:closed_at]).phase == "ready_to_close"
    assert events[closed_at].data["suggested"] == "success"

    md = record_md(change)
    section = md.split("## Evidence", 1)[1].split("\n## ", 1)[0]
    assert "| 1 | `context` Context and config at close | command `sh -c" in section
    assert "| kept | 0 |" in section
    assert "| 2 | `config-as-written` The config step's output | output of step `write-config` (attempt 1, passed) | kept |" in section
    for file in (saved[0].data["file"], finished.data["file"], step_done.data["file"], step_art.data["file"]):
        assert f"`{file['path']}` sha256 `{file['sha256']}`" in section
    assert "Evidence not kept" not in md
    # Evidence rows stay out of the steps' tables.
    steps_table = md.split("## Steps", 1)[1].split("\n## ", 1)[0]
    assert "context.out" not in steps_table

    report = verify(change / "journal.jsonl", head=head)
    assert report.ok, report
    cli = opsconsole("records", "verify", s.change_id, "--head", head, env={"OPSCONSOLE_RECORDS": str(s.store.root)})
    assert cli.returncode == 0, cli.stdout + cli.stderr


def test_verify_catches_an_evidence_file_changed_after_close(start) -> None:
    s = start(full_doc(), params={"token": SECRET})
    run_forward(s)
    s.close("success")
    out = s.ref.path / "artifacts" / "context.out"
    out.write_text(out.read_text().replace("ns=web", "ns=other"))
    report = verify(s.ref.path / "journal.jsonl")
    assert not report.ok
    assert [p.reason for p in report.problems] == ["artifacts/context.out: SHA-256 differs from the journal"]


def test_the_reviewer_summary_shows_evidence_with_hashes(start) -> None:
    from screens.record import summary_renderable

    s = start(full_doc(), params={"token": SECRET})
    run_forward(s)
    s.close("success")
    summary = summarise(read_events(s.ref.path / "journal.jsonl").events)
    assert [(e.evidence_id, e.status) for e in summary.evidence] == [("context", "kept"), ("config-as-written", "kept")]
    console = Console(width=200, record=True, color_system=None)
    console.print(summary_renderable(summary))
    text = console.export_text()
    assert "Evidence" in text and "context: kept" in text
    for item in summary.evidence:
        for file in item.files:
            assert f"{file['path']}  sha256 {file['sha256']}" in text


# -- failures ----------------------------------------------------------------------------------------------------------


def test_failing_and_missing_evidence_are_recorded_and_do_not_block_close(start) -> None:
    doc = with_evidence(
        runbook_doc(
            gates=[{"id": "ready", "kind": "check", "run": ["sh", "-c", "echo not ready >&2; exit 1"]}],
            steps=[{"id": "deploy", "run": ["sh", "-c", "echo deployed"]}],
        ),
        [
            {"id": "deploy-log", "from_step": "deploy"},
            {"id": "broken", "title": "A command that fails", "run": ["sh", "-c", "echo some output; echo bad >&2; exit 3"]},
            {"id": "absent", "run": ["no-such-command-for-evidence"]},
            {"id": "gate-output", "from_step": "ready"},
        ],
    )
    s = start(doc)
    run_forward(s, until="failure")
    s.choose("abort")
    assert s.next().suggested == "aborted"
    s.close("aborted")
    events = s.events
    assert events[-1].type == ev.CHANGE_CLOSED and events[-1].data["suggested"] == "aborted"
    # A failed evidence command is no failed step: the plan's fold still stands ready to close, as suggested.
    before_close = fold(s.runbook, events[:-1])
    assert (before_close.phase, before_close.failure, before_close.suggested_outcome()) == ("ready_to_close", None, "aborted")

    finished = {e.data["step_id"]: e.data for e in evidence_events(s, ev.STEP_FINISHED)}
    assert (finished["broken"]["status"], finished["broken"]["exit_code"]) == ("failed", 3)
    assert finished["broken"]["reason"] == "exit code 3 (expected 0)"
    assert finished["absent"]["status"] == "failed" and finished["absent"]["exit_code"] is None
    assert finished["absent"]["reason"].startswith("cannot start no-such-command-for-evidence")
    saved = {e.data["step_id"]: e.data for e in evidence_events(s, ev.ARTIFACT_SAVED)}
    assert saved["deploy-log"]["missing"] == "step 'deploy' never ran" and "file" not in saved["deploy-log"]
    # A step that failed still left its output; the reference says how that run ended.
    assert saved["gate-output"]["status"] == "failed" and saved["gate-output"]["file"]["path"].endswith("-ready.cast")
    # What the failed command printed is kept all the same.
    assert (s.ref.path / saved["broken"]["file"]["path"]).read_text() == "some output\n"

    md = record_md(s.ref.path)
    assert "| Outcome | **Aborted** |" in md
    # Said twice: in the evidence section and beside the outcome, in the runbook's order.
    assert md.count(
        "**Evidence not kept:** `deploy-log` (missing: step 'deploy' never ran); `broken` (failed: exit code 3 "
        "(expected 0)); `absent` (failed: cannot start no-such-command-for-evidence"
    ) == 2
    assert "| 4 | `gate-output` | output of step `ready` (attempt 1, failed) | kept | — | — |" in md
    assert verify(s.ref.path / "journal.jsonl").ok


# -- collected exactly once, across a crash --------------------------------------------------------------------------

LONG_EVIDENCE = (
    'echo $$ > long.pid; echo started-long; '
    'if [ -f resumed ]; then echo quick rerun; else sleep 30; echo finished-long; fi'
)


def long_cast_started(change: Path) -> Path | None:
    for cast in (change / "outputs").glob("*-long.cast"):
        if "started-long" in cast.read_text(errors="replace"):
            return cast
    return None


def test_a_console_killed_during_evidence_collects_each_entry_once_on_resume(tmp_path: Path, kubeconfig: Path, records_dir: Path) -> None:
    doc = with_evidence(
        runbook_doc(steps=[{"id": "go", "run": ["sh", "-c", "echo went >> progress.txt"]}]),
        [
            {"id": "first", "run": ["sh", "-c", "echo once >> evidence-log.txt; echo first evidence"]},
            {"id": "step-output", "from_step": "go"},
            {"id": "long", "title": "A slow evidence command", "run": ["sh", "-c", LONG_EVIDENCE]},
            {"id": "last", "run": ["sh", "-c", "echo last >> evidence-log.txt"]},
        ],
    )
    runbook = write_runbook(tmp_path, doc)
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: alice\nconfirm: {go: 'yes'}\nclose: {outcome: auto}\n")
    again = tmp_path / "answers-resume.yaml"
    again.write_text("operator: bob\nclose: {outcome: auto}\n")
    env = dict(os.environ, OPSCONSOLE_RECORDS=str(records_dir))
    log = tmp_path / "console.err"
    console_err = log.open("w")
    console = subprocess.Popen(
        [PY, "-m", "console.cli", "run", str(runbook), "--plain", "--kubeconfig", str(kubeconfig), "--answers", str(answers)],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=console_err, text=True,
    )
    pid_file = tmp_path / "long.pid"
    try:
        ref = wait_for(lambda: RecordStore(records_dir).list_changes(), what="the change being created", describe=lambda: "the console said:\n" + log.read_text())[0]
        wait_for(lambda: long_cast_started(ref.path), what="the slow evidence command printing its first line", describe=lambda: "the console said:\n" + log.read_text())
        wait_for(lambda: pid_file.is_file() and pid_file.read_text().strip(), what="the slow evidence command writing its pid", describe=lambda: "the console said:\n" + log.read_text())
        console.send_signal(signal.SIGKILL)
        console.wait(timeout=10)
    finally:
        console_err.close()
        if console.poll() is None:
            console.kill()
            console.wait()
        # The command runs in its own process group, which a SIGKILLed console cannot take down with it.
        if pid_file.is_file() and pid_file.read_text().strip():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)

    before = read_events(ref.path / "journal.jsonl").events
    assert before[-1].type == ev.STEP_STARTED
    assert (before[-1].data["section"], before[-1].data["step_id"]) == ("evidence", "long")
    assert ev.CHANGE_CLOSED not in [e.type for e in before]
    assert verify(ref.path / "journal.jsonl").ok
    # The plan's fold is untouched by the evidence in flight: the resumed change asks for close-out again.
    resumed_session = ChangeSession.resume(ref.change_id, store=RecordStore(records_dir), policy=load_policy(),
                                           operator="bob", kubeconfig=str(kubeconfig))
    try:
        assert resumed_session.next().kind == "close"
        # Resuming alone writes nothing about the evidence (only that a new session began): close-out records the
        # interruption when it runs again.
        assert [e.hash for e in resumed_session.events[:-1]] == [e.hash for e in before]
        assert resumed_session.events[-1].type == ev.SESSION_RESUMED
    finally:
        resumed_session.release()

    (tmp_path / "resumed").touch()
    resumed = opsconsole("resume", ref.change_id, "--plain", "--kubeconfig", str(kubeconfig), "--answers", str(again), env=env, input="")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"== {ref.change_id} closed: success" in resumed.stdout

    events = read_events(ref.path / "journal.jsonl").events
    evidence = [(e.type, e.data["step_id"]) for e in events if e.data.get("section") == "evidence"]
    assert evidence == [
        (ev.STEP_STARTED, "first"), (ev.ARTIFACT_SAVED, "first"), (ev.STEP_FINISHED, "first"),
        (ev.ARTIFACT_SAVED, "step-output"),
        (ev.STEP_STARTED, "long"),
        # after the crash: the interrupted attempt is recorded, then run again; nothing before it reruns
        (ev.STEP_INTERRUPTED, "long"),
        (ev.STEP_STARTED, "long"), (ev.ARTIFACT_SAVED, "long"), (ev.STEP_FINISHED, "long"),
        (ev.STEP_STARTED, "last"), (ev.ARTIFACT_SAVED, "last"), (ev.STEP_FINISHED, "last"),
    ]
    assert (tmp_path / "evidence-log.txt").read_text().split() == ["once", "last"]
    assert (tmp_path / "progress.txt").read_text().split() == ["went"]
    assert [e.data["attempt"] for e in events if e.type == ev.STEP_STARTED and e.data["step_id"] == "long"] == [1, 2]

    interrupted = next(e for e in events if e.type == ev.STEP_INTERRUPTED)
    # What the slow command printed before the kill is hashed into the record: its cast and its artifact.
    partial_cast = interrupted.data["file"]
    assert partial_cast["path"].endswith("-long.cast") and sha256_file(ref.path / partial_cast["path"]) == partial_cast["sha256"]
    (partial_out,) = interrupted.data["files"]
    assert partial_out["path"] == "artifacts/long.out"
    assert sha256_file(ref.path / partial_out["path"]) == partial_out["sha256"]
    rerun = next(e for e in events if e.type == ev.ARTIFACT_SAVED and e.data["step_id"] == "long")
    assert rerun.data["file"]["path"] == "artifacts/long.2.out"
    assert (ref.path / "artifacts" / "long.2.out").read_text() == "started-long\nquick rerun\n"

    verified = opsconsole("records", "verify", ref.change_id, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    md = record_md(ref.path)
    assert "`long` A slow evidence command | command `sh -c" in md
    assert "| kept, after 1 interrupted attempt | 0 |" in md
    assert f"`{partial_out['path']}` sha256 `{partial_out['sha256']}` (partial: the console stopped during attempt 1)" in md
    assert "Evidence not kept" not in md


# -- authoring -------------------------------------------------------------------------------------------------------


def test_lint_wants_one_source_per_evidence_entry_and_unique_ids(tmp_path: Path) -> None:
    doc = with_evidence(runbook_doc(steps=[{"id": "go", "run": ["true"]}]), [
        {"id": "nothing"},
        {"id": "both", "from_step": "go", "run": ["true"]},
        {"id": "fine", "from_step": "go"},
        {"id": "fine", "run": ["true"]},
    ])
    found = [(f.rule, f.message) for f in lint(load_runbook(write_runbook(tmp_path, doc)))]
    assert found == [
        ("evidence-source", "evidence 'nothing' needs exactly one of from_step (a step's output) or run (a command run at close-out)"),
        ("evidence-source", "evidence 'both' needs exactly one of from_step (a step's output) or run (a command run at close-out)"),
        ("evidence-source", "evidence id 'fine' is used twice: each entry is recorded under its id"),
    ]
    clean = with_evidence(runbook_doc(steps=[{"id": "go", "run": ["true"]}]), [{"id": "a", "from_step": "go"}, {"id": "b", "run": ["true"]}])
    assert lint(load_runbook(write_runbook(tmp_path, clean, "clean.yaml"))) == []
