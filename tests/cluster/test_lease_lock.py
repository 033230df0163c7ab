"""The change lock against the rehearsal cluster: real threads, real HTTP, a real process killed with SIGKILL; each
test through the official client and through plain HTTP (``HttpLeases``), which must behave the same.

Every test waits for a state (the store's lease, a reported failure) with a deadline; none asserts on time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from console.cluster.kubeconfig import merge_kubeconfigs
from console.cluster.lease import (
    Acquired,
    ChangeLock,
    LockError,
    LockForbidden,
    LockHeld,
    LockUnreachable,
    RenewalFailure,
    list_locks,
)
from console.cluster.lease_http import HttpLeases
from console.cluster.lease_record import CHANGE, MANAGED_BY_LABEL, PREVIOUS_HOLDER, STEP, TAKEOVER_REASON, micro_time, view
from console.cluster.raw_endpoint import endpoint_for
from console.cluster.raw_http import HttpTransport
from kubesim.testing import RunningCluster

REPO = Path(__file__).resolve().parents[2]
# A console that takes the lock and keeps renewing it until it is killed.
HOLDER = """
import sys, time
from kubernetes import config
from console.cluster.lease import ChangeLock
api = config.new_client_from_config(config_file=sys.argv[1], context="rehearsal")
lock = ChangeLock(api, host="ops-dead", renew_every_s=0.3)
lock.acquire("web-change", "web", "alice", "CHG-1", "restart", duration_s=int(sys.argv[2]))
print("acquired", flush=True)
while True:
    time.sleep(60)
