"""Evidence kept at close-out: a runbook's ``evidence:`` entries, collected once before ``change.closed``.

A ``run`` entry is a command run like a command step (parameters filled in, the change's pinned kubeconfig,
redacted, a timeout): its output goes to an asciicast under outputs/ and, stdout only, to an artifact under
artifacts/, each hashed into the journal. A ``from_step`` entry points at the files the named step's latest run
already left on record (their hashes are in the journal), so nothing is copied; a step that never ran, or left
nothing, is recorded as missing. A failing command or a missing step never blocks close-out: it is recorded, and
the record says which evidence was not kept.

The journal says what is done: an entry with a finished run (or a reference) is never collected again, and a run
the console died in (started, never ended) is recorded as interrupted, its partial files hashed, and run again.
Events carry section ``evidence``, which the fold of the plan ignores, so evidence never changes the outcome.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from console.engine.binding import bind
from console.engine.kubecontext import PinnedKubeconfig
from console.engine.redact import Redactor
from console.engine.state import Item, State
from console.engine.step_context import StepContext
from console.engine.steps import run_step
from console.journal import events as ev
from console.journal.cast import sha256_file
from console.journal.journal import Event
from console.journal.store import ChangeRef, RecordStore
from console.runbook.models import Evidence, Runbook, Step
from console.runbook.params import ParamError

SECTION = ev.EVIDENCE_SECTION
# Evidence entries have no timeout of their own; close-out must end even if a command hangs.
TIMEOUT_S = 300

Append = Callable[[str, dict[str, Any]], Event]


class ChangeView(Protocol):
    """What collecting evidence reads of a change: a ``ChangeSession`` is one. Events are written only through
    the ``append`` the session passes in, so the session stays the one writer of its journal."""

    runbook: Runbook
    runbook_dir: Path
    values: dict[str, str]
    redactor: Redactor
    kube: PinnedKubeconfig | None
    store: RecordStore
    ref: ChangeRef
    state: State
    clock: Callable[[], datetime]

    @property
    def events(self) -> list[Event]: ...

    def step_text(self, text: str) -> str: ...


# -- what the journal already says (pure) -----------------------------------------------------------------------


def _is_evidence(e: Event, evidence_id: str) -> bool:
    return e.data.get("section") == SECTION and e.data.get("step_id") == evidence_id


def attempts(events: Sequence[Event], evidence_id: str) -> tuple[int, bool, bool]:
    """(runs started, whether one finished, whether the last one is still open) for an evidence command."""
    started = finished = ended = 0
    for e in events:
        if _is_evidence(e, evidence_id):
            if e.type == ev.STEP_STARTED:
                started += 1
            elif e.type == ev.STEP_FINISHED:
                finished += 1
                ended += 1
            elif e.type == ev.STEP_INTERRUPTED:
                ended += 1
    return started, finished > 0, started > ended


def referenced(events: Sequence[Event], evidence_id: str) -> bool:
    """Whether a step-output entry is already on record (kept or missing)."""
    return any(e.type == ev.ARTIFACT_SAVED and _is_evidence(e, evidence_id) for e in events)


def step_output(events: Sequence[Event], step_id: str) -> dict[str, Any]:
    """What the latest run of ``step_id`` left on record: attempt, status, file (its output) and files (artifacts),
    or ``missing`` saying why there is nothing to keep."""
    starts = [
        i for i, e in enumerate(events)
        if e.type == ev.STEP_STARTED and e.data.get("step_id") == step_id and e.data.get("section") != SECTION
    ]
    if not starts:
        return {"missing": f"step {step_id!r} never ran"}
    first = starts[-1]
    attempt = events[first].data.get("attempt", 1)
    status, file, files = "running", None, []
    for e in events[first + 1:]:
        d = e.data
        if d.get("step_id") != step_id or d.get("section") == SECTION:
            continue
        if e.type in (ev.STEP_FINISHED, ev.STEP_INTERRUPTED):
            status = d.get("status", "failed") if e.type == ev.STEP_FINISHED else "interrupted"
            file = d.get("file") if isinstance(d.get("file"), dict) else None
        elif e.type == ev.MANUAL_ANSWERED:
            status = f"answered {d.get('answer')}"
        elif e.type == ev.ARTIFACT_SAVED and isinstance(d.get("file"), dict):
            files.append(d["file"])
    if file is None and not files:
        return {"missing": f"step {step_id!r} (attempt {attempt}, {status}) left no output on record"}
    return {"attempt": attempt, "status": status, **({"file": file} if file else {}), **({"files": files} if files else {})}


OUTPUT_NAME = r"^\d{3,}-%s\.cast$"
ARTIFACT_NAME = r"^%s(\.\d+)?\.out$"


def unrecorded_files(change_dir: Path, events: Sequence[Event], evidence_id: str) -> list[dict[str, str]]:
    """Output and artifact files of an evidence command that no event references: what a crash left behind."""
    known = set()
    for e in events:
        for ref in [e.data.get("file"), *(e.data.get("files") or [])]:
            if isinstance(ref, dict):
                known.add(ref.get("path"))
    found = []
    for folder, pattern in (("outputs", OUTPUT_NAME), ("artifacts", ARTIFACT_NAME)):
        name = re.compile(pattern % re.escape(evidence_id))
        directory = change_dir / folder
        paths = sorted(p for p in directory.iterdir() if name.match(p.name)) if directory.is_dir() else []
        for path in paths:
            rel = path.relative_to(change_dir).as_posix()
            if rel not in known:
                found.append({"path": rel, "sha256": sha256_file(path)})
    return found


# -- collecting ----------------------------------------------------------------------------------------------------


def collect_evidence(session: ChangeView, *, append: Append, cancel: threading.Event) -> None:
    """Collect every evidence entry of the session's runbook not yet on record; ``append`` writes one event."""
    for entry in session.runbook.evidence:
        if entry.run:
            started, finished, open_run = attempts(session.events, entry.id)
            if finished:
                continue
            if open_run:
                _record_interrupted(session, entry, started, append)
            _run(session, entry, started + 1, append, cancel)
        elif not referenced(session.events, entry.id):
            base = {"section": SECTION, "step_id": entry.id, "kind": "evidence", "description": session.step_text(entry.title)}
            if entry.from_step:
                append(ev.ARTIFACT_SAVED, {**base, "from_step": entry.from_step, **step_output(session.events, entry.from_step)})
            else:
                append(ev.ARTIFACT_SAVED, {**base, "missing": "the entry names neither from_step nor run"})


