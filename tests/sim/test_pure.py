"""Pure parts of the rehearsal cluster: patches, selectors, Table cells, durations."""

from __future__ import annotations

import pytest

from kubesim.errors import BadRequest, Invalid
from kubesim.patch import json_patch, merge_patch, strategic_merge
from kubesim.selectors import match_fields, match_labels, parse_fields, parse_labels, selector_string
from kubesim.tables import human_duration, pod_status, row, table

DEPLOY = {"spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
    {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}]}, {"name": "side", "image": "side:1"}]}}}}


def test_strategic_merge_set_image_keeps_other_containers() -> None:
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
                                             "containers": [{"image": "web:2", "name": "web"}]}}}}
    out = strategic_merge(DEPLOY, patch)
    cs = out["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in cs] == [("web", "web:2"), ("side", "side:1")]
    assert cs[0]["env"] == [{"name": "A", "value": "1"}]
    assert DEPLOY["spec"]["template"]["spec"]["containers"][0]["image"] == "web:1"  # input untouched


def test_strategic_merge_directives_and_nulls() -> None:
    out = strategic_merge(DEPLOY, {"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}})
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["web"]
    assert strategic_merge({"spec": {"unschedulable": True}}, {"spec": {"unschedulable": None}}) == {"spec": {}}
    out = strategic_merge(DEPLOY, {"spec": {"template": {"metadata": {"annotations": {"r": "1"}}}}})
    assert out["spec"]["template"]["metadata"] == {"labels": {"app": "web"}, "annotations": {"r": "1"}}
    assert strategic_merge({"a": {"b": 1, "c": 2}}, {"a": {"$patch": "replace", "d": 3}}) == {"a": {"d": 3}}


def test_merge_patch_replaces_lists() -> None:
    out = merge_patch(DEPLOY, {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:3"}]}}}})
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "web", "image": "web:3"}]


def test_json_patch_ops() -> None:
    doc = {"metadata": {"annotations": {"x": "1"}}, "spec": {"l": [1, 2]}}
    out = json_patch(doc, [{"op": "replace", "path": "/metadata/annotations", "value": {"y": "2"}},
                           {"op": "add", "path": "/spec/l/-", "value": 3}, {"op": "remove", "path": "/spec/l/0"},
                           {"op": "test", "path": "/spec/l", "value": [2, 3]}, {"op": "copy", "from": "/spec/l", "path": "/spec/m"}])
    assert out == {"metadata": {"annotations": {"y": "2"}}, "spec": {"l": [2, 3], "m": [2, 3]}}
    with pytest.raises(Invalid):
        json_patch(doc, [{"op": "test", "path": "/spec/l", "value": []}])
    with pytest.raises(BadRequest):
        json_patch(doc, {"op": "add"})  # type: ignore[arg-type]


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    ("app=web", {"app": "web"}, True), ("app==web", {"app": "db"}, False), ("app!=web", {}, True),
    ("app in (web, db)", {"app": "db"}, True), ("app notin (web,db)", {"app": "db"}, False), ("tier", {"tier": "x"}, True),
    ("!tier", {"tier": "x"}, False), ("app=web,tier in (a,b)", {"app": "web", "tier": "b"}, True), ("", {}, True),
])
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert match_labels(parse_labels(selector), labels) is expected


def test_field_selectors_and_selector_text() -> None:
    pod = {"metadata": {"name": "p", "namespace": "web"}, "spec": {"nodeName": "node-1"}, "status": {"phase": "Running"}}
    assert match_fields(parse_fields("spec.nodeName=node-1,status.phase!=Pending"), pod)
    assert not match_fields(parse_fields("metadata.namespace=data"), pod)
    assert match_fields(parse_fields("spec.schedulerName="), pod)
    with pytest.raises(BadRequest):
        parse_fields("nonsense")
    with pytest.raises(BadRequest):
        parse_labels("a b c=")
    sel = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}
    assert selector_string(sel) == "app=web,tier in (a,b)"


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (-1, "0s"), (-5, "<invalid>"), (119, "119s"), (120, "2m"), (150, "2m30s"), (700, "11m"), (3 * 3600, "3h"),
    (3 * 3600 + 120, "3h2m"), (10 * 3600, "10h"), (50 * 3600, "2d2h"), (9 * 86400, "9d"), (800 * 86400, "2y70d"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def _pod(state: dict, *, ready: bool = False, restarts: int = 0, deleting: bool = False, last: dict | None = None) -> dict:
    md = {"name": "p", "namespace": "web", "creationTimestamp": "2026-01-01T00:00:00Z"}
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    cs = {"name": "c", "image": "i", "ready": ready, "restartCount": restarts, "state": state, "lastState": last or {}}
    return {"metadata": md, "spec": {"containers": [{"name": "c"}], "nodeName": "node-1"},
            "status": {"phase": "Running" if "running" in state else "Pending", "containerStatuses": [cs], "podIP": "10.0.0.9",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


@pytest.mark.parametrize(("pod", "status", "ready"), [
    (_pod({"running": {}}, ready=True), "Running", "1/1"),
    (_pod({"waiting": {"reason": "ContainerCreating"}}), "ContainerCreating", "0/1"),
    (_pod({"waiting": {"reason": "ImagePullBackOff"}}), "ImagePullBackOff", "0/1"),
    (_pod({"waiting": {"reason": "CrashLoopBackOff"}}, restarts=4), "CrashLoopBackOff", "0/1"),
    (_pod({"terminated": {"reason": "Completed", "exitCode": 0}}), "Completed", "0/1"),
    (_pod({"running": {}}, ready=True, deleting=True), "Terminating", "1/1"),
    ({"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"containers": [{"name": "c"}]},
      "status": {"phase": "Pending"}}, "Pending", "0/1"),
])
def test_pod_status_column(pod: dict, status: str, ready: str) -> None:
    cells = row("pods", pod, 1767225600 + 3600)["cells"]
    assert cells[1:3] == [ready, status]
    assert pod_status(pod)[0] == status


def test_restarts_column_and_nodes() -> None:
    pod = _pod({"waiting": {"reason": "CrashLoopBackOff"}}, restarts=3,
               last={"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:59:00Z"}})
    assert row("pods", pod, 1767225600 + 3600)["cells"][3] == "3 (60s ago)"
    node = {"metadata": {"name": "n", "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": True}, "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.32.4"}}}
    assert row("nodes", node, 1767225600)["cells"][:5] == ["n", "Ready,SchedulingDisabled", "control-plane", "0s", "v1.32.4"]
    t = table("nodes", [node], 1767225600)
    assert [c["name"] for c in t["columnDefinitions"] if c["priority"] == 0] == ["Name", "Status", "Roles", "Age", "Version"]
    assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
