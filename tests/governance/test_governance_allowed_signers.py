"""The allowed-signers file: roles as principals, read strictly, and still a file ssh-keygen itself accepts.

The ssh-keygen checks run the real binary on the file ``format_line`` writes: a signature made for an approval
verifies for the person and for each role the line gives them, and not for a role it does not.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.governance.allowed_signers import (
    AllowedSignersError,
    SignerKey,
    format_line,
    inspect_signature,
    key_fingerprint,
    match_pattern_list,
    parse_allowed_signers,
)
from console.governance.envelope import SIGNATURE_NAMESPACE
from console.governance.signatures import load_allowed_signers, sign
from tests.support.approvers import SIGNED, Team, assert_one_sentence, make_request

REQUEST = make_request()


def ssh_keygen_verify(allowed: Path, principal: str, message: bytes, signature: bytes, tmp: Path,
                      namespace: str = SIGNATURE_NAMESPACE) -> subprocess.CompletedProcess[bytes]:
    sig = tmp / f"{principal.replace(':', '_')}.sig"
    sig.write_bytes(signature)
    return subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", principal, "-n", namespace,
                           "-s", str(sig)], input=message, capture_output=True, timeout=60)


def test_ssh_keygen_accepts_the_file_for_people_and_their_roles(team: Team, tmp_path: Path) -> None:
    approval = sign(REQUEST, key_path=team.keys["carol"], principal="carol", role="security", signed_at=SIGNED)
    for principal in ("carol", "role:security", "role:senior-engineer"):
        done = ssh_keygen_verify(team.allowed_path, principal, approval.envelope, approval.signature, tmp_path)
        assert done.returncode == 0, done.stderr.decode()
        assert f'Good "{SIGNATURE_NAMESPACE}" signature for {principal}' in done.stdout.decode()
    # find-principals names the person and the roles, each on its own line, as the console reads them.
    sig = tmp_path / "carol.sig"
    found = subprocess.run(["ssh-keygen", "-Y", "find-principals", "-f", str(team.allowed_path), "-s", str(sig)],
                           capture_output=True, timeout=60, check=True)
    assert found.stdout.decode().split() == ["carol", "role:senior-engineer", "role:security"]


def test_ssh_keygen_refuses_what_the_console_refuses(team: Team, tmp_path: Path) -> None:
    alice = sign(REQUEST, key_path=team.keys["alice"], principal="alice", role="senior-engineer", signed_at=SIGNED)
    # alice does not hold security, and her signature is not bob's.
    for principal in ("role:security", "bob"):
        done = ssh_keygen_verify(team.allowed_path, principal, alice.envelope, alice.signature, tmp_path)
        assert done.returncode != 0, principal
    # A changed envelope fails ssh-keygen as it fails sshsig.
    done = ssh_keygen_verify(team.allowed_path, "alice", alice.envelope.replace(b"senior-engineer", b"security"),
                             alice.signature, tmp_path)
    assert done.returncode != 0
    mallory = sign(REQUEST, key_path=team.keys["mallory"], principal="alice", role="senior-engineer")
    assert ssh_keygen_verify(team.allowed_path, "alice", mallory.envelope, mallory.signature, tmp_path).returncode != 0


def test_the_parsed_file_gives_each_key_its_roles(team: Team) -> None:
    allowed = team.allowed
    assert allowed.principals == ["alice", "bob", "carol", "olga"]
    carol_key = SignerKey.from_openssh(team.pub("carol"))
    assert allowed.owner_of(carol_key) == "carol"
    assert allowed.roles_of("carol", carol_key) == {"senior-engineer", "security"}
    assert allowed.roles_of("alice", carol_key) == frozenset()
    assert allowed.holders("security", SIGNED) == ["bob", "carol", "olga"]
    assert allowed.lines_of("alice")[0].lineno == 2  # line 1 is the comment


def test_fingerprints_match_ssh_keygen(team: Team) -> None:
    done = subprocess.run(["ssh-keygen", "-l", "-f", str(team.keys["alice"].with_suffix(".pub"))],
                          capture_output=True, text=True, check=True, timeout=60)
    assert SignerKey.from_openssh(team.pub("alice")).fingerprint == done.stdout.split()[1]


def test_roles_on_several_lines_add_up_per_key(team: Team) -> None:
    text = (format_line("alice", ["senior-engineer"], team.pub("alice")) + "\n"
            + format_line("alice", ["security"], team.pub("alice")) + "\n")
    allowed = parse_allowed_signers(text)
    key = SignerKey.from_openssh(team.pub("alice"))
    assert allowed.roles_of("alice", key) == {"senior-engineer", "security"}


def test_lines_for_other_namespaces_are_left_alone(team: Team) -> None:
    text = (f'* namespaces="git" {team.pub("mallory")}\n'
            f'alice namespaces="file,git" {team.pub("alice")}\n'
            + format_line("bob", ["security"], team.pub("bob")) + "\n")
    assert parse_allowed_signers(text).principals == ["bob"]


def test_a_line_without_namespaces_applies_to_approvals(team: Team) -> None:
    allowed = parse_allowed_signers(f"alice,role:security {team.pub('alice')}\n")
    assert allowed.holders("security", SIGNED) == ["alice"]


@pytest.mark.parametrize(("line", "message"), [
    ('* {alice}', "allowed_signers:1: principal pattern '*' would let this key sign as others"),
    ('alice,role:* {alice}', "allowed_signers:1: principal pattern 'role:*' would let this key sign as others"),
    ('alice,!bob {alice}', "allowed_signers:1: principal pattern '!bob' would let this key sign as others"),
    ('alice,bob {alice}', "allowed_signers:1: an approval line names exactly one person besides its roles (found alice, bob)"),
    ('role:security {alice}', "allowed_signers:1: an approval line names exactly one person besides its roles (found none)"),
    ('alice,role:bad/name {alice}', "allowed_signers:1: 'role:bad/name' is not a role principal (role:NAME)"),
    ('alice cert-authority {alice}', "allowed_signers:1: cert-authority lines are not accepted for approvals"),
    ('alice roles="security" {alice}', "allowed_signers:1: not an allowed-signers line (Invalid option"),
    ('alice valid-before="20990101" {alice}', "allowed_signers:1: valid-before must be a UTC time YYYYMMDD[HHMM[SS]]Z"),
    ('alice valid-after="20991301Z" {alice}', "allowed_signers:1: valid-after '20991301Z' is not a real date and time"),
    ('alice ssh-ed25519 AAAA!!', "allowed_signers:1: the key's base64 is damaged"),
    ('alice ssh-dss AAAAB3NzaC1kc3MAAAA=', "allowed_signers:1: key type 'ssh-dss' is not one ssh-keygen signs approvals with"),
])
def test_lines_the_console_will_not_act_on_are_refused_by_line(team: Team, line: str, message: str) -> None:
    text = "\n" + line.format(alice=team.pub("alice")) + "\n"
    with pytest.raises(AllowedSignersError) as err:
        parse_allowed_signers(text.lstrip("\n"))
    assert str(err.value).startswith(message), str(err.value)
    assert_one_sentence(str(err.value) + ".")


def test_one_key_for_two_people_is_refused(team: Team) -> None:
    text = f"alice {team.pub('alice')}\n\nbob,role:security {team.pub('alice')}\n"
    with pytest.raises(AllowedSignersError) as err:
        parse_allowed_signers(text, source="team_signers")
    fp = SignerKey.from_openssh(team.pub("alice")).fingerprint
    assert str(err.value) == (f"team_signers:3: key {fp} is given to 'bob' here and to 'alice' on line 1; "
                              f"one key must belong to one person")


def test_validity_window_is_read_in_utc(team: Team) -> None:
    line = f'alice,role:security valid-after="202611210900Z",valid-before="20261122Z" {team.pub("alice")}'
    (signer,) = parse_allowed_signers(line).lines
    assert signer.valid_after == datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    assert signer.valid_before == datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    assert signer.valid_at(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    assert not signer.valid_at(datetime(2026, 11, 21, 8, 59, tzinfo=UTC))
    assert not signer.valid_at(datetime(2026, 11, 22, 0, 0, 1, tzinfo=UTC))


def test_ssh_keygen_reads_the_validity_window_the_same_way(team: Team, tmp_path: Path) -> None:
    # A valid-before in the past stops ssh-keygen too; the console's check at `now` matches it.
    approval = sign(REQUEST, key_path=team.keys["alice"], principal="alice", role="security")
    expired = tmp_path / "expired_signers"
    expired.write_text(f'alice valid-before="20200101Z" {team.pub("alice")}\n')
    done = ssh_keygen_verify(expired, "alice", approval.envelope, approval.signature, tmp_path)
    assert done.returncode != 0 and b"expired" in done.stderr
    (line,) = parse_allowed_signers(expired.read_text()).lines
    assert not line.valid_at(datetime.now(UTC))


def test_format_line_refuses_names_ssh_keygen_would_read_as_patterns(team: Team) -> None:
    with pytest.raises(AllowedSignersError, match="is not a plain principal name"):
        format_line("al*ce", [], team.pub("alice"))
    with pytest.raises(AllowedSignersError, match="is not a plain principal name"):
        format_line("role:x", [], team.pub("alice"))
    with pytest.raises(AllowedSignersError, match="is not a role name"):
        format_line("alice", ["a,b"], team.pub("alice"))
    with pytest.raises(AllowedSignersError, match="cannot be read: the key says 'ssh-rsa'"):
        format_line("alice", [], "ssh-rsa " + team.pub("alice").split()[1])


def test_load_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(AllowedSignersError, match=r"missing_signers: cannot be read \(No such file or directory\)"):
        load_allowed_signers(tmp_path / "missing_signers")
    bad = tmp_path / "bad_signers"
    bad.write_bytes(b"alice \xff\n")
    with pytest.raises(AllowedSignersError, match="bad_signers: is not UTF-8 text"):
        load_allowed_signers(bad)


def test_inspect_signature_names_its_key_and_namespace(team: Team) -> None:
    approval = sign(REQUEST, key_path=team.keys["bob"], principal="bob", role="security")
    info = inspect_signature(approval.signature)
    assert info.namespace == SIGNATURE_NAMESPACE
    assert info.key == SignerKey.from_openssh(team.pub("bob"))
    assert info.key.fingerprint == key_fingerprint(info.key.blob)


@pytest.mark.parametrize(("name", "patterns", "expected"), [
    ("opsconsole-approval", "opsconsole-approval", True),
    ("opsconsole-approval", "git,opsconsole-*", True),
    ("opsconsole-approval", "git,file", False),
    ("opsconsole-approval", "*,!opsconsole-approval", False),
    ("opsconsole-approval", "opsconsole-approva?", True),
])
def test_namespace_patterns_follow_openssh(team: Team, tmp_path: Path, name: str, patterns: str, expected: bool) -> None:
    assert match_pattern_list(name, patterns) is expected
    # The same pattern decides for ssh-keygen whether the line may verify an approval.
    approval = sign(REQUEST, key_path=team.keys["alice"], principal="alice", role="security", signed_at=SIGNED)
    allowed = tmp_path / "ns_signers"
    allowed.write_text(f'alice namespaces="{patterns}" {team.pub("alice")}\n')
    done = ssh_keygen_verify(allowed, "alice", approval.envelope, approval.signature, tmp_path, namespace=name)
    assert (done.returncode == 0) is expected, done.stderr.decode()
    assert (parse_allowed_signers(allowed.read_text()).principals == ["alice"]) is expected
