"""``opsconsole rehearse``: run a change and then its rollback on a rehearsal environment, unattended, so the
record proves the rollback works (the evidence a high-risk production change needs before it starts).

The driver is line mode with every question answered by the rehearsal itself: confirmations with the word they
ask for, manual steps as done (noted as rehearsed), approval steps by ``rehearsal``, a failure by rolling back.
When the forward steps are done it starts the rollback on purpose instead of closing, runs it, and closes the
change as rolled back. Everything is recorded as in any change; the confirmations say who answered them.
"""

from __future__ import annotations

from typing import Any

from console.config import Policy
from console.engine.linemode import LineDriver
from console.engine.state import Next
from console.errors import OpsConsoleError
from console.runbook.loader import LoadedRunbook

REHEARSAL_REASON = "rehearsal: the rollback is run on purpose, to prove it works"


class RehearsalError(OpsConsoleError):
    """A runbook or environment that cannot be rehearsed; the message says why."""


def rehearsable(policy: Policy, environment: str, loaded: LoadedRunbook) -> str | None:
    """None, or one sentence saying why this runbook cannot be rehearsed on this environment (checked before the
    change exists, so a refusal leaves nothing behind)."""
    env = policy.environments.get(environment)
    if env is None or not env.rehearsal:
        return f"{environment} is not a rehearsal environment: rehearse runs only where policy marks rehearsal = true"
    steps = [s for _, section in loaded.runbook.sections() for s in section]
    if not any(s.rollback_ids for s in steps):
        return f"{loaded.path}: no step names rollback steps, so there is no rollback to rehearse"
    terraform = [s.id for s in steps if s.kind == "terraform"]
    if terraform:
        # A Terraform step acts on whatever backend its directory names; a rehearsal must never touch real state.
        return (f"{loaded.path}: Terraform steps ({', '.join(terraform)}) are not rehearsed: their backend may be "
                "real state; rehearse them on a copy of their directory with local state")
    return None


class RehearsalDriver(LineDriver):
    """Line mode that answers for itself and rolls back once the forward steps are done."""

    def _answer(self, section: str, step_id: str, prompt: str) -> Any:
        nxt = self.s.next()
        if section == "confirm":
            value: Any = nxt.word if nxt.confirm == "typed" and nxt.word else "yes"
        elif section == "manual":
            value = {"answer": "done", "note": "rehearsal: answered by opsconsole rehearse"}
        elif section == "failure":
            value = {"choice": "rollback" if "rollback" in nxt.options else "abort"}
        else:
            raise RehearsalError(f"rehearse cannot answer a {section} question (step {step_id})")
        shown = value if not isinstance(value, dict) else value.get("choice", value.get("answer", ""))
        self.say(f"{prompt}{shown}  (rehearsal)")
        return value

    def _on_approval(self, nxt: Next) -> int | None:
        self._header(nxt)
        assert nxt.step is not None
        self.s.approve("rehearsal", nxt.step.role or "", "opsconsole rehearse")
        return None

    def _count_down(self, nxt: Next) -> int | None:
        self.s.auto_rollback(countdown_s=0)
        self.say("   rolling back (automatic, recorded)")
        return None

    def _on_close(self, nxt: Next) -> int | None:
        if not self.s.state.rollback_queue and not self._rolled_back():
            self.say("")
            self.say("== forward steps done: rolling back on purpose (rehearsal)")
            self.s.start_rollback(REHEARSAL_REASON)
            return None
        head = self.s.close("rolled_back", followups=[], signoff_name=self.s.operator, signoff_role="operator")
        finished = self._rolled_back()
        self.say(f"== {self.s.change_id} closed: rolled back ({'the rollback finished' if finished else 'the rollback did not finish'})")
        self.say(f"   record: {self.s.ref.path / 'record.md'}")
        self.say(f"   final chain hash: {head}")
        if self.s.shared:
            self.say(f"   team store: {self.s.shared}")
        return 0 if finished else 1

    def _rolled_back(self) -> bool:
        return any(e.type == "rollback.finished" and e.data.get("status") == "done" for e in self.s.events)
