"""The list-then-watch loops against the rehearsal cluster: changes arrive, and the cache stays right.

Every wait is a poll with a deadline (``RunningCluster.wait_for``); every check compares the watch's cache
with a fresh list from the server (same keys, same resourceVersions).
"""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client

from console.cluster.watch import DEFAULT_KINDS, Change, ClusterCache, ClusterWatch
from kubesim.testing import RunningCluster
from tests.cluster.conftest import WatchFactory, all_live, converged


def _scale(api: client.ApiClient, replicas: int, name: str = "web", ns: str = "web") -> None:
    client.AppsV1Api(api).patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": replicas}})


def _web_pods(cache: ClusterCache) -> set[str]:
    return {k for k in cache.keys("pods") if k.startswith("web/")}


def _running_web_pods(rc: RunningCluster) -> set[str]:
    return {f"web/{p['metadata']['name']}" for p in rc.store.list("pods", "web") if not p["metadata"].get("deletionTimestamp")}


def test_list_then_watch_follows_scaling(rehearsal: RunningCluster, api: client.ApiClient, make_watch: WatchFactory) -> None:
    rc = rehearsal
    cw = make_watch()
    cw.start()
    rc.wait_for(lambda: all_live(cw), what="every kind live")
    cache = ClusterCache()
    first = cw.drain()
    assert [c.type for c in first] == ["RESYNC"] * len(DEFAULT_KINDS)  # one full set per kind, nothing else yet
    cache.apply(first)
    assert len(_web_pods(cache)) == 3 and cache.count("nodes") == 3
    assert cache.get("nodes", "node-1")["kind"] == "Node"  # listed items carry kind, as watched ones do
    assert cache.get("deployments", "web/web")["spec"]["replicas"] == 3  # camelCase API JSON, not models

    _scale(api, 5)

    def five() -> bool:
        cache.apply(cw.drain())
        return len(_web_pods(cache)) == 5 and cache.get("deployments", "web/web")["status"].get("readyReplicas") == 5
    rc.wait_for(five, what="five web pods in the cache")
    _scale(api, 1)

    def one() -> bool:
        cache.apply(cw.drain())
        return _web_pods(cache) == _running_web_pods(rc) and len(_web_pods(cache)) == 1
    rc.wait_for(one, what="scaled down to one web pod")
    rc.wait_for(lambda: converged(cw, cache, api), what="cache equals a fresh list")
    assert {k: len(cw.snapshot(k)) for k in cw.kinds} == {k: cache.count(k) for k in cw.kinds}
    assert all(s.relists == 0 for s in cw.statuses().values())


def test_one_namespace(rehearsal: RunningCluster, api: client.ApiClient, make_watch: WatchFactory) -> None:
    cw = make_watch(namespace="web", kinds=("pods", "nodes", "deployments"))
    cw.start()
    cache = ClusterCache()
    rehearsal.wait_for(lambda: all_live(cw) and converged(cw, cache, api, "web"), what="namespace web synced")
    assert {k.split("/")[0] for k in cache.keys("pods")} == {"web"}
    assert cache.keys("deployments") == {"web/web"}
    assert cache.count("nodes") == 3  # cluster-scoped kinds ignore the namespace


@pytest.mark.slow
def test_drops_every_second_for_a_simulated_minute(api: client.ApiClient, make_watch: WatchFactory, rehearsal: RunningCluster) -> None:
    """Watches cut every simulated second for a simulated minute, with rollouts going on: the cache ends exact."""
    rc = rehearsal
    speed = 10.0  # a simulated minute in 6 real seconds
    rc.set_speed(speed)
    cw = make_watch()
    cw.start()
    rc.wait_for(lambda: all_live(cw), what="every kind live")
    log: list[Change] = cw.drain()
    rv0 = int(cw.statuses()["pods"].resource_version)
    rc.faults.drop_watches_every = 1.0 / speed
    start = rc.clock.now()
    apps = client.AppsV1Api(api)
    step = 0
    wanted_drops = 20 * len(DEFAULT_KINDS) // 2
    deadline = time.monotonic() + 120
    # A simulated minute, and as long again as a busy machine needs for the drops to add up (the assertions below say
    # what fell short if the deadline ends it).
    while (rc.clock.now() - start < 60 or sum(s.drops for s in cw.statuses().values()) < wanted_drops) \
            and time.monotonic() < deadline:
        # Churn while the connections keep dropping: restarts and scaling of two workloads.
        if step % 3 == 0:
            apps.patch_namespaced_deployment("web", "web", {"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": f"step-{step}"}}}}})
        else:
            _scale(api, 2 + step % 4, "coredns", "kube-system")
        step += 1
        time.sleep(0.5)  # pacing of the churn generator, not a wait for a result
    rc.faults.drop_watches_every = None
    cache = ClusterCache()
    cache.apply(log)
    rc.wait_for(lambda: converged(cw, cache, api, log=log), what="cache equals a fresh list", timeout=20)
    # Every pod change delivered exactly once, in the server's order: nothing lost, nothing replayed twice.
    delivered = [(c.type, c.key, c.obj["metadata"]["resourceVersion"]) for c in log
                 if c.kind == "pods" and c.type != "RESYNC" and int(c.obj["metadata"]["resourceVersion"]) > rv0]
    truth = [(e.type, f"{e.obj['metadata']['namespace']}/{e.obj['metadata']['name']}", e.obj["metadata"]["resourceVersion"])
             for e in rc.store.history_since(rv0, "pods") if e.rv <= int(delivered[-1][2])]  # the cluster may have moved on
    assert len(truth) > 50
    assert delivered == truth
    statuses = cw.statuses()
    assert sum(s.drops for s in statuses.values()) >= wanted_drops
    assert all(s.relists == 0 for s in statuses.values())  # every drop resumed from its version: no relist needed


