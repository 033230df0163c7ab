"""Server-side Table rendering, as the API server's printers do it (pure: objects and ``now`` in, Table out).

kubectl asks for ``as=Table`` and prints whatever columns come back, so the familiar ``kubectl get`` output
(READY 2/3, STATUS CrashLoopBackOff, RESTARTS "4 (12s ago)", nodes "Ready,SchedulingDisabled") is made here.
Column names, priorities (1 = shown with ``-o wide``) and derivations follow Kubernetes'
pkg/printers/internalversion/printers.go; pods come from ``kubesim.pod_printer`` and every age from
``kubesim.duration``, the rehearsal cluster's own ports, so nothing here is shared with the console.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubesim.duration import human_duration
from kubesim.pod_printer import PodStatus, pod_cells, pod_status, translate_timestamp_since
from kubesim.selectors import selector_string

__all__ = ["PRINTERS", "PodStatus", "columns", "human_duration", "pod_status", "row", "since", "table"]

Obj = dict[str, Any]
Col = tuple[str, str, int]  # name, type, priority


def since(ts: str | None, now: float) -> str:
    """kubectl's translateTimestampSince: "<unknown>" when unset, else the human duration up to ``now``."""
    return translate_timestamp_since(ts, now)


def _age(o: Obj, now: float) -> str:
    return since(o["metadata"].get("creationTimestamp"), now)


