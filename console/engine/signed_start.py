"""Signed approvals at a change's start: the pending change, its start request, the signatures it waits for, the verdict.

Where policy wants a role signed for the change's environment and risk (``[signatures]``), a start does not run
anything: it claims the change ID, writes the start request (``request.json``) and a copy of the allowed-signers
file into the record, appends ``approval.requested`` and stops. Approvers sign the request from their own
terminals (``opsconsole approve``); their approval files land in the change's ``approvals/`` directory. The start
then goes on (``opsconsole resume``, or the waiting start form and line mode) once :func:`judge` finds the
required roles signed by distinct people other than the operator; the request is built again from the change as it
would run now, so a signature over anything else (a changed parameter, another policy file, another change) is
refused with the first field that differs.

An emergency (SOP-005's fast track) does not wait: where policy would have wanted signatures, its start writes the
request all the same and appends ``approval.owed``; each approver signs it after the fact with ``opsconsole
approve``, which checks the signature as a waiting change's are checked and records it as
``signature.retro_approval`` (:func:`record_retro_approval`), in progress or after close-out.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.config import Policy
from console.engine import policy as pol
from console.engine.binding import BoundStep, bind
from console.engine.redact import Redactor
from console.errors import OpsConsoleError
from console.governance import approvals as verdicts
from console.governance import request as requests
from console.governance.allowed_signers import AllowedSigners, AllowedSignersError, parse_allowed_signers
from console.governance.envelope import Approval, EnvelopeError, approval_from_bytes
from console.governance.signatures import load_allowed_signers, verify_signature
from console.journal import events as ev
from console.journal.event_data import check_data
from console.journal.journal import Journal
from console.journal.store import RecordStore
from console.review.obligations import missing_approvals
from console.runbook.models import Runbook
from console.runbook.params import ParamError

REQUEST_FILE = "request.json"
APPROVALS_DIR = "approvals"
SIGNERS_COPY = "artifacts/allowed_signers"
# kubectl answers from its local config at once or from an unreachable server within this bound.
_KUBECTL_TIMEOUT_S = 15
# kubectl verbs and the API verb `kubectl auth can-i` asks about for them (subcommands named after the verb).
_CAN_I_VERBS = {
    "get": "get", "describe": "get", "logs": "get", "wait": "get", "apply": "patch", "patch": "patch",
    "edit": "patch", "label": "patch", "annotate": "patch", "scale": "patch", "set": "patch", "rollout": "patch",
    "delete": "delete", "create": "create", "replace": "update", "exec": "create", "cordon": "patch",
    "uncordon": "patch", "drain": "delete", "taint": "patch",
}
# kubectl flags whose value is the next word.
_VALUE_FLAGS = {"-n", "--namespace", "-o", "--output", "-l", "--selector", "-f", "--filename", "-c", "--container",
                "--context", "--kubeconfig", "--field-selector", "-p", "--patch", "--type"}
# Subcommands whose resource follows one more word (kubectl rollout restart deployment/web).
_TWO_WORD = {"rollout", "set", "create"}


@dataclass(frozen=True)
class Pending:
    """A change waiting for signed approvals: where it is, what it needs and who may give it."""

    change_id: str
    change_dir: Path
    required: Mapping[str, int]
    holders: Mapping[str, list[str]]
    operator: str

    @property
    def approvals_dir(self) -> Path:
        return self.change_dir / APPROVALS_DIR

    def message(self) -> str:
        needs = "; ".join(f"{n} {role!r} of {', '.join(self.holders.get(role, [])) or 'nobody'}"
                          for role, n in sorted(self.required.items()))
        return (f"{self.change_id} waits for signed approvals ({needs}): each approver runs "
                f"opsconsole approve {self.change_id}, then opsconsole resume {self.change_id}")


def policy_signers(policy: Policy) -> AllowedSigners:
    """The allowed-signers file policy names; raises AllowedSignersError naming it."""
    path = policy.allowed_signers_path()
    if path is None:
        raise AllowedSignersError(f"{policy.source} names no allowed-signers file ([signatures] allowed_signers)")
    return load_allowed_signers(path)


def holders_of(signers: AllowedSigners, required: Mapping[str, int], operator: str, now: datetime) -> dict[str, list[str]]:
    """For each required role, who besides the operator may sign it now."""
    return {role: [p for p in signers.holders(role, now) if p != operator] for role in required}


def signers_verdict(policy: Policy, environment: str, risk: str, operator: str, now: datetime) -> pol.Verdict | None:
    """Policy's answer on signed approvals before the change exists: who may sign, or why nobody can (said at once)."""
    required = policy.signed_roles(environment, risk)
    if not required:
        return None
    try:
        signers = policy_signers(policy)
    except AllowedSignersError as exc:
        return pol.Verdict("signed approvals", False, str(exc))
    cannot = verdicts.unmeetable(required, signers, operator=operator, now=now)
    if cannot:
        return pol.Verdict("signed approvals", False, " ".join(cannot).rstrip("."))
    holders = holders_of(signers, required, operator, now)
    needs = "; ".join(f"{n} {role!r} from {', '.join(holders[role])}" for role, n in sorted(required.items()))
    return pol.Verdict("signed approvals", True, f"needs SSH-signed approvals: {needs}")


