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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from console.config import Policy
from console.engine import policy as pol
from console.engine import signed_start as signed
from console.engine.admission import (
    ApprovalsPending,
    NotApproved,
    PolicyRefused,
    SessionError,
    StartRequest,
    evaluate_policy,
    evidence_gates,
)
from console.engine.binding import ChangeIdentity, identify
from console.engine.change_lock import ClusterLock, LockRefused, for_change
from console.engine.kubecontext import KubeconfigError, PinnedKubeconfig
from console.engine.manifests import ManifestError, RenderedManifest, render_manifests, write_manifests
from console.engine.redact import Redactor
from console.engine.resume_guard import changed_cluster, changed_params, changed_policy, changed_secrets, value_checks
from console.engine.runbook_secrets import literal_secrets
from console.engine.state import Item
from console.governance import request as requests
from console.governance.allowed_signers import AllowedSignersError
from console.governance.signatures import new_nonce
from console.journal import events as ev
from console.journal.audit import refuse
from console.journal.cast import sha256_file
from console.journal.event_data import check_data
from console.journal.journal import Event, Journal, TornTailError
from console.journal.store import ChangeLock, ChangeRef, RecordStore, StoreError, sanitise
from console.journal.team_sync import prepare, pull_for_start
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
    # The team's changes are fetched first, so the frequency limits below count them as well as this host's.
    prepare(store, policy.store.remote)
    team_ok, team_note = pull_for_start(store)

    def refused(exc: Exception) -> None:
        problem = refuse(
            store, request, seen[0] if seen else request.runbook_path, str(exc), getattr(exc, "verdicts", []),
            Redactor((), policy.redaction.patterns).redact, clock=clock,
        )
        if problem:
            exc.args = (f"{exc.args[0]} ({problem})", *exc.args[1:])

    cluster_lock = None
    try:
        loaded, verdicts, base_values, kube, identity, emergency, manifests = _admit(request, store, policy, clock, seen)
        verdicts = [*verdicts, pol.Verdict("team record store", True, team_note if team_ok else f"not synced: {team_note}")]
        try:
            # Read before the change exists: the record keeps a copy, and a policy naming a file it cannot read
            # does not start a change half-way.
            signers_data = signed.signers_bytes(policy)
        except AllowedSignersError as exc:
            kube.close()
            raise SessionError(str(exc)) from None
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
    try:
        ref = store.create_change(
            component=md.component, from_version=identity.from_version, to_version=identity.to_version, when=now,
            offline_ids=policy.store.offline_ids,
        )
    except StoreError as exc:  # no team ID to be had, and policy refuses a provisional one
        kube.close()
        error = SessionError(str(exc))
        refused(error)
        raise error from None
    try:
        lock = store.lock(ref, who=request.operator)
        runbook_copy = ref.path / "artifacts" / "runbook.yaml"
        # The copy is what resume runs from; it is redacted like everything else under the change.
        runbook_copy.write_text(redactor.redact(loaded.text), encoding="utf-8")
        journal = Journal.create(store.journal_path(ref), clock=clock)
        # The manifests as they will be applied, copied now: the start event's plan and every approval cover them.
        manifest_events = write_manifests(manifests, ref.path)
    except BaseException:
        kube.close()
        raise
    # An emergency does not wait for signatures (SOP-005's fast track): they are owed after the fact instead.
    required = {} if emergency else policy.signed_roles(request.environment, md.risk)
    owed = policy.signed_roles(request.environment, md.risk) if emergency else {}
    lock_events: list[tuple[str, dict[str, Any]]] = []
    # A change waiting for its signatures runs nothing, so it takes the cluster's lock when it starts (resume).
    if cluster_lock is not None and not required:
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
    signers_ref = signed.record_signers(signers_data, ref.path)
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
        "cluster": kube.cluster,
    })]
    checks = value_checks(base_values, [n for n, p in declared.items() if p.secret])
    events.append((ev.PARAMS_SET, {"params": shown, **({"value_checks": checks} if checks else {})}))
    if not required:
        events.append((ev.POLICY_CHECKED, _policy_checked(verdicts, policy, signers_ref)))
    for a in request.approvals:
        if a.role not in required:  # a typed name for a role policy wants signed counts for nothing, so is not kept
            events.append((ev.APPROVAL_RECORDED, {"name": a.name, "role": a.role, "reference": a.reference}))
    if emergency:
        overridden = ", ".join(v.name for v in verdicts if not v.ok) or "none"
        events.append((ev.BREAKGLASS_RECORDED, {
            "reason": request.emergency_reason, "approver": request.emergency_approver,
            "what": f"emergency change (overrides: {overridden})",
            "approver_role": (request.emergency_approver_role or "").strip() or policy.emergency.approver_roles[0],
            "approval": "verbal",
        }))
    events.extend((ev.ARTIFACT_SAVED, data) for data in manifest_events)
    if owed:
        assert signers_ref is not None  # policy requires signatures only where it names the file
        events.append((ev.APPROVAL_OWED, _write_request(
            ref=ref, kube=kube, loaded=loaded, values=values, base_values=base_values, redactor=redactor, policy=policy,
            request=request, identity=identity, required=owed, signers_ref=signers_ref, now=now,
        )))
    events += lock_events
    if required:
        assert signers_ref is not None  # policy requires signatures only where it names the file
        _wait_for_signatures(
            ref=ref, journal=journal, lock=lock, kube=kube, loaded=loaded, values=values, base_values=base_values,
            redactor=redactor, policy=policy, request=request, identity=identity, required=required,
            signers_ref=signers_ref, events=events, now=now,
        )
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
    kube: PinnedKubeconfig | None = None
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
        requested = next((e for e in reversed(journal.events) if e.type == ev.APPROVAL_REQUESTED), None)
        waiting = requested is not None and ev.APPROVAL_VERIFIED not in opened_with
        if not waiting and not {ev.PARAMS_SET, ev.POLICY_CHECKED} <= opened_with:
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
        # Manifests are applied from the record's copies, so the files next to the runbook are not read again.
        loaded = load_runbook_text(rb_file.read_text(encoding="utf-8"), original, read_manifests=False)
        recorded = {}
        checks: dict[str, Any] = {}
        for e in journal.events:
            if e.type == ev.PARAMS_SET:
                recorded.update(e.data["params"])
                checks.update(e.data.get("value_checks") or {})
        # A change still waiting for its signatures is held to its values by the signed request instead (which
        # names the parameter against what was signed).
        for refusal in (None if waiting else changed_params(change_id, recorded, params or {}),
                        changed_secrets(change_id, checks, params or {}),
                        changed_policy(change_id, journal.events, policy.digest, policy.source)):
            if refusal:
                raise SessionError(refusal)
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
        elsewhere = changed_cluster(change_id, context, created.data.get("cluster"), kube.cluster)
        if elsewhere:
            raise SessionError(elsewhere)
        base_values["namespace"] = _namespace(base_values.get("namespace") or namespace_given or kube.namespace)
        redactor = Redactor(secret_values(loaded.runbook, base_values), policy.redaction.patterns)
        values = {**base_values, **_builtins(context, environment, ref, loaded)}
        if waiting:
            assert requested is not None
            try:
                opening = _signed_start(ref=ref, store=store, journal=journal, created=created, requested=requested,
                                        loaded=loaded, values=values, base_values=base_values, redactor=redactor,
                                        policy=policy, operator=operator, runbook_dir=original.parent, clock=clock)
            except BaseException:
                journal.close()  # a change still waiting is asked again and again: each attempt lets go of its file
                raise
        else:
            # A new session: confirmations typed in an earlier one no longer count (the fold clears them).
            opening = [(ev.SESSION_RESUMED, {"operator": operator, "host": socket.gethostname(), "pid": os.getpid()})]
    except BaseException:
        if kube is not None:
            kube.close()
        lock.release()
        raise
    return Opened(
        store=store, ref=ref, journal=journal, lock=lock, loaded=loaded, runbook_dir=original.parent,
        policy=policy, values=values, redactor=redactor, kube=kube, operator=operator,
        environment=environment, context=context, clock=clock, events=opening,
    )


