"""StatefulSet and DaemonSet controllers.

StatefulSets keep pods ``<name>-0..N-1`` created in order (each waits for the previous one to be Ready),
claim a PersistentVolumeClaim per volumeClaimTemplate and pod, and roll an update from the highest ordinal
down, one pod at a time, tracking ``currentRevision``/``updateRevision``. DaemonSets keep one pod per Ready node
(cordoned nodes included: daemon pods tolerate that) and replace outdated pods one node at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubesim.deployments import _controlled, template_hash
from kubesim.kubelet import is_ready, node_ready

if TYPE_CHECKING:
    from kubesim.cluster import SimCluster
    from kubesim.controllers import Controllers

Obj = dict[str, Any]
REV_LABEL = "controller-revision-hash"
DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def _active(pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


class StatefulSetController:
    """Ordered pods with stable names and claims."""

    def __init__(self, cluster: SimCluster, controllers: Controllers) -> None:
        self.cluster = cluster
        self.store = cluster.store

    def sync(self, ns: str, name: str) -> None:
        sts = self.store.peek("statefulsets", ns, name)
        if sts is None:
            return
        uid = sts["metadata"]["uid"]
        spec = sts["spec"]
        want = spec.get("replicas", 1)
        update_rev = f"{name}-{template_hash(spec['template'])}"
        pods: dict[int, Obj] = {}
        for p in _controlled(self.store.owned_by(uid, "pods"), uid):
            suffix = p["metadata"]["name"].rsplit("-", 1)[-1]
            if suffix.isdigit():
                pods[int(suffix)] = p
        all_ready = True
        for i in range(want):
            pod_at = pods.get(i)
            if pod_at is None:
                if all_ready:
                    self._create(sts, i, update_rev)
                break
            if pod_at["metadata"].get("deletionTimestamp") or not is_ready(pod_at):
                all_ready = False
                break
        else:
            extra = sorted((i for i in pods if i >= want), reverse=True)
            if extra:
                p = pods[extra[0]]
                if not p["metadata"].get("deletionTimestamp"):
                    self.cluster.terminate_pod(ns, p["metadata"]["name"], None, reason="scale")
                    self.cluster.events.emit(sts, "Normal", "SuccessfulDelete",
                                             f"delete Pod {p['metadata']['name']} in StatefulSet {name} successful",
                                             component="statefulset-controller")
            elif all(not p["metadata"].get("deletionTimestamp") and is_ready(p) for p in pods.values()):
                partition = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
                if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
                    for i in sorted(pods, reverse=True):
                        if i >= partition and pods[i]["metadata"]["labels"].get(REV_LABEL) != update_rev:
                            self.cluster.terminate_pod(ns, pods[i]["metadata"]["name"], None, reason="update")
                            self.cluster.events.emit(sts, "Normal", "SuccessfulDelete",
                                                     f"delete Pod {pods[i]['metadata']['name']} in StatefulSet {name} successful",
                                                     component="statefulset-controller")
                            break
        self._status(sts, update_rev)

    def _create(self, sts: Obj, i: int, rev: str) -> None:
        name, ns = sts["metadata"]["name"], sts["metadata"]["namespace"]
        pod_name = f"{name}-{i}"
        if self.store.peek("pods", ns, pod_name) is not None:
            return  # the previous incarnation is still terminating
        volumes = []
        for t in sts["spec"].get("volumeClaimTemplates") or []:
            claim = f"{t['metadata']['name']}-{pod_name}"
            volumes.append({"name": t["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}})
            if self.store.peek("persistentvolumeclaims", ns, claim) is None:
                pvc = {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                       "metadata": {"name": claim, "namespace": ns, "labels": dict(sts["spec"]["selector"].get("matchLabels") or {})},
                       "spec": {"accessModes": t["spec"].get("accessModes", ["ReadWriteOnce"]),
                                "resources": t["spec"].get("resources", {"requests": {"storage": "1Gi"}}),
                                "storageClassName": t["spec"].get("storageClassName", "standard"), "volumeMode": "Filesystem"},
                       "status": {"phase": "Pending"}}
                self.cluster.bind_claim(pvc)
                self.store.create("persistentvolumeclaims", pvc, owned=True)
                self.cluster.events.emit(sts, "Normal", "SuccessfulCreate", f"create Claim {claim} Pod {pod_name} in StatefulSet {name} success",
                                         component="statefulset-controller")
        extra_labels = {REV_LABEL: rev, "statefulset.kubernetes.io/pod-name": pod_name, "apps.kubernetes.io/pod-index": str(i)}

        def shape(pod: Obj) -> None:
            pod["metadata"]["labels"].update(extra_labels)
            pod["spec"]["hostname"] = pod_name
            pod["spec"]["subdomain"] = sts["spec"].get("serviceName", name)
            pod["spec"]["volumes"] = [*(pod["spec"].get("volumes") or []), *volumes]
        self.cluster.pod_from_template(sts, pod_name, shape=shape)
        self.cluster.events.emit(sts, "Normal", "SuccessfulCreate", f"create Pod {pod_name} in StatefulSet {name} successful",
                                 component="statefulset-controller")

    def _status(self, sts: Obj, update_rev: str) -> None:
        uid = sts["metadata"]["uid"]
        pods = _active(_controlled(self.store.owned_by(uid, "pods"), uid))
        old = sts.get("status") or {}
        current_rev = old.get("currentRevision") or update_rev
        want = sts["spec"].get("replicas", 1)
        updated = sum(1 for p in pods if p["metadata"]["labels"].get(REV_LABEL) == update_rev)
        ready = sum(1 for p in pods if is_ready(p))
        if updated == want and ready == want and len(pods) == want:
            current_rev = update_rev
        status = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(pods), "readyReplicas": ready,
                  "currentReplicas": sum(1 for p in pods if p["metadata"]["labels"].get(REV_LABEL) == current_rev),
                  "updatedReplicas": updated, "availableReplicas": ready, "currentRevision": current_rev,
                  "updateRevision": update_rev, "collisionCount": 0}
        if status != old:
            self.store.update("statefulsets", sts["metadata"]["namespace"], sts["metadata"]["name"], lambda o: o.__setitem__("status", status))


class DaemonSetController:
    """One pod per eligible node; rolling replacement one node at a time."""

    def __init__(self, cluster: SimCluster, controllers: Controllers) -> None:
        self.cluster = cluster
        self.store = cluster.store

    def sync(self, ns: str, name: str) -> None:
        ds = self.store.peek("daemonsets", ns, name)
        if ds is None:
            return
        uid = ds["metadata"]["uid"]
        sel = ds["spec"]["template"]["spec"].get("nodeSelector") or {}
        nodes = [n["metadata"]["name"] for n in self.store.list("nodes")
                 if node_ready(n) and all((n["metadata"].get("labels") or {}).get(k) == v for k, v in sel.items())]
        rev = template_hash(ds["spec"]["template"])
        by_node: dict[str, Obj] = {}
        for p in _controlled(self.store.owned_by(uid, "pods"), uid):
            nn = p["spec"].get("nodeName", "")
            if nn not in nodes and not p["metadata"].get("deletionTimestamp"):
                self.cluster.terminate_pod(ns, p["metadata"]["name"], None, reason="misscheduled")
                continue
            if nn not in by_node or not p["metadata"].get("deletionTimestamp"):
                by_node[nn] = p
        for node in nodes:
            if node not in by_node:
                self._create(ds, node, rev)
        live = {n: p for n, p in by_node.items() if not p["metadata"].get("deletionTimestamp")}
        unavailable = sum(1 for n in nodes if n not in live or not is_ready(live[n]))
        max_unavail = int(((ds["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", 1))
        if (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate" and unavailable < max_unavail:
            outdated = sorted(n for n, p in live.items() if p["metadata"]["labels"].get(REV_LABEL) != rev)
            for n in outdated[: max_unavail - unavailable]:
                self.cluster.terminate_pod(ns, live[n]["metadata"]["name"], None, reason="update")
                self.cluster.events.emit(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {live[n]['metadata']['name']}",
                                         component="daemonset-controller")
        self._status(ds, nodes, rev)

    def _create(self, ds: Obj, node: str, rev: str) -> None:
        name = ds["metadata"]["name"]

        def shape(pod: Obj) -> None:
            pod["metadata"]["labels"][REV_LABEL] = rev
            pod["metadata"]["labels"]["pod-template-generation"] = str(ds["metadata"].get("generation", 1))
            pod["spec"]["tolerations"] = [*(pod["spec"].get("tolerations") or []), *DAEMON_TOLERATIONS]
            pod["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}}
        pod = self.cluster.pod_from_template(ds, f"{name}-{self.store.suffix()}", shape=shape)
        self.cluster.events.emit(ds, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                                 component="daemonset-controller")
        self.cluster.controllers.kubelet.bind(pod["metadata"]["namespace"], pod["metadata"]["name"], node)

    def _status(self, ds: Obj, nodes: list[str], rev: str) -> None:
        uid = ds["metadata"]["uid"]
        pods = _active(_controlled(self.store.owned_by(uid, "pods"), uid))
        on = {p["spec"].get("nodeName"): p for p in pods if p["spec"].get("nodeName") in nodes}
        ready = sum(1 for p in on.values() if is_ready(p))
        status: Obj = {"observedGeneration": ds["metadata"].get("generation", 1), "desiredNumberScheduled": len(nodes),
                       "currentNumberScheduled": len(on), "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                       "updatedNumberScheduled": sum(1 for p in on.values() if p["metadata"]["labels"].get(REV_LABEL) == rev)}
        if len(nodes) - ready:
            status["numberUnavailable"] = len(nodes) - ready
        if status != ds.get("status"):
            self.store.update("daemonsets", ds["metadata"]["namespace"], ds["metadata"]["name"], lambda o: o.__setitem__("status", status))


__all__ = ["DaemonSetController", "StatefulSetController"]