def bound_plan(
    runbook: Runbook, values: Mapping[str, str], runbook_dir: Path, redactor: Redactor,
) -> list[tuple[requests.PlanEntry, BoundStep | None]]:
    """Every step of every section as it will be bound, in order; a step that cannot be bound yet says why."""
    out: list[tuple[requests.PlanEntry, BoundStep | None]] = []
    for section, steps in runbook.sections():
        for step in steps:
            try:
                bound = bind(step, section, values, runbook, runbook_dir, redactor)
            except ParamError as exc:
                out.append((requests.PlanEntry(section, step.id, step.kind, f"(bound when it runs: {exc})",
                                               values.get("namespace", "default"), None), None))
                continue
            out.append((requests.PlanEntry(section, step.id, step.kind, bound.display, bound.namespace, bound.target), bound))
    return out


def preflight(bound: Sequence[BoundStep | None], env: Mapping[str, str],
              redactor: Redactor | None = None) -> dict[str, Any]:
    """kubectl's client and server versions and ``kubectl auth can-i`` for each kubectl command's verb and resource.

    What kubectl said when it gave no answer is kept in short, redacted (by ``redactor``, else the built-in rules)
    before it is cut.
    """
    redactor = redactor if redactor is not None else Redactor()
    out: dict[str, Any] = {}
    version = _kubectl(["version", "-o", "json", "--request-timeout=5s"], env)
    try:
        parsed = json.loads(version.stdout or "{}")
    except json.JSONDecodeError:
        parsed = {}
    out["kubectl"] = (parsed.get("clientVersion") or {}).get("gitVersion") or f"unknown ({_first_line(version.stderr, redactor)})"
    out["server"] = (parsed.get("serverVersion") or {}).get("gitVersion") or f"unreachable ({_first_line(version.stderr, redactor)})"
    asked: dict[str, str] = {}
    reachable = bool((parsed.get("serverVersion") or {}).get("gitVersion"))
    for step in bound:
        question = _can_i_question(step)
        if question is None or question in asked:
            continue
        if not reachable:
            # One unanswered call is enough to know: asking each question would hold a start (an emergency's
            # above all) for a timeout per command.
            asked[question] = "not asked: the server did not answer"
            continue
        verb, resource, namespace = question.split(" ", 2)
        done = _kubectl(["auth", "can-i", verb, resource, "-n", namespace, "--request-timeout=5s"], env)
        answer = (done.stdout.strip().splitlines() or [""])[0]
        asked[question] = answer if answer in ("yes", "no") else f"unknown ({_first_line(done.stderr, redactor)})"
    out["can_i"] = asked
    return out