def _policy_checked(verdicts: Sequence[pol.Verdict], policy: Policy, signers_ref: dict[str, str] | None) -> dict[str, Any]:
    """``policy.checked``: every verdict, the policy file's hash and, where policy names one, the recorded
    allowed-signers file (what the close-out signature is checked against later)."""
    return {"checks": [v.as_dict() for v in verdicts], "policy_sha256": policy.digest,
            **({"allowed_signers": signers_ref} if signers_ref else {})}


def _start_request(*, ref: ChangeRef, runbook_id: str, runbook_sha256: str, loaded: LoadedRunbook, values: dict[str, str],
                   base_values: dict[str, str], redactor: Redactor, policy: Policy, operator: str, environment: str,
                   context: str, from_version: str, to_version: str, runbook_dir: Path,
                   preflight: dict[str, Any] | None, nonce: str, created_at: datetime,
                   env: dict[str, str] | None = None) -> bytes:
    """The start request's canonical bytes; with no ``preflight`` given, it is gathered now with kubectl in ``env``."""
    plan = signed.bound_plan(loaded.runbook, values, runbook_dir, redactor)
    if preflight is None:
        preflight = signed.preflight([b for _e, b in plan], env or dict(os.environ), redactor)
    secret = [n for n, p in loaded.runbook.params.items() if p.secret]
    built = requests.build(
        change_id=ref.change_id, runbook_id=runbook_id, runbook_sha256=runbook_sha256,
        parameters={k: str(v) for k, v in base_values.items()}, operator=operator, environment=environment,
        context=context, from_version=from_version, to_version=to_version, policy_sha256=policy.digest,
        plan=[e for e, _b in plan], preflight=preflight, nonce=nonce, created_at=created_at, secret_parameters=secret,
    )
    return requests.to_bytes(built)


