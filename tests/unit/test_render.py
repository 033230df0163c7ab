"""record.md: every minimum field of a change record, rendered from a journal written with the real Journal API.

The change below is a whole maintenance window told as journal events (approvals, a backup, a gate, a
break-glass decision, a failed step, a rollback, verification, close-out), with a clock the test sets, so every
timestamp in the record can be asserted exactly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.journal import events as ev
from console.journal.journal import Journal, read_events, verify
from console.journal.store import RecordStore
from console.review.records import load_change, render_to_disk
from console.review.render import render_record

START = datetime(2026, 11, 21, 23, 20, 0, tzinfo=UTC)


@dataclass
class Clock:
    """Returns ``now``; the story moves it forward before each event."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Story:
    """Appends events at chosen offsets from START and writes the files they reference."""

    journal: Journal
    clock: Clock
    base: Path
    files: dict[str, str] = field(default_factory=dict)

    def at(self, seconds: float, type: str, data: dict) -> None:
        self.clock.now = START + timedelta(seconds=seconds)
        self.journal.append(type, data)

    def file(self, rel: str, content: bytes) -> dict[str, str]:
        path = self.base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        self.files[rel] = hashlib.sha256(content).hexdigest()
        return {"path": rel, "sha256": self.files[rel]}


def open_story(base: Path) -> Story:
    clock = Clock()
    return Story(Journal.create(base / "journal.jsonl", clock=clock), clock, base)


CREATED = {
    "change_id": "CHG-2026-0042",
    "runbook": {
        "id": "web-config-restart", "title": "Point web at the in-cluster Ollama service", "component": "web",
        "from": "1.4.2", "to": "1.5.0", "risk": "medium", "path": "runbooks/web-config-restart.yaml",
        "sha256": "ab" * 32,
    },
    "environment": "production",
    "context": "prod-eu-1",
    "operator": "alice",
    "description": "Move the Ollama endpoint from localhost to the cluster service.",
    "scope": "web Deployment and web-config ConfigMap",
    "blast_radius": "web requests during the restart",
    "emergency": False,
    "host": "ops-laptop",
}


