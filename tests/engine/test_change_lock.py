"""The cluster's change lock as changes hold it: two consoles on one rehearsal cluster, a console killed with SIGKILL,
break-glass, a 403 for Leases, an API that stops answering mid-change, ``opsconsole locks``.

One rehearsal cluster for the module; each test locks a Lease of its own name (policy's ``[lock] name``), with
short durations so expiry comes quickly. Every wait is for a state (an event in a journal, the Lease on the
server), never for a time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from console.cluster.lease_record import PREVIOUS_HOLDER, TAKEOVER_REASON, view
from console.config import load_policy
from console.engine.change_lock import LockRefused, LockStopped
from console.engine.session import ChangeSession, StartRequest
from console.journal import events as ev
from console.journal.journal import read_events
from console.journal.store import RecordStore
from console.review.render import render_record
from kubesim.testing import RunningCluster, running_cluster

from .conftest import REPO, opsconsole, runbook_doc, write_runbook

DURATION_S = 2  # the Lease's duration in these tests: a killed console's lock expires this long after its last renewal


@pytest.fixture(scope="module")
def rc() -> Iterator[RunningCluster]:
    with running_cluster("default", speed=20.0) as cluster:
        yield cluster


@pytest.fixture
def lock_name(request: pytest.FixtureRequest) -> str:
    return "lock-" + request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")


@pytest.fixture
def policy_file(tmp_path: Path, lock_name: str) -> Path:
    path = tmp_path / "opsconsole.toml"
    path.write_text(f'[lock]\nname = "{lock_name}"\nduration_s = {DURATION_S}\nrenew_every_s = 0.2\n', encoding="utf-8")
    return path


@pytest.fixture
def runbook(tmp_path: Path) -> Path:
    """Looks at the cluster (so the change holds its lock), then changes a file (a mutating step), twice."""
    doc = runbook_doc(
        [
            {"id": "first", "title": "Write the first mark", "run": ["sh", "-c", f"echo 1 >> {tmp_path}/marks"]},
            {"id": "second", "title": "Write the second mark", "run": ["sh", "-c", f"echo 2 >> {tmp_path}/marks"]},
        ],
        preconditions=[{"id": "look", "title": "List the namespaces", "run": ["kubectl", "get", "namespaces"], "mutates": False}],
    )
    return write_runbook(tmp_path, doc)


Opened = list[ChangeSession]


@pytest.fixture
def consoles(tmp_path: Path, rc: RunningCluster, policy_file: Path, runbook: Path) -> Iterator[tuple[Any, Opened]]:
    """``start(operator, store_name, **request)``: a session on the rehearsal cluster; all released at the end."""
    opened: Opened = []
    policy = load_policy(str(policy_file))

    def start(operator: str, store: str = "records", **request: Any) -> ChangeSession:
        request.setdefault("kubeconfig", str(rc.kubeconfig))
        req = StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator=operator, **request)
        session = ChangeSession.start(req, store=RecordStore(tmp_path / store), policy=policy)
        opened.append(session)
        return session

    yield start, opened
    for s in opened:
        s.release()


def lease(rc: RunningCluster, name: str) -> dict[str, Any] | None:
    return rc.get("leases", "default", name)


def of_type(session: ChangeSession, type_: str) -> list[Any]:
    return [e for e in session.events if e.type == type_]


def run_precondition(session: ChangeSession) -> None:
    assert session.next().kind == "run"
    assert session.run().passed


def test_a_second_console_is_refused_naming_holder_change_and_step(tmp_path: Path, rc: RunningCluster, consoles: tuple[Any, Opened],
                                                                  lock_name: str) -> None:
    start, _ = consoles
    alice = start("alice")
    acquired = of_type(alice, ev.LOCK_ACQUIRED)
    assert len(acquired) == 1 and acquired[0].data["lease"] == f"default/{lock_name}" and acquired[0].data["displaced"] is None
    assert acquired[0].data["holder"].startswith("alice@") and acquired[0].data["holder"].endswith(alice.change_id)
    run_precondition(alice)
    alice.confirm("yes")
    alice.run()  # step "first": the Lease says so (step 2 of 3)
    rc.wait_for(lambda: (got := lease(rc, lock_name)) and view(got).step == "first", what="the step on the Lease")
    assert view(lease(rc, lock_name)).progress == "2 of 3"  # type: ignore[arg-type]
    with pytest.raises(LockRefused) as refused:
        start("bob", store="bob-records")
    sentence = str(refused.value)
    assert "locked by alice@" in sentence and f"for change {alice.change_id}" in sentence and "at step 2 of 3 first" in sentence
    assert "\n" not in sentence and "--break-glass" in sentence
    # refused before bob's change existed: no change in his store, the refusal in its log
    bob_store = RecordStore(tmp_path / "bob-records")
    assert list(bob_store.root.glob("*/*/journal.jsonl")) == []
    refusals = [e for p in bob_store.root.glob("refused/*.jsonl") for e in read_events(p).events]
    assert len(refusals) == 1 and "locked by alice@" in refusals[0].data["reason"]


def test_break_glass_is_recorded_in_both_changes_and_the_holder_stops(tmp_path: Path, rc: RunningCluster,
                                                                    consoles: tuple[Any, Opened], lock_name: str) -> None:
    start, _ = consoles
    alice = start("alice")
    run_precondition(alice)
    bob = start("bob", store="bob-records", lock_break_glass=("alice's console froze mid-change", "carol"))
    glass = of_type(bob, ev.BREAKGLASS_RECORDED)
    assert len(glass) == 1 and glass[0].data["approver"] == "carol" and "alice@" in glass[0].data["what"]
    took = of_type(bob, ev.LOCK_ACQUIRED)[0].data
    assert took["break_glass"] is True and took["displaced"]["change"] == alice.change_id and took["displaced"]["expired"] is False
    notes = lease(rc, lock_name)["metadata"]["annotations"]  # type: ignore[index]
    assert notes[TAKEOVER_REASON] == "alice's console froze mid-change" and notes[PREVIOUS_HOLDER].startswith("alice@")
    # alice's console learns it at its next renewal and records it ...
    lost = rc.wait_for(lambda: of_type(alice, ev.LOCK_LOST), what="alice's record of the take-over")[0].data
    assert lost["detected"] == "renewal" and lost["holder"].startswith("bob@") and lost["change"] == bob.change_id
    assert lost["reason"] == "alice's console froze mid-change"
    # ... and runs no further step that changes anything
    alice.confirm("yes")
    with pytest.raises(LockStopped, match="is no longer this change's"):
        alice.run()
    assert not of_type(alice, ev.STEP_STARTED)[1:] and not (tmp_path / "marks").exists()
    # both records say it in record.md
    taker = render_record(bob.events, head=bob.journal.head)
    assert f"lock `default/{lock_name}` acquired by bob@" in taker and f"taken from {took['displaced']['holder']} (break-glass)" in taker
    assert "alice's console froze mid-change" in taker  # the break-glass decisions section
    assert f"**lock `default/{lock_name}` lost** (renewal)" in render_record(alice.events, head=alice.journal.head)


def test_no_rbac_for_leases_is_a_one_sentence_refusal_at_start(tmp_path: Path, rc: RunningCluster, consoles: tuple[Any, Opened]) -> None:
    """bob's credentials may do everything but Leases (the rehearsal cluster takes a bearer token as its user)."""
    start, _ = consoles
    as_bob = tmp_path / "bob-kubeconfig"
    as_bob.write_text(rc.kubeconfig.read_text().replace("- name: rehearsal\n  user: {}", "- name: rehearsal\n  user: {token: bob}"))
    assert "token: bob" in as_bob.read_text()
    rc.faults.forbid("leases", user="bob")
    try:
        with pytest.raises(LockRefused) as refused:
            start("bob", kubeconfig=str(as_bob))
        pods = subprocess.run(["kubectl", "--kubeconfig", str(as_bob), "get", "pods", "-n", "web"], capture_output=True, text=True, timeout=30)
        assert pods.returncode == 0, pods.stderr  # everything else is allowed to bob
        alice = start("alice")  # and Leases to everyone else
        assert of_type(alice, ev.LOCK_ACQUIRED)
    finally:
        rc.faults.allow("leases", user="bob")
    sentence = str(refused.value)
    assert sentence.startswith("context rehearsal does not let bob use Leases (coordination.k8s.io) in namespace default")
    assert "403" in sentence
    assert 'User "bob" cannot get resource "leases"' in sentence and "\n" not in sentence
    assert list((tmp_path / "records").glob("*/*/journal.jsonl")) == [alice.ref.path / "journal.jsonl"]


