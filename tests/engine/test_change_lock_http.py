"""The change lock as a start takes it over plain HTTP (``HttpLeases``) on the rehearsal cluster, whose context needs
no auth the standard library lacks: the official client is neither used nor loaded, a connection the server cut
between two calls is replaced rather than reported, and the refusals say what they said through the client.

Every wait is for a state (the Lease on the server, an event in a journal), never for a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.cluster.kubeconfig import merge_kubeconfigs
from console.cluster.lease import ChangeLock, LockUnreachable
from console.cluster.lease_http import HttpLeases
from console.cluster.lease_record import view
from console.cluster.raw_endpoint import endpoint_for
from console.cluster.raw_http import HttpTransport
from console.config import load_policy
from console.engine.change_lock import ClusterLock, LockHeldElsewhere
from console.engine.session import ChangeSession, StartRequest
from console.journal import events as ev
from console.journal.journal import read_events
from console.journal.store import RecordStore
from kubesim.testing import RunningCluster, running_cluster

from .conftest import REPO, runbook_doc, write_runbook

# A start in a fresh interpreter: which modules it loaded, and the lock it recorded.
START = """
import json, sys
from pathlib import Path
from console.config import load_policy
from console.engine.session import ChangeSession, StartRequest
from console.journal.store import RecordStore
runbook, kubeconfig, policy, records = sys.argv[1:5]
req = StartRequest(runbook_path=Path(runbook), environment="rehearsal", context="rehearsal", operator="alice",
                   kubeconfig=kubeconfig)
session = ChangeSession.start(req, store=RecordStore(Path(records)), policy=load_policy(policy))
took = [e.data["lease"] for e in session.events if e.type == "lock.acquired"]
session.release()
print(json.dumps({"took": took, "client": sorted(m for m in sys.modules if m == "kubernetes" or m.startswith("kubernetes."))}))
"""


@pytest.fixture(scope="module")
def rc() -> Iterator[RunningCluster]:
    with running_cluster("default", speed=20.0) as cluster:
        yield cluster


@pytest.fixture
def lock_name(request: pytest.FixtureRequest) -> str:
    return "http-" + request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")


@pytest.fixture
def policy_file(tmp_path: Path, lock_name: str) -> Path:
    path = tmp_path / "opsconsole.toml"
    path.write_text(f'[lock]\nname = "{lock_name}"\nduration_s = 30\nrenew_every_s = 0.2\n', encoding="utf-8")
    return path


@pytest.fixture
def runbook(tmp_path: Path) -> Path:
    doc = runbook_doc([{"id": "first", "title": "Write a mark", "run": ["sh", "-c", f"echo 1 >> {tmp_path}/marks"]}],
                      preconditions=[{"id": "look", "title": "List the namespaces", "run": ["kubectl", "get", "namespaces"],
                                      "mutates": False}])
    return write_runbook(tmp_path, doc)


def http_leases(rc: RunningCluster) -> HttpLeases:
    merged, _present = merge_kubeconfigs([rc.kubeconfig])
    return HttpLeases(HttpTransport(endpoint_for(merged, "rehearsal")))


def test_a_start_takes_the_lock_without_loading_the_official_client(tmp_path: Path, rc: RunningCluster, runbook: Path,
                                                                   policy_file: Path, lock_name: str) -> None:
    proc = subprocess.run([sys.executable, "-c", START, str(runbook), str(rc.kubeconfig), str(policy_file),
                           str(tmp_path / "records")], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    said = json.loads(proc.stdout.strip().splitlines()[-1])
    assert said == {"took": [f"default/{lock_name}"], "client": []}
    # given back on release, through the same path
    released = rc.get("leases", "default", lock_name)
    assert released is not None and not view(released).holder


def test_a_connection_the_server_cut_between_calls_is_replaced_not_reported(rc: RunningCluster, lock_name: str) -> None:
    leases = http_leases(rc)
    lock = ChangeLock(leases, host="ops-1", renew_every_s=3600)  # renewed by hand below
    try:
        lock.acquire(lock_name, "web", "alice", "CHG-1", "start", duration_s=30)
        rc.host.go_down()  # cuts the kept-alive connection the acquire left for the next call
        try:
            with pytest.raises(LockUnreachable, match=rf"did not answer while trying to update lease web/{lock_name}: "
                                                      "connection refused"):
                lock.renew()
        finally:
            rc.host.come_back()
        assert lock.renew().holder.startswith("alice@")  # a new connection, the same lease
        lock.set_step("second")
        rc.wait_for(lambda: (got := rc.get("leases", "web", lock_name)) and view(got).step == "second",
                    what="the step written on the Lease")
    finally:
        lock.release()
        leases.close()
    assert not view(rc.get("leases", "web", lock_name) or {}).holder


def test_a_lock_taken_between_the_check_and_the_start_refuses_it_with_nothing_recorded(
        tmp_path: Path, rc: RunningCluster, runbook: Path, policy_file: Path, lock_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another console takes the lock after the start's early check: ``acquire`` refuses (the API's 409 or the held
    lease), the change's journal stays empty and the refusal is in the store's log."""
    policy = load_policy(str(policy_file))
    other = ChangeLock(http_leases(rc), host="ops-other", renew_every_s=0.2)
    checked = ClusterLock.check_free

    def check_then_lose_the_race(self: ClusterLock) -> None:
        checked(self)  # free: the start goes on
        other.acquire(lock_name, "default", "bob", "CHG-2026-0500", "restart", duration_s=30)

    monkeypatch.setattr(ClusterLock, "check_free", check_then_lose_the_race)
    store = RecordStore(tmp_path / "records")
    req = StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator="alice",
                       kubeconfig=str(rc.kubeconfig))
    try:
        with pytest.raises(LockHeldElsewhere) as refused:
            ChangeSession.start(req, store=store, policy=policy)
        sentence = str(refused.value)
        assert sentence.startswith("context rehearsal is locked by bob@ops-other") and "CHG-2026-0500" in sentence
        assert "\n" not in sentence
        journals = list(store.root.glob("*/*/journal.jsonl"))
        assert all(read_events(p).events == [] for p in journals)  # no change opened without its lock
        refusals = [e for p in store.root.glob("refused/*.jsonl") for e in read_events(p).events]
        assert len(refusals) == 1 and "locked by bob@ops-other" in refusals[0].data["reason"]
        assert view(rc.get("leases", "default", lock_name) or {}).holder.startswith("bob@")  # untouched
    finally:
        other.release()


