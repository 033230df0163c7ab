"""An emergency's signed approvals, given after the fact, with real ed25519 keys: the emergency runs at once and owes
them (``approval.owed``, request.json written), ``records list`` shows the obligation, ``opsconsole approve`` checks
and records each one as ``signature.retro_approval`` (after close-out too), and ``records verify`` reports it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.engine.signed_start import check_retro, owed_of
from console.governance.signatures import sign
from console.journal.journal import read_events
from console.journal.store import RecordStore
from console.review.obligations import open_obligations
from tests.support.approvers import Team, assert_one_sentence
from tests.support.journal_data_checks import faithful_problems

from .test_governance_cli import Env

EMERGENCY = ("--emergency", "payments are down", "--emergency-approver", "erin:engineering-manager")


def _emergency(env: Env) -> str:
    done = env.cli("run", str(env.runbook), "--plain", "--answers", str(env.answers), "--config", str(env.policy),
                   "--kubeconfig", str(env.kubeconfig), "--operator", "olga", "--key", str(env.team.keys["olga"]),
                   *EMERGENCY)
    assert done.returncode == 0, done.stdout + done.stderr
    (ref,) = RecordStore(env.records).list_changes()
    return ref.change_id


def _owed(env: Env) -> list[str]:
    return [o.what for o in open_obligations(RecordStore(env.records), 24)]


def _refused(env: Env, change_id: str, who: str, *extra: str) -> str:
    done = env.approve(change_id, who, *extra)
    assert done.returncode == 1, done.stdout
    reason = done.stderr.strip().removeprefix("opsconsole: ")
    assert_one_sentence(reason)
    return reason


def test_an_emergency_owes_its_signed_approvals_and_they_are_recorded_after_close(tmp_path: Path, team: Team) -> None:
    env = Env(tmp_path, team)
    change_id = _emergency(env)
    cdir = env.change_dir(change_id)
    assert (cdir / "ran.txt").read_text() == "ran 3\n"  # it did not wait for signatures
    types = [e["type"] for e in env.journal(change_id)]
    assert "approval.owed" in types and "approval.requested" not in types and "approval.verified" not in types
    assert types[-2:] == ["change.closed", "signature.closeout"]
    assert (cdir / "request.json").is_file()
    assert _owed(env) == ["post-mortem", "retro-approval (senior-engineer)"]
    listed = env.cli("records", "list")
    assert "sign: opsconsole approve ID" in listed.stdout
    assert f"{change_id} (olga): retro-approval (senior-engineer) due by" in listed.stdout
    shown = env.cli("records", "show", change_id)
    assert "owed after the fact (emergency): 1 senior-engineer; **still owed: 1 senior-engineer**" in shown.stdout

    # The operator themself, a role the key does not hold, and a key that is not the signer's: refused, nothing kept.
    assert "olga is the operator starting this change and cannot approve it" in _refused(env, change_id, "olga")
    assert "bob signed as 'senior-engineer', but" in _refused(env, change_id, "bob", "--role", "senior-engineer")
    assert "the signature was made with key" in _refused(env, change_id, "mallory", "--as", "alice",
                                                         "--role", "senior-engineer")
    assert not list((cdir / "approvals").iterdir())
    assert "retro-approval (senior-engineer)" in _owed(env)
    assert not any(e["type"] == "signature.retro_approval" for e in env.journal(change_id))

    signed = env.approve(change_id, "alice")
    assert signed.returncode == 0, signed.stderr
    assert "was an emergency: it ran without waiting" in signed.stdout and "echo ran 3" in signed.stdout
    last = env.journal(change_id)[-1]
    assert last["type"] == "signature.retro_approval"
    assert (last["data"]["principal"], last["data"]["role"]) == ("alice", "senior-engineer")
    assert last["data"]["file"]["path"] == "approvals/alice.json" and (cdir / "approvals" / "alice.json").is_file()
    assert _owed(env) == ["post-mortem"]
    shown = env.cli("records", "show", change_id)
    assert "| alice | senior-engineer | retro-approval: SSH signature" in shown.stdout
    assert "1 senior-engineer; **all given** (retro-approvals above)" in shown.stdout
    again = env.approve(change_id, "carol")
    assert again.returncode == 1 and f"the approvals {change_id} owed are on record already" in again.stderr

    report = env.cli("records", "verify", change_id)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "alice signed the emergency's start request after the fact as 'senior-engineer'" in report.stdout
    assert "olga signed the close-out" in report.stdout
    head = env.journal(change_id)[-1]["hash"]
    assert env.cli("records", "verify", change_id, "--head", head).returncode == 0
    problems, _seen = faithful_problems(env.records)
    assert problems == []

    # The approval file altered after it was recorded: records verify says so.
    (cdir / "approvals" / "alice.json").write_bytes((cdir / "approvals" / "alice.json").read_bytes() + b" ")
    tampered = env.cli("records", "verify", change_id)
    assert tampered.returncode == 1 and "approval by alice as 'senior-engineer': its file" in tampered.stdout


def test_an_owed_retro_approval_is_overdue_with_its_post_mortem(tmp_path: Path, team: Team) -> None:
    env = Env(tmp_path, team)
    change_id = _emergency(env)
    assert env.cli("records", "addendum", change_id, "--author", "olga", "--kind", "post-mortem",
                   "--text", "Cause: an expired certificate.").returncode == 0
    [owed] = open_obligations(RecordStore(env.records), 24)
    assert (owed.change_id, owed.what) == (change_id, "retro-approval (senior-engineer)")
    later = datetime.now(UTC) + timedelta(hours=25)
    assert owed.overdue(later) and "overdue since" in owed.describe(later)
    assert not owed.overdue(datetime.now(UTC))


def test_an_emergency_where_policy_wants_no_signature_owes_none(tmp_path: Path, team: Team) -> None:
    env = Env(tmp_path, team)
    env.policy.write_text(env.policy.read_text().replace("medium = {senior-engineer = 1}", "high = {senior-engineer = 1}"))
    change_id = _emergency(env)
    assert "approval.owed" not in [e["type"] for e in env.journal(change_id)]
    assert not (env.change_dir(change_id) / "request.json").exists()
    assert _owed(env) == ["post-mortem"]
    done = env.approve(change_id, "alice")
    assert done.returncode == 1 and f"{change_id} asks for no signed approvals" in done.stderr


def test_a_running_emergency_or_an_expired_signature_is_not_recorded(tmp_path: Path, team: Team) -> None:
    env = Env(tmp_path, team)
    change_id = _emergency(env)
    store = RecordStore(env.records)
    ref = store.find(change_id)
    # Its console still holds the change (it is running): the journal is that console's alone to write.
    lock = store.lock(ref, who="olga")
    try:
        done = env.approve(change_id, "alice")
    finally:
        lock.release()
    assert done.returncode == 1 and f"{change_id} is held by" in done.stderr
    assert "retro-approval (senior-engineer)" in _owed(env)

    # A signature older than approval_ttl (4h) when it is checked is refused as a waiting change's would be.
    owed = owed_of(change_id, ref.path, read_events(store.journal_path(ref)).events)
    assert owed is not None and owed.missing == {"senior-engineer": 1}
    approval = sign(owed.request_bytes(), key_path=team.keys["alice"], principal="alice", role="senior-engineer")
    verdict = check_retro(owed, approval, [], datetime.now(UTC) + timedelta(hours=5))
    assert not verdict.accepted and "expired at" in verdict.refused[0].reason
    assert check_retro(owed, approval, [], datetime.now(UTC)).accepted
