"""A change's story folded out of its journal events (pure): who, what, when, each step's runs, and the outcome.

The record renderer, ``records list`` and the reviewer all read changes through this one fold, so they never
disagree about what a journal says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from console.journal import events as ev


class EventLike(Protocol):
    seq: int
    ts: str
    type: str
    data: dict[str, Any]


def format_duration(seconds: float | None) -> str:
    """A duration as records show it: 4.2s, 3m05s, 1h02m03s (— when unknown)."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def parse_ts(ts: str) -> datetime:
    """A journal timestamp (``2026-11-21T23:20:55.123456Z``) as an aware datetime."""
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


@dataclass
class StepRun:
    """One run (attempt) of one step, from its start event to its end, with what the operator said about it."""

    section: str
    step_id: str
    title: str = ""
    kind: str = ""
    command: str = ""
    attempt: int = 1
    started: str | None = None
    ended: str | None = None
    status: str = "running"  # running | passed | failed | interrupted | answered
    exit_code: int | None = None
    duration_s: float | None = None
    reason: str = ""
    output: dict[str, str] | None = None
    answer: str | None = None
    note: str | None = None
    seq: int = 0


@dataclass
class EvidenceItem:
    """One evidence entry as close-out kept it: the latest attempt's result, and every file it put on record.

    ``status``: kept, failed (the command failed), missing (the step it names left nothing), interrupted (the
    console stopped during the command and close-out has not run it again yet) or running.
    """

    evidence_id: str
    title: str = ""
    command: str = ""
    from_step: str | None = None
    source_run: str = ""  # for from_step: "attempt N, status" of the step run it points at
    status: str = "running"
    reason: str = ""
    exit_code: int | None = None
    duration_s: float | None = None
    attempt: int = 0  # the latest attempt of a command
    interrupted: int = 0  # attempts the console died in
    files: list[dict[str, str]] = field(default_factory=list)  # path, sha256 and a note for partial files

    @property
    def kept(self) -> bool:
        return self.status == "kept"

    @property
    def source(self) -> str:
        if self.from_step is not None:
            return f"output of step `{self.from_step}`" + (f" ({self.source_run})" if self.source_run else "")
        return f"command `{self.command}`" if self.command else "command"

    @property
    def result(self) -> str:
        """The outcome in a few words: kept, or what went wrong."""
        if self.kept:
            plural = "s" if self.interrupted > 1 else ""
            return "kept" + (f", after {self.interrupted} interrupted attempt{plural}" if self.interrupted else "")
        return self.status + (f": {self.reason}" if self.reason else "")


def _fold_evidence(items: dict[str, EvidenceItem], t: str, d: dict[str, Any]) -> None:
    """Fold one event of section ``evidence`` into its entry (the runs and artifacts lists keep it too)."""
    eid = str(d.get("step_id", "?"))
    item = items.setdefault(eid, EvidenceItem(eid))
    if t == ev.STEP_STARTED:
        item.title, item.command, item.attempt = d.get("title", "") or item.title, d.get("command", ""), int(d.get("attempt", 1))
        item.status, item.reason, item.exit_code, item.duration_s = "running", "", None, None
    elif t == ev.STEP_FINISHED:
        item.status = "kept" if d.get("status") == "passed" else "failed"
        item.reason = "" if item.kept else d.get("reason", "") or ""
        item.exit_code, item.duration_s = d.get("exit_code"), d.get("duration_s")
        item.files += _refs(d, "")
    elif t == ev.STEP_INTERRUPTED:
        item.status, item.reason = "interrupted", d.get("reason", "") or ""
        item.interrupted += 1
        item.files += _refs(d, f"partial: the console stopped during attempt {item.attempt}")
    elif t == ev.ARTIFACT_SAVED:
        if "from_step" in d:
            item.title = d.get("description", "") or ""
            item.from_step = d.get("from_step")
            if d.get("missing"):
                item.status, item.reason = "missing", str(d["missing"])
            else:
                item.status = "kept"
                item.source_run = f"attempt {d.get('attempt', 1)}, {d.get('status', '?')}"
        item.files += _refs(d, "")


def _refs(d: dict[str, Any], note: str) -> list[dict[str, str]]:
    refs = [d.get("file"), *(d.get("files") or [])]
    return [{"path": r["path"], "sha256": r["sha256"], "note": note} for r in refs if isinstance(r, dict) and "path" in r and "sha256" in r]


@dataclass
class ChangeSummary:
    """Everything a change record states, gathered from the events."""

    change_id: str = ""
    title: str = ""
    runbook: dict[str, Any] = field(default_factory=dict)
    component: str = ""
    from_version: str = ""
    to_version: str = ""
    risk: str = ""
    environment: str = ""
    context: str = ""
    operator: str = ""
    description: str = ""
    scope: str = ""
    blast_radius: str = ""
    emergency: bool = False
    created: str | None = None
    closed: str | None = None
    outcome: str | None = None
    followups: list[str] = field(default_factory=list)
    signoff: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    policy_checks: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    breakglass: list[dict[str, Any]] = field(default_factory=list)
    runs: list[StepRun] = field(default_factory=list)
    confirmations: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    failure_choices: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    snapshots: dict[str, Any] = field(default_factory=dict)
    addenda: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[EvidenceItem] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    last_ts: str | None = None
    events: int = 0

    @property
    def date(self) -> str:
        return (self.created or "")[:10]

    @property
    def duration_s(self) -> float | None:
        if not self.created:
            return None
        end = self.closed or self.last_ts
        return (parse_ts(end) - parse_ts(self.created)).total_seconds() if end else None

    def runs_in(self, section: str) -> list[StepRun]:
        return [r for r in self.runs if r.section == section]

    @property
    def reviewers(self) -> list[str]:
        return [a["name"] for a in self.approvals if a.get("name")]

    @property
    def state(self) -> str:
        """closed (with an outcome) or in progress."""
        return "closed" if self.outcome else "in progress"


