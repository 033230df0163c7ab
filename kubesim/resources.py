"""The resources the rehearsal cluster serves and the discovery documents that describe them.

kubectl learns everything from discovery: which resources exist, their kinds, short names, verbs, the
"all" category, and the subresources (``deployments/scale`` as autoscaling/v1 Scale, ``pods/eviction`` as
policy/v1 Eviction, which is how ``kubectl drain`` decides it may evict). Each resource also carries the two
update rules of its registry strategy that clients can see: whether a PUT may omit ``resourceVersion`` and
whether a PUT may create (Leases: no and yes, as in Kubernetes' pkg/registry/coordination/lease/strategy.go).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RW = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4",
    "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T16:02:27Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass(frozen=True)
class Resource:
    """One served resource: where it lives and how discovery describes it."""

    name: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = tuple(RW)
    # subresource -> (kind, group, version, verbs)
    subresources: dict[str, tuple[str, str, str, tuple[str, ...]]] = field(default_factory=dict)
    has_status: bool = True
    # AllowUnconditionalUpdate: a PUT without metadata.resourceVersion replaces whatever is stored
    unconditional_update: bool = True
    # AllowCreateOnUpdate: a PUT of a missing name creates it
    create_on_update: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


_STATUS = ("get", "patch", "update")


def _status(kind: str, group: str, version: str) -> dict[str, tuple[str, str, str, tuple[str, ...]]]:
    return {"status": (kind, group, version, _STATUS)}


def _scale(kind: str, group: str, version: str) -> dict[str, tuple[str, str, str, tuple[str, ...]]]:
    return {**_status(kind, group, version), "scale": ("Scale", "autoscaling", "v1", _STATUS)}


RESOURCES: list[Resource] = [
    Resource("namespaces", "Namespace", "", "v1", False, ("ns",), verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
             subresources=_status("Namespace", "", "v1")),
    Resource("nodes", "Node", "", "v1", False, ("no",), subresources=_status("Node", "", "v1")),
    Resource(
        "pods", "Pod", "", "v1", True, ("po",), ("all",),
        subresources={
            **_status("Pod", "", "v1"),
            "log": ("Pod", "", "v1", ("get",)),
            "eviction": ("Eviction", "policy", "v1", ("create",)),
        },
    ),
    Resource("services", "Service", "", "v1", True, ("svc",), ("all",), subresources=_status("Service", "", "v1")),
    Resource("configmaps", "ConfigMap", "", "v1", True, ("cm",), has_status=False),
    Resource("secrets", "Secret", "", "v1", True, (), has_status=False),
    Resource("events", "Event", "", "v1", True, ("ev",), has_status=False),
    Resource("persistentvolumeclaims", "PersistentVolumeClaim", "", "v1", True, ("pvc",), subresources=_status("PersistentVolumeClaim", "", "v1")),
    Resource("deployments", "Deployment", "apps", "v1", True, ("deploy",), ("all",), subresources=_scale("Deployment", "apps", "v1")),
    Resource("replicasets", "ReplicaSet", "apps", "v1", True, ("rs",), ("all",), subresources=_scale("ReplicaSet", "apps", "v1")),
    Resource("statefulsets", "StatefulSet", "apps", "v1", True, ("sts",), ("all",), subresources=_scale("StatefulSet", "apps", "v1")),
    Resource("daemonsets", "DaemonSet", "apps", "v1", True, ("ds",), ("all",), subresources=_status("DaemonSet", "apps", "v1")),
    Resource("poddisruptionbudgets", "PodDisruptionBudget", "policy", "v1", True, ("pdb",),
             subresources=_status("PodDisruptionBudget", "policy", "v1")),
    Resource("leases", "Lease", "coordination.k8s.io", "v1", True, has_status=False, unconditional_update=False, create_on_update=True),
]

BY_PATH: dict[tuple[str, str, str], Resource] = {(r.group, r.version, r.name): r for r in RESOURCES}
BY_NAME: dict[str, Resource] = {r.name: r for r in RESOURCES}
GROUP_VERSIONS: dict[str, list[str]] = {"": ["v1"], "apps": ["v1"], "policy": ["v1"], "coordination.k8s.io": ["v1"]}


def lookup(group: str, version: str, name: str) -> Resource | None:
    return BY_PATH.get((group, version, name))


def api_versions(server_address: str) -> dict[str, Any]:
    """GET /api."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str) -> dict[str, Any]:
    gv = {"groupVersion": f"{name}/v1", "version": "v1"}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


def api_group_list() -> dict[str, Any]:
    """GET /apis."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in GROUP_VERSIONS if g]}


def api_group(name: str) -> dict[str, Any] | None:
    """GET /apis/{group}."""
    if name not in GROUP_VERSIONS or not name:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """GET /api/v1 or /apis/{group}/{version}: resources and their subresources."""
    if version not in GROUP_VERSIONS.get(group, []):
        return None
    out: list[dict[str, Any]] = []
    for r in RESOURCES:
        if r.group != group:
            continue
        entry: dict[str, Any] = {
            "name": r.name,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        out.append(entry)
        for sub, (kind, g, v, verbs) in r.subresources.items():
            s: dict[str, Any] = {"name": f"{r.name}/{sub}", "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": list(verbs)}
            if g != r.group or v != r.version:
                s["group"], s["version"] = g, v
            out.append(s)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}
