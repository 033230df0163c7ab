"""Every signature a change record holds, checked offline: the approvals it started on and the close-out.

A record keeps what a check months later needs and nothing else: the allowed-signers file as it was at the start
(``artifacts/allowed_signers``, its SHA-256 in the journal), the start request (``request.json``, likewise), each
approval file (``approvals/*.json``, hashed into ``approval.verified``) and the close-out statement with its
signature (``signature.closeout``). :func:`check_record` reports, one sentence each, who signed what and whether it
verifies against that recorded file; no clock, no policy file and no cluster are consulted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.governance import request as requests
from console.governance.allowed_signers import (
    AllowedSigners,
    AllowedSignersError,
    SignatureFormatError,
    inspect_signature,
    parse_allowed_signers,
)
from console.governance.closeout import CloseoutError, parse_statement
from console.governance.envelope import SIGNATURE_NAMESPACE, EnvelopeError, approval_from_bytes, parse_envelope
from console.governance.signatures import verify_signature

APPROVAL_REQUESTED = "approval.requested"
APPROVAL_VERIFIED = "approval.verified"
SIGNATURE_CLOSEOUT = "signature.closeout"
SIGNATURE_RETRO_APPROVAL = "signature.retro_approval"
POLICY_CHECKED = "policy.checked"


@dataclass(frozen=True)
class Finding:
    """One signature (or the file it is checked against), and whether it holds."""

    ok: bool
    text: str


def check_record(change_dir: Path, events: Sequence[Any]) -> list[Finding]:
    """Check every signature in the record at ``change_dir`` whose journal holds ``events``; [] when it has none."""
    signed = [e for e in events if e.type in (APPROVAL_VERIFIED, SIGNATURE_CLOSEOUT, SIGNATURE_RETRO_APPROVAL)]
    if not signed:
        return []
    ref = next((e.data.get("allowed_signers") for e in events
                if e.type in (APPROVAL_REQUESTED, POLICY_CHECKED) and isinstance(e.data.get("allowed_signers"), dict)), None)
    if ref is None:
        return [Finding(False, "the record holds signatures but names no allowed-signers file to check them against.")]
    signers, problem = _recorded_signers(change_dir, ref)
    if signers is None:
        return [Finding(False, problem)]
    out = [Finding(True, f"allowed signers: {ref['path']} (sha256 {ref['sha256'][:12]}…, as recorded at the start).")]
    for event in signed:
        if event.type == APPROVAL_VERIFIED:
            out += _check_approvals(change_dir, event.data, signers)
        elif event.type == SIGNATURE_RETRO_APPROVAL:  # an emergency's approval, given after the fact
            out += _check_approvals(change_dir, {"request": event.data.get("request"), "accepted": [event.data]},
                                    signers, after=True)
        else:
            out.append(_check_closeout(event.data, signers, events))
    return out


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _recorded_signers(change_dir: Path, ref: Mapping[str, Any]) -> tuple[AllowedSigners | None, str]:
    path = change_dir / str(ref.get("path"))
    digest = file_sha256(path)
    if digest is None:
        return None, f"the recorded allowed-signers file {ref.get('path')} is missing."
    if digest != ref.get("sha256"):
        return None, f"the recorded allowed-signers file {ref.get('path')} was altered (its SHA-256 is not the journal's)."
    try:
        return parse_allowed_signers(path.read_text(encoding="utf-8"), source=str(ref.get("path"))), ""
    except (AllowedSignersError, UnicodeDecodeError) as exc:
        return None, f"the recorded allowed-signers file cannot be read: {exc}."


def _check_approvals(change_dir: Path, data: Mapping[str, Any], signers: AllowedSigners, *,
                     after: bool = False) -> list[Finding]:
    request_ref = data.get("request") or {}
    request_sha = request_ref.get("sha256")
    out: list[Finding] = []
    if file_sha256(change_dir / str(request_ref.get("path"))) != request_sha:
        out.append(Finding(False, f"the start request {request_ref.get('path')} is missing or altered."))
    for entry in data.get("accepted") or []:
        out.append(_check_approval(change_dir, entry, str(request_sha), signers, after=after))
    return out


def _check_approval(change_dir: Path, entry: Mapping[str, Any], request_sha: str, signers: AllowedSigners, *,
                    after: bool = False) -> Finding:
    who, role = entry.get("principal"), entry.get("role")
    file = entry.get("file") or {}
    label = f"approval by {who} as {role!r}"
    path = change_dir / str(file.get("path"))
    if file_sha256(path) != file.get("sha256"):
        return Finding(False, f"{label}: its file {file.get('path')} is missing or altered.")
    try:
        approval = approval_from_bytes(path.read_bytes(), str(file.get("path")))
        info = inspect_signature(approval.signature)
        envelope = parse_envelope(approval.envelope)
    except (EnvelopeError, SignatureFormatError) as exc:
        return Finding(False, f"{label}: {exc}.")
    owner = signers.owner_of(info.key)
    if owner != who or envelope.principal != who:
        return Finding(False, f"{label}: signed with a key that is not {who}'s in the recorded allowed-signers file.")
    if not verify_signature(approval.envelope, approval.signature, info.key, SIGNATURE_NAMESPACE):
        return Finding(False, f"{label}: the signature does not verify against {who}'s key {info.key.fingerprint}.")
    if envelope.request_sha256 != request_sha or envelope.role != role:
        return Finding(False, f"{label}: the signed statement is for another request or role.")
    if role not in signers.roles_of(who, info.key):
        return Finding(False, f"{label}: the recorded allowed-signers file does not give {who} that role.")
    when = requests.utc_text(envelope.signed_at)
    what = "the emergency's start request after the fact" if after else "the start request"
    return Finding(True, f"{who} signed {what} as {role!r} at {when} (key {info.key.fingerprint}): verified.")


def _check_closeout(data: Mapping[str, Any], signers: AllowedSigners, events: Sequence[Any]) -> Finding:
    who = data.get("principal")
    try:
        message = str(data.get("statement", "")).encode("utf-8")
        signature = str(data.get("signature", "")).encode("ascii")
        stated = parse_statement(message)
        info = inspect_signature(signature)
    except (CloseoutError, SignatureFormatError, UnicodeEncodeError, ValueError) as exc:
        return Finding(False, f"close-out signature by {who}: {exc}.")
    if signers.owner_of(info.key) != who or stated.principal != who:
        return Finding(False, f"close-out signature by {who}: made with a key that is not {who}'s.")
    if not verify_signature(message, signature, info.key, SIGNATURE_NAMESPACE):
        return Finding(False, f"close-out signature by {who}: it does not verify against key {info.key.fingerprint}.")
    closed = next((e for e in events if e.type == "change.closed"), None)
    if closed is None or stated.head != closed.hash:
        return Finding(False, f"close-out signature by {who}: it signs head {stated.head[:12]}…, which is not this "
                              "journal's change.closed event.")
    when = requests.utc_text(stated.signed_at)
    return Finding(True, f"{who} signed the close-out (head {stated.head[:12]}…) at {when} "
                         f"(key {info.key.fingerprint}): verified.")
