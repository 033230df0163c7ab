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
    typed_context: str | None = None
    kubeconfig: str | None = None
    description: str | None = None
    # The runbook as the start form already parsed it: used only while the file still has exactly its text.
    loaded: LoadedRunbook | None = None
    # Break-glass past the cluster's change lock held live by another console: (reason, approver), recorded.
    lock_break_glass: tuple[str, str] | None = None


def evaluate_policy(request: StartRequest, loaded: LoadedRunbook, policy: Policy, store: RecordStore, now: datetime) -> list[pol.Verdict]:
    """Every policy verdict for a change that has not started yet (writes nothing)."""
    rb = loaded.runbook
    risk = rb.metadata.risk
    verdicts = [pol.check_context(policy, request.environment, request.context)]
    if request.environment not in rb.metadata.environments:
        verdicts.append(pol.Verdict(
            "runbook environments", False,
            f"the runbook is for {', '.join(rb.metadata.environments)}, not {request.environment}",
        ))
    verdicts.append(pol.check_approvals(policy, risk, request.approvals))
    verdicts.append(pol.check_window(policy, risk, request.environment, now))
    verdicts.append(pol.check_frequency(policy, risk, request.environment, now, past_changes(store)))
    if pol.needs_typed_context(policy, request.environment) and request.typed_context != request.context:
        verdicts.append(pol.Verdict("production context", False, f"type the context name {request.context!r} to start a production change"))
    return verdicts


def past_changes(store: RecordStore) -> list[pol.PastChange]:
    """The changes the frequency limits count, from the store's index (re-read only where a journal changed):
    the start form asks on every keystroke."""
    if not store.root.is_dir():
        return []
    return [
        pol.PastChange(parse_ts(e.created), e.risk, e.environment, e.emergency)
        for e in load_index(store.root).entries if e.created
    ]