def _can_i_question(step: BoundStep | None) -> str | None:
    """``VERB RESOURCE NAMESPACE`` for a kubectl command whose verb and resource can be read off its argv."""
    if step is None or not step.argv or Path(step.argv[0]).name != "kubectl":
        return None
    words: list[str] = []
    skip = False
    for word in step.argv[1:]:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in _VALUE_FLAGS  # its value is the next word, not a verb or a resource
        else:
            words.append(word)
    if not words or words[0] not in _CAN_I_VERBS:
        return None
    rest = words[2:] if words[0] in _TWO_WORD else words[1:]
    if words[0] in ("exec", "logs"):
        resource = "pods/exec" if words[0] == "exec" else "pods/log"
    elif words[0] in ("cordon", "uncordon", "drain", "taint"):
        resource = "nodes"
    elif rest:
        resource = rest[0].split("/", 1)[0]
    else:
        return None
    # Values of -n/--namespace were dropped with the flags above; the bound namespace is the one it acts in.
    return f"{_CAN_I_VERBS[words[0]]} {resource} {step.namespace}"


def _kubectl(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["kubectl", *args], env=dict(env), capture_output=True, text=True,
                              timeout=_KUBECTL_TIMEOUT_S, check=False)
    except FileNotFoundError:
        return subprocess.CompletedProcess(args, 127, "", "kubectl is not installed")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"no answer in {_KUBECTL_TIMEOUT_S} s")


def _first_line(text: str, redactor: Redactor) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip() and not ln.startswith(("E1", "W1", "I1"))]
    line = redactor.redact(lines[0]) if lines else "no message"
    return line if len(line) <= 120 else redactor.redact_cut(line, 117) + "..."


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def write_file(path: Path, data: bytes) -> dict[str, str]:
    """Write and fsync ``data``; the file's reference (path relative to the change dir set by the caller) and hash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return {"path": path.name, "sha256": hashlib.sha256(data).hexdigest()}


def signers_bytes(policy: Policy) -> bytes | None:
    """The allowed-signers file policy names, as bytes (None when it names none); raises AllowedSignersError."""
    source = policy.allowed_signers_path()
    if source is None:
        return None
    try:
        return source.read_bytes()
    except OSError as exc:
        raise AllowedSignersError(f"{source}: the allowed-signers file policy names cannot be read "
                                  f"({exc.strerror or exc})") from None


def record_signers(data: bytes | None, change_dir: Path) -> dict[str, str] | None:
    """Copy the allowed-signers file into the record (so a check months later needs no other file)."""
    if data is None:
        return None
    ref = write_file(change_dir / SIGNERS_COPY, data)
    return {"path": SIGNERS_COPY, "sha256": ref["sha256"]}


def collect(change_dir: Path) -> tuple[list[tuple[str, Approval]], list[str]]:
    """The approval files in the change's ``approvals/`` directory, by name; and one sentence per unreadable file."""
    found: list[tuple[str, Approval]] = []
    problems: list[str] = []
    directory = change_dir / APPROVALS_DIR
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        rel = f"{APPROVALS_DIR}/{path.name}"
        try:
            found.append((rel, approval_from_bytes(path.read_bytes(), rel)))
        except (EnvelopeError, OSError) as exc:
            problems.append(f"{rel} cannot be read: {exc}.")
    return found, problems


@dataclass(frozen=True)
class Judgement:
    """The verdict on the approvals collected so far, with the files each accepted approval came from."""

    verdict: verdicts.Verdict
    files: Mapping[str, str]  # principal -> approval file (relative to the change dir)
    unreadable: tuple[str, ...] = ()

    @property
    def approved(self) -> bool:
        return self.verdict.approved

    def sentences(self) -> list[str]:
        return [*self.verdict.sentences(), *self.unreadable]


def recorded_signers(change_dir: Path, ref: Mapping[str, Any]) -> AllowedSigners:
    """The record's copy of the allowed-signers file, checked against the hash the journal holds."""
    path = change_dir / str(ref.get("path"))
    data = path.read_bytes() if path.is_file() else None
    if data is None or hashlib.sha256(data).hexdigest() != ref.get("sha256"):
        raise AllowedSignersError(f"{path}: the record's copy of the allowed-signers file is missing or altered")
    return parse_allowed_signers(data.decode("utf-8"), source="the allowed-signers file")


