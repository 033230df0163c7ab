"""SOP-005's emergency fast track: a verbal approval by a named engineering manager stands in for the risk
level's approvals; a rehearsal environment may opt in to windows so ``--answers`` can drive an emergency; and a
post-mortem is owed within 24 hours, listed until an addendum of kind post-mortem is added.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from console.engine.session import PolicyRefused
from console.journal import events as ev
from console.journal.store import RecordStore
from console.review.obligations import open_obligations

from .conftest import FakeClock, events_of, opsconsole, run_forward, runbook_doc, write_policy, write_runbook

CLOSED_EVERYWHERE = """
[environments.staging]
contexts = ["stage-ctx"]

[environments.rehearsal]
contexts = ["rehearsal"]
rehearsal = true
enforce_windows = true

[windows.high]
days = ["sat"]
start = "02:00"
end = "03:00"
"""

HIGH = runbook_doc(
    steps=[{"id": "fix", "kind": "command", "run": ["echo", "minimal fix"], "confirm": "typed", "confirm_word": "fix",
            "rollback": "unfix"}],
    rollback=[{"id": "unfix", "kind": "command", "run": ["echo", "undo"], "confirm": "typed", "confirm_word": "unfix"}],
    verification=[{"id": "healthy", "kind": "check", "run": ["true"]}],
    risk="high",
)


def test_an_emergency_needs_a_named_approver_in_policys_emergency_roles(start, clock: FakeClock) -> None:
    with pytest.raises(PolicyRefused, match=r"emergency approval: an emergency change needs the name of who approved "
                                            r"the break-glass \(verbally: an engineering-manager\)"):
        start(HIGH, environment="staging", context="stage-ctx", policy_text=CLOSED_EVERYWHERE, clock=clock,
              emergency_reason="payments are down")
    with pytest.raises(PolicyRefused, match="carol approved as intern, but an emergency needs the approval of: engineering-manager"):
        start(HIGH, environment="staging", context="stage-ctx", policy_text=CLOSED_EVERYWHERE, clock=clock,
              emergency_reason="payments are down", emergency_approver="carol", emergency_approver_role="intern")


def test_the_fast_track_replaces_the_risk_approvals_and_is_recorded_as_verbal(start, clock: FakeClock) -> None:
    # A high-risk change needs engineering-manager and security; an emergency needs the manager's word alone.
    s = start(HIGH, environment="staging", context="stage-ctx", policy_text=CLOSED_EVERYWHERE, clock=clock,
              emergency_reason="payments are down", emergency_approver="carol")
    bg = events_of(s, ev.BREAKGLASS_RECORDED)[0].data
    assert bg == {"reason": "payments are down", "approver": "carol", "approver_role": "engineering-manager",
                  "approval": "verbal", "what": "emergency change (overrides: change window)"}
    checks = {c["name"]: c for c in events_of(s, ev.POLICY_CHECKED)[0].data["checks"]}
    assert checks["emergency approval"]["message"] == "approved verbally by carol (engineering-manager)"
    assert "approvals" not in checks
    s.release()


def test_a_rehearsal_that_opts_in_to_windows_rehearses_an_emergency_unattended(tmp_path: Path, kubeconfig: Path) -> None:
    runbook = write_runbook(tmp_path, HIGH)
    policy = write_policy(tmp_path / "opsconsole.toml", CLOSED_EVERYWHERE)
    records = tmp_path / "records"
    env = {"OPSCONSOLE_RECORDS": str(records), "OPSCONSOLE_CONFIG": str(policy)}
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: alice\nconfirm: {fix: fix}\nclose: {outcome: auto}\n"
                       "approvals: [{name: erin, role: engineering-manager}, {name: sam, role: security}]\n")
    base = ("run", str(runbook), "--plain", "--context", "rehearsal", "--kubeconfig", str(kubeconfig), "--answers", str(answers))
    refused = opsconsole(*base, env=env)
    assert refused.returncode == 1 and "outside the high-risk change window" in refused.stderr
    answers.write_text(answers.read_text() + "emergency: {reason: rehearsing the fast track, approver: carol, role: engineering-manager}\n")
    done = opsconsole(*base, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = opsconsole("records", "list", env=env)
    assert "Emergencies owe (add: opsconsole records addendum ID --kind post-mortem):" in listed.stdout
    (ref,) = RecordStore(records).list_changes()
    assert f"{ref.change_id} (alice): post-mortem due by" in listed.stdout
    added = opsconsole("records", "addendum", ref.change_id, "--author", "alice", "--kind", "post-mortem",
                       "--text", "Cause: an expired certificate; renewal is now automated.", env=env)
    assert added.returncode == 0, added.stderr
    assert "Emergencies owe" not in opsconsole("records", "list", env=env).stdout


def test_an_emergency_without_its_post_mortem_is_owed_then_overdue(start, clock: FakeClock, store: RecordStore) -> None:
    s = start(HIGH, environment="staging", context="stage-ctx", policy_text=CLOSED_EVERYWHERE, clock=clock,
              emergency_reason="payments are down", emergency_approver="carol")
    run_forward(s)
    s.close("success")
    [owed] = open_obligations(store, 24)
    assert (owed.change_id, owed.what, owed.operator) == (s.change_id, "post-mortem", "alice")
    assert not owed.overdue(clock())
    assert owed.describe(clock()) == f"{s.change_id} (alice): post-mortem due by 2026-11-19 12:00Z (24h left)"
    clock.advance(hours=25)
    assert owed.overdue(clock()) and "overdue since 2026-11-19 12:00Z" in owed.describe(clock())