def rolled_back_change(base: Path) -> Story:
    """The whole window: approved, backed up, gated, broken glass, failed, rolled back, verified, closed."""
    s = open_story(base)
    s.at(0, ev.CHANGE_CREATED, CREATED)
    s.at(1, ev.PARAMS_SET, {"params": {"namespace": "web", "token": "[REDACTED]"}})
    s.at(2, ev.POLICY_CHECKED, {"checks": [{"name": "context guard", "ok": True, "message": "prod-eu-1 is production"}]})
    s.at(10, ev.APPROVAL_RECORDED, {"name": "bob", "role": "reviewer", "reference": "OPS-1234"})
    s.at(20, ev.APPROVAL_RECORDED, {"name": "carol", "role": "change-manager", "reference": "CAB-77"})
    # precondition: a backup, kept as evidence
    s.at(30, ev.STEP_STARTED, {"section": "precondition", "step_id": "backup-config", "title": "Back up the ConfigMap",
                              "kind": "check", "command": "kubectl get configmap web-config -n web -o yaml",
                              "argv": ["kubectl"], "attempt": 1})
    out1 = s.file("outputs/001-backup-config.cast", b'{"version": 2}\n[0.1, "o", "apiVersion: v1"]\n')
    s.at(32.5, ev.STEP_FINISHED, {"section": "precondition", "step_id": "backup-config", "status": "passed",
                                 "exit_code": 0, "duration_s": 2.5, "file": out1})
    backup = s.file("artifacts/backup-config.yaml", b"apiVersion: v1\nkind: ConfigMap\n")
    s.at(33, ev.ARTIFACT_SAVED, {"step_id": "backup-config", "kind": "backup",
                                "description": "web-config before the change", "file": backup})
    # gate
    s.at(40, ev.STEP_STARTED, {"section": "gate", "step_id": "nodes-ready", "title": "Every node is Ready",
                              "kind": "check", "command": "kubectl wait --for=condition=Ready nodes --all", "attempt": 1})
    s.at(41, ev.STEP_FINISHED, {"section": "gate", "step_id": "nodes-ready", "status": "passed", "exit_code": 0,
                               "duration_s": 1.0})
    # a recorded break-glass decision: outside the window
    s.at(50, ev.BREAKGLASS_RECORDED, {"reason": "customer outage needs the new endpoint now", "approver": "dave",
                                     "what": "change window", "step_id": "update-config"})
    # steps: the first passes, the second fails
    s.at(60, ev.STEP_CONFIRMED, {"section": "step", "step_id": "update-config", "method": "yes", "word": ""})
    s.at(61, ev.STEP_STARTED, {"section": "step", "step_id": "update-config", "title": "Change the endpoint",
                              "kind": "command", "command": "kubectl patch configmap web-config", "attempt": 1})
    out2 = s.file("outputs/002-update-config.cast", b'{"version": 2}\n[0.2, "o", "patched"]\n')
    s.at(63, ev.STEP_FINISHED, {"section": "step", "step_id": "update-config", "status": "passed", "exit_code": 0,
                               "duration_s": 2.0, "file": out2})
    s.at(70, ev.STEP_CONFIRMATION_REFUSED, {"section": "step", "step_id": "restart", "typed": "wbe"})
    s.at(75, ev.STEP_CONFIRMED, {"section": "step", "step_id": "restart", "method": "typed", "word": "web"})
    s.at(76, ev.STEP_STARTED, {"section": "step", "step_id": "restart", "title": "Restart web", "kind": "command",
                              "command": "kubectl rollout restart deployment/web -n web", "attempt": 1})
    s.at(200, ev.STEP_FINISHED, {"section": "step", "step_id": "restart", "status": "failed", "exit_code": 1,
                                "duration_s": 124.0, "reason": "exit code 1"})
    s.at(201, ev.TRIGGER_FIRED, {"trigger": "rollout_failed", "object": "deployment/web",
                                "message": "exceeded its progress deadline"})
    s.at(230, ev.FAILURE_CHOICE, {"section": "step", "step_id": "restart", "choice": "rollback", "by": "alice"})
    # rollback
    s.at(231, ev.ROLLBACK_STARTED, {"reason": "restart failed", "steps": ["undo-restart"]})
    s.at(232, ev.STEP_STARTED, {"section": "rollback", "step_id": "undo-restart", "title": "Roll back",
                               "kind": "command", "command": "kubectl rollout undo deployment/web -n web", "attempt": 1})
    out3 = s.file("outputs/003-undo-restart.cast", b'{"version": 2}\n[0.3, "o", "rolled back"]\n')
    s.at(240, ev.STEP_FINISHED, {"section": "rollback", "step_id": "undo-restart", "status": "passed", "exit_code": 0,
                                "duration_s": 8.0, "file": out3})
    s.at(241, ev.ROLLBACK_FINISHED, {"status": "done", "failed_step": None})
    # verification
    s.at(250, ev.STEP_STARTED, {"section": "verification", "step_id": "rollout-complete",
                               "title": "The rollout is complete", "kind": "check", "command": "kubectl rollout status",
                               "attempt": 1})
    s.at(255, ev.STEP_FINISHED, {"section": "verification", "step_id": "rollout-complete", "status": "passed",
                                "exit_code": 0, "duration_s": 5.0})
    s.at(260, ev.NOTE_ADDED, {"step_id": "restart", "text": "new pods crash on a missing env var", "author": "alice"})
    s.at(300, ev.CHANGE_CLOSED, {"outcome": "rolled_back",
                                "followups": ["add OLLAMA_URL to the Helm values", "retry next window"],
                                "signoff": {"name": "carol", "role": "change-manager"}})
    return s


@pytest.fixture
def story(tmp_path: Path) -> Story:
    s = rolled_back_change(tmp_path)
    s.journal.close()
    return s


def record(story: Story) -> str:
    path = story.journal.path
    return render_record(read_events(path).events, head=verify(path).head)


def table_row(field_name: str, value: str) -> str:
    return f"| {field_name} | {value} |"


def test_the_header_holds_the_minimum_fields(story: Story) -> None:
    md = record(story)
    assert md.startswith("# CHG-2026-0042: Point web at the in-cluster Ollama service\n")
    for row in [
        table_row("Change ID", "CHG-2026-0042"),
        table_row("Date", "2026-11-21"),
        table_row("Operator", "alice"),
        table_row("Reviewer / approvals", "bob (reviewer), carol (change-manager)"),
        table_row("Sign-off", "carol (change-manager)"),
        table_row("Risk level", "medium"),
        table_row("Environment", "production"),
        table_row("Kube context", "prod-eu-1"),
        table_row("Components affected", "web"),
        table_row("Versions", "1.4.2 → 1.5.0"),
        table_row("Runbook", "web-config-restart (sha256 abababababab)"),
        table_row("Emergency", "no"),
        table_row("Started", "2026-11-21 23:20:00Z"),
        table_row("Closed", "2026-11-21 23:25:00Z"),
        table_row("Duration", "5m00s"),
        table_row("Outcome", "**Rolled back**"),
    ]:
        assert row in md.splitlines(), row


def test_description_scope_and_parameters(story: Story) -> None:
    md = record(story)
    assert "## Description\n\nMove the Ollama endpoint from localhost to the cluster service.\n" in md
    assert "- **Scope:** web Deployment and web-config ConfigMap" in md
    assert "- **Blast radius:** web requests during the restart" in md
    assert "- `namespace` = `web`" in md
    assert "- `token` = `[REDACTED]`" in md


