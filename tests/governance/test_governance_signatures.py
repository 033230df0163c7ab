"""Signing with the real ssh-keygen, verifying with sshsig, the ssh-keygen fallback, and approval files."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sshsig

from console.governance import approvals
from console.governance.allowed_signers import SignerKey, format_line, inspect_signature, parse_allowed_signers
from console.governance.envelope import (
    Approval,
    EnvelopeError,
    approval_from_bytes,
    approval_to_bytes,
    build_envelope,
    parse_envelope,
)
from console.governance.signatures import (
    SigningError,
    new_nonce,
    sign,
    verify_signature,
    verify_with_ssh_keygen,
)
from tests.support.approvers import NOW, OPERATOR, SIGNED, TTL, Team, make_key, make_request

REQUEST = make_request()


def test_sign_makes_an_armored_signature_over_the_envelope(team: Team) -> None:
    approval = sign(REQUEST, key_path=team.keys["alice"], principal="alice", role="senior-engineer", signed_at=SIGNED)
    assert approval.signature.startswith(b"-----BEGIN SSH SIGNATURE-----\n")
    assert approval.request == REQUEST
    assert approval.envelope == build_envelope(REQUEST, principal="alice", role="senior-engineer", signed_at=SIGNED)
    envelope = parse_envelope(approval.envelope)
    assert (envelope.principal, envelope.role, envelope.signed_at) == ("alice", "senior-engineer", SIGNED)
    key = SignerKey.from_openssh(team.pub("alice"))
    assert verify_signature(approval.envelope, approval.signature, key)
    assert not verify_signature(approval.envelope + b" ", approval.signature, key)
    assert not verify_signature(approval.envelope, approval.signature, SignerKey.from_openssh(team.pub("bob")))
    assert not verify_signature(approval.envelope, approval.signature, key, namespace="git")


def test_the_signing_time_defaults_to_now(team: Team) -> None:
    before = datetime.now(UTC)
    approval = sign(REQUEST, key_path=team.keys["bob"], principal="bob", role="security")
    signed_at = parse_envelope(approval.envelope).signed_at
    assert before <= signed_at <= datetime.now(UTC)


def test_signing_with_a_missing_key_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(SigningError) as err:
        sign(REQUEST, key_path=tmp_path / "nokey", principal="alice", role="security")
    message = str(err.value)
    assert message.startswith(f"ssh-keygen could not sign with {tmp_path / 'nokey'}: ")
    assert "\n" not in message


def test_signing_without_ssh_keygen_says_so(team: Team) -> None:
    with pytest.raises(SigningError, match="no-such-ssh-keygen is not installed"):
        sign(REQUEST, key_path=team.keys["alice"], principal="alice", role="security", ssh_keygen="no-such-ssh-keygen")


def test_ecdsa_keys_fall_back_to_ssh_keygen(tmp_path: Path) -> None:
    # sshsig implements ed25519 and RSA only; ssh-keygen signs with ECDSA (and FIDO sk- keys) too.
    key = make_key(tmp_path / "erin", "ecdsa")
    pub = key.with_suffix(".pub").read_text()
    approval = sign(REQUEST, key_path=key, principal="erin", role="security", signed_at=SIGNED)
    with pytest.raises(NotImplementedError):
        sshsig.verify(approval.envelope, approval.signature, [], namespace="opsconsole-approval")
    signer = SignerKey.from_openssh(pub)
    assert signer.key_type == "ecdsa-sha2-nistp256"
    assert verify_signature(approval.envelope, approval.signature, signer)
    assert not verify_signature(approval.envelope.replace(b"security", b"senior-engineer"), approval.signature, signer)
    assert verify_with_ssh_keygen(approval.envelope, approval.signature, signer)

    allowed = parse_allowed_signers(format_line("erin", ["security"], pub) + "\n")
    verdict = approvals.evaluate(
        required={"security": 1}, signers=allowed, request=REQUEST, approvals=[approval], operator=OPERATOR,
        approval_ttl=TTL, now=NOW, verifier=verify_signature,
    )
    assert verdict.approved, verdict.sentences()
    tampered = replace(approval, envelope=approval.envelope.replace(b"22:05", b"22:06"))
    verdict = approvals.evaluate(
        required={"security": 1}, signers=allowed, request=REQUEST, approvals=[tampered], operator=OPERATOR,
        approval_ttl=TTL, now=NOW, verifier=verify_signature,
    )
    assert [r.code for r in verdict.refused] == [approvals.FORGED]


def test_rsa_keys_verify_in_process(tmp_path: Path) -> None:
    key = make_key(tmp_path / "rita", "rsa")
    approval = sign(REQUEST, key_path=key, principal="rita", role="security", signed_at=SIGNED)
    signer = SignerKey.from_openssh(key.with_suffix(".pub").read_text())
    # sshsig handles it itself: no NotImplementedError, so no process is started for it.
    sshsig.verify(approval.envelope, approval.signature, [sshsig.PublicKey.from_openssh_str(signer.openssh())],
                  namespace="opsconsole-approval")
    assert verify_signature(approval.envelope, approval.signature, signer)


def test_a_truncated_signature_does_not_verify(team: Team) -> None:
    approval = sign(REQUEST, key_path=team.keys["alice"], principal="alice", role="security")
    key = SignerKey.from_openssh(team.pub("alice"))
    lines = approval.signature.decode().splitlines()
    cut = "\n".join([lines[0], lines[1][:20], lines[-1]]).encode()
    assert not verify_signature(approval.envelope, cut, key)


def test_an_approval_file_round_trips_and_still_verifies(team: Team, tmp_path: Path) -> None:
    approval = sign(REQUEST, key_path=team.keys["bob"], principal="bob", role="security", signed_at=SIGNED)
    path = tmp_path / "bob.approval.json"
    path.write_bytes(approval_to_bytes(approval))
    again = approval_from_bytes(path.read_bytes(), source=str(path))
    assert again == approval
    assert json.loads(path.read_bytes())["format"] == "opsconsole-approval-bundle/1"
    verdict = approvals.evaluate(
        required={"security": 1}, signers=team.allowed, request=REQUEST, approvals=[again], operator=OPERATOR,
        approval_ttl=TTL, now=NOW, verifier=verify_signature,
    )
    assert verdict.approved, verdict.sentences()
    assert inspect_signature(again.signature).key == SignerKey.from_openssh(team.pub("bob"))


@pytest.mark.parametrize(("data", "message"), [
    (b"{", "bob.json is not JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    (b"{}", "bob.json lacks 'envelope'"),
    (b'{"envelope":"e","format":"x","principal":"p","request":"r","signature":"s"}',
     "bob.json's format is 'x', not 'opsconsole-approval-bundle/1'"),
    (b'{"envelope":"e","format":"opsconsole-approval-bundle/1","principal":"","request":"r","signature":"s"}',
     "bob.json's principal must be non-empty text"),
    (b'{"envelope":"e","extra":1,"format":"opsconsole-approval-bundle/1","principal":"p","request":"r","signature":"s"}',
     "bob.json has an unknown field 'extra'"),
])
def test_a_bad_approval_file_is_one_sentence(data: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError) as err:
        approval_from_bytes(data, source="bob.json")
    assert str(err.value) == message


def test_envelopes_are_strict() -> None:
    good = build_envelope(REQUEST, principal="alice", role="security", signed_at=SIGNED)
    with pytest.raises(EnvelopeError, match="not in canonical form"):
        parse_envelope(json.dumps(json.loads(good)).encode())
    with pytest.raises(EnvelopeError, match="lacks 'role'"):
        obj = json.loads(good)
        del obj["role"]
        parse_envelope(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())
    with pytest.raises(EnvelopeError, match="principal must be non-empty text without surrounding spaces"):
        build_envelope(REQUEST, principal=" alice", role="security", signed_at=SIGNED)


def test_a_malformed_envelope_under_a_good_signature_is_refused(team: Team) -> None:
    # alice signs bytes that are not an envelope at all: authentic, but it says nothing the console can count.
    junk = b"I approve whatever"
    done = subprocess.run(["ssh-keygen", "-Y", "sign", "-f", str(team.keys["alice"]), "-n", "opsconsole-approval"],
                          input=junk, capture_output=True, check=True, timeout=60)
    verdict = approvals.evaluate(
        required={"senior-engineer": 1}, signers=team.allowed, request=REQUEST,
        approvals=[Approval("alice", junk, done.stdout, REQUEST)], operator=OPERATOR, approval_ttl=TTL,
        now=NOW, verifier=verify_signature,
    )
    assert [r.code for r in verdict.refused] == [approvals.MALFORMED]
    assert verdict.refused[0].reason == "Approval 1 (alice): the signed envelope is not JSON: Expecting value at line 1 column 1."


def test_nonces_are_fresh_hex() -> None:
    a, b = new_nonce(), new_nonce()
    assert a != b and len(a) == 32 and int(a, 16) >= 0
    assert make_request(nonce=a) != make_request(nonce=b)
