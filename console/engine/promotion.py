"""Evidence gates: promotion in order, and a rollback rehearsed before a risky production change.

- **Promotion order.** An environment that policy marks ``requires = ["staging"]`` takes a change only when the
  record store holds a successful change of the same runbook (same SHA-256) to the same resolved ``to`` on each
  required environment. The verdict cites those changes by ID.
- **Rollback rehearsed.** A high- or critical-risk change to a production environment takes a change only when a
  rehearsal environment's record of the same runbook shows its rollback ran and finished (``rollback.finished``
  done), as the upgrade gate table's "rollback simulation evidence" asks; ``opsconsole rehearse`` makes one.

Both are overridable only by an emergency (a recorded break-glass). The checks are pure: the facts are gathered
from the store by ``record_facts`` and passed in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from console.config import Policy
from console.engine.policy import HIGH, Verdict


@dataclass(frozen=True)
class RecordFacts:
    """What the gates need of one change on record."""

    change_id: str
    environment: str
    outcome: str | None
    to_version: str
    runbook_sha256: str
    rollback_done: bool


def needs_promotion_check(policy: Policy, environment: str) -> bool:
    env = policy.environments.get(environment)
    return env is not None and bool(env.requires)


def needs_rehearsal_check(policy: Policy, environment: str, risk: str) -> bool:
    env = policy.environments.get(environment)
    if env is None or not env.production or risk not in HIGH:
        return False
    return env.rehearsed_rollback


def check_promotion(policy: Policy, environment: str, runbook_sha256: str, to_version: str, records: Iterable[RecordFacts]) -> Verdict:
    """Each environment policy requires before this one holds a success of this runbook to this version."""
    required = policy.environments[environment].requires
    facts = list(records)
    cited: list[str] = []
    missing: list[str] = []
    for name in required:
        found = [r for r in facts if r.environment == name and r.outcome == "success"
                 and r.runbook_sha256 == runbook_sha256 and r.to_version == to_version]
        if found:
            cited.append(f"{name}: {found[-1].change_id}")
        else:
            missing.append(name)
    if missing:
        return Verdict(
            "promotion order", False,
            f"{environment} takes a change only after it succeeded on {', '.join(required)}; no successful change of "
            f"this runbook (sha256 {runbook_sha256[:12]}) to {to_version} on {', '.join(missing)}", True,
        )
    return Verdict("promotion order", True, f"promoted after {'; '.join(cited)}", True)


def check_rollback_rehearsed(policy: Policy, runbook_sha256: str, records: Iterable[RecordFacts]) -> Verdict:
    """A rehearsal environment's record of this runbook in which the rollback ran and finished."""
    rehearsals = {name for name, env in policy.environments.items() if env.rehearsal}
    found = [r for r in records if r.environment in rehearsals and r.runbook_sha256 == runbook_sha256 and r.rollback_done]
    if not found:
        return Verdict(
            "rollback rehearsed", False,
            f"a high-risk production change needs its rollback rehearsed first: no rehearsal record of this runbook "
            f"(sha256 {runbook_sha256[:12]}) whose rollback finished (run: opsconsole rehearse RUNBOOK)", True,
        )
    return Verdict("rollback rehearsed", True, f"rollback rehearsed in {found[-1].change_id}", True)


def facts_from_journal(change_id: str, environment: str, outcome: str | None, to_version: str, journal: Path) -> RecordFacts | None:
    """Read the runbook's hash and whether a rollback finished from one journal (a few lines of each change)."""
    sha = ""
    rolled_back = False
    try:
        with open(journal, "rb") as fh:
            for raw in fh:
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue  # a torn tail: the facts before it stand, and verify reports the damage
                kind = event.get("type")
                data = event.get("data") or {}
                if kind == "change.created":
                    sha = str((data.get("runbook") or {}).get("sha256", ""))
                elif kind == "rollback.finished" and data.get("status") == "done":
                    rolled_back = True
    except OSError:
        return None
    return RecordFacts(change_id, environment, outcome, to_version, sha, rolled_back)