def test_expired_version_relists_once_without_duplicates(rehearsal: RunningCluster, api: client.ApiClient,
                                                         make_watch: WatchFactory) -> None:
    rc = rehearsal
    cw = make_watch()
    cw.start()
    rc.wait_for(lambda: all_live(cw), what="every kind live")
    seen: list[Change] = cw.drain()
    rc.faults.expire_watches(1)  # the next watch that resumes from a version gets an ERROR event with code 410
    rc.store.close_watches()  # end every stream, so every loop resumes
    rc.wait_for(lambda: sum(s.relists for s in cw.statuses().values()) == 1 and all_live(cw), what="one relist")
    _scale(api, 4)
    cache = ClusterCache()
    seen += cw.drain()
    cache.apply(seen)
    # The scale-up's pod, then nothing else to catch up on: a fresh list taken before the controller made the pod
    # would equal the cache at three.
    rc.wait_for(lambda: converged(cw, cache, api, log=seen) and len(_web_pods(cache)) == 4,
                what="the fourth web pod in the cache, and the cache equal to a fresh list")
    resyncs = [c.kind for c in seen if c.type == "RESYNC"]
    assert len(resyncs) == len(DEFAULT_KINDS) + 1
    relisted = next(k for k, s in cw.statuses().items() if s.relists == 1)
    assert resyncs.count(relisted) == 2
    assert len(_web_pods(cache)) == 4


def test_relist_after_compaction_leaves_no_ghosts(rehearsal: RunningCluster, api: client.ApiClient, make_watch: WatchFactory) -> None:
    """Pods deleted while the client was away, history compacted: 410, relist, and the deleted rows are gone."""
    rc = rehearsal
    cw = make_watch(kinds=("pods", "deployments"))
    cw.start()
    cache = ClusterCache()
    rc.wait_for(lambda: all_live(cw) and converged(cw, cache, api), what="synced")
    before = _web_pods(cache)
    rc.host.go_down()
    rc.wait_for(lambda: all(s.state == "reconnecting" for s in cw.statuses().values()), what="reconnecting")
    rc.cluster.controllers.stop()  # hold the replacements back so the deletion is visible in the end state
    victim = min(before).split("/")[1]
    rc.store.delete("pods", "web", victim)
    rc.store.compact()
    rc.host.come_back()
    rc.wait_for(lambda: all(s.relists == 1 for s in cw.statuses().values()) and all_live(cw), what="relisted")
    rc.wait_for(lambda: converged(cw, cache, api), what="cache equals a fresh list")
    assert _web_pods(cache) == before - {f"web/{victim}"}


def test_forbidden_kind_shows_forbidden_while_others_stay_live(rehearsal: RunningCluster, api: client.ApiClient,
                                                               make_watch: WatchFactory) -> None:
    rc = rehearsal
    rc.faults.forbid("nodes")
    cw = make_watch(forbidden_retry_s=0.3)
    cw.start()
    rc.wait_for(lambda: cw.statuses()["nodes"].state == "forbidden"
                and all(s.state == "live" for k, s in cw.statuses().items() if k != "nodes"), what="nodes forbidden, rest live")
    nodes = cw.statuses()["nodes"]
    assert "forbidden" in nodes.message and not nodes.synced
    assert cw.snapshot("nodes") == []
    rc.faults.allow("nodes")
    cache = ClusterCache()
    rc.wait_for(lambda: all_live(cw) and converged(cw, cache, api), what="nodes listed once allowed")
    assert cache.count("nodes") == 3