def _write_request(*, ref: ChangeRef, kube: PinnedKubeconfig, loaded: LoadedRunbook, values: dict[str, str],
                   base_values: dict[str, str], redactor: Redactor, policy: Policy, request: StartRequest,
                   identity: ChangeIdentity, required: dict[str, int], signers_ref: dict[str, str],
                   now: datetime) -> dict[str, Any]:
    """Write the change's start request (and its empty ``approvals/``) and return the data of the event naming it:
    ``approval.requested`` for a change that waits for its signatures, ``approval.owed`` for an emergency whose
    approvers sign after the fact (``opsconsole approve``)."""
    data = _start_request(
        ref=ref, runbook_id=loaded.runbook.metadata.id, runbook_sha256=loaded.sha256, loaded=loaded, values=values,
        base_values=base_values, redactor=redactor, policy=policy, operator=request.operator,
        environment=request.environment, context=request.context, from_version=identity.from_version,
        to_version=identity.to_version, runbook_dir=loaded.directory.resolve(), preflight=None,
        nonce=new_nonce(), created_at=now, env=kube.env(),
    )
    written = signed.write_file(ref.path / signed.REQUEST_FILE, data)
    (ref.path / signed.APPROVALS_DIR).mkdir(exist_ok=True)
    return {"request": written, "policy_sha256": policy.digest, "allowed_signers": signers_ref,
            "required": dict(required), "ttl_s": policy.signatures.ttl_s}


