"""Defaulting and validation applied to objects written through the API, as the API server does on admission.

Defaults matter to clients: ``kubectl rollout status`` reads ``spec.replicas``, ``kubectl rollout undo``
compares pod templates (so templates must carry the same defaults the ReplicaSets hold), and the official
client's strict models need the fields a real server always fills in.
"""

from __future__ import annotations

import re
from typing import Any

from kubesim import leases
from kubesim.errors import Invalid
from kubesim.resources import Resource
from kubesim.selectors import from_label_selector, match_labels

Obj = dict[str, Any]
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def container_defaults(c: Obj) -> None:
    image = c.get("image", "")
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    c.setdefault("imagePullPolicy", "Always" if tag in ("", "latest") else "IfNotPresent")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for p in c.get("ports") or []:
        p.setdefault("protocol", "TCP")


def pod_spec_defaults(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        container_defaults(c)


def _template(obj: Obj) -> None:
    tpl = obj["spec"].setdefault("template", {})
    tpl.setdefault("metadata", {})
    pod_spec_defaults(tpl.setdefault("spec", {}))


def apply_defaults(res: Resource, obj: Obj, *, cluster_ip: str = "") -> None:
    """Fill in what the API server fills in on create (mutates ``obj``)."""
    obj["kind"], obj["apiVersion"] = res.kind, res.api_version
    spec = obj.setdefault("spec", {}) if res.name not in ("configmaps", "secrets", "events") else None
    if res.name == "pods":
        assert spec is not None
        pod_spec_defaults(spec)
        obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})
    elif res.name == "deployments":
        assert spec is not None
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strat = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strat.get("type", "RollingUpdate") == "RollingUpdate":
            strat["type"] = "RollingUpdate"
            ru = strat.setdefault("rollingUpdate", {})
            ru.setdefault("maxSurge", "25%")
            ru.setdefault("maxUnavailable", "25%")
        _template(obj)
        obj.setdefault("status", {})
    elif res.name == "replicasets":
        assert spec is not None
        spec.setdefault("replicas", 1)
        _template(obj)
        obj.setdefault("status", {"replicas": 0})
    elif res.name == "statefulsets":
        assert spec is not None
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("serviceName", obj["metadata"]["name"])
        spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
        for t in spec.get("volumeClaimTemplates") or []:
            t.setdefault("apiVersion", "v1")
            t.setdefault("kind", "PersistentVolumeClaim")
            t.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        _template(obj)
        obj.setdefault("status", {"replicas": 0, "availableReplicas": 0})
    elif res.name == "daemonsets":
        assert spec is not None
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        spec.setdefault("revisionHistoryLimit", 10)
        _template(obj)
        obj.setdefault("status", {"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0})
    elif res.name == "services":
        assert spec is not None
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("clusterIP") != "None" and cluster_ip:
            spec.setdefault("clusterIP", cluster_ip)
        if spec.get("clusterIP"):
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})
    elif res.name == "namespaces":
        assert spec is not None
        spec.setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {"phase": "Active"})
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    elif res.name == "secrets":
        obj.setdefault("type", "Opaque")
    elif res.name == "persistentvolumeclaims":
        assert spec is not None
        spec.setdefault("volumeMode", "Filesystem")
        spec.setdefault("storageClassName", "standard")
        obj.setdefault("status", {"phase": "Pending"})


def _containers_ok(spec: Obj, path: str, causes: list[tuple[str, str]]) -> None:
    cs = spec.get("containers") or []
    if not cs:
        causes.append((f"{path}.containers", "Required value"))
    for i, c in enumerate(cs):
        if not c.get("name"):
            causes.append((f"{path}.containers[{i}].name", "Required value"))
        elif not _LABEL.match(c["name"]):
            causes.append((f"{path}.containers[{i}].name",
                           f'Invalid value: "{c["name"]}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\''))
        if not c.get("image"):
            causes.append((f"{path}.containers[{i}].image", "Required value"))


def validate(res: Resource, obj: Obj) -> None:
    """Raise Invalid (422) with field causes, as the API server's validation does."""
    causes: list[tuple[str, str]] = []
    name = obj.get("metadata", {}).get("name", "")
    if res.name != "events" and (not name or len(name) > 253 or not _DNS1123.match(name)):
        message = (f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '
                   "'-' or '.', and must start and end with an alphanumeric character")
        causes.append(("metadata.name", message))
    spec = obj.get("spec") or {}
    if res.name == "pods":
        _containers_ok(spec, "spec", causes)
    if res.name in ("deployments", "replicasets", "statefulsets", "daemonsets"):
        if res.name != "daemonsets" and int(spec.get("replicas", 1)) < 0:
            causes.append(("spec.replicas", f"Invalid value: {spec.get('replicas')}: must be greater than or equal to 0"))
        sel = spec.get("selector")
        if not sel:
            causes.append(("spec.selector", "Required value"))
        else:
            labels = (spec.get("template") or {}).get("metadata", {}).get("labels") or {}
            if not match_labels(from_label_selector(sel), labels):
                causes.append(("spec.template.metadata.labels", f"Invalid value: {labels}: `selector` does not match template `labels`"))
        _containers_ok((spec.get("template") or {}).get("spec") or {}, "spec.template.spec", causes)
    if res.name == "services":
        for i, p in enumerate(spec.get("ports") or []):
            if not 0 < int(p.get("port", 0)) < 65536:
                causes.append((f"spec.ports[{i}].port", f"Invalid value: {p.get('port')}: must be between 1 and 65535, inclusive"))
    if res.name == "leases":
        causes += leases.spec_causes(spec)
    if causes:
        raise Invalid.for_(res.kind, name, causes, res.group)