def test_an_unreachable_api_pauses_before_a_mutating_step_until_a_renewal_succeeds(tmp_path: Path, rc: RunningCluster,
                                                                                   consoles: tuple[Any, Opened]) -> None:
    start, _ = consoles
    alice = start("alice")
    run_precondition(alice)
    alice.confirm("yes")
    ran: list[Any] = []
    rc.host.go_down()
    try:
        rc.wait_for(lambda: of_type(alice, ev.LOCK_UNREACHABLE), what="a renewal that found no API")
        runner = threading.Thread(target=lambda: ran.append(alice.run()))
        runner.start()
        paused = rc.wait_for(lambda: of_type(alice, ev.LOCK_PAUSED), what="the pause before the step")[0]
        assert paused.data["step_id"] == "first" and "does not answer" in paused.data["message"]
        assert runner.is_alive() and not (tmp_path / "marks").exists() and len(of_type(alice, ev.STEP_STARTED)) == 1
    finally:
        rc.host.come_back()
    runner.join(timeout=30)
    assert not runner.is_alive() and ran and ran[0].passed
    assert (tmp_path / "marks").read_text() == "1\n"
    order = [e.type for e in alice.events if e.type in (ev.LOCK_PAUSED, ev.LOCK_RESTORED, ev.STEP_STARTED)]
    assert order == [ev.STEP_STARTED, ev.LOCK_PAUSED, ev.LOCK_RESTORED, ev.STEP_STARTED]