def judge(*, change_dir: Path, signers: AllowedSigners, required: Mapping[str, int], current: bytes, operator: str,
          ttl: timedelta, now: datetime) -> Judgement:
    """Check every approval file against the request as it would run now."""
    found, unreadable = collect(change_dir)
    verdict = verdicts.evaluate(
        required=required, signers=signers, request=current, approvals=[a for _rel, a in found], operator=operator,
        approval_ttl=ttl, now=now, verifier=verify_signature,
    )
    # Every approval not refused was accepted, in order, and accepted principals are distinct.
    refused = {r.index for r in verdict.refused}
    files = {a.principal: rel for i, (rel, a) in enumerate(found) if i not in refused}
    return Judgement(verdict, files, tuple(unreadable))


def verified_data(judgement: Judgement, *, change_dir: Path, requested: Mapping[str, Any]) -> dict[str, Any]:
    """The ``approval.verified`` event: the accepted approvals, each file hashed, and what they were checked against."""
    accepted = []
    for a in judgement.verdict.accepted:
        rel = judgement.files[a.principal]
        accepted.append({
            "principal": a.principal, "role": a.role, "signed_at": requests.utc_text(a.signed_at),
            "key_fingerprint": a.key_fingerprint,
            "file": {"path": rel, "sha256": hashlib.sha256((change_dir / rel).read_bytes()).hexdigest()},
        })
    return {
        "request": dict(requested["request"]), "policy_sha256": requested["policy_sha256"],
        "allowed_signers": dict(requested["allowed_signers"]), "required": dict(requested["required"]),
        "accepted": accepted,
    }


def sign_closeout(store: RecordStore, change_id: str, policy: Policy, *, key_path: Path | None, who: str) -> tuple[bool, str]:
    """When policy names signers, the operator signs the closed change's head hash with their SSH key
    (``signature.closeout``, after ``change.closed``); returns whether it was signed and one sentence saying so.
    ``key_path`` None: the first of ``~/.ssh/id_ed25519`` (then ecdsa, rsa) that exists."""
    if policy.allowed_signers_path() is None:
        return False, "policy names no signers: the close-out is not signed"
    from console.governance.approving import ApproveError, default_key, public_key
    from console.governance.closeout import CloseoutError, closeout_signature
    from console.governance.signatures import SigningError

    ref = store.find(change_id)
    lock = store.lock(ref, who=who)
    try:
        journal = Journal.open(store.journal_path(ref))
        try:
            types = {e.type for e in journal.events}
            if ev.CHANGE_CLOSED not in types:
                return False, f"{change_id} is not closed: there is no close-out to sign"
            if ev.SIGNATURE_CLOSEOUT in types:
                return False, f"the close-out of {change_id} is signed already"
            key = key_path or default_key()
            if key is None:
                return False, f"the close-out of {change_id} is not signed: no SSH key (give one with --key)"
            try:
                data = closeout_signature(change_dir=ref.path, events=journal.events, key=public_key(key),
                                          key_path=key, now=datetime.now(UTC))
            except (ApproveError, CloseoutError, SigningError) as exc:
                return False, f"the close-out of {change_id} is not signed: {exc}"
            journal.append(ev.SIGNATURE_CLOSEOUT, data)
        finally:
            journal.close()
    finally:
        lock.release()
    return True, f"close-out signed by {data['principal']} (key {data['key_fingerprint']}) over head {data['head']}"


# -- an emergency's approvals, signed after the fact ---------------------------------------------------------------


class RetroError(OpsConsoleError):
    """An owed approval that cannot be checked or recorded; one sentence saying why."""


@dataclass(frozen=True)
class Owed:
    """What an emergency owes in signed approvals (its ``approval.owed`` event) and what it holds already."""

    change_id: str
    change_dir: Path
    data: Mapping[str, Any]  # the approval.owed event's data
    operator: str  # who started the emergency: never its approver
    missing: Mapping[str, int]  # role -> approvals still owed

    @property
    def required(self) -> dict[str, int]:
        return dict(self.data["required"])

    def request_bytes(self) -> bytes:
        """The recorded start request, checked against the hash the journal holds."""
        ref = self.data["request"]
        path = self.change_dir / str(ref["path"])
        data = path.read_bytes() if path.is_file() else b""
        if requests.digest(data) != ref["sha256"]:
            raise RetroError(f"{path} is not the request {self.change_id} recorded (missing, or its SHA-256 differs)")
        return data


