"""A change's story folded out of its journal events (pure): who, what, when, each step's runs, and the outcome.

The record renderer, ``records list`` and the reviewer all read changes through this one fold, so they never
disagree about what a journal says. Each event's data is read through its type's model (``event_data.parse_data``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from console.journal import events as ev
from console.journal.event_data import (
    AddendumAdded,
    ApprovalOwed,
    ApprovalRecorded,
    ApprovalVerified,
    ArtifactSaved,
    BreakglassRecorded,
    ChangeClosed,
    ChangeCreated,
    ClusterSnapshot,
    EscalationNotified,
    EscalationPassed,
    FailureChoice,
    FileRef,
    ManualAnswered,
    NoteAdded,
    ParamsSet,
    PolicyChecked,
    RollbackFinished,
    RollbackStarted,
    SignatureRetroApproval,
    StepConfirmationRefused,
    StepConfirmed,
    StepEventData,
    StepFinished,
    StepInterrupted,
    StepSkipped,
    StepStarted,
    TornTail,
    TriggerFired,
    parse_data,
)


class EventLike(Protocol):
    """What the fold reads of an event: a journal ``Event`` or anything shaped like one (read-only, so a frozen one fits)."""

    @property
    def seq(self) -> int: ...

    @property
    def ts(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...


def format_duration(seconds: float | None) -> str:
    """A duration as records show it: 4.2s, 3m05s, 1h02m03s (— when unknown)."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def parse_ts(ts: str) -> datetime:
    """A journal timestamp (``2026-11-21T23:20:55.123456Z``) as an aware datetime."""
    return datetime.fromisoformat(ts)  # Python 3.11 reads the trailing Z as UTC


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
    output: FileRef | None = None
    answer: str | None = None
    note: str | None = None
    seq: int = 0
    retry: dict[str, Any] | None = None  # a step with retry: {"try": 2, "of": 5, ...}
    timing: dict[str, Any] | None = None  # declared durations and the rehearsal clock's factor


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


def _fold_evidence(items: dict[str, EvidenceItem], d: StepEventData) -> None:
    """Fold one event of section ``evidence`` into its entry (the runs and artifacts lists keep it too)."""
    eid = str(_step_id(d))
    item = items.setdefault(eid, EvidenceItem(eid))
    if isinstance(d, StepStarted):
        item.title, item.command, item.attempt = d.title or item.title, d.command, int(d.attempt)
        item.status, item.reason, item.exit_code, item.duration_s = "running", "", None, None
    elif isinstance(d, StepFinished):
        item.status = "kept" if d.status == "passed" else "failed"
        item.reason = "" if item.kept else d.reason or ""
        item.exit_code, item.duration_s = d.exit_code, d.duration_s
        item.files += _refs(d.file, None, "")
    elif isinstance(d, StepInterrupted):
        item.status, item.reason = "interrupted", d.reason or ""
        item.interrupted += 1
        item.files += _refs(d.file, d.files, f"partial: the console stopped during attempt {item.attempt}")
    elif isinstance(d, ArtifactSaved):
        if d.from_step is not None:
            item.title = d.description or ""
            item.from_step = d.from_step
            if d.missing:
                item.status, item.reason = "missing", str(d.missing)
            else:
                item.status = "kept"
                item.source_run = f"attempt {d.attempt}, {d.status}"
        item.files += _refs(d.file, d.files, "")


def _refs(file: Any, files: Any, note: str) -> list[dict[str, str]]:
    # Checked again here: data that did not validate is read as written, and a reference must name path and hash.
    refs = [file, *(files or [])]
    return [{"path": r["path"], "sha256": r["sha256"], "note": note} for r in refs if isinstance(r, dict) and "path" in r and "sha256" in r]