HOLD = """
import sys
from console.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_killed_consoles_lock_expires_is_taken_over_and_its_change_learns_it_on_resume(
        tmp_path: Path, rc: RunningCluster, consoles: tuple[Any, Opened], policy_file: Path, runbook: Path, lock_name: str) -> None:
    start, _ = consoles
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "console.cli", "run", str(runbook), "--plain", "--context", "rehearsal", "--operator", "alice",
            "--kubeconfig", str(rc.kubeconfig), "--config", str(policy_file), "--records-dir", str(tmp_path / "records")]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        seen = ""
        while "run this step?" not in seen:  # alice's console waits at the first step's confirmation, holding the lock
            char = proc.stdout.read(1)  # the prompt ends without a newline
            assert char, f"the console ended early: {seen}"
            seen += char
        assert f"cluster lock default/{lock_name} held by alice@" in seen
        # a second console, here a second process, is refused naming alice
        other = opsconsole("run", str(runbook), "--plain", "--context", "rehearsal", "--operator", "bob", "--kubeconfig",
                           str(rc.kubeconfig), "--config", str(policy_file), "--records-dir", str(tmp_path / "bob-records"),
                           env={"PYTHONPATH": str(REPO)})
        assert other.returncode == 1 and other.stderr.count("\n") == 1
        assert "locked by alice@" in other.stderr and "at step 1 of 3 look" in other.stderr
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    alice_id = next(RecordStore(tmp_path / "records").root.glob("*/*/journal.jsonl")).parent.name.rsplit("__", 1)[1]
    last = lease(rc, lock_name)
    assert last is not None
    rc.wait_for(lambda: view(last).is_expired(time.time()), timeout=30, what="the killed console's lock to expire")
    bob = start("bob", store="bob-records")
    took = of_type(bob, ev.LOCK_ACQUIRED)[0].data
    assert took["displaced"]["change"] == alice_id and took["displaced"]["expired"] is True and took["break_glass"] is False
    policy = load_policy(str(policy_file))
    store = RecordStore(tmp_path / "records")
    # alice resumes while bob holds it: refused, and her change records who took it
    with pytest.raises(LockRefused, match="locked by bob@"):
        ChangeSession.resume(alice_id, store=store, policy=policy, operator="alice", kubeconfig=str(rc.kubeconfig))
    journal = read_events(store.journal_path(store.find(alice_id))).events
    lost = [e.data for e in journal if e.type == ev.LOCK_LOST]
    assert len(lost) == 1 and lost[0]["detected"] == "resume" and lost[0]["holder"].startswith("bob@")
    assert lost[0]["change"] == bob.change_id and "took it from this change after it expired" in lost[0]["message"]
    # bob finishes; alice resumes, takes the lock again and goes on
    bob.release()
    alice = ChangeSession.resume(alice_id, store=store, policy=policy, operator="alice", kubeconfig=str(rc.kubeconfig))
    consoles[1].append(alice)
    again = of_type(alice, ev.LOCK_ACQUIRED)[-1].data
    assert again["resumed"] is True and again["displaced"] is None and again["holder"].startswith("alice@")
    assert len(of_type(alice, ev.LOCK_LOST)) == 1  # already on record: not recorded twice
    assert lease(rc, lock_name)["spec"]["holderIdentity"] == again["holder"]  # type: ignore[index]


def test_leaving_releases_the_lock_and_resume_takes_it_back(rc: RunningCluster, consoles: tuple[Any, Opened], tmp_path: Path,
                                                           policy_file: Path, lock_name: str) -> None:
    start, _ = consoles
    alice = start("alice")
    alice.release()
    released = of_type(alice, ev.LOCK_RELEASED)
    assert [e.data for e in released] == [{"lease": f"default/{lock_name}", "released": True}]
    assert "holderIdentity" not in lease(rc, lock_name)["spec"]  # type: ignore[index]
    back = ChangeSession.resume(alice.change_id, store=RecordStore(tmp_path / "records"), policy=load_policy(str(policy_file)),
                                operator="alice", kubeconfig=str(rc.kubeconfig))
    consoles[1].append(back)
    assert not of_type(back, ev.LOCK_LOST) and of_type(back, ev.LOCK_ACQUIRED)[-1].data["resumed"] is True


def test_opsconsole_locks_lists_the_locks_as_a_table(rc: RunningCluster, consoles: tuple[Any, Opened], lock_name: str,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    start, _ = consoles
    alice = start("alice")
    run_precondition(alice)
    assert main(["locks", "--kubeconfig", str(rc.kubeconfig)]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0].split() == ["CONTEXT", "LEASE", "SCOPE", "HOLDER", "CHANGE", "STEP", "SINCE", "RENEWED", "EXPIRED"]
    row = next(line for line in lines[1:] if lock_name in line)
    assert row.startswith("rehearsal ") and " cluster " in row and " alice@" in row and f" {alice.change_id} " in row
    assert "1 of 3 look" in row and row.rstrip().endswith(" no") and " ago " in row and out.err == ""
    # a cluster that does not answer is a sentence and exit 1
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:9", rc.kubeconfig.read_text()))  # a closed port
    assert main(["locks", "--kubeconfig", str(dead), "--context", "rehearsal"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("opsconsole: context rehearsal: ") and "did not answer" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as usage:
        main(["locks", "--no-such-flag"])
    assert usage.value.code == 2


def test_an_api_down_at_start_starts_the_change_and_pauses_it_until_the_lock_is_taken(
        tmp_path: Path, rc: RunningCluster, policy_file: Path, lock_name: str) -> None:
    doc = runbook_doc([{"id": "first", "title": "Write a mark", "run": ["sh", "-c", f"echo 1 >> {tmp_path}/marks"]}],
                      verification=[{"id": "look", "title": "List the namespaces", "run": ["kubectl", "get", "namespaces"]}])
    path = write_runbook(tmp_path, doc, "down-at-start.yaml")
    req = StartRequest(runbook_path=path, environment="rehearsal", context="rehearsal", operator="alice", kubeconfig=str(rc.kubeconfig))
    ran: list[Any] = []
    rc.host.go_down()
    try:
        alice = ChangeSession.start(req, store=RecordStore(tmp_path / "records"), policy=load_policy(str(policy_file)))
        try:
            assert [e.data["lease"] for e in of_type(alice, ev.LOCK_UNREACHABLE)] == [f"default/{lock_name}"]
            assert not of_type(alice, ev.LOCK_ACQUIRED)
            alice.confirm("yes")
            runner = threading.Thread(target=lambda: ran.append(alice.run()))
            runner.start()
            rc.wait_for(lambda: of_type(alice, ev.LOCK_PAUSED), what="the pause before the first step")
            assert not (tmp_path / "marks").exists()
            rc.host.come_back()
            runner.join(timeout=30)
            assert not runner.is_alive() and ran and ran[0].passed
            order = [e.type for e in alice.events if e.type.startswith("lock.") or e.type == ev.STEP_STARTED]
            assert order == [ev.LOCK_UNREACHABLE, ev.LOCK_PAUSED, ev.LOCK_ACQUIRED, ev.STEP_STARTED]
            assert lease(rc, lock_name)["spec"]["holderIdentity"].startswith("alice@")  # type: ignore[index]
        finally:
            alice.release()
    finally:
        rc.host.come_back()


def test_namespace_scope_locks_only_the_namespaces_a_change_touches(tmp_path: Path, rc: RunningCluster, runbook: Path,
                                                                     lock_name: str) -> None:
    policy = tmp_path / "namespaces.toml"
    policy.write_text(f'[lock]\nscope = "namespaces"\nname = "{lock_name}"\nduration_s = {DURATION_S}\nrenew_every_s = 0.2\n')
    opened: Opened = []

    def start(operator: str, namespace: str) -> ChangeSession:
        req = StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator=operator,
                           kubeconfig=str(rc.kubeconfig), params={"namespace": namespace})
        s = ChangeSession.start(req, store=RecordStore(tmp_path / operator), policy=load_policy(str(policy)))
        opened.append(s)
        return s

    try:
        alice = start("alice", "web")
        assert [e.data["lease"] for e in of_type(alice, ev.LOCK_ACQUIRED)] == [f"web/{lock_name}"]
        assert view(rc.get("leases", "web", lock_name)).scope == "namespace"  # type: ignore[arg-type]
        bob = start("bob", "cache")  # another namespace: not refused
        assert [e.data["lease"] for e in of_type(bob, ev.LOCK_ACQUIRED)] == [f"cache/{lock_name}"]
        with pytest.raises(LockRefused, match=f"locked by alice@.*lease web/{lock_name}"):
            start("carol", "web")
    finally:
        for s in opened:
            s.release()
