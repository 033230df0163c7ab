"""The record store shared through git: two operators (two stores) and one bare remote.

IDs are claimed on the remote and never collide; a change closed by one operator reaches the other; a frequency
limit reached by one operator's change refuses the other's start and names that change; with the remote out of
reach a change gets a provisional ID that a later sync aliases to a team ID without rewriting the chain.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from console.config import load_policy
from console.engine.session import ChangeSession, PolicyRefused, SessionError, StartRequest
from console.journal import events as ev
from console.journal.journal import read_events
from console.journal.store import PROVISIONAL_RE, RecordStore, StoreError
from console.journal.team_sync import sync_store
from console.journal.verify import verify

from .conftest import STAGING_POLICY, WEDNESDAY_NOON, FakeClock, opsconsole, run_forward, runbook_doc, write_policy, write_runbook

SIMPLE = runbook_doc(steps=[{"id": "noop", "kind": "check", "run": ["true"]}])


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "team-records.git"
    git("init", "-q", "--bare", "-b", "main", str(path))
    return path


class Operator:
    """One operator: their own record store, policy and clock, sharing ``remote``."""

    def __init__(self, name: str, home: Path, remote: Path, kubeconfig: Path, clock: FakeClock, extra: str = "") -> None:
        self.name = name
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.store = RecordStore(home / "records")
        policy_file = write_policy(home / "opsconsole.toml", STAGING_POLICY + f'\n[store]\nremote = "{remote}"\n{extra}')
        self.policy = load_policy(str(policy_file))
        self.runbook = write_runbook(home, SIMPLE)
        self.kubeconfig = kubeconfig
        self.clock = clock

    def start(self, environment: str = "staging", context: str = "stage-ctx") -> ChangeSession:
        request = StartRequest(
            runbook_path=self.runbook, environment=environment, context=context, operator=self.name,
            kubeconfig=str(self.kubeconfig),
        )
        return ChangeSession.start(request, store=self.store, policy=self.policy, clock=self.clock)

    def closed_change(self) -> ChangeSession:
        s = self.start()
        run_forward(s)
        s.close("success")
        return s


@pytest.fixture
def two(tmp_path: Path, remote: Path, kubeconfig: Path) -> tuple[Operator, Operator]:
    clock = FakeClock(WEDNESDAY_NOON)
    return (Operator("alice", tmp_path / "alice", remote, kubeconfig, clock),
            Operator("bob", tmp_path / "bob", remote, kubeconfig, clock))


def test_a_change_closed_by_one_operator_reaches_the_other_with_its_own_team_id(two: tuple[Operator, Operator], remote: Path) -> None:
    alice, bob = two
    a = alice.closed_change()
    assert a.change_id == "CHG-2026-0001"
    assert a.shared == f"CHG-2026-0001 pushed to {remote}"
    # One commit for the closed change, on the remote's branch, holding exactly that change's directory.
    log = git("--git-dir", str(remote), "log", "--format=%s", "main")
    assert "CHG-2026-0001: closed, success" in log
    files = git("--git-dir", str(remote), "show", "--name-only", "--format=", "main").split()
    assert files and all(f.startswith(a.ref.path.relative_to(alice.store.root).as_posix() + "/") for f in files)
    assert not any(f.endswith(".lock") for f in files)

    b = bob.start()  # bob's start pulls alice's change and claims the next number on the remote
    assert b.change_id == "CHG-2026-0002"
    assert [r.change_id for r in bob.store.list_changes()] == ["CHG-2026-0001", "CHG-2026-0002"]
    assert verify(bob.store.journal_path(bob.store.find("CHG-2026-0001"))).ok
    b.release()


def test_a_limit_reached_by_another_operator_refuses_a_start_here_naming_that_change(two: tuple[Operator, Operator]) -> None:
    alice, bob = two
    for _ in range(3):
        alice.clock.advance(minutes=30)
        alice.closed_change()
    alice.clock.advance(minutes=30)
    with pytest.raises(PolicyRefused) as refused:
        bob.start()
    assert "3 changes already today in staging (limit 3; the latest: CHG-2026-0003 by alice at 2026-11-18 13:30Z)" in str(refused.value)
    # The verdict that counted them says the team's changes were fetched.
    assert {v.name: v.ok for v in refused.value.verdicts}["frequency limits"] is False


def test_ids_never_collide_under_fifty_concurrent_starts_from_two_stores(two: tuple[Operator, Operator]) -> None:
    alice, bob = two
    for op in two:
        op.store.team.init(op.policy.store.remote)

    def create(i: int) -> str:
        store = (alice, bob)[i % 2].store
        ref = store.create_change(component="web", from_version="1", to_version="2", when=WEDNESDAY_NOON)
        return ref.change_id

    with ThreadPoolExecutor(max_workers=10) as pool:
        ids = list(pool.map(create, range(50)))
    assert len(set(ids)) == 50, sorted(ids)
    assert sorted(ids) == [f"CHG-2026-{n:04d}" for n in range(1, 51)]
    claimed = git("--git-dir", str(alice.policy.store.remote), "for-each-ref", "--format=%(refname)", "refs/opsconsole/ids/")
    assert len(claimed.split()) == 50


def test_an_unreachable_remote_gives_a_provisional_id_that_a_later_sync_aliases(two: tuple[Operator, Operator], remote: Path) -> None:
    alice, _ = two
    alice.store.team.init(str(remote))
    away = remote.with_name("moved-away.git")
    os.rename(remote, away)
    s = alice.start()
    assert PROVISIONAL_RE.match(s.change_id), s.change_id
    checks = {c["name"]: c for c in s.journal.events[2].data["checks"]}
    assert checks["team record store"]["message"].startswith("not synced: cannot reach")
    run_forward(s)
    s.close("success")
    assert "committed here; not pushed" in s.shared and "records sync" in s.shared

    os.rename(away, remote)
    report = sync_store(alice.store)
    assert report.ok, report.message
    assert report.aliased == [(s.change_id, "CHG-2026-0001")]
    events = read_events(alice.store.journal_path(s.ref)).events
    assert events[-1].type == ev.CHANGE_ALIASED
    assert events[-1].data["team_id"] == "CHG-2026-0001" and events[-1].data["provisional_id"] == s.change_id
    assert verify(alice.store.journal_path(s.ref)).ok  # appended after change.closed, the chain intact
    assert alice.store.find("CHG-2026-0001").path == s.ref.path
    # A second sync claims nothing more: the alias is kept in the change's index.
    assert sync_store(alice.store).aliased == []


def test_policy_may_refuse_a_start_without_a_team_id(tmp_path: Path, remote: Path, kubeconfig: Path) -> None:
    alice = Operator("alice", tmp_path / "alice", remote, kubeconfig, FakeClock(WEDNESDAY_NOON), 'offline_ids = "refuse"\n')
    alice.store.team.init(str(remote))
    os.rename(remote, remote.with_name("gone.git"))
    with pytest.raises(SessionError, match="policy refuses to start a change without a team ID"):
        alice.start()
    assert alice.store.list_changes() == []
    with pytest.raises(StoreError):
        alice.store.allocate_id(2026, offline_ids="refuse")


def test_records_sync_needs_a_remote_once_then_shares_the_store(tmp_path: Path, remote: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    env = {"OPSCONSOLE_RECORDS": str(records), "OPSCONSOLE_CONFIG": str(write_policy(tmp_path / "p.toml", ""))}
    first = opsconsole("records", "sync", env=env)
    assert first.returncode == 2 and "name its git remote once with --remote URL" in first.stderr
    shared = opsconsole("records", "sync", "--remote", str(remote), env=env)
    assert shared.returncode == 0, shared.stderr
    assert f"synced with {remote}" in shared.stdout
    assert ".gitignore" in git("--git-dir", str(remote), "ls-tree", "--name-only", "main")
    os.rename(remote, remote.with_name("gone.git"))
    offline = opsconsole("records", "sync", env=env)
    assert offline.returncode == 1 and "cannot reach" in offline.stdout


def test_close_out_commits_are_signed_with_the_operators_ssh_key_when_git_signs(two: tuple[Operator, Operator], tmp_path: Path) -> None:
    alice, _ = two
    key = tmp_path / "alice_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", str(key)], check=True)
    alice.store.team.init(alice.policy.store.remote)
    repo = alice.store.root
    for k, v in (("gpg.format", "ssh"), ("user.signingkey", str(key)), ("commit.gpgsign", "true")):
        git("config", k, v, cwd=repo)
    s = alice.closed_change()
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"alice@example.com {(tmp_path / 'alice_ed25519.pub').read_text()}")
    git("config", "gpg.ssh.allowedSignersFile", str(signers), cwd=repo)
    shown = subprocess.run(["git", "log", "-1", "--format=%G? %s"], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert shown.strip() == f"G {s.change_id}: closed, success"


def test_the_head_kept_at_close_out_still_verifies_after_the_alias(two: tuple[Operator, Operator], remote: Path) -> None:
    alice, _ = two
    alice.store.team.init(str(remote))
    away = remote.with_name("away.git")
    os.rename(remote, away)
    s = alice.start()
    run_forward(s)
    head = s.close("success")
    os.rename(away, remote)
    assert sync_store(alice.store).aliased
    env = {"OPSCONSOLE_RECORDS": str(alice.store.root)}
    kept = opsconsole("records", "verify", "CHG-2026-0001", "--head", head, env=env)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "change.aliased" in kept.stdout
