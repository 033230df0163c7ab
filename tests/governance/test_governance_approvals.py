"""The approval verdict over real signatures: every way an approval can fail to count, each with its one sentence.

Keys are real ed25519 keys made by ssh-keygen, signatures are made by ``ssh-keygen -Y sign`` and checked by
``sshsig``; only the clock is fixed (``now`` is an argument).
"""

from __future__ import annotations

import base64
import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sshsig.sshsig import SshsigSignature

from console.governance import approvals
from console.governance.allowed_signers import format_line, parse_allowed_signers
from console.governance.envelope import Approval, build_envelope
from console.governance.signatures import sign, verify_signature
from tests.support.approvers import CREATED, NOW, OPERATOR, SIGNED, TTL, Team, assert_one_sentence, make_request

BOTH = {"senior-engineer": 1, "security": 1}
REQUEST = make_request()


def approve(team: Team, who: str, role: str, request: bytes = REQUEST, *, key: str | None = None,
            signed_at=SIGNED) -> Approval:
    """``who`` approves ``request`` as ``role``, signing with ``key``'s private key (their own by default)."""
    return sign(request, key_path=team.keys[key or who], principal=who, role=role, signed_at=signed_at)


def evaluate(team: Team, collected: list[Approval], *, required=None, now=NOW, request: bytes = REQUEST,
             operator: str = OPERATOR, allowed=None, **kw) -> approvals.Verdict:
    return approvals.evaluate(
        required=BOTH if required is None else required, signers=allowed or team.allowed, request=request,
        approvals=collected, operator=operator, approval_ttl=TTL, now=now, verifier=verify_signature, **kw,
    )


def only_refusal(verdict: approvals.Verdict, code: str) -> approvals.Refused:
    assert len(verdict.refused) == 1, verdict.sentences()
    refused = verdict.refused[0]
    assert refused.code == code, refused.reason
    assert_one_sentence(refused.reason)
    assert not verdict.approved
    return refused


# -- what counts -------------------------------------------------------------------------------------------------


def test_one_of_each_role_from_distinct_people_approves(team: Team) -> None:
    verdict = evaluate(team, [approve(team, "alice", "senior-engineer"), approve(team, "bob", "security")])
    assert verdict.approved, verdict.sentences()
    assert [(a.principal, a.role) for a in verdict.accepted] == [("alice", "senior-engineer"), ("bob", "security")]
    assert verdict.accepted[0].signed_at == SIGNED
    assert verdict.accepted[0].key_fingerprint.startswith("SHA256:")
    assert verdict.refused == () and verdict.missing == {} and verdict.problems == ()
    for sentence in verdict.sentences():
        assert_one_sentence(sentence)


def test_two_of_three_security_holders_approve(team: Team) -> None:
    # bob, carol and olga hold security; olga is the operator, so bob and carol are the two who can.
    verdict = evaluate(team, [approve(team, "carol", "security"), approve(team, "bob", "security")],
                       required={"security": 2})
    assert verdict.approved, verdict.sentences()
    assert {a.principal for a in verdict.accepted} == {"bob", "carol"}


def test_a_role_short_of_its_count_is_missing(team: Team) -> None:
    verdict = evaluate(team, [approve(team, "carol", "security")], required={"security": 2})
    assert not verdict.approved
    assert verdict.missing == {"security": 1}
    assert verdict.sentences()[-1] == "1 more 'security' approval needed."


def test_a_missing_role_is_named(team: Team) -> None:
    verdict = evaluate(team, [approve(team, "alice", "senior-engineer")])
    assert not verdict.approved
    assert [a.principal for a in verdict.accepted] == ["alice"]
    assert verdict.missing == {"security": 1}
    assert verdict.refused == ()
    assert "1 more 'security' approval needed." in verdict.sentences()


def test_no_requirement_needs_no_signature(team: Team) -> None:
    assert evaluate(team, [], required={}).approved
    assert evaluate(team, [], required={"security": 0}).approved


# -- forged --------------------------------------------------------------------------------------------------------


def test_a_signature_by_a_key_not_in_the_file_is_forged(team: Team) -> None:
    forged = approve(team, "alice", "senior-engineer", key="mallory")
    refused = only_refusal(evaluate(team, [forged, approve(team, "bob", "security")]), approvals.FORGED)
    assert refused.principal == "alice"
    assert "is not alice's and is not listed in" in refused.reason


