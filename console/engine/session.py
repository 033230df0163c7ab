"""The change session: the one writer of a change's journal, and the API every driver uses (screens, line mode, tests).

The session decides, appends an event (fsynced), folds it into its state, and only then reports the effect. It
holds the change's lock for its whole life, pins the kube context into a private kubeconfig for every command,
and redacts every value before it is written. A driver asks ``next()`` what the change needs and answers with
``confirm``, ``run``, ``answer_manual``, ``approve``, ``choose``, ``finish_rollback`` and ``close``.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from console.config import Policy
from console.engine import policy as pol
from console.engine.admission import PolicyRefused, SessionError, StartRequest, evaluate_policy
from console.engine.binding import BoundStep, ChangeIdentity, bind, identify
from console.engine.evidence import collect_evidence
from console.engine.kubecontext import KubeconfigError, PinnedKubeconfig
from console.engine.redact import Redactor
from console.engine.runbook_secrets import literal_secrets
from console.engine.runner import Listener
from console.engine.state import Item, Next, State, apply, fold, next_action, rollback_queue
from console.engine.steps import StepContext, StepOutcome, run_step, write_artifact
from console.journal import events as ev
from console.journal.audit import refuse
from console.journal.cast import sha256_file
from console.journal.journal import Event, Journal
from console.journal.records import render_to_disk
from console.journal.store import ChangeLock, ChangeRef, RecordStore
from console.journal.summary import parse_ts
from console.runbook.lint import lint
from console.runbook.loader import LoadedRunbook, RunbookError, load_runbook, load_runbook_text
from console.runbook.models import Step
from console.runbook.params import ParamError, resolve, secret_values, substitute

NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

__all__ = ["ChangeSession", "PolicyRefused", "SessionError", "StartRequest", "evaluate_policy", "utcnow"]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


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
    ) -> None:
        self.store = store
        self.ref = ref
        self.journal = journal
        self.lock = lock
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
        self.state: State = fold(self.runbook, journal.events)
        self.event_listeners: list[Callable[[Event], None]] = []
        self._cancel = threading.Event()
        self._lock = threading.RLock()

    # -- construction ------------------------------------------------------------------------------------------

    @classmethod
    def start(cls, request: StartRequest, *, store: RecordStore, policy: Policy, clock: Clock = utcnow) -> ChangeSession:
        """Check everything, then create the change and write its opening events; raises PolicyRefused or SessionError.

        A start refused before the change exists leaves its trace in the store's log of refused starts.
        """
        seen: list[LoadedRunbook] = []
        try:
            loaded, verdicts, base_values, kube, identity, emergency = _admit(request, store, policy, clock, seen)
        except (RunbookError, SessionError) as exc:
            problem = refuse(
                store, request, seen[0] if seen else request.runbook_path, str(exc), getattr(exc, "verdicts", []),
                Redactor((), policy.redaction.patterns).redact, clock=clock,
            )
            if problem:
                exc.args = (f"{exc.args[0]} ({problem})", *exc.args[1:])
            raise
        now = clock()
        redactor = Redactor(secret_values(loaded.runbook, base_values), policy.redaction.patterns)
        md = loaded.runbook.metadata
        ref = store.create_change(component=md.component, from_version=identity.from_version, to_version=identity.to_version, when=now)
        try:
            lock = store.lock(ref, who=request.operator)
            runbook_copy = ref.path / "artifacts" / "runbook.yaml"
            # The copy is what resume runs from; it is redacted like everything else under the change.
            runbook_copy.write_text(redactor.redact(loaded.text), encoding="utf-8")
            journal = Journal.create(store.journal_path(ref), clock=clock)
        except BaseException:
            kube.close()
            raise
        values = {**base_values, **_builtins(request.context, request.environment, ref, loaded)}
        session = cls(
            store=store, ref=ref, journal=journal, lock=lock, loaded=loaded, runbook_dir=loaded.directory.resolve(),
            policy=policy, values=values, redactor=redactor, kube=kube, operator=request.operator,
            environment=request.environment, context=request.context, clock=clock,
        )
        declared = loaded.runbook.params
        shown = {n: ("[REDACTED]" if n in declared and declared[n].secret else v) for n, v in base_values.items()}
        session._append(ev.CHANGE_CREATED, {
            "change_id": ref.change_id,
            "runbook": {
                "id": md.id, "title": identity.title, "component": md.component, "from": identity.from_version,
                "to": identity.to_version, "risk": md.risk, "path": str(loaded.path.resolve()), "sha256": loaded.sha256,
            },
            "file": {"path": "artifacts/runbook.yaml", "sha256": sha256_file(runbook_copy)},
            "environment": request.environment,
            "context": request.context,
            "operator": request.operator,
            "description": request.description or identity.why,
            "scope": identity.scope,
            "blast_radius": identity.blast_radius,
            "emergency": emergency,
            "host": socket.gethostname(),
        })
        session._append(ev.PARAMS_SET, {"params": shown})
        session._append(ev.POLICY_CHECKED, {"checks": [v.as_dict() for v in verdicts]})
        for a in request.approvals:
            session._append(ev.APPROVAL_RECORDED, {"name": a.name, "role": a.role, "reference": a.reference})
        if emergency:
            overridden = ", ".join(v.name for v in verdicts if not v.ok) or "none"
            session._append(ev.BREAKGLASS_RECORDED, {
                "reason": request.emergency_reason, "approver": request.emergency_approver,
                "what": f"emergency change (overrides: {overridden})",
            })
        return session

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
    ) -> ChangeSession:
        """Rebuild a change from its journal; a step that was running is recorded as interrupted, never done."""
        from console.journal.journal import TornTailError

        ref = store.find(change_id)
        lock = store.lock(ref, who=operator)
        try:
            path = store.journal_path(ref)
            try:
                journal = Journal.open(path, clock=clock)
            except TornTailError:
                if not recover_torn_tail:
                    raise
                journal = Journal.recover_torn_tail(path, clock=clock)
            created = next((e for e in journal.events if e.type == ev.CHANGE_CREATED), None)
            if created is None:
                raise SessionError(f"{change_id}: the journal has no change.created event")
            if any(e.type == ev.CHANGE_CLOSED for e in journal.events):
                raise SessionError(f"{change_id} is closed; nothing to resume (add an addendum to correct it)")
            rb_file = ref.path / "artifacts" / "runbook.yaml"
            if sha256_file(rb_file) != created.data["file"]["sha256"]:
                raise SessionError(f"{rb_file}: the runbook copy does not match the journal")
            original = Path(created.data["runbook"]["path"])
            loaded = load_runbook_text(rb_file.read_text(encoding="utf-8"), original)
            recorded = {}
            for e in journal.events:
                if e.type == ev.PARAMS_SET:
                    recorded.update(e.data["params"])
            given = {k: v for k, v in recorded.items() if v != "[REDACTED]"}
            given.update(params or {})
            missing = [n for n, p in loaded.runbook.params.items() if p.secret and n not in (params or {})]
            if missing:
                raise SessionError(f"{change_id}: secret parameter(s) {', '.join(missing)} are not on record; give them again with --param")
            given, namespace_given = _split_namespace(loaded.runbook, given)
            base_values = resolve(loaded.runbook, given)
            context = created.data["context"]
            environment = created.data["environment"]
            verdict = pol.check_context(policy, environment, context)
            if not verdict.ok:
                raise PolicyRefused(f"context guard: {verdict.message}", [verdict])
            kube = PinnedKubeconfig(context, explicit=kubeconfig)
            base_values["namespace"] = _namespace(base_values.get("namespace") or namespace_given or kube.namespace)
        except BaseException:
            lock.release()
            raise
        redactor = Redactor(secret_values(loaded.runbook, base_values), policy.redaction.patterns)
        values = {**base_values, **_builtins(context, environment, ref, loaded)}
        session = cls(
            store=store, ref=ref, journal=journal, lock=lock, loaded=loaded, runbook_dir=original.parent,
            policy=policy, values=values, redactor=redactor, kube=kube, operator=operator,
            environment=environment, context=context, clock=clock,
        )
        # A new session: confirmations typed in an earlier one no longer count (the fold clears them).
        session._append(ev.SESSION_RESUMED, {"operator": operator, "host": socket.gethostname(), "pid": os.getpid()})
        if session.state.running is not None:
            item = session.state.running
            partial = _unrecorded_output(ref, journal.events, item.step_id)
            session._append(ev.STEP_INTERRUPTED, {
                "section": item.section, "step_id": item.step_id,
                "reason": "the console stopped while the step ran; confirm again to rerun it",
                # What the step printed before the stop is on disk but in no event yet: hash it into the record.
                **({"file": partial} if partial else {}),
            })
        return session

    # -- the journal -------------------------------------------------------------------------------------------

    def _append(self, type_: str, data: dict[str, Any]) -> Event:
        with self._lock:
            event = self.journal.append(type_, self.redactor.redact_data(data))
            apply(self.state, self.runbook, event)
        for listener in list(self.event_listeners):
            listener(event)
        return event

    @property
    def change_id(self) -> str:
        return self.ref.change_id

    @property
    def events(self) -> list[Event]:
        return self.journal.events

    # -- what next ---------------------------------------------------------------------------------------------

    def next(self) -> Next:
        return next_action(self.state, self.runbook, word_for=self.confirm_word)

    def confirm_word(self, step: Step) -> str | None:
        return substitute(step.confirm_word, self.values) if step.confirm_word else None

    def bind(self, item: Item) -> BoundStep:
        """The step of ``item`` bound to this change's values: shown, recorded and run from this one object."""
        step = self.runbook.rollback_step(item.step_id) if item.section == "rollback" else self.runbook.step(item.step_id)
        return bind(step, item.section, self.values, self.runbook, self.runbook_dir, self.redactor)

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
            self._append(ev.STEP_CONFIRMATION_REFUSED, {"section": nxt.item.section, "step_id": nxt.item.step_id, "typed": given, "by": by or self.operator})
            return False
        self._append(ev.STEP_CONFIRMED, {
            "section": nxt.item.section, "step_id": nxt.item.step_id, "method": nxt.confirm,
            "word": nxt.word if nxt.confirm == "typed" else "yes", "by": by or self.operator,
        })
        return True

    def answer_manual(self, answer: str, note: str = "") -> None:
        nxt = self.next()
        if nxt.kind != "manual" or nxt.item is None:
            raise SessionError(f"no manual step is waiting (the change needs {nxt.kind})")
        if answer not in ("done", "no"):
            raise SessionError("a manual step is answered done or no")
        self._append(ev.STEP_STARTED, {"section": nxt.item.section, "step_id": nxt.item.step_id, "title": nxt.step.title, "kind": "manual", "command": "", "argv": [], "attempt": self.state.attempts.get(nxt.item.step_id, 0) + 1})
        self._append(ev.MANUAL_ANSWERED, {"section": nxt.item.section, "step_id": nxt.item.step_id, "answer": answer, "note": note, "by": self.operator})
        if nxt.step.capture == "artifact" and note:
            self._save_artifact(nxt.item, f"{nxt.item.step_id}.txt", (note + "\n").encode(), "backup" if nxt.step.backup else "evidence", nxt.step.title)

    def approve(self, name: str, role: str, reference: str = "") -> None:
        nxt = self.next()
        if nxt.kind != "approval" or nxt.item is None:
            raise SessionError(f"no approval step is waiting (the change needs {nxt.kind})")
        if not name.strip():
            raise SessionError("an approval needs the approver's name")
        if nxt.step.role and role != nxt.step.role:
            raise SessionError(f"step {nxt.step.id} needs approval by the role {nxt.step.role!r}, not {role!r}")
        self._append(ev.APPROVAL_RECORDED, {"section": nxt.item.section, "step_id": nxt.item.step_id, "name": name, "role": role, "reference": reference})

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
        return new

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
        if item.section == "step" and "before" not in self._snapshots_taken():
            self.snapshot_cluster("before")
        attempt = self.state.attempts.get(step.id, 0) + 1
        bound = self.bind(item)
        self._append(ev.STEP_STARTED, {
            "section": item.section, "step_id": step.id, "title": bound.title, "kind": step.kind,
            "command": bound.display, "argv": list(bound.argv), "namespace": bound.namespace,
            **({"target": bound.target} if bound.target else {}), "attempt": attempt,
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
        for art in outcome.artifacts:
            self._append(ev.ARTIFACT_SAVED, {"section": item.section, "step_id": step.id, **art})
        self._append(ev.STEP_FINISHED, {
            "section": item.section, "step_id": step.id, "status": "passed" if outcome.passed else "failed",
            "exit_code": outcome.exit_code, "duration_s": round(took, 3),
            **({"process_s": round(outcome.duration_s, 3)} if outcome.exit_code is not None else {}), "reason": outcome.reason,
            "lines": outcome.lines, **({"file": {"path": rel, "sha256": outcome.output_sha256}} if rel else {}),
            **({"trigger": outcome.trigger} if outcome.trigger else {}),
        })
        if outcome.trigger:
            self._append(ev.TRIGGER_FIRED, outcome.trigger)
        # A runbook may let a step or a check go on after failing; preconditions and gates never do by themselves.
        if not outcome.passed and step.on_failure == "continue" and item.section in ("step", "verification"):
            self._append(ev.FAILURE_CHOICE, {"section": item.section, "step_id": step.id, "choice": "continue", "by": "runbook (on_failure: continue)"})
        return outcome

    def _save_artifact(self, item: Item, name: str, data: bytes, kind: str, description: str) -> None:
        text = self.redactor.redact(data.decode("utf-8", "replace")).encode()
        self._append(ev.ARTIFACT_SAVED, {
            "section": item.section, "step_id": item.step_id, "kind": kind, "description": description,
            "file": write_artifact(self.ref.path, name, text),
        })

    # -- the cluster before and after ---------------------------------------------------------------------------

    def _snapshots_taken(self) -> set[str]:
        return {e.data.get("when") for e in self.journal.events if e.type == ev.CLUSTER_SNAPSHOT}

    def touches_cluster(self) -> bool:
        """Whether any step talks to the cluster (kubectl, rollout waits, observe windows)."""
        from console.engine.clusterwait import touches_cluster

        return touches_cluster(self.runbook)

    def snapshot_cluster(self, when: str) -> None:
        """Record a summary of the cluster (before the first step, after the last) when the runbook touches one."""
        if self.kube is None or not self.touches_cluster():
            return
        from console.engine.snapshot import take_summary

        self._append(ev.CLUSTER_SNAPSHOT, {"when": when, "summary": take_summary(self.kube.env(), self.namespaces(), self.clock())})

    def namespaces(self) -> list[str]:
        """Every namespace a step of the runbook names (forward and rollback), the change's own first."""
        found = [self.values["namespace"]]
        for section, steps in self.runbook.sections():
            for step in steps:
                try:
                    found.extend(bind(step, section, self.values, self.runbook, self.runbook_dir).namespaces())
                except ParamError:
                    continue
        return list(dict.fromkeys(found))

    # -- the end -----------------------------------------------------------------------------------------------

    def close(self, outcome: str, *, followups: Sequence[str] = (), signoff_name: str = "", signoff_role: str = "") -> str:
        """Close the change, render record.md, release the lock; returns the final chain hash to keep elsewhere."""
        nxt = self.next()
        if nxt.kind != "close":
            raise SessionError(f"the change cannot close yet (it needs {nxt.kind})")
        if outcome not in ev.OUTCOMES:
            raise SessionError(f"outcome must be one of {', '.join(ev.OUTCOMES)}")
        taken = self._snapshots_taken()
        if "before" in taken and "after" not in taken:
            self.snapshot_cluster("after")
        collect_evidence(self, append=self._append, cancel=self._cancel)
        self._append(ev.CHANGE_CLOSED, {
            "outcome": outcome, "suggested": nxt.suggested, "followups": [f for f in followups if f.strip()],
            "signoff": {"name": signoff_name or self.operator, "role": signoff_role or "operator"},
        })
        head = self.journal.head
        render_to_disk(self.store, self.ref)
        self.release()
        return head

    def release(self) -> None:
        """Let go of the lock and the private kubeconfig (the change can be resumed later)."""
        self.journal.close()
        self.lock.release()
        if self.kube is not None:
            self.kube.close()
            self.kube = None


def _unrecorded_output(ref: ChangeRef, events: Sequence[Event], step_id: str) -> dict[str, str] | None:
    """The newest output file of ``step_id`` that no event references (the one a crash left behind), if any."""
    from console.journal.store import sanitise

    referenced = {e.data["file"].get("path") for e in events if isinstance(e.data.get("file"), dict)}
    name = re.compile(rf"^(\d{{3,}})-{re.escape(sanitise(step_id))}\.cast$")
    found = [(int(m.group(1)), p) for p in (ref.path / "outputs").glob("*.cast") if (m := name.match(p.name))]
    for _n, path in sorted(found, reverse=True):
        rel = path.relative_to(ref.path).as_posix()
        if rel not in referenced:
            return {"path": rel, "sha256": sha256_file(path)}
        break  # the newest is already recorded: this run never got as far as its output
    return None


def _builtins(context: str, environment: str, ref: ChangeRef, loaded: LoadedRunbook) -> dict[str, str]:
    return {
        "context": context,
        "environment": environment,
        "change_id": ref.change_id,
        "change_dir": str(ref.path.resolve()),
        "runbook_dir": str(loaded.directory.resolve()),
    }


def _split_namespace(runbook, params: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """``namespace`` is a built-in parameter: a runbook may declare it (then it is resolved like any other), else a
    value given for it is taken as the change's namespace."""
    if "namespace" in runbook.params or "namespace" not in params:
        return dict(params), None
    rest = dict(params)
    return rest, str(rest.pop("namespace"))


def _namespace(value: str) -> str:
    if not NAMESPACE.match(value):
        raise SessionError(f"namespace {value!r} is not a valid Kubernetes namespace name (lower-case letters, digits and -)")
    return value


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None  # unreadable now: load_runbook says why


def _admit(request: StartRequest, store: RecordStore, policy: Policy, clock: Clock, seen: list[LoadedRunbook]):
    """Everything a start checks before the change exists; raises RunbookError, PolicyRefused or SessionError.
    The loaded runbook is put in ``seen`` as soon as it loads, so a refusal can name it."""
    given = request.loaded
    fresh = given is not None and given.path == Path(request.runbook_path) and _file_sha256(given.path) == given.sha256
    loaded = given if fresh else load_runbook(request.runbook_path)
    seen.append(loaded)
    findings = lint(loaded)
    if findings:
        raise SessionError(f"{request.runbook_path}: the runbook breaks authoring rules ({findings[0]}); run opsconsole lint")
    # Resume runs the record's (redacted) copy of the runbook: command text redaction would change cannot be run.
    literals = literal_secrets(loaded, Redactor((), policy.redaction.patterns))
    if literals:
        raise RunbookError(literals)
    now = clock()
    verdicts = evaluate_policy(request, loaded, policy, store, now)
    emergency = bool(request.emergency_reason)
    blocking = [v for v in verdicts if not v.ok and not (v.overridable and emergency)]
    if blocking:
        hint = " (mark the change as an emergency to override)" if all(v.overridable for v in blocking) else ""
        raise PolicyRefused(f"{blocking[0].name}: {blocking[0].message}{hint}", verdicts)
    if emergency and not (request.emergency_approver or "").strip():
        raise PolicyRefused("an emergency change needs the name of who approved the break-glass", verdicts)
    params, namespace_given = _split_namespace(loaded.runbook, request.params)
    try:
        base_values = resolve(loaded.runbook, params)
    except ParamError as exc:
        raise SessionError(str(exc)) from None
    for name, p in loaded.runbook.params.items():
        if p.secret and name in base_values and len(base_values[name]) < 4:
            raise SessionError(f"parameter {name}: a secret shorter than 4 characters cannot be redacted reliably")
    try:
        kube = PinnedKubeconfig(request.context, explicit=request.kubeconfig)
    except KubeconfigError as exc:
        raise SessionError(str(exc)) from None

    try:
        base_values["namespace"] = _namespace(base_values.get("namespace") or namespace_given or kube.namespace)
        identity = identify(loaded.runbook, {**base_values, "context": request.context, "environment": request.environment})
    except (ParamError, SessionError) as exc:
        kube.close()
        raise SessionError(str(exc)) from None
    return loaded, verdicts, base_values, kube, identity, emergency