"""


class Failures:
    """A renewal-failure callback that remembers what it was told (called from the renewal thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: list[RenewalFailure] = []

    def __call__(self, failure: RenewalFailure) -> None:
        with self._lock:
            self.seen.append(failure)

    def of(self, kind: str) -> list[RenewalFailure]:
        with self._lock:
            return [f for f in self.seen if f.kind == kind]


LockFactory = Callable[..., ChangeLock]


@pytest.fixture(params=["client", "http"])
def make_lock(rehearsal: RunningCluster, request: pytest.FixtureRequest) -> Iterator[LockFactory]:
    """ChangeLocks, each with its own API client: the official client's, or plain HTTP (``HttpLeases``, what a
    change's lock uses where the context's auth allows); every one is released (and its thread ended) afterwards."""
    made: list[tuple[ChangeLock, client.ApiClient | HttpLeases]] = []

    def make(**kw: Any) -> ChangeLock:
        api: client.ApiClient | HttpLeases
        if request.param == "http":
            merged, _present = merge_kubeconfigs([rehearsal.kubeconfig])
            api = HttpLeases(HttpTransport(endpoint_for(merged, "rehearsal")))
        else:
            api = config.new_client_from_config(config_file=str(rehearsal.kubeconfig), context="rehearsal")
        kw.setdefault("renew_every_s", 0.2)
        kw.setdefault("request_timeout_s", 2.0)
        lock = ChangeLock(api, **kw)
        made.append((lock, api))
        return lock
    yield make
    for lock, api in made:
        with contextlib.suppress(LockError):  # a server stopped by the test: the lease would expire by itself
            lock.release()
        api.close()


def stored(rc: RunningCluster, name: str = "web-change", ns: str = "web") -> dict[str, Any] | None:
    return rc.get("leases", ns, name)


def contend(make_lock: LockFactory, n: int = 20) -> tuple[int, list[LockHeld], list[ChangeLock]]:
    """``n`` consoles (threads, each with its own client) try to acquire web/web-change at once."""
    locks = [make_lock(host=f"ops-{i}") for i in range(n)]
    start = threading.Barrier(n)
    results: list[Acquired | LockHeld | None] = [None] * n

    def attempt(i: int) -> None:
        start.wait()
        try:
            results[i] = locks[i].acquire("web-change", "web", f"op{i}", f"CHG-{i}", "start", duration_s=30)
        except LockHeld as e:
            results[i] = e

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    winners = [i for i, r in enumerate(results) if isinstance(r, Acquired)]
    assert len(winners) == 1, results
    refused = [r for r in results if isinstance(r, LockHeld)]
    assert len(refused) == n - 1, results
    return winners[0], refused, locks


def test_twenty_contenders_for_a_new_lock_exactly_one_wins(rehearsal: RunningCluster, make_lock: LockFactory) -> None:
    w, refused, locks = contend(make_lock)
    winner = f"op{w}@ops-{w} CHG-{w}"
    assert all(r.lease.holder == winner and r.lease.change == f"CHG-{w}" and winner in str(r) for r in refused)
    lease = stored(rehearsal)
    assert lease is not None and lease["spec"]["holderIdentity"] == winner and lease["spec"]["leaseTransitions"] == 0
    assert [lk.held for lk in locks].count(True) == 1


def test_twenty_contenders_for_an_expired_lock_exactly_one_wins(rehearsal: RunningCluster, make_lock: LockFactory,
                                                                  api: client.ApiClient) -> None:
    """Every contender reads the same expired lease and writes over its version: the API lets one through."""
    old = time.time() - 3600
    client.CoordinationV1Api(api).create_namespaced_lease("web", {
        "metadata": {"name": "web-change"},
        "spec": {"holderIdentity": "gone@ops-0 CHG-0", "leaseDurationSeconds": 15, "leaseTransitions": 4,
                 "renewTime": micro_time(old), "acquireTime": micro_time(old)}})
    w, refused, locks = contend(make_lock)
    winner = f"op{w}@ops-{w} CHG-{w}"
    assert all(r.lease.holder == winner and winner in str(r) for r in refused)
    lease = stored(rehearsal)
    assert lease is not None and lease["spec"]["holderIdentity"] == winner
    assert lease["spec"]["leaseTransitions"] == 5 and lease["metadata"]["annotations"][PREVIOUS_HOLDER] == "gone@ops-0 CHG-0"
    assert [lk.held for lk in locks].count(True) == 1


def test_a_live_lock_is_refused_naming_holder_change_and_step(make_lock: LockFactory) -> None:
    alice, bob = make_lock(host="ops-1"), make_lock(host="ops-2")
    got = alice.acquire("web-change", "web", "alice", "CHG-1", "restart")
    assert got.displaced is None and got.lease.holder == "alice@ops-1 CHG-1"
    with pytest.raises(LockHeld) as e:
        bob.acquire("web-change", "web", "bob", "CHG-2", "backup")
    assert (e.value.lease.holder, e.value.lease.change, e.value.lease.step) == ("alice@ops-1 CHG-1", "CHG-1", "restart")
    assert str(e.value).startswith("lease web/web-change is held by alice@ops-1 CHG-1, change CHG-1, step restart")
    assert not bob.held and alice.held


def test_killed_holder_expires_and_another_acquires(rehearsal: RunningCluster, make_lock: LockFactory) -> None:
    rc = rehearsal
    env = rc.env({**os.environ, "PYTHONPATH": str(REPO)})
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(rc.kubeconfig), "3"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "acquired", proc.stderr.read() if proc.stderr else ""
        first = stored(rc)
        assert first is not None and first["spec"]["holderIdentity"] == "alice@ops-dead CHG-1"
        # it is renewing: the renew time moves on
        rc.wait_for(lambda: (s := stored(rc)) and s["spec"]["renewTime"] != first["spec"]["renewTime"], what="a renewal by the holder")
        bob = make_lock(host="ops-2")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        last = stored(rc)
        assert last is not None
        # nobody renews it now: it expires after its duration, whatever the time it takes to get there
        rc.wait_for(lambda: view(last).is_expired(time.time()), timeout=30, what="the dead holder's lease to expire")
        assert stored(rc)["metadata"]["resourceVersion"] == last["metadata"]["resourceVersion"]  # type: ignore[index]

        def try_acquire() -> Acquired | None:
            try:
                return bob.acquire("web-change", "web", "bob", "CHG-2", "backup")
            except LockHeld:
                return None
        got = rc.wait_for(try_acquire, timeout=30, interval=0.2, what="bob to take the expired lease")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert got.displaced is not None and got.displaced.holder == "alice@ops-dead CHG-1"
    assert got.displaced.expires_at is not None and got.lease.acquired is not None and got.displaced.expires_at <= got.lease.acquired
    lease = stored(rc)
    assert lease is not None and lease["spec"]["holderIdentity"] == "bob@ops-2 CHG-2" and lease["spec"]["leaseTransitions"] == 1
    assert lease["metadata"]["annotations"][PREVIOUS_HOLDER] == "alice@ops-dead CHG-1"
    assert TAKEOVER_REASON not in lease["metadata"]["annotations"]


def test_take_over_records_the_previous_holder_and_the_displaced_learns_it(rehearsal: RunningCluster, make_lock: LockFactory) -> None:
    rc = rehearsal
    alice_failures = Failures()
    alice, bob = make_lock(host="ops-1", on_failure=alice_failures), make_lock(host="ops-2")
    alice.acquire("web-change", "web", "alice", "CHG-1", "restart")
    with pytest.raises(LockHeld):
        bob.acquire("web-change", "web", "bob", "CHG-2", "backup")
    displaced = bob.take_over("alice's console froze during the restart")
    assert displaced is not None and (displaced.holder, displaced.change, displaced.step) == ("alice@ops-1 CHG-1", "CHG-1", "restart")
    lease = stored(rc)
    assert lease is not None and lease["spec"]["holderIdentity"] == "bob@ops-2 CHG-2" and lease["spec"]["leaseTransitions"] == 1
    notes = lease["metadata"]["annotations"]
    assert notes[PREVIOUS_HOLDER] == "alice@ops-1 CHG-1"
    assert notes[TAKEOVER_REASON] == "alice's console froze during the restart"
    assert (notes[CHANGE], notes[STEP]) == ("CHG-2", "backup")
    lost = rc.wait_for(lambda: alice_failures.of("lost"), what="alice's renewal to report the lock lost")
    assert lost[0].holder == "bob@ops-2 CHG-2" and "bob@ops-2 CHG-2" in lost[0].message
    assert not alice.held and bob.held
    assert alice.release() is False  # never deletes what is bob's now
    assert stored(rc) is not None
    assert bob.release() is True
    # given back as client-go gives a lease back: no holder, and the annotations still say who held it last
    after = stored(rc)
    assert after is not None and "holderIdentity" not in after["spec"] and after["spec"]["leaseDurationSeconds"] == 1
    assert view(after).last_holder == "bob@ops-2 CHG-2" and view(after).is_expired(time.time())


def test_renewal_against_a_stopped_server_reports_unreachable(rehearsal: RunningCluster, make_lock: LockFactory) -> None:
    rc = rehearsal
    failures = Failures()
    lock = make_lock(host="ops-1", on_failure=failures)
    lock.acquire("web-change", "web", "alice", "CHG-1", "restart", duration_s=60)
    rc.host.go_down()
    try:
        first = rc.wait_for(lambda: failures.of("unreachable"), what="an unreachable renewal")[0]
        assert "did not answer" in first.message and "web/web-change" in first.message
        assert not first.lease_expired  # the last renewal is seconds old and the lease lasts a minute
        assert lock.held  # an unreachable server is not a lost lock
    finally:
        rc.host.come_back()
    before = stored(rc)
    assert before is not None
    rc.wait_for(lambda: (s := stored(rc)) and s["spec"]["renewTime"] != before["spec"]["renewTime"], what="renewals to resume")
    assert not failures.of("lost") and not failures.of("forbidden")


def test_forbidden_renewal_reports_forbidden(rehearsal: RunningCluster, make_lock: LockFactory) -> None:
    rc = rehearsal
    failures = Failures()
    lock = make_lock(host="ops-1", on_failure=failures)
    lock.acquire("web-change", "web", "alice", "CHG-1", "restart")
    rc.faults.forbid("leases")
    first = rc.wait_for(lambda: failures.of("forbidden"), what="a forbidden renewal")[0]
    assert "403" in first.message and 'cannot update resource "leases"' in first.message
    assert lock.held
    with pytest.raises(LockForbidden):
        make_lock(host="ops-2").acquire("other", "web", "bob", "CHG-2", "backup")
    rc.faults.allow("leases")
    before = stored(rc)
    assert before is not None
    rc.wait_for(lambda: (s := stored(rc)) and s["spec"]["renewTime"] != before["spec"]["renewTime"], what="renewals to resume")


def test_a_deleted_lease_is_reported_lost(rehearsal: RunningCluster, make_lock: LockFactory) -> None:
    rc = rehearsal
    failures = Failures()
    lock = make_lock(host="ops-1", on_failure=failures)
    lock.acquire("web-change", "web", "alice", "CHG-1", "restart")
    rc.store.delete("leases", "web", "web-change")
    lost = rc.wait_for(lambda: failures.of("lost"), what="the deletion to be noticed")[0]
    assert lost.holder == "" and "deleted" in lost.message
    assert not lock.held and stored(rc) is None  # the renewal did not bring it back


def test_set_step_is_written_by_the_renewals(rehearsal: RunningCluster, make_lock: LockFactory) -> None:
    rc = rehearsal
    lock = make_lock(host="ops-1", renew_every_s=30)  # slow renewals: set_step must wake the thread
    lock.acquire("web-change", "web", "alice", "CHG-1", "backup")
    lock.set_step("restart")
    rc.wait_for(lambda: (s := stored(rc)) and s["metadata"]["annotations"][STEP] == "restart", what="the step annotation")


def test_the_same_change_takes_its_own_lock_back(rehearsal: RunningCluster, make_lock: LockFactory) -> None:
    first = make_lock(host="ops-1")
    got = first.acquire("web-change", "web", "alice", "CHG-1", "restart")
    # a console restarted for the same change on the same host does not wait for its own lease to expire
    again = make_lock(host="ops-1").acquire("web-change", "web", "alice", "CHG-1", "restart")
    assert again.displaced is None and again.lease.acquired == got.lease.acquired and again.lease.transitions == 0


def test_list_locks_shows_the_consoles_locks_in_every_namespace(rehearsal: RunningCluster, make_lock: LockFactory,
                                                                api: client.ApiClient) -> None:
    rc = rehearsal
    make_lock(host="ops-1").acquire("web-change", "web", "alice", "CHG-1", "restart")
    make_lock(host="ops-2").acquire("cache-change", "cache", "bob", "CHG-2", "flush", duration_s=40)
    # a Lease the console did not make is not one of its locks
    other = {"metadata": {"name": "node-1"}, "spec": {"holderIdentity": "node-1"}}
    client.CoordinationV1Api(api).create_namespaced_lease("kube-system", other)
    now = time.time()
    locks = list_locks(api, now)
    assert [(s.lease.namespace, s.lease.name, s.lease.holder, s.lease.change, s.lease.step, s.expired) for s in locks] == [
        ("cache", "cache-change", "bob@ops-2 CHG-2", "CHG-2", "flush", False),
        ("web", "web-change", "alice@ops-1 CHG-1", "CHG-1", "restart", False),
    ]
    assert all(s.lease.acquired is not None and s.lease.renewed is not None for s in locks)
    assert [s.expired for s in list_locks(api, now + 3600)] == [True, True]
    assert stored(rc, "cache-change", "cache")["metadata"]["labels"][MANAGED_BY_LABEL] == "opsconsole"  # type: ignore[index]


def test_acquire_against_a_stopped_server_is_unreachable(rehearsal: RunningCluster, make_lock: LockFactory) -> None:
    lock = make_lock(host="ops-1")
    rehearsal.host.go_down()
    try:
        with pytest.raises(LockUnreachable, match="did not answer"):
            lock.acquire("web-change", "web", "alice", "CHG-1", "restart")
    finally:
        rehearsal.host.come_back()
    assert not lock.held


def test_whole_second_times_are_written_as_micro_times(rehearsal: RunningCluster, make_lock: LockFactory) -> None:
    """The client writes a whole second without a fraction, which the API refuses for a MicroTime; not the lock."""
    rc = rehearsal
    lock = make_lock(host="ops-1", clock=lambda: float(int(time.time())))
    lock.acquire("web-change", "web", "alice", "CHG-1", "restart")
    assert stored(rc)["spec"]["renewTime"].endswith(".000000Z")  # type: ignore[index]
    renewed_view = lock.renew()
    assert renewed_view.renewed is not None and renewed_view.renewed == int(renewed_view.renewed)


# -- acquire over a read made beforehand (the start's check): never trusted past what the API says now -------------

def test_a_read_gone_stale_by_a_renewal_is_refused_by_the_api_and_judged_again(rehearsal: RunningCluster,
                                                                             make_lock: LockFactory) -> None:
    bob = make_lock(host="ops-bob", renew_every_s=3600)  # renewed by hand below
    bob.acquire("web-change", "web", "bob", "CHG-B", "restart", duration_s=1)
    rehearsal.wait_for(lambda: view(stored(rehearsal) or {}).is_expired(time.time()), what="bob's claim running out")
    seen = stored(rehearsal)  # expired, as read
    bob.renew()  # bob is back before alice writes: the version alice read is gone
    alice = make_lock(host="ops-alice")
    with pytest.raises(LockHeld, match="held by bob@ops-bob"):
        alice.acquire("web-change", "web", "alice", "CHG-A", "start", duration_s=30, seen=seen)
    assert view(stored(rehearsal) or {}).holder.startswith("bob@")


def test_a_lease_created_since_a_read_that_found_none_is_refused(rehearsal: RunningCluster, make_lock: LockFactory) -> None:
    bob = make_lock(host="ops-bob")
    bob.acquire("web-change", "web", "bob", "CHG-B", "restart", duration_s=30)
    alice = make_lock(host="ops-alice")
    with pytest.raises(LockHeld, match="held by bob@ops-bob"):
        alice.acquire("web-change", "web", "alice", "CHG-A", "start", duration_s=30, seen=None)  # "there was none"
    assert view(stored(rehearsal) or {}).holder.startswith("bob@")


def test_a_refusal_rests_on_a_fresh_read_not_on_the_one_given(rehearsal: RunningCluster, make_lock: LockFactory) -> None:
    bob = make_lock(host="ops-bob")
    bob.acquire("web-change", "web", "bob", "CHG-B", "restart", duration_s=30)
    seen = stored(rehearsal)  # live, as read
    assert bob.release()
    alice = make_lock(host="ops-alice")
    got = alice.acquire("web-change", "web", "alice", "CHG-A", "start", duration_s=30, seen=seen)
    assert got.lease.holder.startswith("alice@") and view(stored(rehearsal) or {}).holder == got.lease.holder
