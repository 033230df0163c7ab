"""Evidence gates at the start of a change: promotion in order (staging before production, same runbook, same
version) and a rollback rehearsed before a high-risk production change, with ``opsconsole rehearse`` making
that evidence; both refuse with one sentence, cite the records they rely on, and yield only to break-glass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from console.config import ConfigError, load_policy
from console.engine import policy as pol
from console.engine.session import ChangeSession, PolicyRefused, StartRequest
from console.journal import events as ev
from console.journal.journal import read_events
from console.journal.store import RecordStore

from .conftest import WEDNESDAY_NOON, FakeClock, opsconsole, run_forward, runbook_doc, write_policy, write_runbook

POLICY = """
[environments.staging]
contexts = ["stage-ctx"]

[environments.production]
contexts = ["prod-ctx"]
production = true
requires = ["staging"]

[windows.high]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"""

RELEASE = runbook_doc(
    steps=[{"id": "release", "kind": "command", "run": ["echo", "releasing {version}"], "rollback": "unrelease",
            "confirm": "typed", "confirm_word": "release"}],
    rollback=[{"id": "unrelease", "kind": "command", "run": ["echo", "back to 1.0.0"], "confirm": "typed",
               "confirm_word": "unrelease"}],
    params={"version": {"type": "string", "default": "1.1.0"}},
    verification=[{"id": "released", "kind": "check", "run": ["true"]}],
    risk="high",
)
RELEASE["metadata"]["to"] = "{version}"
APPROVALS = [pol.Approval("erin", "engineering-manager", "OPS-1"), pol.Approval("sam", "security", "OPS-1")]


class Desk:
    """One operator's store, policy, clock and runbook."""

    def __init__(self, root: Path, kubeconfig: Path) -> None:
        self.root = root
        self.records = root / "records"
        self.store = RecordStore(self.records)
        self.policy_file = write_policy(root / "opsconsole.toml", POLICY)
        self.policy = load_policy(str(self.policy_file))
        self.runbook = write_runbook(root, RELEASE)
        self.kubeconfig = kubeconfig
        self.clock = FakeClock(WEDNESDAY_NOON)

    def start(self, environment: str, context: str, version: str = "1.1.0", **extra: object) -> ChangeSession:
        request = StartRequest(
            runbook_path=self.runbook, environment=environment, context=context, operator="alice",
            params={"version": version}, approvals=list(APPROVALS), kubeconfig=str(self.kubeconfig),
            typed_context=context, **extra,  # type: ignore[arg-type]
        )
        self.clock.advance(hours=1)
        return ChangeSession.start(request, store=self.store, policy=self.policy, clock=self.clock)

    def succeed(self, environment: str, context: str, version: str = "1.1.0") -> ChangeSession:
        s = self.start(environment, context, version)
        run_forward(s)
        s.close("success")
        return s

    def rehearse(self) -> str:
        env = {"OPSCONSOLE_RECORDS": str(self.records), "OPSCONSOLE_CONFIG": str(self.policy_file)}
        done = opsconsole("rehearse", str(self.runbook), "--context", "rehearsal", "--kubeconfig", str(self.kubeconfig),
                          "--approval", "erin:engineering-manager:OPS-1", "--approval", "sam:security:OPS-1", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture
def desk(tmp_path: Path, kubeconfig: Path) -> Desk:
    return Desk(tmp_path, kubeconfig)


def test_production_refuses_a_runbook_that_never_reached_staging_nor_rehearsed_its_rollback(desk: Desk) -> None:
    with pytest.raises(PolicyRefused) as refused:
        desk.start("production", "prod-ctx")
    # Both gates are said at once, one a line.
    promotion, rehearsal = str(refused.value).splitlines()
    assert promotion.startswith("promotion order: production takes a change only after it succeeded on staging; "
                                "no successful change of this runbook")
    assert promotion.endswith("to 1.1.0 on staging (mark the change as an emergency to override)")
    assert rehearsal.startswith("rollback rehearsed: a high-risk production change needs its rollback rehearsed first")
    verdicts = {v.name: v for v in refused.value.verdicts}
    assert not verdicts["rollback rehearsed"].ok
    assert "run: opsconsole rehearse RUNBOOK" in verdicts["rollback rehearsed"].message
    assert desk.store.list_changes() == []  # refused before the change existed


def test_rehearse_runs_the_change_then_its_rollback_and_that_record_is_the_evidence(desk: Desk) -> None:
    out = desk.rehearse()
    assert "rolling back on purpose (rehearsal)" in out and "closed: rolled back (the rollback finished)" in out
    [ref] = desk.store.list_changes()
    events = read_events(desk.store.journal_path(ref)).events
    types = [e.type for e in events]
    assert types.index(ev.ROLLBACK_STARTED) > max(i for i, e in enumerate(events) if e.type == ev.STEP_FINISHED
                                                  and e.data.get("step_id") == "release")
    assert any(e.type == ev.ROLLBACK_FINISHED and e.data["status"] == "done" for e in events)
    assert next(e for e in events if e.type == ev.CHANGE_CLOSED).data["outcome"] == "rolled_back"
    # Staging first, then production passes both gates and cites the records it relied on.
    staged = desk.succeed("staging", "stage-ctx")
    prod = desk.start("production", "prod-ctx")
    checks = {c["name"]: c for c in next(e for e in prod.events if e.type == ev.POLICY_CHECKED).data["checks"]}
    assert checks["promotion order"] == {"name": "promotion order", "ok": True, "overridable": True,
                                         "message": f"promoted after staging: {staged.change_id}"}
    assert checks["rollback rehearsed"]["message"] == f"rollback rehearsed in {ref.change_id}"
    prod.release()


def test_promotion_needs_the_same_version_and_the_same_runbook(desk: Desk) -> None:
    desk.rehearse()
    desk.succeed("staging", "stage-ctx", version="1.1.0")
    with pytest.raises(PolicyRefused, match=r"promotion order: .* to 1\.2\.0 on staging"):
        desk.start("production", "prod-ctx", version="1.2.0")
    # The runbook edited after staging is another runbook: its SHA-256 has no success on staging.
    desk.runbook.write_text(desk.runbook.read_text().replace("releasing", "now releasing"))
    with pytest.raises(PolicyRefused, match="promotion order"):
        desk.start("production", "prod-ctx", version="1.1.0")


def test_break_glass_passes_the_gates_and_is_recorded(desk: Desk) -> None:
    s = desk.start("production", "prod-ctx", emergency_reason="payments are down", emergency_approver="carol")
    bg = next(e for e in s.events if e.type == ev.BREAKGLASS_RECORDED).data
    assert bg["what"] == "emergency change (overrides: promotion order, rollback rehearsed)"
    checks = {c["name"]: c["ok"] for c in next(e for e in s.events if e.type == ev.POLICY_CHECKED).data["checks"]}
    assert checks["promotion order"] is False and checks["rollback rehearsed"] is False
    s.release()


def test_rehearse_refuses_outside_rehearsal_environments_and_runbooks_without_a_rollback(desk: Desk, tmp_path: Path) -> None:
    env = {"OPSCONSOLE_RECORDS": str(desk.records), "OPSCONSOLE_CONFIG": str(desk.policy_file)}
    staged = opsconsole("rehearse", str(desk.runbook), "--context", "stage-ctx", "--kubeconfig", str(desk.kubeconfig), env=env)
    assert staged.returncode == 1
    assert "staging is not a rehearsal environment" in staged.stderr
    bare = write_runbook(tmp_path, runbook_doc(steps=[{"id": "noop", "kind": "command", "run": ["true"]}]), "bare.yaml")
    none = opsconsole("rehearse", str(bare), "--context", "rehearsal", "--kubeconfig", str(desk.kubeconfig), env=env)
    assert none.returncode == 1 and "no step names rollback steps" in none.stderr
    assert not desk.records.exists() or desk.store.list_changes() == []


def test_policy_requires_only_known_environments(tmp_path: Path) -> None:
    bad = write_policy(tmp_path / "p.toml", "[environments.production]\ncontexts = []\nrequires = [\"stagin\"]\n")
    with pytest.raises(ConfigError, match="environments.production.requires names 'stagin', which is no environment"):
        load_policy(str(bad))
