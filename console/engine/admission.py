"""Admission: what a change must have before its first event is written, and policy's verdicts on it.

``evaluate_policy`` writes nothing, so the start form shows the same verdicts the session enforces while the
operator is still typing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from console.config import Policy
from console.engine import policy as pol
from console.engine import promotion as gates
from console.engine.signed_start import Judgement, Pending, signers_verdict
from console.errors import OpsConsoleError
from console.journal.store import RecordStore
from console.review.index import load_index
from console.review.summary import parse_ts
from console.runbook.loader import LoadedRunbook


class SessionError(OpsConsoleError):
    """An operation the change cannot do now; the message says why."""


class PolicyRefused(SessionError):
    """Policy does not let this change start; ``verdicts`` holds every rule's answer."""

    def __init__(self, message: str, verdicts: Sequence[pol.Verdict] = ()) -> None:
        super().__init__(message)
        self.verdicts = list(verdicts)


class ApprovalsPending(SessionError):
    """The change exists and waits for signed approvals: nothing ran. Its message names the change and the
    approve command, so a caller that knows nothing of signatures still says what to do."""

    def __init__(self, pending: Pending) -> None:
        super().__init__(pending.message())
        self.pending = pending


class NotApproved(PolicyRefused):
    """A waiting change's signatures do not (yet) meet policy; ``judgement`` says who signed and why others do not count."""

    def __init__(self, message: str, judgement: Judgement | None, pending: Pending) -> None:
        super().__init__(message)
        self.judgement = judgement
        self.pending = pending


@dataclass
class StartRequest:
    """Everything a change needs before its first event is written."""

    runbook_path: Path
    environment: str
    context: str
    operator: str
    params: dict[str, Any] = field(default_factory=dict)
    approvals: list[pol.Approval] = field(default_factory=list)
    emergency_reason: str | None = None
    emergency_approver: str | None = None
    emergency_approver_role: str | None = None  # default: the first of policy's emergency approver roles
    typed_context: str | None = None
    kubeconfig: str | None = None
    description: str | None = None
    # The runbook as the start form already parsed it: used only while the file still has exactly its text.
    loaded: LoadedRunbook | None = None
    # Break-glass past the cluster's change lock held live by another console: (reason, approver), recorded.
    lock_break_glass: tuple[str, str] | None = None


def evaluate_policy(request: StartRequest, loaded: LoadedRunbook, policy: Policy, store: RecordStore, now: datetime,
                    *, exclude: str | None = None) -> list[pol.Verdict]:
    """Every policy verdict for a change that has not started yet (writes nothing); ``exclude`` names a change the
    frequency limits do not count (a change waiting for its signatures is already in the store)."""

    rb = loaded.runbook
    risk = rb.metadata.risk
    verdicts = [pol.check_context(policy, request.environment, request.context)]
    if request.environment not in rb.metadata.environments:
        verdicts.append(pol.Verdict(
            "runbook environments", False,
            f"the runbook is for {', '.join(rb.metadata.environments)}, not {request.environment}",
        ))
    if request.emergency_reason:
        # SOP-005's fast track: the emergency approver's verbal approval stands in for the risk level's approvals
        # (typed or signed: an emergency's signatures may come after the fact).
        verdicts.append(pol.check_emergency_approval(policy, request.emergency_approver, request.emergency_approver_role))
    else:
        verdicts.append(pol.check_approvals(policy, risk, request.approvals, request.environment))
        signed = signers_verdict(policy, request.environment, risk, request.operator, now)
        if signed is not None:
            verdicts.append(signed)
    verdicts.append(pol.check_window(policy, risk, request.environment, now))
    verdicts.append(pol.check_frequency(policy, risk, request.environment, now, past_changes(store, exclude=exclude)))
    if pol.needs_typed_context(policy, request.environment) and request.typed_context != request.context:
        verdicts.append(pol.Verdict("production context", False, f"type the context name {request.context!r} to start a production change"))
    return verdicts


def past_changes(store: RecordStore, *, exclude: str | None = None) -> list[pol.PastChange]:
    """The changes the frequency limits count, from the store's index (re-read only where a journal changed):
    the start form asks on every keystroke."""
    if not store.root.is_dir():
        return []
    return [
        pol.PastChange(parse_ts(e.created), e.risk, e.environment, e.emergency, e.change_id, e.operator)
        for e in load_index(store.root).entries if e.created and e.change_id != exclude
    ]


def evidence_gates(policy: Policy, environment: str, risk: str, sha256: str, to_version: str, store: RecordStore) -> list[pol.Verdict]:
    """Promotion order and a rehearsed rollback, where policy asks for them, from the records in the store."""
    promote = gates.needs_promotion_check(policy, environment)
    rehearse = gates.needs_rehearsal_check(policy, environment, risk)
    if not (promote or rehearse) or not store.root.is_dir():
        facts: list[gates.RecordFacts] = []
    else:
        wanted = set(policy.environments[environment].requires) | {n for n, e in policy.environments.items() if e.rehearsal}
        facts = [
            f for e in load_index(store.root).entries
            # A record that does not verify is no evidence of anything.
            if e.environment in wanted and e.ok
            and (f := gates.facts_from_journal(e.change_id, e.environment, e.outcome, e.to_version,
                                               store.root / e.rel / "journal.jsonl")) is not None
        ]
    verdicts = []
    if promote:
        verdicts.append(gates.check_promotion(policy, environment, sha256, to_version, facts))
    if rehearse:
        verdicts.append(gates.check_rollback_rehearsed(policy, sha256, facts))
    return verdicts