def _step_id(d: StepEventData | NoteAdded) -> str:
    return "?" if d.step_id is None else d.step_id


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
    approvals_owed: dict[str, int] = field(default_factory=dict)  # an emergency's signed approvals, role -> count owed
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
    locks: list[dict[str, Any]] = field(default_factory=list)  # the cluster's change lock: lock.* events
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
    """Fold journal events into a ChangeSummary; unknown event types are listed, not fatal.

    Each event's data is read through its type's model (``parse_data``); what the summary keeps of an event (an
    approval, a note, an artifact) is its data as recorded, with when it happened.
    """
    s = ChangeSummary()
    open_runs: dict[tuple[str, str], StepRun] = {}
    evidence: dict[str, EvidenceItem] = {}  # in the order close-out collected them
    run: StepRun | None
    for e in events:
        s.events += 1
        s.last_ts = e.ts
        d = parse_data(e)
        t = e.type
        if isinstance(d, _EVIDENCE_EVENTS) and d.section == ev.EVIDENCE_SECTION:
            _fold_evidence(evidence, d)
        if isinstance(d, ChangeCreated):
            rb = d.runbook
            s.change_id = d.change_id
            s.runbook = dict(rb)
            s.title = rb.get("title", "")
            s.component = rb.get("component", "")
            s.from_version = rb.get("from", "")
            s.to_version = rb.get("to", "")
            s.risk = rb.get("risk", "")
            s.environment = d.environment
            s.context = d.context
            s.operator = d.operator
            # null in a hand-edited journal reads as empty, as a missing field does
            s.description = d.description or ""
            s.scope = d.scope or ""
            s.blast_radius = d.blast_radius or ""
            s.emergency = bool(d.emergency)
            s.created = e.ts
        elif isinstance(d, ParamsSet):
            s.params.update(d.params)
        elif isinstance(d, PolicyChecked):
            s.policy_checks.extend(d.checks)
        elif isinstance(d, ApprovalRecorded):
            s.approvals.append({**e.data, "at": e.ts})
        elif isinstance(d, ApprovalVerified):
            # Signed approvals the change started on: shown beside typed ones, the key as their reference.
            s.approvals += [{"name": a.get("principal"), "role": a.get("role"), "at": e.ts,
                             "reference": f"SSH signature {a.get('signed_at')}, key {a.get('key_fingerprint')}"}
                            for a in d.accepted]
        elif isinstance(d, ApprovalOwed):
            s.approvals_owed = dict(d.required)
        elif isinstance(d, SignatureRetroApproval):
            # An owed approval given after the fact (after the close, as a signature may be): listed with the others.
            s.approvals.append({"name": d.principal, "role": d.role, "at": e.ts, "retro": True,
                                "reference": f"retro-approval: SSH signature {d.signed_at}, key {d.key_fingerprint}"})
        elif isinstance(d, BreakglassRecorded):
            s.breakglass.append({**e.data, "at": e.ts})
        elif isinstance(d, StepConfirmed):
            s.confirmations.append({**e.data, "at": e.ts})
        elif isinstance(d, StepConfirmationRefused):
            s.refusals.append({**e.data, "at": e.ts})
        elif isinstance(d, StepStarted):
            run = StepRun(
                section=d.section,
                step_id=_step_id(d),
                title=d.title,
                kind=d.kind,
                command=d.command,
                attempt=int(d.attempt),
                started=e.ts,
                seq=e.seq,
                retry=d.retry,
                timing=d.timing,
            )
            s.runs.append(run)
            open_runs[(run.section, run.step_id)] = run
        elif isinstance(d, (StepFinished, StepInterrupted)):
            run = open_runs.pop((d.section, _step_id(d)), None)
            if run is None:
                run = StepRun(section=d.section, step_id=_step_id(d), seq=e.seq)
                s.runs.append(run)
            run.ended = e.ts
            run.reason = d.reason or ""
            if isinstance(d, StepInterrupted):
                run.status = "interrupted"
                run.output = d.file  # the partial output of a step the console died in
            else:
                run.status = d.status
                run.exit_code = d.exit_code
                run.duration_s = d.duration_s
                run.output = d.file
        elif isinstance(d, StepSkipped):
            # A step whose when: did not hold: listed with the runs, never run.
            s.runs.append(StepRun(section=d.section, step_id=_step_id(d), started=e.ts, ended=e.ts, status="skipped",
                                  reason=d.reason, seq=e.seq))
        elif isinstance(d, ManualAnswered):
            run = open_runs.pop((d.section, _step_id(d)), None)
            if run is None:
                run = StepRun(section=d.section, step_id=_step_id(d), started=e.ts, seq=e.seq)
                s.runs.append(run)
            run.ended = e.ts
            run.answer = d.answer
            run.note = d.note
            run.status = "passed" if d.answer in ("done", "yes", "approved") else "failed"
        elif isinstance(d, NoteAdded):
            s.notes.append({**e.data, "at": e.ts})
        elif isinstance(d, ArtifactSaved):
            s.artifacts.append({**e.data, "at": e.ts})
        elif isinstance(d, FailureChoice):
            s.failure_choices.append({**e.data, "at": e.ts})
        elif isinstance(d, (RollbackStarted, RollbackFinished)):
            s.rollbacks.append({**e.data, "type": t, "at": e.ts})
        elif isinstance(d, TriggerFired):
            s.triggers.append({**e.data, "at": e.ts})
        elif isinstance(d, (EscalationPassed, EscalationNotified)):
            s.escalations.append({**e.data, "type": t, "at": e.ts})
        elif isinstance(d, ClusterSnapshot):
            s.snapshots[d.when] = d.summary
        elif isinstance(d, ChangeClosed):
            s.outcome = d.outcome
            s.followups = list(d.followups)
            s.signoff = dict(d.signoff or {})
            s.closed = e.ts
        elif isinstance(d, AddendumAdded):
            s.addenda.append({**e.data, "at": e.ts, "seq": e.seq})
        elif isinstance(d, TornTail):
            pass
        elif t.startswith("lock."):
            s.locks.append({**e.data, "type": t, "at": e.ts})
        else:
            s.unknown.append(t)
    s.evidence = list(evidence.values())
    return s


_EVIDENCE_EVENTS = (StepStarted, StepFinished, StepInterrupted, ArtifactSaved)
