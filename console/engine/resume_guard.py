"""What a resume must not change about a change (pure): the values it was admitted with, the policy it was admitted
under, the cluster its context reached.

A change is admitted once, at start: its parameters checked, its policy's verdicts recorded, its context pinned. A
resume from another terminal, directory or kubeconfig must carry on with that change, not a different one under the
same ID: each function here returns the sentence that refuses a resume that would, or None.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from console.engine.redact import MASK
from console.journal import events as ev
from console.journal.journal import Event

__all__ = ["changed_cluster", "changed_params", "changed_policy", "changed_secrets", "value_checks"]


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


# scrypt's cost for a secret's check: what interactive logins use (16 MiB, some 50 ms a value), so the check on record
# is no cheap way to guess a secret, while a start with a few secret parameters pays well under a second for them.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def _scrypt(value: str, salt: bytes) -> str:
    return hashlib.scrypt(value.encode(), salt=salt, **_SCRYPT).hex()


def value_checks(values: Mapping[str, Any], names: Iterable[str]) -> dict[str, dict[str, str]]:
    """A salted scrypt of each secret parameter's value: what lets a resume tell the value typed again from another,
    without the record holding the secret (``params.set`` shows it masked)."""
    checks = {}
    for name in names:
        if values.get(name):
            salt = os.urandom(16)
            checks[name] = {"salt": salt.hex(), "scrypt": _scrypt(str(values[name]), salt)}
    return checks


def changed_secrets(change_id: str, checks: Mapping[str, Any] | None, given: Mapping[str, Any]) -> str | None:
    """A secret parameter typed again on resume that is not the value the change started with (never repeating
    either value). A record from before the checks were kept, or a value with no check, is not compared."""
    wrong = []
    for name, check in (checks or {}).items():
        if name not in given or not isinstance(check, dict):
            continue
        try:
            salt = bytes.fromhex(str(check["salt"]))
        except (KeyError, ValueError):
            continue
        if not hmac.compare_digest(_scrypt(str(given[name]), salt), str(check.get("scrypt", ""))):
            wrong.append(name)
    if not wrong:
        return None
    return (f"{change_id}: the value given for secret parameter(s) {', '.join(wrong)} is not the one the change started "
            "with (its check on record does not match): give it again as it was")