def test_outage_reconnects_with_age_and_recovers(rehearsal: RunningCluster, api: client.ApiClient, make_watch: WatchFactory) -> None:
    rc = rehearsal
    cw = make_watch(backoff=(0.1, 0.4))
    cw.start()
    cache = ClusterCache()
    rc.wait_for(lambda: all_live(cw) and converged(cw, cache, api), what="synced")
    # Down until the test brings it back (not for a fixed time), so no state below can be missed on a busy machine.
    rc.host.go_down()
    rc.wait_for(lambda: all(s.state == "reconnecting" for s in cw.statuses().values()), what="reconnecting")
    first = cw.statuses()["pods"]
    assert first.message  # what went wrong, for the status line
    rc.wait_for(lambda: cw.statuses()["pods"].age(time.time()) >= 1.0, what="a second of outage")
    later = cw.statuses()["pods"]
    assert later.state == "reconnecting" and later.since == first.since  # retries keep the age of the outage
    rc.cluster.controllers.stop()
    rc.store.delete("pods", "web", rc.store.list("pods", "web")[0]["metadata"]["name"])  # changed while away
    rc.host.come_back()
    rc.wait_for(lambda: all_live(cw), what="live again by itself")
    rc.wait_for(lambda: converged(cw, cache, api), what="cache equals a fresh list")
    assert all(s.relists == 0 for s in cw.statuses().values())  # resumed from the last version, no relist


def test_silent_server_is_cut_by_the_read_timeout(rehearsal: RunningCluster, make_watch: WatchFactory) -> None:
    """A server that stops answering ends in ReadTimeoutError after read_timeout_s, not in a hang."""
    rc = rehearsal
    cw = make_watch(kinds=("nodes",), server_timeout_s=1, read_timeout_s=1.5)
    cw.start()
    rc.wait_for(lambda: all_live(cw), what="live")
    rc.faults.latency_ms = 2500  # each answer now comes after the client's read timeout
    rc.wait_for(lambda: cw.statuses()["nodes"].state == "reconnecting", what="read timeout noticed")
    assert "timed out" in cw.statuses()["nodes"].message.lower()
    rc.faults.latency_ms = 0
    rc.wait_for(lambda: all_live(cw), what="live again")


@pytest.mark.parametrize("moment", ["live", "backing-off"])
def test_stop_is_prompt(rehearsal: RunningCluster, make_watch: WatchFactory, moment: str) -> None:
    """Mid-watch (blocked reading a quiet stream) or mid-backoff: stop() cuts the read and every thread ends.

    The stream stays quiet for two minutes and a backoff lasts two minutes, so a thread that had to wait either
    out would still be running when stop() gives up after 30 s: ended threads show the cut. How long stopping
    takes is a figure in benchmarks/promptness.py.
    """
    rc = rehearsal
    cw = make_watch(server_timeout_s=120, read_timeout_s=150, backoff=(120.0, 120.0))
    cw.start()
    rc.wait_for(lambda: all_live(cw), what="live")
    if moment == "backing-off":
        rc.host.go_down()
        rc.wait_for(lambda: all(s.state == "reconnecting" for s in cw.statuses().values()), what="backing off")
    cw.stop(timeout=30)
    assert not cw.running
    assert {s.state for s in cw.statuses().values()} == {"stopped"}


class HeldAnswers:
    """Stands in for the rehearsal API's ``time`` module: its latency pause holds every answer until released,
    counting the requests it holds (the API sleeps there only while ``faults.latency_ms`` is set)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.held = 0
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.held += 1
        self.release.wait(120)  # bounded, so a failed test leaves no server thread waiting for long

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


def test_stop_returns_while_the_server_has_not_answered(rehearsal: RunningCluster, make_watch: WatchFactory,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A request whose answer has not begun cannot be cut; stop() still returns within its timeout.

    Every loop's first request is held by the server until the test releases it, so stop() returning while they are
    held shows it did not wait for them. How long it takes is a figure in benchmarks/promptness.py.
    """
    import kubesim.api

    answers = HeldAnswers()
    monkeypatch.setattr(kubesim.api, "time", answers)
    rehearsal.faults.latency_ms = 1
    # Held answers are released after two minutes at most, and the lists wait five for theirs: a stop() that waited
    # for its threads would still be waiting when the minute below runs out.
    cw = make_watch(list_timeout_s=300)
    cw.start()
    rehearsal.wait_for(lambda: answers.held >= len(cw.kinds), what="every loop's first request held by the server")
    stopper = threading.Thread(target=cw.stop, kwargs={"timeout": 1.0}, daemon=True)
    stopper.start()
    stopper.join(60)  # a deadline for a stop that never returns, not a measure
    try:
        assert not stopper.is_alive(), "stop() waited for answers that had not begun"
        assert cw.running  # its loops are still in their unanswered requests
    finally:
        rehearsal.faults.latency_ms = 0
        answers.release.set()
    rehearsal.wait_for(lambda: not cw.running, what="the loops to end once answered")
    assert not any(c.type == "RESYNC" for c in cw.drain())  # the loops deliver nothing once stopped


def test_constructor_refuses_a_read_timeout_shorter_than_the_server_timeout(api: client.ApiClient) -> None:
    with pytest.raises(ValueError, match="read_timeout_s"):
        ClusterWatch(api, server_timeout_s=240, read_timeout_s=60)
    with pytest.raises(ValueError, match="secrets"):
        ClusterWatch(api, kinds=("pods", "secrets"))
