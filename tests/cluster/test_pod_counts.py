"""Tests for pods per node (the Nodes panel's PODS column): which node a pod counts against, and how a batch of
watch changes moves the counts and names the nodes whose count changed."""

from __future__ import annotations

from typing import Any

import pytest

from console.cluster.pod_counts import PodCounter, counted_node
from console.cluster.watch_changes import Change


def pod(i: int, *, node: str | None = None, ns: str | None = None, phase: str = "Running") -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": f"p-{i:05d}", "namespace": ns or f"ns-{i % 7}"},
            "spec": {"containers": [{"name": "c"}], "nodeName": node or f"node-{i % 3}"},
            "status": {"phase": phase}}


def key(p: dict[str, Any]) -> str:
    return f"{p['metadata']['namespace']}/{p['metadata']['name']}"


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}, "n1"),
        ({"spec": {"nodeName": "n1"}, "status": {"phase": "Pending"}}, "n1"),    # bound, still starting
        ({"spec": {"nodeName": "n1"}, "status": {"phase": "Unknown"}}, "n1"),    # node lost contact: still there
        ({"spec": {"nodeName": "n1"}, "status": {}}, "n1"),
        ({"spec": {"nodeName": "n1"}}, "n1"),
        ({"spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}}, None),  # finished pods count nowhere
        ({"spec": {"nodeName": "n1"}, "status": {"phase": "Failed"}}, None),
        ({"spec": {}, "status": {"phase": "Pending"}}, None),                     # not scheduled yet
        ({"spec": {"nodeName": ""}, "status": {"phase": "Pending"}}, None),
        ({"spec": None, "status": None}, None),
        ({}, None),
    ],
)
def test_counted_node(obj: dict[str, Any], expected: str | None) -> None:
    assert counted_node(obj) == expected


A, B, C = pod(1, node="n1", ns="a"), pod(2, node="n1", ns="a"), pod(3, node="n2", ns="a")


def edited(p: dict[str, Any], node: str | None = None, phase: str | None = None) -> dict[str, Any]:
    return {**p, "spec": {**p["spec"], "nodeName": node if node is not None else p["spec"]["nodeName"]},
            "status": {**p["status"], **({"phase": phase} if phase else {})}}


def change(kind_of: str, p: dict[str, Any] | None = None, *objects: dict[str, Any]) -> Change:
    if kind_of == "RESYNC":
        return Change("pods", "RESYNC", "", None, tuple(objects))
    assert p is not None
    return Change("pods", kind_of, key(p), p)


# (batches applied in order, the nodes each batch reports changed, the counts at the end)
CASES = {
    "list": ([[change("RESYNC", None, A, B, C)]], [{"n1", "n2"}], {"n1": 2, "n2": 1}),
    "added then deleted": ([[change("ADDED", A)], [change("DELETED", A)]], [{"n1"}, {"n1"}], {}),
    "modified on the same node changes nothing": (
        [[change("ADDED", A)], [change("MODIFIED", edited(A, phase="Running"))]], [{"n1"}, set()], {"n1": 1}),
    "scheduled once bound": ([[change("ADDED", edited(A, node="")), change("MODIFIED", A)]], [{"n1"}], {"n1": 1}),
    "moves between nodes": (
        [[change("RESYNC", None, A, B)], [change("MODIFIED", edited(A, node="n2"))]], [{"n1"}, {"n1", "n2"}],
        {"n1": 1, "n2": 1}),
    "finished pods stop counting": (
        [[change("RESYNC", None, A, C)], [change("MODIFIED", edited(C, phase="Succeeded"))]], [{"n1", "n2"}, {"n2"}],
        {"n1": 1}),
    "a relist replaces every count": (
        [[change("RESYNC", None, A, C)], [change("RESYNC", None, B)]], [{"n1", "n2"}, {"n1", "n2"}], {"n1": 1}),
    "deleting an unknown pod is nothing": ([[change("DELETED", A)]], [set()], {}),
    "a DELETED with no object": ([[change("ADDED", A)], [Change("pods", "DELETED", key(A), None)]],
                                 [{"n1"}, {"n1"}], {}),
}


@pytest.mark.parametrize(("batches", "reported", "counts"), CASES.values(), ids=CASES.keys())
def test_pod_counter(batches: list[list[Change]], reported: list[set[str]], counts: dict[str, int]) -> None:
    counter = PodCounter()
    assert [counter.apply(batch) for batch in batches] == reported
    assert dict(counter.counts) == counts
    assert sum(counter.counts.values()) == len(counter.node_of)


def test_pod_counter_follows_pods_between_nodes() -> None:
    counter = PodCounter()
    changed = counter.apply([Change("pods", "RESYNC", "", None, tuple(pod(i, node="n1") for i in range(3)))])
    assert changed == {"n1"} and counter.counts == {"n1": 3}
    moved = pod(1, node="n2")
    assert counter.apply([Change("pods", "MODIFIED", "ns-1/p-00001", moved)]) == {"n1", "n2"}
    assert counter.counts == {"n1": 2, "n2": 1}
    done = pod(2, node="n1")
    done["status"]["phase"] = "Succeeded"  # a finished pod no longer counts against its node
    counter.apply([Change("pods", "MODIFIED", "ns-2/p-00002", done)])
    counter.apply([Change("pods", "DELETED", "ns-1/p-00001", moved)])
    assert counter.counts == {"n1": 1}


def test_clear_forgets_every_pod() -> None:
    counter = PodCounter()
    counter.apply([change("RESYNC", None, A, B, C)])
    counter.clear()
    assert counter.counts == {} and counter.node_of == {}
    assert counter.apply([change("ADDED", A)]) == {"n1"} and counter.counts == {"n1": 1}
