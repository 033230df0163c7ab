"""What a resume must not change about a change (pure): the values it was admitted with, the policy it was admitted
under, the cluster its context reached.

A change is admitted once, at start: its parameters checked, its policy's verdicts recorded, its context pinned. A
resume from another terminal, directory or kubeconfig must carry on with that change, not a different one under the
same ID: each function here returns the sentence that refuses a resume that would, or None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from console.engine.redact import MASK
from console.journal import events as ev
from console.journal.journal import Event

__all__ = ["changed_cluster", "changed_params", "changed_policy"]


def changed_params(change_id: str, recorded: Mapping[str, Any], given: Mapping[str, Any]) -> str | None:
    """A parameter given again with another value than the one on record (a secret's, masked on record, and a value
    the redaction masked in part cannot be compared, and are not)."""
    changed = [(name, recorded[name], value) for name, value in given.items()
               if name in recorded and MASK not in str(recorded[name]) and str(value) != str(recorded[name])]
    if not changed:
        return None
    what = "; ".join(f"{name}={old} on record, {name}={new} given" for name, old, new in changed)
    return (f"{change_id} was admitted with other values ({what}): a resume carries on with the values the change "
            "was admitted with (leave the --param out, or start a new change for other values)")


def changed_policy(change_id: str, events: Sequence[Event], digest: str, source: str) -> str | None:
    """The policy here is not the one whose verdicts the change was admitted on (its file's SHA-256 on record)."""
    admitted = next((e.data.get("policy_sha256") for e in reversed(events) if e.type == ev.POLICY_CHECKED), None)
    if not admitted or admitted == digest:
        return None
    return (f"{change_id} was admitted under another policy (sha256 {admitted[:12]}…) than this one ({source}, sha256 "
            f"{digest[:12]}…): resume where that policy file is, or name it with --config; its checks, redaction and "
            "locks are what the change was admitted with")


def changed_cluster(change_id: str, context: str, recorded: Mapping[str, str] | None, here: Mapping[str, str]) -> str | None:
    """The context of the change's name reaches another cluster through this kubeconfig than at start."""
    if not recorded or not recorded.get("server"):
        return None  # a record from before the cluster was kept: nothing to compare
    if recorded.get("server") != here.get("server"):
        where = f"reaches {here.get('server') or 'no server'}"
    elif recorded.get("ca_sha256", "") != here.get("ca_sha256", ""):
        where = f"reaches {here.get('server')} with another CA (another cluster at that address)"
    else:
        return None
    return (f"{change_id} was started on the cluster at {recorded['server']}; context {context!r} in this kubeconfig "
            f"{where}: resume with the kubeconfig the change started with (--kubeconfig)")
