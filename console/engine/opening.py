"""Opening a change: the checks a start makes before the change exists, creating its record or re-opening it from
its journal, and the events that open it.

``open_change`` is ``ChangeSession.start`` and ``reopen_change`` is ``ChangeSession.resume`` up to the session
itself: each returns an :class:`Opened` with everything the session is built from and the events it appends
first. The session appends them (redacted, fsynced, folded), so it stays the one writer of the journal, and
nothing here needs the session. What a start must have and policy's verdicts on it are in ``admission.py``.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from console.config import Policy
from console.engine import policy as pol
from console.engine.admission import PolicyRefused, SessionError, StartRequest, evaluate_policy
from console.engine.binding import ChangeIdentity, identify
from console.engine.change_lock import ClusterLock, LockRefused, for_change
from console.engine.kubecontext import KubeconfigError, PinnedKubeconfig
from console.engine.redact import Redactor
from console.engine.runbook_secrets import literal_secrets
from console.engine.state import Item
from console.journal import events as ev
from console.journal.audit import refuse
from console.journal.cast import sha256_file
from console.journal.journal import Event, Journal, TornTailError
from console.journal.store import ChangeLock, ChangeRef, RecordStore, sanitise
from console.runbook.lint import lint
from console.runbook.loader import LoadedRunbook, RunbookError, load_runbook, load_runbook_text
from console.runbook.models import Runbook
from console.runbook.params import ParamError, resolve, secret_values

NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

Clock = Callable[[], datetime]


@dataclass
class Opened:
    """A change ready to be driven: what its ``ChangeSession`` is built from (``parts()``), and the events the
    session appends before anything else (``events``, in order)."""

    store: RecordStore
    ref: ChangeRef
    journal: Journal
    lock: ChangeLock
    loaded: LoadedRunbook
    runbook_dir: Path
    policy: Policy
    values: dict[str, str]
    redactor: Redactor
    kube: PinnedKubeconfig | None
    operator: str
    environment: str
    context: str
    clock: Clock
    cluster_lock: ClusterLock | None = None  # the Lease held on the cluster the change acts on (change_lock.py)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def parts(self) -> dict[str, Any]:
        """The session's constructor arguments."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "events"}


def open_change(request: StartRequest, *, store: RecordStore, policy: Policy, clock: Clock) -> Opened:
    """Check everything, then create the change (its directory, lock, runbook copy and journal); raises
    PolicyRefused or SessionError.

    A start refused before the change exists leaves its trace in the store's log of refused starts.
    """
    seen: list[LoadedRunbook] = []

    def refused(exc: Exception) -> None:
        problem = refuse(
            store, request, seen[0] if seen else request.runbook_path, str(exc), getattr(exc, "verdicts", []),
            Redactor((), policy.redaction.patterns).redact, clock=clock,
        )
        if problem:
            exc.args = (f"{exc.args[0]} ({problem})", *exc.args[1:])

    cluster_lock = None
    try:
        loaded, verdicts, base_values, kube, identity, emergency = _admit(request, store, policy, clock, seen)
        cluster_lock = for_change(policy, loaded.runbook, kube, operator=request.operator, values=base_values,
                                  runbook_dir=loaded.directory.resolve())
        if cluster_lock is not None and request.lock_break_glass is None:
            cluster_lock.check_free()  # held elsewhere: refused before the change exists
    except (RunbookError, SessionError) as exc:
        if cluster_lock is not None:
            kube.close()
        refused(exc)
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
    lock_events: list[tuple[str, dict[str, Any]]] = []
    if cluster_lock is not None:
        try:
            lock_events = cluster_lock.acquire(ref.change_id, break_glass=request.lock_break_glass)
        except LockRefused as exc:  # taken since the check above: the change stays unopened, as if never started
            journal.close()
            lock.release()
            kube.close()
            refused(exc)
            raise
    values = {**base_values, **_builtins(request.context, request.environment, ref, loaded)}
    declared = loaded.runbook.params
    shown = {n: ("[REDACTED]" if n in declared and declared[n].secret else v) for n, v in base_values.items()}
    events: list[tuple[str, dict[str, Any]]] = [(ev.CHANGE_CREATED, {
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
    })]
    events.append((ev.PARAMS_SET, {"params": shown}))
    events.append((ev.POLICY_CHECKED, {"checks": [v.as_dict() for v in verdicts]}))
    for a in request.approvals:
        events.append((ev.APPROVAL_RECORDED, {"name": a.name, "role": a.role, "reference": a.reference}))
    if emergency:
        overridden = ", ".join(v.name for v in verdicts if not v.ok) or "none"
        events.append((ev.BREAKGLASS_RECORDED, {
            "reason": request.emergency_reason, "approver": request.emergency_approver,
            "what": f"emergency change (overrides: {overridden})",
        }))
    events += lock_events
    return Opened(
        store=store, ref=ref, journal=journal, lock=lock, loaded=loaded, runbook_dir=loaded.directory.resolve(),
        policy=policy, values=values, redactor=redactor, kube=kube, operator=request.operator,
        environment=request.environment, context=request.context, clock=clock, cluster_lock=cluster_lock, events=events,
    )