def test_approvals_say_who_role_and_when(story: Story) -> None:
    lines = record(story).splitlines()
    assert "| bob | reviewer | OPS-1234 | 2026-11-21 23:20:10Z |" in lines
    assert "| carol | change-manager | CAB-77 | 2026-11-21 23:20:20Z |" in lines
    assert "- pass: context guard: prod-eu-1 is production" in lines


def test_preconditions_with_backup_evidence(story: Story) -> None:
    md = record(story)
    section = md.split("## Preconditions\n", 1)[1].split("\n## ", 1)[0]
    backup = story.files["artifacts/backup-config.yaml"]
    assert (
        "| 1 | `backup-config` Back up the ConfigMap | 2026-11-21 23:20:30Z | 2026-11-21 23:20:32Z | 2.5s | 0 | passed "
        f"| outputs/001-backup-config.cast evidence: artifacts/backup-config.yaml (sha256 {backup[:12]}) |"
    ) in section
    # the backup's ID in full: artifact path and SHA-256
    assert f"- `artifacts/backup-config.yaml` sha256 `{backup}` (web-config before the change)" in section


def test_steps_in_sequence_with_times_exit_codes_and_commands(story: Story) -> None:
    md = record(story)
    gates = md.split("## Gates\n", 1)[1].split("\n## ", 1)[0]
    assert "| 1 | `nodes-ready` Every node is Ready | 2026-11-21 23:20:40Z | 2026-11-21 23:20:41Z | 1.0s | 0 | passed | — |" in gates
    steps = md.split("## Steps\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in steps.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert rows == [
        ("| 1 | `update-config` Change the endpoint | 2026-11-21 23:21:01Z | 2026-11-21 23:21:03Z | 2.0s | 0 | passed "
        "| outputs/002-update-config.cast |"),
        "| 2 | `restart` Restart web | 2026-11-21 23:21:16Z | 2026-11-21 23:23:20Z | 2m04s | 1 | **failed**: exit code 1 | — |",
    ]
    assert "- `restart`: `kubectl rollout restart deployment/web -n web`" in steps
    assert "- 2026-11-21 23:21:10Z `restart`: typed `wbe`" in steps  # a refused confirmation is on record
    assert "- 2026-11-21 23:23:50Z `restart`: rollback (by alice)" in steps
    assert "- 2026-11-21 23:23:21Z rollout_failed: deployment/web: exceeded its progress deadline" in steps


def test_break_glass_decisions_are_in_bold(story: Story) -> None:
    section = record(story).split("## Break-glass decisions\n", 1)[1].split("\n## ", 1)[0]
    assert (
        '- **2026-11-21 23:20:50Z: change window, approved by dave: "customer outage needs the new endpoint now"**'
        in section.splitlines()
    )


def test_rollback_evidence_and_verification(story: Story) -> None:
    md = record(story)
    rollback = md.split("## Rollback\n", 1)[1].split("\n## ", 1)[0]
    assert "- 2026-11-21 23:23:51Z rollback started (restart failed)" in rollback
    assert "- 2026-11-21 23:24:01Z rollback finished: done" in rollback
    assert (
        "| 1 | `undo-restart` Roll back | 2026-11-21 23:23:52Z | 2026-11-21 23:24:00Z | 8.0s | 0 | passed "
        "| outputs/003-undo-restart.cast |"
    ) in rollback
    verification = md.split("## Verification\n", 1)[1].split("\n## ", 1)[0]
    assert (
        "| 1 | `rollout-complete` The rollout is complete | 2026-11-21 23:24:10Z | 2026-11-21 23:24:15Z | 5.0s | 0 "
        "| passed | — |"
    ) in verification


def test_outcome_followups_notes_and_integrity(story: Story) -> None:
    md = record(story)
    head = verify(story.journal.path).head
    assert "## Outcome and follow-ups\n\nOutcome: **Rolled back**\n\n- [ ] add OLLAMA_URL to the Helm values\n- [ ] retry next window\n" in md
    assert "- 2026-11-21 23:24:20Z alice: new pods crash on a missing env var" in md
    assert "- Journal events: 28" in md
    assert f"- Chain head (SHA-256): `{head}`" in md
    assert "- Verification when rendered: verified" in md
    # the sections a reviewer looks for, in the order they read
    order = ["## Description", "## Approvals", "## Break-glass decisions", "## Preconditions", "## Gates", "## Steps",
             "## Rollback", "## Verification", "## Outcome and follow-ups", "## Addenda", "## Integrity"]
    positions = [md.index(h) for h in order]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("outcome", "word"),
    [("success", "Success"), ("rolled_back", "Rolled back"), ("partial", "Partial"), ("aborted", "Aborted")],
)
def test_each_outcome_is_named(tmp_path: Path, outcome: str, word: str) -> None:
    s = open_story(tmp_path)
    s.at(0, ev.CHANGE_CREATED, CREATED)
    s.at(60, ev.CHANGE_CLOSED, {"outcome": outcome, "followups": []})
    md = render_record(s.journal.events, head=s.journal.head)
    assert table_row("Outcome", f"**{word}**") in md.splitlines()
    assert f"Outcome: **{word}**" in md
    assert "_No follow-ups._" in md