def test_a_context_only_the_official_client_handles_takes_the_lock_through_it(tmp_path: Path, rc: RunningCluster,
                                                                             policy_file: Path, lock_name: str) -> None:
    """``tls-server-name`` is one of the settings plain HTTP leaves to the official client: the lock is the same."""
    kubeconfig = tmp_path / "kubeconfig-client"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "rehearsal",
        "clusters": [{"name": "k", "cluster": {"server": rc.url, "tls-server-name": "rehearsal.example"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "rehearsal", "context": {"cluster": "k", "user": "u"}}]}), encoding="utf-8")
    lock = ClusterLock(load_policy(str(policy_file)).lock, kubeconfig=kubeconfig, context="rehearsal", operator="alice",
                       namespaces=["web"])
    try:
        lock.check_free()
        took = lock.acquire("CHG-2026-0600")
        assert [e for e, _data in took] == [ev.LOCK_ACQUIRED]
        assert type(lock._client()).__name__ == "ClientLeases"
        assert view(rc.get("leases", "default", lock_name) or {}).holder.startswith("alice@")
    finally:
        lock.release()
    assert not view(rc.get("leases", "default", lock_name) or {}).holder


def test_a_start_reads_the_lease_once_and_writes_it_once(tmp_path: Path, rc: RunningCluster, runbook: Path,
                                                        policy_file: Path, lock_name: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The start's check reads the lease; ``acquire`` writes over that read rather than reading it again (the API
    still judges the write): two round trips where there were three."""
    calls: list[str] = []
    for method in ("read_lease", "create_lease", "replace_lease"):
        original = getattr(HttpLeases, method)

        def counted(self: HttpLeases, *args: object, _name: str = method, _original: object = original) -> object:
            calls.append(_name)
            return _original(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(HttpLeases, method, counted)
    req = StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator="alice",
                       kubeconfig=str(rc.kubeconfig))
    # No renewal while this is counted: only the start's own calls
    policy_file.write_text(f'[lock]\nname = "{lock_name}"\nduration_s = 300\nrenew_every_s = 100\n', encoding="utf-8")
    for held_before in (False, True):  # no lease yet (created), then the lease alice gave back (updated)
        calls.clear()
        session = ChangeSession.start(req, store=RecordStore(tmp_path / "records"), policy=load_policy(str(policy_file)))
        try:
            assert [e.data["lease"] for e in session.events if e.type == ev.LOCK_ACQUIRED] == [f"default/{lock_name}"]
            assert calls == ["read_lease", "replace_lease" if held_before else "create_lease"]
        finally:
            session.release()


def test_an_api_gone_between_the_check_and_the_lock_pauses_the_change_until_a_fresh_read_takes_it(
        tmp_path: Path, rc: RunningCluster, runbook: Path, policy_file: Path, lock_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The start's check read the lease, then the API stopped answering: the change opens with the lock recorded as
    unreachable (in one sentence saying which lease and why), no step that changes anything runs, and once the API
    is back the lock is taken on a read made then, not on the start's."""
    checked = ClusterLock.check_free

    def check_then_lose_the_api(self: ClusterLock) -> None:
        checked(self)
        rc.host.go_down()

    monkeypatch.setattr(ClusterLock, "check_free", check_then_lose_the_api)
    req = StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator="alice",
                       kubeconfig=str(rc.kubeconfig))
    try:
        session = ChangeSession.start(req, store=RecordStore(tmp_path / "records"), policy=load_policy(str(policy_file)))
    finally:
        monkeypatch.undo()
    try:
        said = [e.data["message"] for e in session.events if e.type == ev.LOCK_UNREACHABLE]
        assert said == [f"the API server did not answer while trying to create lease default/{lock_name}: connection refused"]
        assert not [e for e in session.events if e.type == ev.LOCK_ACQUIRED]
        assert session.cluster_lock is not None and session.cluster_lock.status() == "unreachable"
        rc.host.come_back()
        rc.wait_for(lambda: [e for e in session.events if e.type == ev.LOCK_ACQUIRED], what="the lock taken once back")
        assert view(rc.get("leases", "default", lock_name) or {}).holder.startswith("alice@")
        assert session.cluster_lock.status() == "held"
    finally:
        rc.host.come_back()
        session.release()
