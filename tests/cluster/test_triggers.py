"""Table tests for rollback-trigger evaluation over plain API objects."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from console.cluster.triggers import (
    TriggerError,
    TriggerHit,
    evaluate_triggers,
    parse_triggers,
    pod_restart_total,
    restart_baseline,
)

FIXTURES = Path(__file__).parent / "fixtures"
WORKLOADS = json.loads((FIXTURES / "workloads.json").read_text())
EVENTS = json.loads((FIXTURES / "events.json").read_text())["events"]
NODES = [c["node"] for c in json.loads((FIXTURES / "nodes.json").read_text())["cases"]]


def pod(name: str, *, ns: str = "web", labels: dict | None = None, restarts: tuple[int, ...] = (0,),
        init_restarts: tuple[int, ...] = (), waiting: str | None = None, phase: str = "Running",
        conditions: list | None = None) -> dict[str, Any]:
    statuses = [{"name": f"c{i}", "ready": waiting is None, "restartCount": n,
                 "state": {"waiting": {"reason": waiting, "message": f"{waiting} detail"}} if waiting and i == 0
                 else {"running": {"startedAt": "2026-11-21T10:00:00Z"}}}
                for i, n in enumerate(restarts)]
    st: dict[str, Any] = {"phase": phase, "containerStatuses": statuses}
    if init_restarts:
        st["initContainerStatuses"] = [{"name": f"i{i}", "restartCount": n,
                                        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
                                       for i, n in enumerate(init_restarts)]
    if conditions is not None:
        st["conditions"] = conditions
    return {"kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": "web"}},
            "spec": {"containers": [{"name": f"c{i}"} for i in range(len(restarts))]}, "status": st}


def run(triggers: list, *, pods: list | None = None, nodes: list | None = None, workloads: list | None = None,
        events: list | None = None, namespace: str | None = "web", **kw: Any) -> list[TriggerHit]:
    return evaluate_triggers(triggers, namespace=namespace, pods=pods or [], nodes=nodes or [],
                             workloads=workloads or [], events=events or [], **kw)


# --- validation ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("trigger", "match"),
    [
        ({}, "exactly one"),
        ({"rollout_failed": "deployment/web", "pod_restarts": {}}, "exactly one"),
        ("rollout_failed", "exactly one"),
        ({"disk_full": True}, "unknown trigger 'disk_full'"),
        ({"rollout_failed": "web"}, "kind/name"),
        ({"rollout_failed": "replicaset/web"}, "not a deployment, statefulset or daemonset"),
        ({"rollout_failed": "deployment/"}, "not a deployment"),
        ({"pod_restarts": {"over": 3}}, "label selector"),
        ({"pod_restarts": {"selector": "app=web"}}, "whole number"),
        ({"pod_restarts": {"selector": "app=web", "over": -1}}, "whole number"),
        ({"pod_restarts": {"selector": "app=web", "over": True}}, "whole number"),
        ({"pod_restarts": {"selector": "app in", "over": 1}}, r"triggers\[0\] \(pod_restarts\)"),
        ({"pod_restarts": {"selector": "app=web", "over": 1, "window": "5m"}}, "unknown field"),
        ({"pod_restarts": "app=web"}, "expects"),
        ({"pod_status": {"selector": "app=web", "reasons": []}}, "non-empty list"),
        ({"pod_status": {"selector": "app=web", "reasons": "CrashLoopBackOff"}}, "non-empty list"),
        ({"pod_status": {"reasons": ["X"]}}, "label selector"),
        ({"node_not_ready": ""}, "true or a node name"),
        ({"node_not_ready": 3}, "true or a node name"),
        ({"warning_events": {"pattern": "(unclosed"}}, "not a valid regular expression"),
        ({"warning_events": {"pattern": 5}}, "regular expression string"),
        ({"warning_events": {"pattern": "x", "namespace": 1}}, "namespace must be a string"),
        ({"warning_events": "BackOff"}, "expects"),
    ],
)
def test_invalid_triggers_are_rejected(trigger: Any, match: str) -> None:
    with pytest.raises(TriggerError, match=match):
        parse_triggers([trigger])


def test_valid_triggers_parse() -> None:
    parsed = parse_triggers([
        {"rollout_failed": "deploy/web"}, {"rollout_failed": "sts/db"}, {"rollout_failed": "daemonsets.apps/agent"},
        {"pod_restarts": {"selector": "app=web", "over": 0}},
        {"pod_status": {"selector": "app=web", "reasons": ["CrashLoopBackOff"]}},
        {"node_not_ready": True}, {"node_not_ready": "worker-2"}, {"warning_events": {"pattern": "BackOff"}},
    ])
    assert [t.index for t in parsed] == list(range(8))
    assert [t.arg for t in parsed[:3]] == [("Deployment", "web"), ("StatefulSet", "db"), ("DaemonSet", "agent")]


# --- rollout_failed ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("fixture", "target", "fires"),
    [
        ("deployment_deadline", "deployment/web", True),
        ("deployment_progressing", "deployment/web", False),
        ("deployment_complete", "deployment/web", False),
        ("deployment_deadline", "deployment/other", False),   # absent target does not fire
        ("deployment_deadline", "statefulset/web", False),    # same name, other kind
        ("statefulset_ondelete", "statefulset/db", False),    # undecidable is not failed
    ],
)
def test_rollout_failed(fixture: str, target: str, fires: bool) -> None:
    hits = run([{"rollout_failed": target}], workloads=[WORKLOADS[fixture]])
    if fires:
        assert hits == [TriggerHit(0, "rollout_failed", "Deployment/web",
                                   'deployment "web" exceeded its progress deadline', "web")]
    else:
        assert hits == []


def test_rollout_failed_respects_namespace() -> None:
    assert run([{"rollout_failed": "deployment/web"}], workloads=[WORKLOADS["deployment_deadline"]],
               namespace="other") == []
    assert len(run([{"rollout_failed": "deployment/web"}], workloads=[WORKLOADS["deployment_deadline"]],
                   namespace=None)) == 1


# --- pod_restarts --------------------------------------------------------------------------------

def test_restart_totals_and_baseline() -> None:
    p = pod("web-1", restarts=(2, 3), init_restarts=(1,))
    assert pod_restart_total(p) == 6
    assert restart_baseline([p, pod("web-2")]) == {"web/web-1": 6, "web/web-2": 0}


@pytest.mark.parametrize(
    ("restarts", "baseline", "over", "hits"),
    [
        ((5,), {"web/web-1": 5}, 3, []),                  # old restarts never fire
        ((8,), {"web/web-1": 5}, 3, []),                  # 3 new restarts is not more than 3
        ((9,), {"web/web-1": 5}, 3, ["4 restarts"]),
        ((4,), {}, 3, ["4 restarts"]),                    # pod created since the window opened
        ((4,), None, 3, ["4 restarts"]),
        ((2,), {"web/web-1": 9}, 1, ["2 restarts"]),      # recreated under the same name: counts from zero
        ((1,), {"web/web-1": 0}, 0, ["1 restarts"]),
        ((0,), {"web/web-1": 0}, 0, []),
    ],
)
def test_pod_restarts(restarts: tuple[int, ...], baseline: dict | None, over: int, hits: list[str]) -> None:
    got = run([{"pod_restarts": {"selector": "app=web", "over": over}}], pods=[pod("web-1", restarts=restarts)],
              baseline=baseline)
    assert [h.message.split(" since")[0] for h in got] == hits
    for h in got:
        assert (h.index, h.trigger, h.object, h.namespace) == (0, "pod_restarts", "Pod/web-1", "web")
        assert f"(more than {over})" in h.message


def test_pod_restarts_selector_and_namespace_scope() -> None:
    pods = [pod("web-1", restarts=(9,)), pod("db-0", labels={"app": "db"}, restarts=(9,)),
            pod("web-x", ns="other", restarts=(9,))]
    hits = run([{"pod_restarts": {"selector": "app=web", "over": 3}}], pods=pods)
    assert [h.object for h in hits] == ["Pod/web-1"]
    hits = run([{"pod_restarts": {"selector": "app in (web,db)", "over": 3}}], pods=pods, namespace=None)
    assert [h.object for h in hits] == ["Pod/web-1", "Pod/db-0", "Pod/web-x"]


# --- pod_status ----------------------------------------------------------------------------------

UNSCHEDULABLE = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                  "message": "0/3 nodes are available: 3 Insufficient cpu."}]


@pytest.mark.parametrize(
    ("p", "reasons", "message"),
    [
        (pod("web-1", waiting="CrashLoopBackOff"), ["CrashLoopBackOff"],
         "status CrashLoopBackOff: container c0: CrashLoopBackOff detail"),
        (pod("web-1", waiting="ImagePullBackOff"), ["CrashLoopBackOff", "ImagePullBackOff"],
         "status ImagePullBackOff: container c0: ImagePullBackOff detail"),
        (pod("web-1", waiting="ContainerCreating"), ["CrashLoopBackOff"], None),
        (pod("web-1"), ["CrashLoopBackOff"], None),
        (pod("web-1", restarts=(0, 0), waiting="CrashLoopBackOff"), ["Running"], None),
        (pod("web-1", restarts=(), phase="Pending", conditions=UNSCHEDULABLE), ["Unschedulable"],
         "status Pending, Unschedulable: 0/3 nodes are available: 3 Insufficient cpu."),
        (pod("web-1", restarts=(), phase="Pending", conditions=UNSCHEDULABLE), ["Pending"], "status Pending"),
    ],
)
def test_pod_status(p: dict, reasons: list[str], message: str | None) -> None:
    hits = run([{"pod_status": {"selector": "app=web", "reasons": reasons}}], pods=[p])
    if message is None:
        assert hits == []
    else:
        assert hits == [TriggerHit(0, "pod_status", "Pod/web-1", message, "web")]


def test_pod_status_matches_printed_init_status() -> None:
    p = pod("web-1", restarts=(0,))
    p["spec"]["initContainers"] = [{"name": "migrate"}]
    p["status"]["initContainerStatuses"] = [{"name": "migrate", "restartCount": 2,
                                             "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
    hits = run([{"pod_status": {"selector": "app=web", "reasons": ["Init:CrashLoopBackOff"]}}], pods=[p])
    assert [h.message for h in hits] == ["status Init:CrashLoopBackOff"]


# --- node_not_ready ------------------------------------------------------------------------------

def test_node_not_ready_any() -> None:
    hits = run([{"node_not_ready": True}], nodes=NODES)
    assert [(h.object, h.message) for h in hits] == [
        ("Node/worker-2", ('node "worker-2" is NotReady (Ready=Unknown, NodeStatusUnknown): '
                          "Kubelet stopped posting node status.")),
        ("Node/new-1", 'node "new-1" has no Ready condition'),
        ("Node/w-4", 'node "w-4" is NotReady (Ready=False, KubeletNotReady)'),
    ]
    assert all(h.namespace == "" and h.trigger == "node_not_ready" for h in hits)


@pytest.mark.parametrize(("arg", "objects"), [("worker-2", ["Node/worker-2"]), ("cp-1", []), ("absent", []),
                                               (False, [])])
def test_node_not_ready_named(arg: Any, objects: list[str]) -> None:
    assert [h.object for h in run([{"node_not_ready": arg}], nodes=NODES)] == objects


# --- warning_events ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("arg", "since", "objects"),
    [
        ({"pattern": "BackOff|FailedScheduling"}, None, ["Pod/web-7d9f-abc", "Pod/web-7d9f-xyz"]),
        ({"pattern": "probe failed"}, None, ["Pod/web-old"]),                      # matches the message
        ({"pattern": ""}, None, ["Pod/web-7d9f-abc", "Pod/web-7d9f-xyz", "Pod/web-old"]),
        ({"pattern": ""}, datetime(2026, 11, 21, 11, 0, tzinfo=UTC), ["Pod/web-7d9f-abc", "Pod/web-7d9f-xyz"]),
        ({"pattern": "FailedScheduling"}, "2026-11-21T11:58:30Z", []),            # series last seen 11:58
        ({"pattern": "NodeNotReady", "namespace": "*"}, None, []),                 # Normal events never fire
        ({"pattern": "BackOff", "namespace": "other"}, None, []),
        ({"pattern": "Scaled"}, None, []),
    ],
)
def test_warning_events(arg: dict, since: Any, objects: list[str]) -> None:
    hits = run([{"warning_events": arg}], events=EVENTS, since=since)
    assert [h.object for h in hits] == objects


def test_warning_event_message_and_namespace_override() -> None:
    hits = run([{"warning_events": {"pattern": "^BackOff$", "namespace": "web"}}], events=EVENTS, namespace="ops")
    assert hits == [TriggerHit(0, "warning_events", "Pod/web-7d9f-abc",
                               "BackOff: Back-off restarting failed container app in pod web-7d9f-abc_web(uid) (x17)",
                               "web")]


# --- several at once -----------------------------------------------------------------------------

def test_hits_come_in_trigger_order_with_indices() -> None:
    triggers = [
        {"node_not_ready": "worker-2"},
        {"rollout_failed": "deployment/web"},
        {"pod_restarts": {"selector": "app=web", "over": 3}},
        {"warning_events": {"pattern": "BackOff"}},
    ]
    hits = run(triggers, pods=[pod("web-1", restarts=(10,))], nodes=NODES,
               workloads=[WORKLOADS["deployment_deadline"]], events=EVENTS, baseline={"web/web-1": 2})
    assert [(h.index, h.trigger, h.object) for h in hits] == [
        (0, "node_not_ready", "Node/worker-2"),
        (1, "rollout_failed", "Deployment/web"),
        (2, "pod_restarts", "Pod/web-1"),
        (3, "warning_events", "Pod/web-7d9f-abc"),
    ]


def test_no_triggers_no_hits() -> None:
    assert run([], pods=[pod("web-1", restarts=(99,))]) == []
