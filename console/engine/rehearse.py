"""``opsconsole rehearse``: run a change and then its rollback on a rehearsal environment, unattended, so the
record proves the rollback works (the evidence a high-risk production change needs before it starts).

The driver is line mode with every question answered by the rehearsal itself: confirmations with the word they
ask for, manual steps as done (noted as rehearsed), approval steps by ``rehearsal``, a failure by rolling back.
When the forward steps are done it starts the rollback on purpose instead of closing, runs it, and closes the
change as rolled back. Everything is recorded as in any change; the confirmations say who answered them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
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
    return None


def has_terraform(loaded: LoadedRunbook) -> bool:
    return any(s.kind == "terraform" for _, section in loaded.runbook.sections() for s in section)


OVERRIDE_NAME = "zz_opsconsole_rehearsal_override.tf"


def rehearsal_copy(loaded: LoadedRunbook, dest: Path) -> Path:
    """Copy the runbook's directory to ``dest`` with every Terraform configuration in it pointed at a local state
    file inside the copy, and return the copied runbook's path.

    A Terraform step acts on whatever backend its directory names; a rehearsal must never touch real state, so it
    runs on the copy, whose backend override (a ``*_override.tf`` file, which Terraform merges last) keeps the
    state next to it. A local state file already in the directory comes along as the starting point; a remote
    one does not, and the plan then starts from nothing, as a fresh environment would. The runbook file is copied
    byte for byte, so its SHA-256, the evidence's key, is the original's.
    """
    source = loaded.path.resolve().parent
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(".terraform", "*.tfplan", ".terraform.lock.hcl.bak"),
                    dirs_exist_ok=True)
    for tf_dir in sorted({p.parent for p in dest.rglob("*.tf")}):
        state = (tf_dir / "terraform.tfstate").resolve()
        (tf_dir / OVERRIDE_NAME).write_text(
            "# Written by opsconsole rehearse: this copy keeps its state here, never in a real backend.\n"
            f'terraform {{\n  backend "local" {{\n    path = {json.dumps(str(state))}\n  }}\n}}\n',
            encoding="utf-8",
        )
    return dest / loaded.path.name


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