def _containers(o: Obj) -> tuple[str, str]:
    cs = ((o.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    return ",".join(c["name"] for c in cs), ",".join(c.get("image", "") for c in cs)


def _node(o: Obj, now: float) -> list[Any]:
    st, spec, labels = o.get("status") or {}, o.get("spec") or {}, o["metadata"].get("labels") or {}
    status = []
    for c in st.get("conditions") or []:
        if c["type"] == "Ready":
            status.append("Ready" if c["status"] == "True" else "NotReady")
    if not status:
        status.append("Unknown")
    if spec.get("unschedulable"):
        status.append("SchedulingDisabled")
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and "/" in k)
    if labels.get("kubernetes.io/role"):
        roles.append(labels["kubernetes.io/role"])
    addrs = {a["type"]: a["address"] for a in st.get("addresses") or []}
    info = st.get("nodeInfo") or {}
    return [
        o["metadata"]["name"], ",".join(status), ",".join(roles) or "<none>", _age(o, now), info.get("kubeletVersion", ""),
        addrs.get("InternalIP", "<none>"), addrs.get("ExternalIP", "<none>"), info.get("osImage", "<unknown>"),
        info.get("kernelVersion", "<unknown>"), info.get("containerRuntimeVersion", "<unknown>"),
    ]


def _deployment(o: Obj, now: float) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    return [
        o["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", st.get("updatedReplicas", 0),
        st.get("availableReplicas", 0), _age(o, now), names, images, selector_string(spec.get("selector")),
    ]


def _replicaset(o: Obj, now: float) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    return [
        o["metadata"]["name"], spec.get("replicas", 1), st.get("replicas", 0), st.get("readyReplicas", 0), _age(o, now),
        names, images, selector_string(spec.get("selector")),
    ]


def _statefulset(o: Obj, now: float) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    return [o["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", _age(o, now), names, images]


def _daemonset(o: Obj, now: float) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    names, images = _containers(o)
    sel = (spec.get("template") or {}).get("spec", {}).get("nodeSelector") or {}
    return [
        o["metadata"]["name"], st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0), st.get("numberReady", 0),
        st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>", _age(o, now), names, images,
        selector_string(spec.get("selector")),
    ]


def _service(o: Obj, now: float) -> list[Any]:
    spec = o.get("spec") or {}
    ports = []
    for p in spec.get("ports") or []:
        text = f"{p['port']}:{p['nodePort']}" if p.get("nodePort") else str(p["port"])
        ports.append(f"{text}/{p.get('protocol', 'TCP')}")
    ext = ",".join(spec.get("externalIPs") or []) or ("<pending>" if spec.get("type") == "LoadBalancer" else "<none>")
    sel = spec.get("selector") or {}
    return [
        o["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", ext,
        ",".join(ports) or "<none>", _age(o, now), ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>",
    ]


def _configmap(o: Obj, now: float) -> list[Any]:
    return [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o, now)]


def _secret(o: Obj, now: float) -> list[Any]:
    return [o["metadata"]["name"], o.get("type", "Opaque"), len(o.get("data") or {}), _age(o, now)]


def _namespace(o: Obj, now: float) -> list[Any]:
    return [o["metadata"]["name"], (o.get("status") or {}).get("phase", "Active"), _age(o, now)]


def _event(o: Obj, now: float) -> list[Any]:
    inv = o.get("involvedObject") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or o["metadata"].get("creationTimestamp")
    first = o.get("firstTimestamp") or o.get("eventTime") or o["metadata"].get("creationTimestamp")
    count = o.get("count") or 1
    last_seen = since(last, now)
    if count > 1:
        last_seen = f"{last_seen} (x{count} over {since(first, now)})"
    src = o.get("source") or {}
    source = src.get("component", "") + (f", {src['host']}" if src.get("host") else "")
    return [
        last_seen, o.get("type", ""), o.get("reason", ""), f"{inv.get('kind', '').lower()}/{inv.get('name', '')}",
        inv.get("fieldPath", ""), source, o.get("message", ""), since(first, now), count, o["metadata"]["name"],
    ]


def _pvc(o: Obj, now: float) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    cap = (st.get("capacity") or {}).get("storage", "")
    modes = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    return [
        o["metadata"]["name"], st.get("phase", "Pending"), spec.get("volumeName", ""), cap,
        ",".join(modes.get(m, m) for m in st.get("accessModes") or []), spec.get("storageClassName", "<unset>"),
        spec.get("volumeAttributesClassName") or "<unset>", _age(o, now), spec.get("volumeMode", "Filesystem"),
    ]


def _pdb(o: Obj, now: float) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    return [o["metadata"]["name"], spec.get("minAvailable", "N/A"), spec.get("maxUnavailable", "N/A"), st.get("disruptionsAllowed", 0), _age(o, now)]


def _lease(o: Obj, now: float) -> list[Any]:
    return [o["metadata"]["name"], (o.get("spec") or {}).get("holderIdentity", ""), _age(o, now)]


N, S, I = "Name", "string", "integer"  # noqa: E741 - one-letter names keep the column tables below one line each
PRINTERS: dict[str, tuple[list[Col], Callable[[Obj, float], list[Any]]]] = {
    "pods": ([(N, S, 0), ("Ready", S, 0), ("Status", S, 0), ("Restarts", S, 0), ("Age", S, 0), ("IP", S, 1),
              ("Node", S, 1), ("Nominated Node", S, 1), ("Readiness Gates", S, 1)], pod_cells),
    "nodes": ([(N, S, 0), ("Status", S, 0), ("Roles", S, 0), ("Age", S, 0), ("Version", S, 0), ("Internal-IP", S, 1),
               ("External-IP", S, 1), ("OS-Image", S, 1), ("Kernel-Version", S, 1), ("Container-Runtime", S, 1)], _node),
    "deployments": ([(N, S, 0), ("Ready", S, 0), ("Up-to-date", I, 0), ("Available", I, 0), ("Age", S, 0),
                     ("Containers", S, 1), ("Images", S, 1), ("Selector", S, 1)], _deployment),
    "replicasets": ([(N, S, 0), ("Desired", I, 0), ("Current", I, 0), ("Ready", I, 0), ("Age", S, 0),
                     ("Containers", S, 1), ("Images", S, 1), ("Selector", S, 1)], _replicaset),
    "statefulsets": ([(N, S, 0), ("Ready", S, 0), ("Age", S, 0), ("Containers", S, 1), ("Images", S, 1)], _statefulset),
    "daemonsets": ([(N, S, 0), ("Desired", I, 0), ("Current", I, 0), ("Ready", I, 0), ("Up-to-date", I, 0),
                    ("Available", I, 0), ("Node Selector", S, 0), ("Age", S, 0), ("Containers", S, 1), ("Images", S, 1),
                    ("Selector", S, 1)], _daemonset),
    "services": ([(N, S, 0), ("Type", S, 0), ("Cluster-IP", S, 0), ("External-IP", S, 0), ("Port(s)", S, 0),
                  ("Age", S, 0), ("Selector", S, 1)], _service),
    "configmaps": ([(N, S, 0), ("Data", I, 0), ("Age", S, 0)], _configmap),
    "secrets": ([(N, S, 0), ("Type", S, 0), ("Data", I, 0), ("Age", S, 0)], _secret),
    "namespaces": ([(N, S, 0), ("Status", S, 0), ("Age", S, 0)], _namespace),
    "events": ([("Last Seen", S, 0), ("Type", S, 0), ("Reason", S, 0), ("Object", S, 0), ("Subobject", S, 1),
                ("Source", S, 1), ("Message", S, 0), ("First Seen", S, 1), ("Count", I, 1), (N, S, 1)], _event),
    "persistentvolumeclaims": ([(N, S, 0), ("Status", S, 0), ("Volume", S, 0), ("Capacity", S, 0), ("Access Modes", S, 0),
                                ("StorageClass", S, 0), ("VolumeAttributesClass", S, 0), ("Age", S, 0),
                                ("VolumeMode", S, 1)], _pvc),
    "poddisruptionbudgets": ([(N, S, 0), ("Min Available", S, 0), ("Max Unavailable", S, 0),
                              ("Allowed Disruptions", I, 0), ("Age", S, 0)], _pdb),
    "leases": ([(N, S, 0), ("Holder", S, 0), ("Age", S, 0)], _lease),
}


def _column(name: str, typ: str, priority: int) -> dict[str, Any]:
    col: dict[str, Any] = {"name": name, "type": typ, "format": "name" if name == N else "", "description": name, "priority": priority}
    return col


def _partial(o: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}


def columns(resource: str) -> list[dict[str, Any]]:
    cols = PRINTERS[resource][0] if resource in PRINTERS else [(N, S, 0), ("Age", S, 0)]
    return [_column(*c) for c in cols]


def row(resource: str, o: Obj, now: float, *, full_object: bool = False) -> dict[str, Any]:
    """One Table row; ``object`` is the partial metadata unless the client asked for the whole object."""
    if resource in PRINTERS:
        cells = PRINTERS[resource][1](o, now)
    else:
        cells = [o["metadata"]["name"], _age(o, now)]
    return {"cells": cells, "object": o if full_object else _partial(o)}


def table(resource: str, objs: list[Obj], now: float, *, resource_version: str = "", cont: str = "",
          full_object: bool = False, headers: bool = True) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of ``objs``."""
    md: dict[str, Any] = {"resourceVersion": resource_version}
    if cont:
        md["continue"] = cont
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": md,
        "columnDefinitions": columns(resource) if headers else [],
        "rows": [row(resource, o, now, full_object=full_object) for o in objs],
    }
