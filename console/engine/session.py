"""The change session: the one writer of a change's journal, and the API every driver uses (screens, line mode, tests).

The session decides, appends an event (fsynced), folds it into its state, and only then reports the effect. It
holds the change's lock for its whole life, pins the kube context into a private kubeconfig for every command,
and redacts every value before it is written. A driver asks ``next()`` what the change needs and answers with
``confirm``, ``run``, ``answer_manual``, ``approve``, ``choose``, ``finish_rollback`` and ``close``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from console.config import Policy
from console.engine import policy as pol
from console.engine.admission import PolicyRefused, SessionError, StartRequest, evaluate_policy
from console.engine.binding import BoundStep, bind
from console.engine.change_lock import ClusterLock, LockRefused, for_change
from console.engine.clusterwait import touches_cluster
from console.engine.escalation import NOTIFY_TIMEOUT_S, run_notify
from console.engine.evidence import collect_evidence
from console.engine.kubecontext import PinnedKubeconfig
from console.engine.manifest_preview import Preview, preview_diff
from console.engine.manifests import manifest_copies
from console.engine.opening import Clock, Opened, interrupted, open_change, reopen_change
from console.engine.redact import Redactor
from console.engine.rehearsal_clock import ClockFactor, clock_factor
from console.engine.runner import Listener
from console.engine.snapshot import take_summary
from console.engine.state import Item, Next, State, apply, fold, next_action, rollback_queue
from console.engine.step_context import StepContext, StepOutcome, write_artifact
from console.engine.steps import run_step
from console.engine.tfsteps import discard_saved_plans
from console.engine.typed_words import kept_typing
from console.journal import events as ev
from console.journal.event_data import check_data
from console.journal.journal import Event, Journal
from console.journal.store import ChangeLock, ChangeRef, RecordStore
from console.journal.team_sync import publish
from console.review.records import render_to_disk
from console.review.summary import parse_ts
from console.runbook.conditions import unmet
from console.runbook.loader import LoadedRunbook
from console.runbook.models import Step
from console.runbook.params import ParamError, substitute

__all__ = ["ChangeSession", "PolicyRefused", "SessionError", "StartRequest", "evaluate_policy", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


T = TypeVar("T")

class ChangeSession:
    """One change being driven; created by ``start`` or ``resume``, ended by ``close`` (or ``release``)."""

    def __init__(
        self,
        *,
        store: RecordStore,
        ref: ChangeRef,
        journal: Journal,
        lock: ChangeLock,
        loaded: LoadedRunbook,
        runbook_dir: Path,
        policy: Policy,
        values: dict[str, str],
        redactor: Redactor,
        kube: PinnedKubeconfig | None,
        operator: str,
        environment: str,
        context: str,
        clock: Clock,
        cluster_lock: ClusterLock | None = None,
    ) -> None:
        self.store = store
        self.ref = ref
        self.journal = journal
        self.lock = lock
        self.shared = ""  # what the team store did with the record at close-out, in one sentence
        self._notifiers: list[threading.Thread] = []  # escalation notification commands still running
        self.loaded = loaded
        self.runbook = loaded.runbook
        self.runbook_dir = runbook_dir
        self.policy = policy
        self.values = values
        self.redactor = redactor
        self.kube = kube
        self.operator = operator
        self.environment = environment
        self.context = context
        self.clock = clock
        self.cluster_lock = cluster_lock
        self.state: State = fold(self.runbook, journal.events)
        self.event_listeners: list[Callable[[Event], None]] = []
        self._cancel = threading.Event()
        self._lock = threading.RLock()
        self._clock: ClockFactor | None = None
        self._clock_asked: Future[ClockFactor] | None = None  # the question put to the cluster at open (_opened)

    # -- construction ------------------------------------------------------------------------------------------

    @classmethod
    def start(cls, request: StartRequest, *, store: RecordStore, policy: Policy, clock: Clock = utcnow) -> ChangeSession:
        """Check everything, then create the change and write its opening events; raises PolicyRefused or SessionError.

        A start refused before the change exists leaves its trace in the store's log of refused starts.
        """
        return cls._opened(open_change(request, store=store, policy=policy, clock=clock))

    @classmethod
    def resume(
        cls,
        change_id: str,
        *,
        store: RecordStore,
        policy: Policy,
        operator: str,
        params: dict[str, Any] | None = None,
        kubeconfig: str | None = None,
        recover_torn_tail: bool = False,
        clock: Clock = utcnow,
        lock_break_glass: tuple[str, str] | None = None,
    ) -> ChangeSession:
        """Rebuild a change from its journal; a step that was running is recorded as interrupted, never done.
        The cluster's lock is taken back (``lock_break_glass``: reason and approver, past another console's)."""
        session = cls._opened(reopen_change(
            change_id, store=store, policy=policy, operator=operator, params=params, kubeconfig=kubeconfig,
            recover_torn_tail=recover_torn_tail, clock=clock,
        ))
        if session.state.running is not None:
            session._append(ev.STEP_INTERRUPTED, interrupted(session.ref, session.events, session.state.running))
        session._retake_cluster_lock(lock_break_glass)
        return session

    @classmethod
    def _opened(cls, opened: Opened) -> ChangeSession:
        """The session over an opened change, its opening events appended."""
        session = cls(**opened.parts())
        session._append_all(opened.events)
        session._attach_cluster_lock()
        if any(_timed(step) for _section, steps in session.runbook.sections() for step in steps):
            # Asked once, as the change opens, beside it (a kubectl round trip, some 0.1 s the start would otherwise
            # wait for): a timed step's first use of the factor waits for the answer, no step goes without it.
            session._clock_asked = _in_background(session._read_clock, "rehearsal-clock")
        return session

    def _read_clock(self) -> ClockFactor:
        return clock_factor(self.policy, self.environment, self.kube.env() if self.kube else None)

    def _attach_cluster_lock(self) -> None:
        """What the lock's renewals learn goes into the record; each step that starts is written on the lock."""
        held = self.cluster_lock
        if held is not None:
            held.attach(self._append)
            self.event_listeners.append(lambda event: held.on_event(event, self.state))

    def _retake_cluster_lock(self, break_glass: tuple[str, str] | None) -> None:
        """On resume: take the lock again, recording who held it while the console was stopped; refused, the
        session lets go of the change and raises LockRefused."""
        held = for_change(self.policy, self.runbook, self.kube, operator=self.operator, values=self.values, runbook_dir=self.runbook_dir)
        if held is None:
            return
        try:
            events = held.acquire(self.change_id, break_glass=break_glass, history=self.events)
        except LockRefused as exc:
            if exc.events:
                self._append_all(exc.events)
            self.release()
            raise
        self._append_all(events)
        self.cluster_lock = held
        self._attach_cluster_lock()

    # -- the journal -------------------------------------------------------------------------------------------

    def _append(self, type_: str, data: dict[str, Any]) -> Event:
        return self._append_all([(type_, data)])[0]

    def _append_all(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[Event]:
        """Redact, check and append events (several in one write: all of them reach the disk, or none), fold them,
        then tell the listeners."""
        with self._lock:
            checked = []
            for type_, data in items:
                redacted = self.redactor.redact_data(data)
                # Checked against its type's model before a byte is written (EventDataError); the dict itself is written.
                check_data(type_, redacted)
                checked.append((type_, redacted))
            events = self.journal.append_all(checked) if len(checked) > 1 else [self.journal.append(*checked[0])]
            for event in events:
                apply(self.state, self.runbook, event)
        for event in events:
            for listener in list(self.event_listeners):
                listener(event)
        return events

    @property
    def change_id(self) -> str:
        return self.ref.change_id

    @property
    def events(self) -> list[Event]:
        return self.journal.events

    # -- what next ---------------------------------------------------------------------------------------------

    def next(self) -> Next:
        """What the change needs now; a step whose ``when:`` does not hold is recorded skipped on the way."""
        while True:
            nxt = next_action(self.state, self.runbook, word_for=self.confirm_word, skip_for=self.skip_reason)
            if nxt.kind != "skip" or nxt.item is None or nxt.step is None:
                return nxt
            self._append(ev.STEP_SKIPPED, {"section": nxt.item.section, "step_id": nxt.item.step_id,
                                           "reason": nxt.reason, "when": dict(nxt.step.when or {})})

    def skip_reason(self, step: Step) -> str | None:
        """Why ``step`` is skipped for this change's parameters (its ``when:`` does not hold), or None."""
        return unmet(step.when, {**self.values, "environment": self.environment})

    def clock_factor(self) -> float:
        """The rehearsal clock's speed on a rehearsal environment (1 elsewhere), read once per session."""
        if self._clock is None:
            self._clock = self._clock_asked.result() if self._clock_asked is not None else self._read_clock()
        return self._clock.factor

    def confirm_word(self, step: Step) -> str | None:
        return substitute(step.confirm_word, self.values) if step.confirm_word else None

    def bind(self, item: Item) -> BoundStep:
        """The step of ``item`` bound to this change's values: shown, recorded and run from this one object."""
        step = self.runbook.rollback_step(item.step_id) if item.section == "rollback" else self.runbook.step(item.step_id)
        factor = self.clock_factor() if _timed(step) else 1.0
        return bind(step, item.section, self.values, self.runbook, self.runbook_dir, self.redactor,
                    manifests=manifest_copies(self.journal.events), clock_factor=factor)

    def diff(self, item: Item) -> Preview | None:
        """An apply or restore step's ``kubectl diff`` against the live objects, recorded; run before its confirmation
        so the operator confirms what they saw. None for any other step."""
        bound = self.bind(item)
        if bound.kind not in ("apply", "restore"):
            return None
        return preview_diff(
            bound, change_dir=self.ref.path, env=self.kube.env() if self.kube else dict(os.environ), redactor=self.redactor,
            artifacts=self.state.artifacts, record=lambda data: self._append(ev.ARTIFACT_SAVED, data),
        )

    def command_for(self, item: Item) -> str:
        """The exact command a step runs, parameters filled in and secrets redacted, as shown before it runs."""
        return self.bind(item).display

    def step_text(self, text: str) -> str:
        try:
            return self.redactor.redact(substitute(text, self.values))
        except ParamError:
            return text

    # -- answers -----------------------------------------------------------------------------------------------

    def confirm(self, answer: str, *, by: str | None = None) -> bool:
        """Answer the current step's confirmation; a wrong answer is refused and recorded."""
        nxt = self.next()
        if nxt.kind != "confirm" or nxt.item is None:
            raise SessionError(f"nothing to confirm now (the change needs {nxt.kind})")
        given = (answer or "").strip()
        if nxt.confirm == "yes":
            ok = given.lower() in ("y", "yes")
        else:
            ok = given == (nxt.word or "")
        if not ok:
            # What was typed is kept when it was an attempt at the answer; text that was not (a password typed into
            # the wrong window) never reaches the append-only journal.
            wanted = ("yes", "no") if nxt.confirm == "yes" else (nxt.word or "",)
            self._append(ev.STEP_CONFIRMATION_REFUSED, {"section": nxt.item.section, "step_id": nxt.item.step_id,
                                                        "typed": kept_typing(given, wanted), "by": by or self.operator})
            return False
        self._append(ev.STEP_CONFIRMED, {
            "section": nxt.item.section, "step_id": nxt.item.step_id, "method": nxt.confirm,
            "word": nxt.word if nxt.confirm == "typed" else "yes", "by": by or self.operator,
        })
        return True

    def answer_manual(self, answer: str, note: str = "") -> None:
        nxt = self.next()
        if nxt.kind != "manual" or nxt.item is None or nxt.step is None:
            raise SessionError(f"no manual step is waiting (the change needs {nxt.kind})")
        if answer not in ("done", "no"):
            raise SessionError("a manual step is answered done or no")
        self._append(ev.STEP_STARTED, {"section": nxt.item.section, "step_id": nxt.item.step_id, "title": nxt.step.title, "kind": "manual",
                                       "command": "", "argv": [], "attempt": self.state.attempts.get(nxt.item.step_id, 0) + 1})
        self._append(ev.MANUAL_ANSWERED,
                     {"section": nxt.item.section, "step_id": nxt.item.step_id, "answer": answer, "note": note, "by": self.operator})
        if nxt.step.capture == "artifact" and note:
            self._save_artifact(nxt.item, f"{nxt.item.step_id}.txt", (note + "\n").encode(),
                                "backup" if nxt.step.backup else "evidence", nxt.step.title)

    def approve(self, name: str, role: str, reference: str = "") -> None:
        nxt = self.next()
        if nxt.kind != "approval" or nxt.item is None or nxt.step is None:
            raise SessionError(f"no approval step is waiting (the change needs {nxt.kind})")
        if not name.strip():
            raise SessionError("an approval needs the approver's name")
        if nxt.step.role and role != nxt.step.role:
            raise SessionError(f"step {nxt.step.id} needs approval by the role {nxt.step.role!r}, not {role!r}")
        self._append(ev.APPROVAL_RECORDED,
                     {"section": nxt.item.section, "step_id": nxt.item.step_id, "name": name, "role": role, "reference": reference})

    def choose(self, choice: str, *, by: str | None = None, reason: str = "", approver: str = "") -> None:
        """Answer a failure: retry, rollback, continue (break-glass: reason and approver) or abort."""
        nxt = self.next()
        if nxt.kind != "failure" or nxt.item is None:
            raise SessionError(f"no failure is waiting for a decision (the change needs {nxt.kind})")
        if choice not in nxt.options:
            raise SessionError(f"{choice!r} is not a choice here ({', '.join(nxt.options)})")
        who = by or self.operator
        if choice == "continue":
            if len(reason.strip()) < 5 or not approver.strip():
                raise SessionError("continuing past a failure is break-glass: give a reason and the approver's name")
            what = "gate failed" if nxt.item.section == "gate" else f"{nxt.item.section} failed"
            self._append(ev.BREAKGLASS_RECORDED, {
                "reason": reason, "approver": approver, "what": f"continue after {what}: {nxt.item.step_id}",
                "step_id": nxt.item.step_id, "failure": nxt.reason,
            })
        self._append(ev.FAILURE_CHOICE, {"section": nxt.item.section, "step_id": nxt.item.step_id, "choice": choice, "by": who})
        if choice == "rollback":
            self.start_rollback(f"{nxt.item.step_id} failed: {nxt.reason}")

    def start_rollback(self, reason: str, *, automatic: bool = False) -> None:
        queue = rollback_queue(self.runbook, self.state)
        self._append(ev.ROLLBACK_STARTED, {"reason": reason, "steps": queue, **({"automatic": True} if automatic else {})})

    @property
    def rollback_countdown_s(self) -> int:
        """Seconds an automatic rollback waits for the operator to hold it (policy; 0 for unattended runs)."""
        return self.policy.rollback.countdown_s

    def auto_rollback(self, *, countdown_s: float) -> None:
        """The countdown of a step with ``on_failure: rollback`` ended unheld: roll back, recorded as the console's
        own decision; its rollback steps then run without waiting for a confirmation."""
        nxt = self.next()
        if nxt.kind != "failure" or nxt.item is None or not nxt.auto_rollback:
            raise SessionError(f"no automatic rollback is due (the change needs {nxt.kind})")
        self._append(ev.FAILURE_CHOICE, {
            "section": nxt.item.section, "step_id": nxt.item.step_id, "choice": "rollback",
            "by": "console (on_failure: rollback)", "automatic": True, "countdown_s": round(countdown_s, 1),
        })
        self.start_rollback(f"{nxt.item.step_id} failed: {nxt.reason}", automatic=True)

    def hold_rollback(self, *, by: str | None = None) -> None:
        """The operator stops an automatic rollback's countdown; the failure then waits for their choice."""
        nxt = self.next()
        if nxt.kind != "failure" or nxt.item is None or not nxt.auto_rollback:
            raise SessionError(f"no automatic rollback is counting down (the change needs {nxt.kind})")
        self._append(ev.FAILURE_HELD, {"section": nxt.item.section, "step_id": nxt.item.step_id, "by": by or self.operator})

    def finish_rollback(self) -> None:
        nxt = self.next()
        if nxt.kind != "finish_rollback":
            raise SessionError(f"the rollback is not finished (the change needs {nxt.kind})")
        self._append(ev.ROLLBACK_FINISHED, {"status": "done"})

    def add_note(self, text: str, *, step_id: str | None = None) -> None:
        item = self.state.current
        self._append(ev.NOTE_ADDED, {"step_id": step_id or (item.step_id if item else None), "text": text, "author": self.operator})

    def check_escalations(self) -> list[str]:
        """Record escalation deadlines passed since the current failure; returns the levels newly passed."""
        f = self.state.failure
        if f is None:
            return []
        failed_at = parse_ts(f.at)
        recorded = {
            e.data.get("level") for e in self.journal.events
            if e.type == ev.ESCALATION_PASSED and e.data.get("failed_at") == f.at
        }
        new = []
        for lvl in pol.passed_escalations(self.policy, failed_at, self.clock()):
            if lvl.level not in recorded:
                self._append(ev.ESCALATION_PASSED, {"level": lvl.level, "minutes": lvl.minutes, "step_id": f.step_id, "failed_at": f.at})
                new.append(lvl.level)
                template = self.policy.escalation.notify.get(lvl.key)
                if template:
                    self._notify(lvl, template, f.step_id, f.at)
        return new

    def _notify(self, lvl: pol.EscalationLevel, template: list[str], step_id: str, failed_at: str) -> None:
        """Run policy's notification command for a passed deadline on a thread of its own; record what it did."""
        fields = {
            "change_id": self.change_id, "step_id": step_id, "level": lvl.level, "minutes": str(lvl.minutes),
            "deadline": lvl.due.strftime("%Y-%m-%dT%H:%M:%SZ"), "environment": self.environment,
            "operator": self.operator, "failed_at": failed_at,
        }
        argv = pol.notify_argv(template, fields)

        def notify() -> None:
            result = run_notify(argv, redactor=self.redactor)
            self._append(ev.ESCALATION_NOTIFIED, {"level": lvl.level, "step_id": step_id, "failed_at": failed_at, **result})

        thread = threading.Thread(target=notify, name=f"notify-{lvl.key}", daemon=True)
        self._notifiers.append(thread)
        thread.start()

    def wait_for_notifications(self, timeout: float = NOTIFY_TIMEOUT_S + 5) -> None:
        """Let running notification commands finish and be recorded (each has its own time limit)."""
        for thread in list(self._notifiers):
            thread.join(timeout)

    # -- running -----------------------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop the step that is running (its whole process group); it ends as failed: cancelled."""
        self._cancel.set()

    def run(self, *, listeners: Sequence[Listener] = ()) -> StepOutcome:
        """Run the current step (it must be confirmed already) and record how it ended."""
        nxt = self.next()
        if nxt.kind != "run" or nxt.item is None or nxt.step is None:
            raise SessionError(f"no step is ready to run (the change needs {nxt.kind})")
        item, step = nxt.item, nxt.step
        self._cancel.clear()
        if self.cluster_lock is not None and step.is_mutating:
            self.cluster_lock.before_mutating_step(step.id, self._cancel)  # waits while unreachable; raises if lost
        if item.section == "step" and "before" not in self._snapshots_taken():
            self.snapshot_cluster("before")
        bound = self.bind(item)
        tries = step.retry.attempts if step.retry else 1
        for n in range(1, tries + 1):
            outcome, retrying = self._run_once(item, step, bound, listeners, (n, tries))
            if not retrying:
                return outcome
            if self._cancel.wait(bound.timing.interval_s or 0):
                # Cancelled between two tries: the step ends failed, as a cancel during a try would end it.
                self._append(ev.STEP_FINISHED, {
                    "section": item.section, "step_id": step.id, "status": "failed",
                    "reason": f"cancelled by the operator after try {n} of {tries} ({outcome.reason})",
                })
                return StepOutcome(False, "cancelled by the operator", tail=outcome.tail)
        raise AssertionError("unreachable: the last try returns")

    def _run_once(self, item: Item, step: Step, bound: BoundStep, listeners: Sequence[Listener],
                  tried: tuple[int, int]) -> tuple[StepOutcome, bool]:
        """One run of the step (one try of a step with retry), recorded from its start to its end; and whether
        another try follows (recorded with its end, so a reader of the journal knows it is not the step's failure)."""
        n, tries = tried
        attempt = self.state.attempts.get(step.id, 0) + 1
        timing = bound.timing.record()
        self._append(ev.STEP_STARTED, {
            "section": item.section, "step_id": step.id, "title": bound.title, "kind": step.kind,
            "command": bound.display, "argv": list(bound.argv), "namespace": bound.namespace,
            **({"target": bound.target} if bound.target else {}), "attempt": attempt,
            **({"manifest": dict(bound.manifest)} if bound.manifest else {}),
            **({"namespaces": [bound.namespace, *bound.watch_namespaces]} if bound.watch_namespaces else {}),
            **({"retry": {"try": n, "of": tries, "interval_s": bound.timing.interval_s}} if tries > 1 else {}),
            **({"timing": timing} if timing else {}),
        })
        ctx = StepContext(
            bound=bound, item=item, runbook=self.runbook,
            change_dir=self.ref.path, output_path=self.store.next_output_path(self.ref, step.id),
            redactor=self.redactor, env=self.kube.env() if self.kube else dict(os.environ), cancel=self._cancel,
            listeners=list(listeners), started=self.clock(), artifacts=self.state.artifacts,
            now=self.clock,
        )
        began = time.monotonic()
        outcome = run_step(ctx)
        # The step's duration is the wall-clock time from its start event to its end, as the record's times show it;
        # a command's own run time (from its process start to its exit) is kept beside it.
        took = time.monotonic() - began
        rel = outcome.output_path.relative_to(self.ref.path).as_posix() if outcome.output_path else None
        # Another try follows a failed one unless it was the last, a trigger fired or the operator cancelled.
        retrying = not outcome.passed and n < tries and not outcome.trigger and not self._cancel.is_set()
        for art in outcome.artifacts:
            self._append(ev.ARTIFACT_SAVED, {"section": item.section, "step_id": step.id, **art})
        self._append(ev.STEP_FINISHED, {
            "section": item.section, "step_id": step.id, "status": "passed" if outcome.passed else "failed",
            "exit_code": outcome.exit_code, "duration_s": round(took, 3),
            **({"process_s": round(outcome.duration_s, 3)} if outcome.exit_code is not None else {}), "reason": outcome.reason,
            "lines": outcome.lines, **({"file": {"path": rel, "sha256": outcome.output_sha256}} if rel else {}),
            **({"trigger": outcome.trigger} if outcome.trigger else {}),
            **({"retrying": True} if retrying else {}),
        })
        if outcome.trigger:
            self._append(ev.TRIGGER_FIRED, outcome.trigger)
        # A runbook may let a step or a check go on after failing; preconditions and gates never do by themselves.
        if not outcome.passed and not retrying and step.on_failure == "continue" and item.section in ("step", "verification"):
            self._append(ev.FAILURE_CHOICE,
                         {"section": item.section, "step_id": step.id, "choice": "continue", "by": "runbook (on_failure: continue)"})
        return outcome, retrying

    def _save_artifact(self, item: Item, name: str, data: bytes, kind: str, description: str) -> None:
        text = self.redactor.redact(data.decode("utf-8", "replace")).encode()
        self._append(ev.ARTIFACT_SAVED, {
            "section": item.section, "step_id": item.step_id, "kind": kind, "description": description,
            "file": write_artifact(self.ref.path, name, text),
        })

    # -- the cluster before and after ---------------------------------------------------------------------------

    def _snapshots_taken(self) -> set[str | None]:
        return {e.data.get("when") for e in self.journal.events if e.type == ev.CLUSTER_SNAPSHOT}

    def touches_cluster(self) -> bool:
        """Whether any step talks to the cluster (kubectl, rollout waits, observe windows)."""
        return touches_cluster(self.runbook)

    def snapshot_cluster(self, when: str) -> None:
        """Record a summary of the cluster (before the first step, after the last) when the runbook touches one."""
        if self.kube is None or not self.touches_cluster():
            return
        self._append(ev.CLUSTER_SNAPSHOT, {"when": when, "summary": take_summary(self.kube.env(), self.namespaces(), self.clock())})

    def namespaces(self) -> list[str]:
        """Every namespace a step of the runbook names (forward and rollback), the change's own first."""
        return list(self._namespaces)

    @cached_property
    def _namespaces(self) -> tuple[str, ...]:
        # Bound once per change: its values are fixed when it opens, so the snapshots before and after share one binding.
        found = [self.values["namespace"]]
        for section, steps in self.runbook.sections():
            for step in steps:
                try:
                    found.extend(bind(step, section, self.values, self.runbook, self.runbook_dir).namespaces())
                except ParamError:
                    continue
        return tuple(dict.fromkeys(found))

    # -- the end -----------------------------------------------------------------------------------------------

    def close(self, outcome: str, *, followups: Sequence[str] = (), signoff_name: str = "", signoff_role: str = "") -> str:
        """Close the change, render record.md, release the lock; returns the final chain hash to keep elsewhere."""
        nxt = self.next()
        if nxt.kind != "close":
            raise SessionError(f"the change cannot close yet (it needs {nxt.kind})")
        if outcome not in ev.OUTCOMES:
            raise SessionError(f"outcome must be one of {', '.join(ev.OUTCOMES)}")
        self.wait_for_notifications()  # their results belong in the record, before it closes
        taken = self._snapshots_taken()
        if "before" in taken and "after" not in taken:
            self.snapshot_cluster("after")
        collect_evidence(self, append=self._append, cancel=self._cancel)
        self._let_go_of_cluster(record=False)  # closed, the change holds nothing; the record ends at change.closed
        self._append(ev.CHANGE_CLOSED, {
            "outcome": outcome, "suggested": nxt.suggested, "followups": [f for f in followups if f.strip()],
            "signoff": {"name": signoff_name or self.operator, "role": signoff_role or "operator"},
        })
        head = self.journal.head
        discard_saved_plans(self.ref.path, self.events)  # closed, its saved plans (secrets in plain text) will never be applied
        render_to_disk(self.store, self.ref)
        self.release()
        # After the lock is released: the record is complete on this disk whatever the remote says.
        self.shared = publish(self.store, self.ref, f"{self.change_id}: closed, {outcome}")
        return head

    def _let_go_of_cluster(self, *, record: bool) -> None:
        held, self.cluster_lock = self.cluster_lock, None
        if held is not None:
            held.release(record=record)

    def release(self) -> None:
        """Let go of the lock and the private kubeconfig (the change can be resumed later)."""
        self.wait_for_notifications()
        self._let_go_of_cluster(record=not self.journal.closed)
        self.journal.close()
        self.lock.release()
        if self.kube is not None:
            self.kube.close()
            self.kube = None


def _timed(step: Step) -> bool:
    """Whether the step declares a duration the rehearsal clock would scale (so its factor is worth asking for)."""
    return step.duration is not None or step.timeout is not None or step.retry is not None


def _in_background(work: Callable[[], T], name: str) -> Future[T]:
    """``work()`` on a daemon thread of its own; its result (or exception) in the returned future."""
    done: Future[T] = Future()

    def run() -> None:
        try:
            done.set_result(work())
        except Exception as exc:  # noqa: BLE001 - not swallowed: whoever asks for the result gets it raised
            done.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return done