def _record_interrupted(session: ChangeView, entry: Evidence, attempt: int, append: Append) -> None:
    partial = unrecorded_files(session.ref.path, session.events, entry.id)
    casts = [f for f in partial if f["path"].startswith("outputs/")]
    others = [f for f in partial if not f["path"].startswith("outputs/")]
    append(ev.STEP_INTERRUPTED, {
        "section": SECTION, "step_id": entry.id,
        "reason": f"the console stopped while this evidence command ran (attempt {attempt}); it runs again",
        **({"file": casts[-1]} if casts else {}),
        **({"files": casts[:-1] + others} if casts[:-1] + others else {}),
    })


def _run(session: ChangeView, entry: Evidence, attempt: int, append: Append, cancel: threading.Event) -> None:
    step = Step.model_validate({
        "id": entry.id, "title": entry.title, "kind": "check", "run": list(entry.run or []),
        "capture": "artifact", "timeout": TIMEOUT_S,
    })
    try:
        bound = bind(step, SECTION, session.values, session.runbook, session.runbook_dir, session.redactor)
    except ParamError as exc:
        # Nothing can run; say so in the record as this entry's failure rather than stop the close-out.
        append(ev.STEP_STARTED, _started(session, entry, attempt, " ".join(step.run or []), []))
        append(ev.STEP_FINISHED, {"section": SECTION, "step_id": entry.id, "status": "failed", "exit_code": None,
                                  "duration_s": 0.0, "reason": str(exc), "lines": 0})
        return
    append(ev.STEP_STARTED, _started(session, entry, attempt, bound.display, list(bound.argv)))
    cancel.clear()
    kube = session.kube
    ctx = StepContext(
        bound=bound, item=Item(SECTION, entry.id), runbook=session.runbook, change_dir=session.ref.path,
        output_path=session.store.next_output_path(session.ref, entry.id), redactor=session.redactor,
        env=kube.env() if kube else dict(os.environ),
        cancel=cancel, listeners=[], started=session.clock(), artifacts=session.state.artifacts, now=session.clock,
    )
    outcome = run_step(ctx)
    for art in outcome.artifacts:
        append(ev.ARTIFACT_SAVED, {"section": SECTION, "step_id": entry.id, **art})
    rel = outcome.output_path.relative_to(session.ref.path).as_posix() if outcome.output_path else None
    append(ev.STEP_FINISHED, {
        "section": SECTION, "step_id": entry.id, "status": "passed" if outcome.passed else "failed",
        "exit_code": outcome.exit_code, "duration_s": round(outcome.duration_s, 3), "reason": outcome.reason,
        "lines": outcome.lines, **({"file": {"path": rel, "sha256": outcome.output_sha256}} if rel else {}),
    })


def _started(session: ChangeView, entry: Evidence, attempt: int, command: str, argv: list[str]) -> dict[str, Any]:
    return {
        "section": SECTION, "step_id": entry.id, "title": session.step_text(entry.title), "kind": "evidence",
        "command": command, "argv": argv, "attempt": attempt,
    }