def test_a_signature_by_another_listed_person_is_forged(team: Team) -> None:
    # carol signs, claiming to be alice: the key is in the file, but it is carol's.
    refused = only_refusal(evaluate(team, [approve(team, "alice", "senior-engineer", key="carol")]), approvals.FORGED)
    assert "made with carol's key, not with alice's" in refused.reason


def test_a_tampered_signature_is_forged(team: Team) -> None:
    good = approve(team, "alice", "senior-engineer")
    sig = SshsigSignature.from_armored(good.signature)
    raw = bytearray(sig.signature)
    raw[-1] ^= 0x01  # one bit of the ed25519 signature itself; the key and namespace around it are untouched
    sig.signature = bytes(raw)
    tampered = replace(good, signature=sig.to_armored().encode())
    refused = only_refusal(evaluate(team, [tampered]), approvals.FORGED)
    assert "does not verify against alice's key" in refused.reason


def test_an_envelope_edited_after_signing_is_forged(team: Team) -> None:
    # bob signs as security; someone relabels the envelope to senior-engineer to fill the other role.
    good = approve(team, "bob", "security")
    relabelled = replace(good, envelope=good.envelope.replace(b'"role":"security"', b'"role":"senior-engineer"'))
    assert relabelled.envelope != good.envelope
    refused = only_refusal(evaluate(team, [relabelled]), approvals.FORGED)
    assert "does not verify against bob's key" in refused.reason


def test_a_request_swapped_under_a_signature_is_forged(team: Team) -> None:
    good = approve(team, "alice", "senior-engineer")
    swapped = replace(good, request=make_request(parameters={"namespace": "web", "replicas": "9", "token": "x"}))
    refused = only_refusal(evaluate(team, [swapped]), approvals.FORGED)
    assert "not the one signed" in refused.reason


def test_a_signature_for_another_namespace_is_forged(team: Team, tmp_path: Path) -> None:
    # A git commit signature by alice's key over the very same envelope bytes.
    envelope = build_envelope(REQUEST, principal="alice", role="senior-engineer", signed_at=SIGNED)
    done = subprocess.run(["ssh-keygen", "-Y", "sign", "-f", str(team.keys["alice"]), "-n", "git"],
                          input=envelope, capture_output=True, check=True, timeout=60)
    git_sig = Approval("alice", envelope, done.stdout, REQUEST)
    refused = only_refusal(evaluate(team, [git_sig]), approvals.FORGED)
    assert "made for 'git'" in refused.reason


def test_an_envelope_naming_another_signer_is_forged(team: Team) -> None:
    # alice signs a statement that says carol approves, and presents it as her own.
    made = sign(REQUEST, key_path=team.keys["alice"], principal="carol", role="senior-engineer", signed_at=SIGNED)
    refused = only_refusal(evaluate(team, [replace(made, principal="alice")]), approvals.FORGED)
    assert "names 'carol' as its signer" in refused.reason


def test_an_unknown_principal_is_an_unknown_key(team: Team) -> None:
    refused = only_refusal(evaluate(team, [approve(team, "mallory", "security")]), approvals.UNKNOWN_KEY)
    assert "lists no key for 'mallory'" in refused.reason
    assert "is not listed either" in refused.reason


def test_a_garbled_signature_is_malformed(team: Team) -> None:
    good = approve(team, "alice", "senior-engineer")
    refused = only_refusal(evaluate(team, [replace(good, signature=b"not a signature")]), approvals.MALFORMED)
    assert "not an SSH signature" in refused.reason


# -- over a different request -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "path", "signed_value"), [
    ({"change_id": "CHG-2026-0041"}, "change_id", "'CHG-2026-0041'"),
    ({"parameters": {"namespace": "web", "replicas": "5", "token": "s3cr3t-value"}}, "parameters.replicas", "'5'"),
    ({"runbook_id": "db-failover"}, "runbook.id", "'db-failover'"),
    ({"runbook_sha256": "c" * 64}, "runbook.sha256", repr("c" * 64)),
    ({"context": "prod-us-1"}, "context", "'prod-us-1'"),
    ({"nonce": "1e" * 16}, "nonce", repr("1e" * 16)),
])
def test_an_approval_of_another_request_names_the_first_difference(team: Team, change: dict, path: str,
                                                                    signed_value: str) -> None:
    other = make_request(**change)
    refused = only_refusal(evaluate(team, [approve(team, "alice", "senior-engineer", other)]), approvals.OTHER_REQUEST)
    assert f"its {path} is {signed_value}, this request's is" in refused.reason