def summarise(events: Iterable[EventLike]) -> ChangeSummary:
    """Fold journal events into a ChangeSummary; unknown event types are listed, not fatal."""
    s = ChangeSummary()
    open_runs: dict[tuple[str, str], StepRun] = {}
    evidence: dict[str, EvidenceItem] = {}  # in the order close-out collected them
    for e in events:
        s.events += 1
        s.last_ts = e.ts
        d = e.data
        t = e.type
        if d.get("section") == ev.EVIDENCE_SECTION and t in (ev.STEP_STARTED, ev.STEP_FINISHED, ev.STEP_INTERRUPTED, ev.ARTIFACT_SAVED):
            _fold_evidence(evidence, t, d)
        if t == ev.CHANGE_CREATED:
            rb = d.get("runbook", {})
            s.change_id = d.get("change_id", "")
            s.runbook = rb
            s.title = rb.get("title", "")
            s.component = rb.get("component", "")
            s.from_version = rb.get("from", "")
            s.to_version = rb.get("to", "")
            s.risk = rb.get("risk", "")
            s.environment = d.get("environment", "")
            s.context = d.get("context", "")
            s.operator = d.get("operator", "")
            s.description = d.get("description", "")
            s.scope = d.get("scope", "")
            s.blast_radius = d.get("blast_radius", "")
            s.emergency = bool(d.get("emergency"))
            s.created = e.ts
        elif t == ev.PARAMS_SET:
            s.params.update(d.get("params", {}))
        elif t == ev.POLICY_CHECKED:
            s.policy_checks.extend(d.get("checks", []))
        elif t == ev.APPROVAL_RECORDED:
            s.approvals.append({**d, "at": e.ts})
        elif t == ev.BREAKGLASS_RECORDED:
            s.breakglass.append({**d, "at": e.ts})
        elif t == ev.STEP_CONFIRMED:
            s.confirmations.append({**d, "at": e.ts})
        elif t == ev.STEP_CONFIRMATION_REFUSED:
            s.refusals.append({**d, "at": e.ts})
        elif t == ev.STEP_STARTED:
            run = StepRun(
                section=d.get("section", "step"),
                step_id=d.get("step_id", "?"),
                title=d.get("title", ""),
                kind=d.get("kind", ""),
                command=d.get("command", ""),
                attempt=int(d.get("attempt", 1)),
                started=e.ts,
                seq=e.seq,
            )
            s.runs.append(run)
            open_runs[(run.section, run.step_id)] = run
        elif t in (ev.STEP_FINISHED, ev.STEP_INTERRUPTED):
            run = open_runs.pop((d.get("section", "step"), d.get("step_id", "?")), None)
            if run is None:
                run = StepRun(section=d.get("section", "step"), step_id=d.get("step_id", "?"), seq=e.seq)
                s.runs.append(run)
            run.ended = e.ts
            run.reason = d.get("reason", "") or ""
            if t == ev.STEP_INTERRUPTED:
                run.status = "interrupted"
                run.output = d.get("file")  # the partial output of a step the console died in
            else:
                run.status = d.get("status", "failed")
                run.exit_code = d.get("exit_code")
                run.duration_s = d.get("duration_s")
                run.output = d.get("file")
        elif t == ev.MANUAL_ANSWERED:
            run = open_runs.pop((d.get("section", "step"), d.get("step_id", "?")), None)
            if run is None:
                run = StepRun(section=d.get("section", "step"), step_id=d.get("step_id", "?"), started=e.ts, seq=e.seq)
                s.runs.append(run)
            run.ended = e.ts
            run.answer = d.get("answer")
            run.note = d.get("note")
            run.status = "passed" if d.get("answer") in ("done", "yes", "approved") else "failed"
        elif t == ev.NOTE_ADDED:
            s.notes.append({**d, "at": e.ts})
        elif t == ev.ARTIFACT_SAVED:
            s.artifacts.append({**d, "at": e.ts})
        elif t == ev.FAILURE_CHOICE:
            s.failure_choices.append({**d, "at": e.ts})
        elif t in (ev.ROLLBACK_STARTED, ev.ROLLBACK_FINISHED):
            s.rollbacks.append({**d, "type": t, "at": e.ts})
        elif t == ev.TRIGGER_FIRED:
            s.triggers.append({**d, "at": e.ts})
        elif t == ev.ESCALATION_PASSED:
            s.escalations.append({**d, "at": e.ts})
        elif t == ev.CLUSTER_SNAPSHOT:
            s.snapshots[d.get("when", "?")] = d.get("summary", {})
        elif t == ev.CHANGE_CLOSED:
            s.outcome = d.get("outcome")
            s.followups = list(d.get("followups", []))
            s.signoff = d.get("signoff", {}) or {}
            s.closed = e.ts
        elif t == ev.ADDENDUM_ADDED:
            s.addenda.append({**d, "at": e.ts, "seq": e.seq})
        elif t == ev.TORN_TAIL:
            pass
        else:
            s.unknown.append(t)
    s.evidence = list(evidence.values())
    return s
