"""The operator's signature over a closed change: the chain's head hash, signed with their SSH key.

The close-out prints the final chain hash to be kept elsewhere; signing it makes the record say, verifiably, who
closed it. The signed statement is canonical JSON naming its own format (so an approval envelope can never pass
for one, nor one for an approval), the change ID, the head hash, the signer and the time::

    {"change_id":"CHG-2026-0042","format":"opsconsole-closeout/1","head":"...","principal":"olga","signed_at":"..."}

It is signed in the same ``opsconsole-approval`` namespace as approvals, so the one allowed-signers line per
person (restricted to that namespace) covers both. The statement and its armored signature go into a
``signature.closeout`` event appended after ``change.closed``.

``statement`` and ``parse_statement`` are pure; ``sign_head`` runs ssh-keygen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from console.errors import OpsConsoleError
from console.governance.allowed_signers import AllowedSignersError, parse_allowed_signers
from console.governance.request import canonical, parse_utc, utc_text
from console.governance.signatures import ssh_sign

CLOSEOUT_FORMAT = "opsconsole-closeout/1"
STATEMENT_FIELDS = ("change_id", "format", "head", "principal", "signed_at")


class CloseoutError(OpsConsoleError, ValueError):
    """A close-out statement cannot be read; one sentence."""


@dataclass(frozen=True)
class Statement:
    """``principal`` closed change ``change_id`` with its journal ending at ``head``, signed at ``signed_at``."""

    change_id: str
    head: str
    principal: str
    signed_at: datetime


def statement(change_id: str, head: str, principal: str, signed_at: datetime) -> bytes:
    """The canonical bytes the operator signs."""
    return canonical({
        "change_id": change_id, "format": CLOSEOUT_FORMAT, "head": head, "principal": principal,
        "signed_at": utc_text(signed_at),
    })


def parse_statement(data: bytes) -> Statement:
    try:
        obj: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CloseoutError("the close-out statement is not JSON") from None
    if not isinstance(obj, dict) or sorted(obj) != list(STATEMENT_FIELDS):
        raise CloseoutError(f"the close-out statement must hold exactly {', '.join(STATEMENT_FIELDS)}")
    if obj["format"] != CLOSEOUT_FORMAT:
        raise CloseoutError(f"the close-out statement's format is {obj['format']!r}, not {CLOSEOUT_FORMAT!r}")
    if canonical(obj) != data:
        raise CloseoutError("the close-out statement is not in canonical form")
    return Statement(obj["change_id"], obj["head"], obj["principal"], parse_utc(obj["signed_at"], "signed_at"))


def sign_head(message: bytes, key_path: str | Path, ssh_keygen: str = "ssh-keygen") -> bytes:
    """The armored ``ssh-keygen -Y sign`` signature of ``message`` with the key at ``key_path``."""
    return ssh_sign(message, key_path, ssh_keygen=ssh_keygen, what="the close-out is")


def closeout_signature(*, change_dir: Path, events: list[Any], key: Any, key_path: Path, now: datetime) -> dict[str, Any]:
    """The ``signature.closeout`` event data for a closed change, signed with ``key_path`` (whose public half is
    ``key``); raises CloseoutError when the record names no allowed-signers file or the key is not in it."""
    closed = next((e for e in events if e.type == "change.closed"), None)
    if closed is None:
        raise CloseoutError("the change is not closed, so there is no close-out to sign")
    ref = next((e.data.get("allowed_signers") for e in events
                if e.type in ("approval.requested", "policy.checked") and isinstance(e.data.get("allowed_signers"), dict)), None)
    if ref is None:
        raise CloseoutError("the record holds no allowed-signers file, so a close-out signature could not be checked")
    try:
        signers = parse_allowed_signers((change_dir / str(ref["path"])).read_text(encoding="utf-8"), str(ref["path"]))
    except (OSError, AllowedSignersError) as exc:
        raise CloseoutError(f"the record's allowed-signers file cannot be read ({exc})") from None
    principal = signers.owner_of(key)
    if principal is None:
        raise CloseoutError(f"key {key.fingerprint} is not in the record's allowed-signers file")
    change_id = str(events[0].data.get("change_id") or "")
    message = statement(change_id, closed.hash, principal, now)
    signature = sign_head(message, key_path)
    return {
        "principal": principal, "head": closed.hash, "signed_at": utc_text(now), "key_fingerprint": key.fingerprint,
        "statement": message.decode("utf-8"), "signature": signature.decode("ascii"),
    }