def _wait_for_signatures(*, ref: ChangeRef, journal: Journal, lock: ChangeLock, kube: PinnedKubeconfig,
                         loaded: LoadedRunbook, values: dict[str, str], base_values: dict[str, str], redactor: Redactor,
                         policy: Policy, request: StartRequest, identity: ChangeIdentity, required: dict[str, int],
                         signers_ref: dict[str, str], events: list[tuple[str, dict[str, Any]]], now: datetime) -> None:
    """Write the start request and the opening events of a change that waits for signatures, then raise
    ApprovalsPending: nothing runs, and the lock is let go so approvers and a later resume can reach it."""
    try:
        events.append((ev.APPROVAL_REQUESTED, _write_request(
            ref=ref, kube=kube, loaded=loaded, values=values, base_values=base_values, redactor=redactor,
            policy=policy, request=request, identity=identity, required=required, signers_ref=signers_ref, now=now,
        )))
        # No session exists yet to write these: they are checked and redacted exactly as the session does.
        checked = []
        for type_, item in events:
            redacted = redactor.redact_data(item)
            check_data(type_, redacted)
            checked.append((type_, redacted))
        journal.append_all(checked)
        signers = signed.recorded_signers(ref.path, signers_ref)
    finally:
        journal.close()
        lock.release()
        kube.close()
    holders = signed.holders_of(signers, required, request.operator, now)
    raise ApprovalsPending(signed.Pending(ref.change_id, ref.path, required, holders, request.operator))