def reopen_change(
    change_id: str,
    *,
    store: RecordStore,
    policy: Policy,
    operator: str,
    params: dict[str, Any] | None,
    kubeconfig: str | None,
    recover_torn_tail: bool,
    clock: Clock,
) -> Opened:
    """Take the change's lock and rebuild what it runs with from its journal and its runbook copy; raises
    SessionError, PolicyRefused or the journal's own errors, and then holds no lock."""
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
        opened_with = {e.type for e in journal.events}
        if not {ev.PARAMS_SET, ev.POLICY_CHECKED} <= opened_with:
            # The opening events are written in one write; a record without them was cut short before the change
            # began. Running on default parameters with no verdicts on record would be a change nobody admitted.
            raise SessionError(
                f"{change_id} was never fully opened (its parameters and policy checks are not on record) and nothing "
                "ran: start the change again"
            )
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
    # A new session: confirmations typed in an earlier one no longer count (the fold clears them).
    resumed = (ev.SESSION_RESUMED, {"operator": operator, "host": socket.gethostname(), "pid": os.getpid()})
    return Opened(
        store=store, ref=ref, journal=journal, lock=lock, loaded=loaded, runbook_dir=original.parent,
        policy=policy, values=values, redactor=redactor, kube=kube, operator=operator,
        environment=environment, context=context, clock=clock, events=[resumed],
    )


def interrupted(ref: ChangeRef, events: Sequence[Event], item: Item) -> dict[str, Any]:
    """The ``step.interrupted`` of a step that was running when the console stopped: it is never counted as done."""
    partial = _unrecorded_output(ref, events, item.step_id)
    return {
        "section": item.section, "step_id": item.step_id,
        "reason": "the console stopped while the step ran; confirm again to rerun it",
        # What the step printed before the stop is on disk but in no event yet: hash it into the record.
        **({"file": partial} if partial else {}),
    }


def _unrecorded_output(ref: ChangeRef, events: Sequence[Event], step_id: str) -> dict[str, str] | None:
    """The newest output file of ``step_id`` that no event references (the one a crash left behind), if any."""
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


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None  # unreadable now: load_runbook says why


def _split_namespace(runbook: Runbook, params: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
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


def _admit(
    request: StartRequest, store: RecordStore, policy: Policy, clock: Clock, seen: list[LoadedRunbook],
) -> tuple[LoadedRunbook, list[pol.Verdict], dict[str, str], PinnedKubeconfig, ChangeIdentity, bool]:
    """Everything a start checks before the change exists; raises RunbookError, PolicyRefused or SessionError.
    The loaded runbook is put in ``seen`` as soon as it loads, so a refusal can name it."""
    # The start form parsed the runbook already: its parse is used while the file still has exactly that text.
    given = request.loaded
    fresh = given is not None and given.path == Path(request.runbook_path) and _file_sha256(given.path) == given.sha256
    loaded = given if given is not None and fresh else load_runbook(request.runbook_path)
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