def test_a_replay_from_another_change_names_the_change_id_first(team: Team) -> None:
    # Everything differs; the change ID is what the operator needs to hear.
    other = make_request(change_id="CHG-2026-0007", runbook_id="other", context="prod-us-1", nonce="2a" * 16)
    refused = only_refusal(evaluate(team, [approve(team, "bob", "security", other)]), approvals.OTHER_REQUEST)
    assert refused.reason == ("Approval 1 (bob): it approves a different request: its change_id is 'CHG-2026-0007', "
                              "this request's is 'CHG-2026-0042'.")


# -- time ----------------------------------------------------------------------------------------------------------


def test_an_approval_expires_after_its_ttl(team: Team) -> None:
    collected = [approve(team, "alice", "senior-engineer"), approve(team, "bob", "security")]
    assert evaluate(team, collected, now=SIGNED + TTL).approved  # the last instant it still counts
    verdict = evaluate(team, collected, now=SIGNED + TTL + timedelta(seconds=1))
    assert [r.code for r in verdict.refused] == [approvals.EXPIRED, approvals.EXPIRED]
    assert "expired at 2026-11-22T02:05:00.000000Z (approvals last 4 hours)" in verdict.refused[0].reason
    assert_one_sentence(verdict.refused[0].reason)
    assert verdict.missing == {"senior-engineer": 1, "security": 1}


def test_a_signature_dated_in_the_future_does_not_count(team: Team) -> None:
    # A post-dated envelope would stretch the TTL; the signing time is signed, so it cannot be edited back either.
    late = approve(team, "alice", "senior-engineer", signed_at=NOW + timedelta(hours=1))
    refused = only_refusal(evaluate(team, [late], required={"senior-engineer": 1}), approvals.NOT_YET_VALID)
    assert "later than now" in refused.reason


def test_a_signature_older_than_the_request_does_not_count(team: Team) -> None:
    early = approve(team, "alice", "senior-engineer", signed_at=CREATED - timedelta(hours=1))
    refused = only_refusal(evaluate(team, [early], required={"senior-engineer": 1}), approvals.NOT_YET_VALID)
    assert "before the request was created" in refused.reason


def test_a_key_past_its_valid_before_does_not_count(team: Team) -> None:
    line = format_line("alice", ["senior-engineer"], team.pub("alice"))
    limited = line.replace('namespaces="opsconsole-approval"', 'namespaces="opsconsole-approval",valid-before="20261121Z"')
    allowed = parse_allowed_signers(limited + "\n", source="limited_signers")
    verdict = evaluate(team, [approve(team, "alice", "senior-engineer")], required={"senior-engineer": 1},
                       allowed=allowed, operator=OPERATOR)
    refused = [r for r in verdict.refused if r.code == approvals.KEY_NOT_VALID]
    assert refused and "is not valid now" in refused[0].reason
    assert_one_sentence(refused[0].reason)


# -- roles and people -------------------------------------------------------------------------------------------


def test_a_role_the_key_does_not_hold_is_refused(team: Team) -> None:
    refused = only_refusal(evaluate(team, [approve(team, "alice", "security")], required={"security": 1}),
                           approvals.WRONG_ROLE)
    assert refused.reason.endswith("alice signed as 'security', but " + team.allowed.source + " gives that key senior-engineer.")


def test_a_role_the_change_does_not_need_is_refused(team: Team) -> None:
    refused = only_refusal(evaluate(team, [approve(team, "bob", "security")], required={"senior-engineer": 1}),
                           approvals.NOT_REQUIRED)
    assert "needs no 'security' approval (it needs: 'senior-engineer')" in refused.reason


def test_one_person_counts_once_across_roles(team: Team) -> None:
    # carol holds both roles; signing twice must not fill both.
    verdict = evaluate(team, [approve(team, "carol", "senior-engineer"), approve(team, "carol", "security")])
    refused = only_refusal(verdict, approvals.DUPLICATE_SIGNER)
    assert refused.index == 1
    assert "carol already approved as 'senior-engineer', and each person counts once" in refused.reason
    assert verdict.missing == {"security": 1}


def test_one_person_counts_once_within_a_role(team: Team) -> None:
    verdict = evaluate(team, [approve(team, "carol", "security"), approve(team, "carol", "security")],
                       required={"security": 2})
    only_refusal(verdict, approvals.DUPLICATE_SIGNER)
    assert verdict.missing == {"security": 1}


