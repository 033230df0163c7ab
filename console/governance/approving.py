"""The approver's side: which key signs, as whom and in which role, and the start request shown in human form.

``opsconsole approve`` needs no cluster and no record store of its own: a request file (or the change's
``request.json``), an SSH key and, to say who the key belongs to, the allowed-signers file.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from console.errors import OpsConsoleError
from console.governance import request as requests
from console.governance.allowed_signers import AllowedSigners, SignerKey

# The keys ssh-keygen itself tries first, in its order; an approver with another key names it with --key.
DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_ed25519_sk", "id_ecdsa_sk", "id_rsa")


class ApproveError(OpsConsoleError):
    """An approval cannot be made as asked; one sentence saying what to give."""


def default_key(home: Path | None = None) -> Path | None:
    """The first of ``~/.ssh/id_ed25519`` (then ecdsa, the FIDO keys, rsa) that exists."""
    ssh = (home or Path(os.path.expanduser("~"))) / ".ssh"
    return next((ssh / name for name in DEFAULT_KEYS if (ssh / name).is_file()), None)


def public_key(key_path: Path) -> SignerKey:
    """The public half of ``key_path``: the ``.pub`` file itself, the one beside a private key, or ``ssh-keygen -y``."""
    candidates = [key_path] if key_path.suffix == ".pub" else [key_path.with_name(key_path.name + ".pub")]
    for candidate in candidates:
        if candidate.is_file():
            try:
                return SignerKey.from_openssh(candidate.read_text(encoding="utf-8"))
            except (ValueError, OSError) as exc:
                raise ApproveError(f"{candidate}: not an SSH public key ({exc})") from None
    try:
        done = subprocess.run(["ssh-keygen", "-y", "-f", str(key_path)], capture_output=True, text=True, timeout=60,
                              check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        raise ApproveError(f"{key_path}: its public key cannot be read (ssh-keygen -y failed)") from None
    if done.returncode != 0:
        raise ApproveError(f"{key_path}: its public key cannot be read ({done.stderr.strip() or 'ssh-keygen -y failed'})")
    return SignerKey.from_openssh(done.stdout)


def identity(*, key: SignerKey, signers: AllowedSigners | None, principal: str | None, role: str | None,
             required: Mapping[str, int] | None) -> tuple[str, str]:
    """Who signs and in which role: as given, else as the allowed-signers file says for this key."""
    owner = signers.owner_of(key) if signers is not None else None
    if principal is None:
        if owner is None:
            where = f"is not in {signers.source}" if signers is not None else "cannot be looked up (no allowed-signers file)"
            raise ApproveError(f"key {key.fingerprint} {where}: name yourself with --as")
        principal = owner
    if role is None:
        held = sorted(signers.roles_of(principal, key)) if signers is not None else []
        wanted = [r for r in held if required is None or r in required]
        if len(wanted) != 1:
            options = ", ".join(wanted or held) or "none"
            raise ApproveError(f"say which role you approve as with --role (this key holds: {options})")
        role = wanted[0]
    return principal, role


def request_lines(req: requests.StartRequest, digest: str, required: Mapping[str, int] | None = None) -> list[str]:
    """The start request as an approver reads it before signing."""
    lines = [
        f"Change       {req.change_id}  (request sha256 {digest})",
        f"Runbook      {req.runbook_id}  sha256 {req.runbook_sha256}",
        f"Version      {req.from_version} → {req.to_version}",
        f"Where        environment {req.environment}, kube context {req.context}",
        f"Operator     {req.operator}",
        f"Policy       sha256 {req.policy_sha256}",
        f"Requested    {requests.utc_text(req.created_at)}  nonce {req.nonce}",
    ]
    if required:
        lines.append("Needs        " + ", ".join(f"{n} × {role}" for role, n in sorted(required.items())))
    lines.append("Parameters" + ("" if req.parameters else "   none"))
    lines += [f"  {k} = {v}" for k, v in sorted(req.parameters.items())]
    lines.append("Plan (every command exactly as it will run)")
    for entry in req.plan:
        lines.append(f"  {entry.section:<12} {entry.step_id:<20} {entry.command or '(' + entry.kind + ')'}  "
                     f"[namespace {entry.namespace}]")
    pre = req.preflight
    lines.append(f"Preflight    kubectl {pre.get('kubectl', '?')}, server {pre.get('server', '?')}")
    for question, answer in sorted((pre.get("can_i") or {}).items()):
        lines.append(f"  can-i {question}: {answer}")
    return lines
