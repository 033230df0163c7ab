"""The store: versions, conflicts, history ring, watch replay and the scenarios' invariants."""

from __future__ import annotations

import inspect

import pytest

from kubesim.clock import SimClock
from kubesim.cluster import SimCluster
from kubesim.errors import AlreadyExists, Conflict, Gone, NotFound
from kubesim.scenarios import HISTORY, build_xlarge, make_cluster, node
from kubesim.store import Store


def _cm(name: str, v: str = "1") -> dict:
    return {"metadata": {"name": name, "namespace": "web"}, "data": {"v": v}}


def test_versions_are_global_and_monotonic() -> None:
    s = Store(SimClock(start=0, speed=0))
    a = s.create("configmaps", _cm("a"))
    b = s.create("secrets", _cm("b"))
    assert int(b["metadata"]["resourceVersion"]) == int(a["metadata"]["resourceVersion"]) + 1
    a2 = s.replace("configmaps", {**_cm("a", "2"), "metadata": {**_cm("a")["metadata"], "resourceVersion": a["metadata"]["resourceVersion"]}},
                   expect_rv=a["metadata"]["resourceVersion"])
    assert int(a2["metadata"]["resourceVersion"]) > int(b["metadata"]["resourceVersion"])
    assert a2["metadata"]["uid"] == a["metadata"]["uid"]
    same = s.replace("configmaps", a2)
    assert same["metadata"]["resourceVersion"] == a2["metadata"]["resourceVersion"]  # no-op writes keep the version
    with pytest.raises(Conflict):
        s.replace("configmaps", _cm("a", "3"), expect_rv=a["metadata"]["resourceVersion"])
    with pytest.raises(AlreadyExists):
        s.create("configmaps", _cm("a"))
    with pytest.raises(NotFound):
        s.delete("configmaps", "web", "zzz")


def test_history_ring_and_watch_replay() -> None:
    s = Store(SimClock(start=0, speed=0), history=5)
    first = s.create("configmaps", _cm("a"))
    rv0 = int(first["metadata"]["resourceVersion"])
    w, backlog = s.watch("configmaps", rv0)
    assert backlog == []
    for i in range(3):
        s.update("configmaps", "web", "a", lambda o, i=i: o["data"].__setitem__("v", str(i + 10)))
    got = [w.queue.get_nowait() for _ in range(3)]
    assert [e.type for e in got] == ["MODIFIED"] * 3
    _, replay = s.watch("configmaps", rv0)
    assert [e.rv for e in replay] == [e.rv for e in got]
    for i in range(5):
        s.create("configmaps", _cm(f"x{i}"))
    with pytest.raises(Gone):
        s.watch("configmaps", rv0)
    _, fresh = s.watch("configmaps", None)
    assert {e.type for e in fresh} == {"ADDED"} and len(fresh) == 6
    s.compact()
    with pytest.raises(Gone):
        s.watch("configmaps", s.resource_version - 1)


def test_default_scenario_is_settled_and_consistent() -> None:
    clock = SimClock(start=1_700_000_000, speed=0)
    c = make_cluster("default", clock)
    assert not c.controllers.errors
    pods = c.store.list("pods")
    assert len(pods) == 10 and all(p["status"]["phase"] == "Running" for p in pods)
    for p in pods:
        ref = p["metadata"]["ownerReferences"][0]
        owner = {"ReplicaSet": "replicasets", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}[ref["kind"]]
        assert c.store.peek(owner, p["metadata"]["namespace"], ref["name"])["metadata"]["uid"] == ref["uid"]
    web = c.store.peek("deployments", "web", "web")
    assert web["status"]["availableReplicas"] == 3 and web["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert {n["metadata"]["name"] for n in c.store.list("namespaces")} >= {"web", "cache", "data", "kube-system"}
    assert c.store.peek("configmaps", "web", "web-config") and c.store.peek("secrets", "web", "web-credentials")["data"]


def test_bulk_scenario_builds_settled_pods_on_known_nodes() -> None:
    # xlarge's builder at a tenth of a percent of its size: the same code path, counted and checked for consistency.
    clock = SimClock(start=1_700_000_000, speed=0)
    c = SimCluster("rehearsal", clock, history=HISTORY["xlarge"])
    build_xlarge(c, nodes=20, namespaces=3, per_namespace=4, replicas=5)
    c.controllers.settle()
    assert not c.controllers.errors
    pods = c.store.list("pods")
    nodes = {n["metadata"]["name"] for n in c.store.list("nodes")}
    assert len(pods) == 3 * 4 * 5 and len(nodes) == 20
    assert all(p["status"]["phase"] == "Running" and p["spec"]["nodeName"] in nodes for p in pods)
    assert len({p["status"]["podIP"] for p in pods}) == len(pods)
    deployments = c.store.list("deployments")
    assert len(deployments) == 12 and all(d["status"]["availableReplicas"] == 5 for d in deployments)
    # Settled means settled: the controllers find nothing left to do.
    assert c.controllers.step() == 0
    # The full-size defaults are the scenario's promise: 2,000 nodes and 50,000 pods.
    defaults = inspect.signature(build_xlarge).parameters
    assert defaults["nodes"].default == 2000
    assert defaults["namespaces"].default * defaults["per_namespace"].default * defaults["replicas"].default == 50_000


def test_a_new_node_gets_its_daemon_set_pod() -> None:
    # Node changes queue the daemon sets once per controller step rather than once per node event.
    clock = SimClock(start=1_700_000_000, speed=0)
    c = make_cluster("default", clock)
    for i in (4, 5):
        c.store.create("nodes", node(f"node-{i}", i, clock.now()), owned=True)
    c.controllers.settle()
    exporters = [p for p in c.store.list("pods", "kube-system") if p["metadata"]["name"].startswith("node-exporter")]
    assert {p["spec"]["nodeName"] for p in exporters} == {"node-1", "node-2", "node-3", "node-4", "node-5"}
