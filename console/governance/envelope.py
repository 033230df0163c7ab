"""What an approver signs, and how an approval travels.

An SSH signature (``sshsig``) carries no time and no claim beyond the key, so an approver does not sign the start
request alone: they sign a small envelope, canonical JSON of the request's SHA-256, their principal, the role
they approve as and the time they signed. The signature then binds all four: the request cannot be swapped, the
role cannot be relabelled, and the signing time that expiry is measured from cannot be moved.

An :class:`Approval` is what is collected from each approver: the principal they claim, the envelope, the
armored signature over it, and the start request they were shown (its digest is in the envelope, so the request
text is bound too; carrying it lets the verdict name the first field where it differs from the current request).

Pure: no clock, no files.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from console.errors import OpsConsoleError
from console.governance.request import canonical, parse_utc, utc_text

# The sshsig namespace: a signature made for git commits, or for any other purpose, never verifies as an approval.
SIGNATURE_NAMESPACE = "opsconsole-approval"
ENVELOPE_FORMAT = "opsconsole-approval/1"
BUNDLE_FORMAT = "opsconsole-approval-bundle/1"
ENVELOPE_FIELDS = ("format", "principal", "request_sha256", "role", "signed_at")
BUNDLE_FIELDS = ("envelope", "format", "principal", "request", "signature")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class EnvelopeError(OpsConsoleError, ValueError):
    """An envelope or an approval bundle cannot be read; the message is one sentence."""


@dataclass(frozen=True)
class Envelope:
    """The signed statement: ``principal`` approves the request with this digest as ``role``, at ``signed_at``."""

    principal: str
    role: str
    request_sha256: str
    signed_at: datetime


@dataclass(frozen=True)
class Approval:
    """One approval as collected: the claimed principal, the signed envelope, its signature and the request shown."""

    principal: str
    envelope: bytes
    signature: bytes
    request: bytes


def build_envelope(request: bytes, *, principal: str, role: str, signed_at: datetime) -> bytes:
    """The canonical bytes to sign for approving ``request`` (the start request's canonical bytes)."""
    for name, value in (("principal", principal), ("role", role)):
        if not isinstance(value, str) or not value.strip() or value != value.strip():
            raise EnvelopeError(f"an approval's {name} must be non-empty text without surrounding spaces")
    return canonical({
        "format": ENVELOPE_FORMAT,
        "principal": principal,
        "request_sha256": hashlib.sha256(request).hexdigest(),
        "role": role,
        "signed_at": utc_text(signed_at),
    })


def parse_envelope(data: bytes) -> Envelope:
    """Read an envelope; like the request, it must be exactly canonical."""
    obj = _json_object(data, "the signed envelope")
    _exact_fields(obj, ENVELOPE_FIELDS, "the signed envelope")
    if obj["format"] != ENVELOPE_FORMAT:
        raise EnvelopeError(f"the signed envelope's format is {obj['format']!r}, not {ENVELOPE_FORMAT!r}")
    for name in ("principal", "role", "request_sha256", "signed_at"):
        if not isinstance(obj[name], str) or not obj[name]:
            raise EnvelopeError(f"the signed envelope's {name} must be non-empty text")
    if not _SHA256.match(obj["request_sha256"]):
        raise EnvelopeError("the signed envelope's request_sha256 must be 64 lowercase hex digits")
    try:
        signed_at = parse_utc(obj["signed_at"], "the signed envelope's signed_at")
    except ValueError as exc:
        raise EnvelopeError(str(exc)) from None
    envelope = Envelope(obj["principal"], obj["role"], obj["request_sha256"], signed_at)
    if canonical(obj) != data:
        raise EnvelopeError("the signed envelope is not in canonical form (sorted keys, no spaces, UTF-8)")
    return envelope


def approval_to_bytes(approval: Approval) -> bytes:
    """One JSON file per approval; envelope and request are kept as their exact text, so nothing is re-encoded."""
    try:
        return canonical({
            "format": BUNDLE_FORMAT,
            "principal": approval.principal,
            "envelope": approval.envelope.decode("utf-8"),
            "request": approval.request.decode("utf-8"),
            "signature": approval.signature.decode("ascii"),
        }) + b"\n"
    except UnicodeDecodeError:
        raise EnvelopeError("an approval's envelope and request must be UTF-8 and its signature ASCII") from None


def approval_from_bytes(data: bytes, source: str = "the approval") -> Approval:
    """Read an approval file written by :func:`approval_to_bytes`; ``source`` names it in errors."""
    obj = _json_object(data.rstrip(b"\n"), source)
    _exact_fields(obj, BUNDLE_FIELDS, source)
    if obj["format"] != BUNDLE_FORMAT:
        raise EnvelopeError(f"{source}'s format is {obj['format']!r}, not {BUNDLE_FORMAT!r}")
    for name in BUNDLE_FIELDS:
        if not isinstance(obj[name], str) or not obj[name]:
            raise EnvelopeError(f"{source}'s {name} must be non-empty text")
    return Approval(
        principal=obj["principal"], envelope=obj["envelope"].encode("utf-8"),
        signature=obj["signature"].encode("utf-8"), request=obj["request"].encode("utf-8"),
    )


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise EnvelopeError(f"{what} is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise EnvelopeError(f"{what} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise EnvelopeError(f"{what} must be a JSON object")
    return obj


def _exact_fields(obj: dict[str, Any], expected: tuple[str, ...], what: str) -> None:
    for name in expected:
        if name not in obj:
            raise EnvelopeError(f"{what} lacks {name!r}")
    for name in obj:
        if name not in expected:
            raise EnvelopeError(f"{what} has an unknown field {name!r}")