def test_the_operator_cannot_approve_their_own_change(team: Team) -> None:
    verdict = evaluate(team, [approve(team, "olga", "security"), approve(team, "alice", "senior-engineer")])
    refused = only_refusal(verdict, approvals.SELF_APPROVAL)
    assert "olga is the operator starting this change and cannot approve it as 'security'" in refused.reason
    assert verdict.missing == {"security": 1}


def test_a_self_approvable_role_lets_the_operator_sign(team: Team) -> None:
    # SOP-005's low risk: "self-approved by engineer"; policy names the role, and only that role.
    verdict = evaluate(team, [approve(team, "olga", "senior-engineer")], required={"senior-engineer": 1},
                       self_approvable=frozenset({"senior-engineer"}))
    assert verdict.approved, verdict.sentences()


def test_a_request_made_for_another_operator_is_a_problem(team: Team) -> None:
    verdict = evaluate(team, [approve(team, "alice", "senior-engineer"), approve(team, "bob", "security")],
                       operator="carol")
    assert not verdict.approved
    assert verdict.problems == ("The request was made for operator 'olga', but 'carol' is starting the change.",)


# -- requirements nobody can meet -----------------------------------------------------------------------------------


def test_a_role_nobody_holds_is_reported_before_any_signature(team: Team) -> None:
    verdict = evaluate(team, [approve(team, "alice", "senior-engineer")], required={"senior-engineer": 1, "director": 1})
    assert not verdict.approved
    first = verdict.sentences()[0]
    assert first == (f"The policy requires 1 'director' approval but 0 people other than the operator hold that role in "
                     f"{team.allowed.source}, so this change cannot be approved.")
    assert_one_sentence(first)


def test_a_role_only_the_operator_holds_does_not_count_the_operator(team: Team) -> None:
    # Three security approvals: bob and carol can give two; olga holds the role but is starting the change.
    problems = approvals.unmeetable({"security": 3}, team.allowed, operator=OPERATOR, now=NOW)
    assert problems == [(f"The policy requires 3 'security' approvals but 2 people other than the operator hold that "
                        f"role in {team.allowed.source} (bob, carol), so this change cannot be approved.")]
    assert approvals.unmeetable({"security": 2}, team.allowed, operator=OPERATOR, now=NOW) == []


def test_an_unreadable_current_request_counts_nothing(team: Team) -> None:
    verdict = evaluate(team, [approve(team, "alice", "senior-engineer")], request=b'{"change_id": 1}')
    assert not verdict.approved and verdict.accepted == ()
    assert verdict.problems[-1].startswith("The current request cannot be read: ")
    assert_one_sentence(verdict.problems[-1])


def test_the_verdict_is_the_same_for_the_same_inputs(team: Team) -> None:
    collected = [approve(team, "olga", "security"), approve(team, "alice", "senior-engineer", key="mallory"),
                 approve(team, "alice", "senior-engineer"), approve(team, "bob", "security")]
    first = evaluate(team, collected)
    assert first == evaluate(team, collected)
    assert first.approved
    assert [r.code for r in first.refused] == [approvals.SELF_APPROVAL, approvals.FORGED]
    assert [r.index for r in first.refused] == [0, 1]


def test_a_verifier_that_accepts_everything_still_cannot_pass_a_borrowed_key(team: Team) -> None:
    # The key named inside the signature is matched to the claimed person before any cryptography runs.
    verdict = approvals.evaluate(
        required={"senior-engineer": 1}, signers=team.allowed, request=REQUEST,
        approvals=[approve(team, "alice", "senior-engineer", key="carol")], operator=OPERATOR, approval_ttl=TTL,
        now=NOW, verifier=lambda *_: True,
    )
    only_refusal(verdict, approvals.FORGED)


def test_a_negative_requirement_is_refused(team: Team) -> None:
    with pytest.raises(ValueError, match="whole number"):
        evaluate(team, [], required={"security": -1})


def test_the_tamper_helper_changes_only_the_signature_bytes(team: Team) -> None:
    # Guards test_a_tampered_signature_is_forged: the armored text differs and still parses to the same key.
    good = approve(team, "alice", "senior-engineer")
    sig = SshsigSignature.from_armored(good.signature)
    raw = bytearray(sig.signature)
    raw[-1] ^= 0x01
    sig.signature = bytes(raw)
    again = SshsigSignature.from_armored(sig.to_armored())
    assert again.public_key == SshsigSignature.from_armored(good.signature).public_key
    assert base64.b64encode(again.signature) != base64.b64encode(SshsigSignature.from_armored(good.signature).signature)
