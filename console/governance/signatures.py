"""Signing and verifying approvals: ``ssh-keygen -Y sign`` to sign, the ``sshsig`` package to verify.

Signing runs the real ``ssh-keygen`` (so a key in an agent, a passphrase prompt or a hardware key behaves as
the approver expects). Verification is done in-process by ``sshsig`` for the key types it implements (ed25519
and RSA). For the others ssh-keygen can sign with (ECDSA, and the FIDO ``sk-`` keys that suit approvers best)
``sshsig`` raises ``NotImplementedError``; those fall back to ``ssh-keygen -Y verify`` against a one-line
allowed-signers file holding just the expected key, so no key type ssh-keygen accepts is refused.
"""

from __future__ import annotations

import secrets
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import sshsig

from console.errors import OpsConsoleError
from console.governance.allowed_signers import AllowedSigners, AllowedSignersError, SignerKey, parse_allowed_signers
from console.governance.envelope import SIGNATURE_NAMESPACE, Approval, build_envelope

# ssh-keygen answers in milliseconds; the bound is for a wedged process, not a slow one.
_SSH_KEYGEN_TIMEOUT_S = 60


class SigningError(OpsConsoleError, RuntimeError):
    """ssh-keygen could not sign; the message is one sentence with its own last line of complaint."""


def new_nonce() -> str:
    """128 random bits as hex: makes two requests for the same change different documents."""
    return secrets.token_hex(16)


def sign(request: bytes, *, key_path: str | Path, principal: str, role: str, signed_at: datetime | None = None,
         ssh_keygen: str = "ssh-keygen") -> Approval:
    """Approve ``request`` (canonical start-request bytes) as ``principal`` in ``role`` with the key at ``key_path``.

    The key path is what ``ssh-keygen -Y sign -f`` takes: a private key, or a public key whose private half is in
    the agent. ``signed_at`` defaults to now (UTC); it goes into the signed envelope.
    """
    when = signed_at if signed_at is not None else datetime.now(UTC)
    envelope = build_envelope(request, principal=principal, role=role, signed_at=when)
    signature = ssh_sign(envelope, key_path, ssh_keygen=ssh_keygen, what="approvals are")
    return Approval(principal=principal, envelope=envelope, signature=signature, request=request)


def ssh_sign(message: bytes, key_path: str | Path, *, ssh_keygen: str = "ssh-keygen", what: str) -> bytes:
    """The armored ``ssh-keygen -Y sign`` signature of ``message`` (namespace ``opsconsole-approval``) with the key
    at ``key_path``; ``what`` names what is signed, for the sentence when ssh-keygen is missing."""
    argv = [ssh_keygen, "-Y", "sign", "-f", str(key_path), "-n", SIGNATURE_NAMESPACE]
    try:
        # With no file argument ssh-keygen signs standard input and writes the armored signature to standard output.
        done = subprocess.run(argv, input=message, capture_output=True, timeout=_SSH_KEYGEN_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise SigningError(f"{ssh_keygen} is not installed; {what} signed with OpenSSH's ssh-keygen") from None
    except subprocess.TimeoutExpired:
        raise SigningError(f"ssh-keygen did not finish signing with {key_path} in {_SSH_KEYGEN_TIMEOUT_S} s") from None
    if done.returncode != 0 or b"-----BEGIN SSH SIGNATURE-----" not in done.stdout:
        raise SigningError(f"ssh-keygen could not sign with {key_path}: {_last_line(done.stderr)}")
    return done.stdout


def verify_signature(message: bytes, signature: bytes, key: SignerKey, namespace: str = SIGNATURE_NAMESPACE) -> bool:
    """Whether ``signature`` is ``key``'s signature over ``message`` in ``namespace`` (an approvals ``Verifier``)."""
    try:
        expected = sshsig.PublicKey.from_openssh_str(key.openssh())
        sshsig.verify(message, signature, [expected], namespace=namespace)
        return True
    except NotImplementedError:
        return verify_with_ssh_keygen(message, signature, key, namespace)
    # sshsig asserts on a signature whose inner algorithm does not match its key (a tampered blob), and raises
    # ValueError on a truncated one: both are a signature that does not verify.
    except (sshsig.InvalidSignature, ValueError, AssertionError):
        return False


def verify_with_ssh_keygen(message: bytes, signature: bytes, key: SignerKey, namespace: str = SIGNATURE_NAMESPACE,
                           ssh_keygen: str = "ssh-keygen") -> bool:
    """``ssh-keygen -Y verify`` against a one-line allowed-signers file holding only ``key``."""
    with tempfile.TemporaryDirectory(prefix="opsconsole-verify-") as tmp:
        allowed = Path(tmp, "allowed_signers")
        allowed.write_text(f'approver namespaces="{namespace}" {key.openssh()}\n', encoding="ascii")
        sig = Path(tmp, "approval.sig")
        sig.write_bytes(signature)
        argv = [ssh_keygen, "-Y", "verify", "-f", str(allowed), "-I", "approver", "-n", namespace, "-s", str(sig)]
        try:
            done = subprocess.run(argv, input=message, capture_output=True, timeout=_SSH_KEYGEN_TIMEOUT_S, check=False)
        except FileNotFoundError:
            raise SigningError(f"{ssh_keygen} is not installed; it verifies {key.key_type} keys") from None
        except subprocess.TimeoutExpired:
            raise SigningError(f"ssh-keygen did not finish verifying in {_SSH_KEYGEN_TIMEOUT_S} s") from None
    return done.returncode == 0


def load_allowed_signers(path: str | Path) -> AllowedSigners:
    """Read and parse an allowed-signers file; errors name the file and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AllowedSignersError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise AllowedSignersError(f"{path}: is not UTF-8 text (byte {exc.start})") from None
    return parse_allowed_signers(text, source=str(path))


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"