def owed_of(change_id: str, change_dir: Path, events: Sequence[Any]) -> Owed | None:
    """The emergency's owed approvals, or None when its journal owes none (not an emergency, or policy wanted none)."""
    owed = next((e for e in events if e.type == ev.APPROVAL_OWED), None)
    if owed is None:
        return None
    created = next((e for e in events if e.type == ev.CHANGE_CREATED), None)
    operator = str(created.data.get("operator", "")) if created is not None else ""
    return Owed(change_id, change_dir, dict(owed.data), operator, missing_approvals(events))


def check_retro(owed: Owed, approval: Approval, recorded: Sequence[Mapping[str, Any]], now: datetime) -> verdicts.Verdict:
    """Check one approval of an emergency's recorded request, as a waiting change's approvals are checked: the same
    refusals (forged, another request, expired, wrong role, the operator themself), and a person already on record
    counts once."""
    signers = recorded_signers(owed.change_dir, owed.data["allowed_signers"])
    verdict = verdicts.evaluate(
        required=owed.missing or owed.required, signers=signers, request=owed.request_bytes(), approvals=[approval],
        operator=owed.operator, approval_ttl=timedelta(seconds=int(owed.data.get("ttl_s") or 0)), now=now,
        verifier=verify_signature,
    )
    for accepted in verdict.accepted:
        earlier = next((r for r in recorded if r.get("principal") == accepted.principal), None)
        if earlier is not None:
            reason = (f"Approval 1 ({accepted.principal}): {accepted.principal} already approved as "
                      f"{earlier.get('role')!r}, and each person counts once.")
            refusal = verdicts.Refused(0, accepted.principal, verdicts.DUPLICATE_SIGNER, reason)
            return verdicts.Verdict(False, verdict.required, refused=(refusal,), missing=dict(owed.missing))
    return verdict


def record_retro_approval(store: RecordStore, change_id: str, approval: Approval, *, who: str,
                          now: datetime) -> dict[str, Any]:
    """Check an emergency's owed approval and, if it counts, write ``approvals/NAME.json`` and append
    ``signature.retro_approval`` under the change's lock (a ``signature.*`` event, so it may follow close-out).
    Returns the event's data; raises RetroError with the refusal's sentence, or ChangeLocked while the change runs."""
    from console.governance.envelope import approval_to_bytes, parse_envelope

    ref = store.find(change_id)
    lock = store.lock(ref, who=who)
    try:
        journal = Journal.open(store.journal_path(ref))
        try:
            owed = owed_of(change_id, ref.path, journal.events)
            if owed is None:
                raise RetroError(f"{change_id} owes no signed approvals")
            if not owed.missing:
                raise RetroError(f"the approvals {change_id} owed are on record already")
            recorded = [e.data for e in journal.events if e.type == ev.SIGNATURE_RETRO_APPROVAL]
            verdict = check_retro(owed, approval, recorded, now)
            if not verdict.accepted:
                raise RetroError(" ".join(r.reason for r in verdict.refused) or " ".join(verdict.sentences()))
            accepted = verdict.accepted[0]
            rel = f"{APPROVALS_DIR}/{accepted.principal}.json"
            written = write_file(ref.path / rel, approval_to_bytes(approval))
            data = {
                "principal": accepted.principal, "role": accepted.role,
                "signed_at": requests.utc_text(parse_envelope(approval.envelope).signed_at),
                "key_fingerprint": accepted.key_fingerprint, "file": {"path": rel, "sha256": written["sha256"]},
                "request": dict(owed.data["request"]),
            }
            check_data(ev.SIGNATURE_RETRO_APPROVAL, data)
            journal.append(ev.SIGNATURE_RETRO_APPROVAL, data)
        finally:
            journal.close()
    finally:
        lock.release()
    return data