def test_a_quiet_change_says_what_did_not_happen(tmp_path: Path) -> None:
    s = open_story(tmp_path)
    s.at(0, ev.CHANGE_CREATED, {**CREATED, "emergency": True})
    md = render_record(s.journal.events, head=s.journal.head)
    assert table_row("Outcome", "**In progress (not closed)**") in md.splitlines()
    assert table_row("Emergency", "**yes (break-glass)**") in md.splitlines()
    assert table_row("Reviewer / approvals", "none recorded") in md.splitlines()
    assert "## Approvals\n\n_No approvals recorded._" in md
    assert "## Break-glass decisions\n\n_None._" in md
    assert "## Rollback\n\n_Not rolled back._" in md
    assert "## Steps\n\n_None run._" in md


def test_addenda_interrupted_runs_manual_answers_and_snapshots(tmp_path: Path) -> None:
    s = open_story(tmp_path)
    s.at(0, ev.CHANGE_CREATED, CREATED)
    s.at(5, ev.CLUSTER_SNAPSHOT, {"when": "before", "summary": {"pods": {"ready": 3, "total": 3}, "nodes": ["a", "b"]}})
    s.at(10, ev.STEP_STARTED, {"section": "step", "step_id": "drain", "title": "Drain", "attempt": 1})
    s.at(20, ev.STEP_INTERRUPTED, {"section": "step", "step_id": "drain", "reason": "operator pressed ctrl-c"})
    s.at(30, ev.STEP_STARTED, {"section": "step", "step_id": "drain", "title": "Drain", "attempt": 2})
    s.at(40, ev.STEP_FINISHED, {"section": "step", "step_id": "drain", "status": "passed", "exit_code": 0})
    s.at(50, ev.MANUAL_ANSWERED, {"section": "step", "step_id": "check-dashboard", "answer": "done",
                                 "note": "graphs | flat"})
    s.at(55, "future.event", {"x": 1})  # an unknown type (only addenda may follow change.closed)
    s.at(60, ev.CHANGE_CLOSED, {"outcome": "partial", "followups": ["finish the drain"]})
    s.at(90, ev.ADDENDUM_ADDED, {"author": "bob", "kind": "correction", "text": "the drain did finish", "refers_to": 7})
    md = render_record(s.journal.events, head=s.journal.head)
    steps = md.split("## Steps\n", 1)[1].split("\n## ", 1)[0]
    assert "| 1 | `drain` Drain | 2026-11-21 23:20:10Z | 2026-11-21 23:20:20Z | — | — | **interrupted** | — |" in steps
    assert "| 2 | `drain` Drain (attempt 2) | 2026-11-21 23:20:30Z | 2026-11-21 23:20:40Z | — | 0 | passed | — |" in steps
    assert "| 3 | `check-dashboard` | 2026-11-21 23:20:50Z | 2026-11-21 23:20:50Z | — | — | answered done | — |" in steps
    # a note with a | cannot break the table, and keeps its text below it
    assert "- `check-dashboard`: graphs | flat" in steps
    # (the journal stores data as canonical JSON, so the summary's keys come back sorted)
    assert "**Before:**\n\n```\nnodes:\n  a\n  b\npods: ready: 3, total: 3\n```" in md
    assert "- 2026-11-21 23:21:30Z **correction** by bob (to event 7): the drain did finish" in md


def test_render_to_disk_writes_record_md_and_says_when_the_chain_is_broken(tmp_path: Path, records_dir: Path) -> None:
    store = RecordStore(records_dir)
    ref = store.create_change(component="web", from_version="1.4.2", to_version="1.5.0", when=START,
                              change_id="CHG-2026-0042")
    rolled_back_change(ref.path).journal.close()
    target = render_to_disk(store, ref)
    assert target == ref.path / "record.md"
    text = target.read_text()
    assert text == render_record(read_events(store.journal_path(ref)).events, head=load_change(store, ref).report.head)
    assert [p.name for p in ref.path.iterdir() if p.name.startswith(".record.")] == []  # no temporary file left
    # an output changed after the fact: the record still renders, and says so
    (ref.path / "outputs/002-update-config.cast").write_bytes(b"edited\n")
    text = render_to_disk(store, ref).read_text()
    assert "- Verification when rendered: BROKEN: line 14: outputs/002-update-config.cast: SHA-256 differs from the journal" in text