def _signed_start(*, ref: ChangeRef, store: RecordStore, journal: Journal, created: Event, requested: Event,
                  loaded: LoadedRunbook, values: dict[str, str], base_values: dict[str, str], redactor: Redactor,
                  policy: Policy, operator: str, runbook_dir: Path, clock: Clock) -> list[tuple[str, dict[str, Any]]]:
    """The opening events of a waiting change whose signatures now meet policy; raises NotApproved otherwise."""
    now = clock()
    c, r = created.data, requested.data
    risk = str(c["runbook"].get("risk") or "")
    required = policy.signed_roles(c["environment"], risk)
    signers = signed.recorded_signers(ref.path, r["allowed_signers"])
    pending = signed.Pending(ref.change_id, ref.path, required or r["required"],
                             signed.holders_of(signers, required or r["required"], c["operator"], now), c["operator"])
    request_path = ref.path / r["request"]["path"]
    recorded = request_path.read_bytes() if request_path.is_file() else b""
    if requests.digest(recorded) != r["request"]["sha256"]:
        raise NotApproved(f"{request_path}: the start request is missing or differs from the one on record; start the "
                          "change again", None, pending)
    signed_request = requests.from_bytes(recorded)
    if signed_request.policy_sha256 != policy.digest:
        raise NotApproved(
            f"The policy in force ({policy.source}, sha256 {policy.digest[:12]}…) is not the one the approvers were asked "
            f"to sign (sha256 {signed_request.policy_sha256[:12]}…), so {ref.change_id} cannot start on their signatures; "
            "start it again under this policy.", None, pending)
    current_signers = policy.allowed_signers_path()
    if current_signers is None or signed.file_sha256(current_signers) != r["allowed_signers"]["sha256"]:
        raise NotApproved(f"The allowed-signers file ({current_signers}) changed since {ref.change_id} asked for "
                          "approvals, so their signatures are not checked against it; start the change again.", None, pending)
    current = _start_request(
        ref=ref, runbook_id=str(c["runbook"].get("id")), runbook_sha256=str(c["runbook"].get("sha256")), loaded=loaded,
        values=values, base_values=base_values, redactor=redactor, policy=policy, operator=c["operator"],
        environment=c["environment"], context=c["context"], from_version=str(c["runbook"].get("from")),
        to_version=str(c["runbook"].get("to")), runbook_dir=runbook_dir, preflight=dict(signed_request.preflight),
        nonce=signed_request.nonce, created_at=signed_request.created_at,
    )
    judgement = signed.judge(change_dir=ref.path, signers=signers, required=required, current=current,
                             operator=operator, ttl=timedelta(seconds=policy.signatures.ttl_s), now=now)
    if not judgement.approved:
        raise NotApproved(f"{ref.change_id} is not approved: " + " ".join(judgement.sentences()), judgement, pending)
    typed = [pol.Approval(str(e.data.get("name")), str(e.data.get("role")), str(e.data.get("reference") or ""))
             for e in journal.events if e.type == ev.APPROVAL_RECORDED and not e.data.get("step_id")]
    breakglass = next((e.data for e in journal.events if e.type == ev.BREAKGLASS_RECORDED and not e.data.get("step_id")), None)
    admission = StartRequest(
        runbook_path=Path(c["runbook"]["path"]), environment=c["environment"], context=c["context"], operator=operator,
        approvals=typed, emergency_reason=(breakglass or {}).get("reason"),
        emergency_approver=(breakglass or {}).get("approver"), typed_context=c["context"],
    )
    verdicts = evaluate_policy(admission, loaded, policy, store, now, exclude=ref.change_id)
    blocking = [v for v in verdicts if not v.ok and not (v.overridable and breakglass is not None)]
    if blocking:
        raise NotApproved(f"{blocking[0].name}: {blocking[0].message}", judgement, pending)
    return [
        (ev.APPROVAL_VERIFIED, signed.verified_data(judgement, change_dir=ref.path, requested=r)),
        (ev.POLICY_CHECKED, _policy_checked(verdicts, policy, dict(r["allowed_signers"]))),
    ]


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
) -> tuple[LoadedRunbook, list[pol.Verdict], dict[str, str], PinnedKubeconfig, ChangeIdentity, bool, list[RenderedManifest]]:
    """Everything a start checks before the change exists; raises RunbookError, PolicyRefused or SessionError.
    The loaded runbook is put in ``seen`` as soon as it loads, so a refusal can name it."""
    # The start form parsed the runbook already: its parse is used while the file still has exactly that text.
    given = request.loaded
    fresh = given is not None and given.path == Path(request.runbook_path) and _file_sha256(given.path) == given.sha256
    loaded = given if given is not None and fresh else load_runbook(request.runbook_path)
    seen.append(loaded)
    # Every problem of a start is said at once (one a line), as lint does: an operator fixes them in one go.
    problems: list[str] = []
    findings = lint(loaded)
    if findings:
        problems.append(f"{request.runbook_path}: the runbook breaks authoring rules ({findings[0]}); run opsconsole lint")
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
        problems.extend(f"{v.name}: {v.message}{hint}" for v in blocking)
    refused_by_policy = bool(blocking)  # an emergency without its approver is refused there, by its verdict
    params, namespace_given = _split_namespace(loaded.runbook, request.params)
    base_values: dict[str, str] | None = None
    try:
        base_values = resolve(loaded.runbook, params)
    except ParamError as exc:
        # resolve joins its problems with "; ": one a line here, like the rest
        problems.extend(re.split(r"; (?=(?:unknown )?parameter )", str(exc)))
    for name, p in loaded.runbook.params.items():
        if base_values is not None and p.secret and name in base_values and len(base_values[name]) < 4:
            problems.append(f"parameter {name}: a secret shorter than 4 characters cannot be redacted reliably")
    kube: PinnedKubeconfig | None = None
    try:
        kube = PinnedKubeconfig(request.context, explicit=request.kubeconfig)
    except KubeconfigError as exc:
        problems.append(str(exc))
    identity: ChangeIdentity | None = None
    manifests: list[RenderedManifest] = []
    if kube is not None and base_values is not None:
        try:
            base_values["namespace"] = _namespace(base_values.get("namespace") or namespace_given or kube.namespace)
            identity = identify(loaded.runbook, {**base_values, "context": request.context, "environment": request.environment})
            manifests = render_manifests(loaded, {**base_values, "context": request.context, "environment": request.environment})
        except (ParamError, SessionError, ManifestError) as exc:
            problems.append(str(exc))
    if identity is not None:
        # The evidence gates need the resolved version, known only now.
        gates = evidence_gates(policy, request.environment, loaded.runbook.metadata.risk, loaded.sha256, identity.to_version, store)
        verdicts = [*verdicts, *gates]
        for v in gates:
            if not v.ok and not (v.overridable and emergency):
                problems.append(f"{v.name}: {v.message} (mark the change as an emergency to override)")
                refused_by_policy = True
    if problems:
        if kube is not None:
            kube.close()
        message = "\n".join(problems)
        raise PolicyRefused(message, verdicts) if refused_by_policy else SessionError(message)
    assert kube is not None and base_values is not None and identity is not None  # each missing one is a problem, above
    return loaded, verdicts, base_values, kube, identity, emergency, manifests
