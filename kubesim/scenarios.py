"""Scenarios: the clusters the rehearsal server starts with.

- ``default``: three nodes; namespaces web, cache, data and kube-system with the workloads the shipped
  runbooks act on (Deployment ``web`` with ConfigMap ``web-config``, Service and Secret; StatefulSet
  ``postgres`` with a volume claim per pod; DaemonSet ``node-exporter``; an empty ``cache`` namespace ready
  for Redis). It is built by running the real controllers on a frozen clock three days in the past, so
  ages look lived-in and every object went through the same code paths as later changes will.
- ``small``: the second context's cluster: one node, namespace ``staging`` with a one-replica ``web``.
- ``large``: 500 nodes and 10,000 running pods over 50 namespaces, loaded directly in their settled
  state (seconds, not minutes).
- ``xlarge``: the same shape at 2,000 nodes and 50,000 running pods over 100 namespaces. Its watch history
  is kept shorter (``HISTORY``): under a steady stream of pod changes each retained event holds the pod's
  old and new versions and their encoded line, so a long ring would cost the server gigabytes.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from typing import Any

from kubesim.clock import SimClock, rfc3339
from kubesim.cluster import SimCluster
from kubesim.deployments import HASH_LABEL, REVISION, owner_ref, template_hash
from kubesim.kubelet import image_id
from kubesim.resources import BY_NAME
from kubesim.verbs import Verbs

Obj = dict[str, Any]
DAY = 86400.0


def node(name: str, index: int, created: float, *, role: str | None = None) -> Obj:
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
              "topology.kubernetes.io/zone": f"zone-{'abc'[index % 3]}"}
    if role:
        labels[f"node-role.kubernetes.io/{role}"] = ""
    ts = rfc3339(created)
    octet3, octet4 = divmod(index + 10, 250)
    return {
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": name, "labels": labels, "creationTimestamp": ts,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {"podCIDR": f"10.{244 + index // 256}.{index % 256}.0/24", "podCIDRs": [f"10.{244 + index // 256}.{index % 256}.0/24"]},
        "status": {
            "capacity": {"cpu": "8", "memory": "32863320Ki", "pods": "110", "ephemeral-storage": "203056560Ki"},
            "allocatable": {"cpu": "7910m", "memory": "31711320Ki", "pods": "110", "ephemeral-storage": "187136244Ki"},
            "conditions": [
                {"type": t, "status": "False", "lastHeartbeatTime": ts, "lastTransitionTime": ts, "reason": r, "message": m}
                for t, r, m in (("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                                ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                                ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))
            ] + [{"type": "Ready", "status": "True", "lastHeartbeatTime": ts, "lastTransitionTime": ts,
                  "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": f"10.0.{octet3}.{octet4}"}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": f"{index:032x}", "systemUUID": f"ec2{index:05x}-0000-4000-8000-000000000000",
                         "bootID": f"b00{index:05x}-0000-4000-8000-000000000000", "kernelVersion": "6.8.0-1021-aws",
                         "osImage": "Ubuntu 24.04.1 LTS", "containerRuntimeVersion": "containerd://1.7.24",
                         "kubeletVersion": "v1.32.4", "kubeProxyVersion": "v1.32.4", "operatingSystem": "linux",
                         "architecture": "amd64"},
        },
    }


def container(name: str, image: str, port: int | None = None, **extra: Any) -> Obj:
    c: Obj = {"name": name, "image": image, **extra}
    if port:
        c["ports"] = [{"containerPort": port, "name": "http" if port in (80, 8080) else name[:15], "protocol": "TCP"}]
    return c


def deployment(ns: str, name: str, replicas: int, containers: list[Obj], *, labels: dict[str, str] | None = None,
               deadline: int = 600) -> Obj:
    labels = labels or {"app": name}
    return {"metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
            "spec": {"replicas": replicas, "progressDeadlineSeconds": deadline, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": containers}}}}


class Builder:
    """Creates objects through the API verbs (defaults and validation included), at chosen ages."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.verbs = Verbs(cluster)

    def create(self, resource: str, ns: str, obj: Obj) -> Obj:
        return self.verbs.create(BY_NAME[resource], ns, obj)

    def namespace(self, name: str) -> None:
        self.create("namespaces", "", {"metadata": {"name": name}})


def _base(b: Builder, namespaces: list[str]) -> None:
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease", *namespaces]:
        b.namespace(ns)
    b.create("services", "default", {"metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                                     "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}})


def build_default(cluster: SimCluster) -> None:
    """Three nodes and the runbooks' workloads (see the module docstring)."""
    b = Builder(cluster)
    now = cluster.clock.now()
    for i in range(3):
        cluster.store.create("nodes", node(f"node-{i + 1}", i, now - 9 * DAY), owned=True)
    _base(b, ["web", "cache", "data"])
    b.create("configmaps", "web", {"metadata": {"name": "web-config", "labels": {"app": "web"}},
                                   "data": {"OLLAMA_URL": "http://localhost:11434", "LOG_LEVEL": "info", "WORKERS": "4"}})
    b.create("secrets", "web", {"metadata": {"name": "web-credentials", "labels": {"app": "web"}}, "type": "Opaque",
                                "data": {"DATABASE_URL": base64.b64encode(b"postgres://web:rehearsal@postgres.data:5432/web").decode(),
                                         "API_TOKEN": base64.b64encode(b"rehearsal-token-not-secret").decode()}})
    web = deployment("web", "web", 3, [container("web", "registry.local/web:1.4.2", 8080,
                                                 envFrom=[{"configMapRef": {"name": "web-config"}}])])
    b.create("deployments", "web", web)
    b.create("services", "web", {"metadata": {"name": "web", "labels": {"app": "web"}},
                                 "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    b.create("configmaps", "cache", {"metadata": {"name": "redis-config"}, "data": {"redis.conf": "maxmemory 256mb\nmaxmemory-policy allkeys-lru\n"}})
    b.create("secrets", "data", {"metadata": {"name": "postgres-credentials"}, "type": "Opaque",
                                 "data": {"POSTGRES_PASSWORD": base64.b64encode(b"rehearsal").decode()}})
    b.create("services", "data", {"metadata": {"name": "postgres", "labels": {"app": "postgres"}},
                                  "spec": {"clusterIP": "None", "selector": {"app": "postgres"}, "ports": [{"name": "pg", "port": 5432}]}})
    b.create("statefulsets", "data", {
        "metadata": {"name": "postgres", "labels": {"app": "postgres"}},
        "spec": {"replicas": 2, "serviceName": "postgres", "selector": {"matchLabels": {"app": "postgres"}},
                 "template": {"metadata": {"labels": {"app": "postgres"}},
                              "spec": {"containers": [container("postgres", "registry.local/postgres:16.3", 5432,
                                                                volumeMounts=[{"name": "data", "mountPath": "/var/lib/postgresql/data"}])]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}]}})
    b.create("daemonsets", "kube-system", {
        "metadata": {"name": "node-exporter", "labels": {"app": "node-exporter"}},
        "spec": {"selector": {"matchLabels": {"app": "node-exporter"}},
                 "template": {"metadata": {"labels": {"app": "node-exporter"}},
                              "spec": {"containers": [container("node-exporter", "registry.local/node-exporter:1.8.1", 9100)]}}}})
    b.create("deployments", "kube-system", deployment("kube-system", "coredns", 2, [
        container("coredns", "registry.k8s.io/coredns/coredns:v1.11.3", 53)], labels={"k8s-app": "kube-dns"}))


def build_small(cluster: SimCluster) -> None:
    """One node and a staging namespace: what the second kubeconfig context shows."""
    b = Builder(cluster)
    cluster.store.create("nodes", node("staging-node-1", 40, cluster.clock.now() - 4 * DAY), owned=True)
    _base(b, ["staging"])
    b.create("configmaps", "staging",
             {"metadata": {"name": "web-config"}, "data": {"OLLAMA_URL": "http://ollama.staging:11434", "LOG_LEVEL": "debug"}})
    b.create("deployments", "staging", deployment("staging", "web", 1, [container("web", "registry.local/web:1.5.0-rc1", 8080)]))


def _settled_pod(rs: Obj, name: str, node_name: str, ip: str, host_ip: str, started: float) -> Obj:
    ts = rfc3339(started)
    c = rs["spec"]["template"]["spec"]["containers"][0]

    def cond(t: str) -> dict[str, Any]:
        return {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": ts}

    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "generateName": rs["metadata"]["name"] + "-", "namespace": rs["metadata"]["namespace"],
                     "labels": dict(rs["spec"]["template"]["metadata"]["labels"]), "ownerReferences": [owner_ref(rs)],
                     "creationTimestamp": ts},
        "spec": {**rs["spec"]["template"]["spec"], "nodeName": node_name, "serviceAccountName": "default"},
        "status": {"phase": "Running", "qosClass": "BestEffort", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                   "podIP": ip, "podIPs": [{"ip": ip}], "startTime": ts,
                   "conditions": [cond(t) for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")],
                   "containerStatuses": [{"name": c["name"], "image": c["image"], "imageID": image_id(c["image"]),
                                          "containerID": "containerd://" + hashlib.sha256(name.encode()).hexdigest(), "ready": True,
                                          "restartCount": 0, "started": True, "lastState": {},
                                          "state": {"running": {"startedAt": ts}}}]},
    }


def build_large(cluster: SimCluster, *, nodes: int = 500, namespaces: int = 50, per_namespace: int = 20, replicas: int = 10) -> None:
    """``nodes`` nodes and namespaces x per_namespace Deployments x replicas settled pods, loaded in bulk."""
    store, b = cluster.store, Builder(cluster)
    now = cluster.clock.now()
    width = max(3, len(str(nodes)))
    node_objs = [store.create("nodes", node(f"node-{i + 1:0{width}d}", i, now - 30 * DAY, role="worker"), owned=True) for i in range(nodes)]
    _base(b, [f"team-{i:02d}" for i in range(namespaces)])
    cluster.events.enabled = False
    slot = 0
    for n in range(namespaces):
        ns = f"team-{n:02d}"
        for k in range(per_namespace):
            name = f"svc-{k:02d}"
            d = b.create("deployments", ns, deployment(ns, name, replicas, [container(name, f"registry.local/{name}:2.{k}.{n}", 8080)]))
            h = template_hash(d["spec"]["template"])
            tpl = {**d["spec"]["template"], "metadata": {"labels": {**d["spec"]["template"]["metadata"]["labels"], HASH_LABEL: h}}}
            created = now - (2 + (k % 5)) * DAY
            rs = store.create("replicasets", {
                "kind": "ReplicaSet", "apiVersion": "apps/v1",
                "metadata": {"name": f"{name}-{h}", "namespace": ns, "labels": dict(tpl["metadata"]["labels"]),
                             "annotations": {REVISION: "1", "deployment.kubernetes.io/desired-replicas": str(replicas),
                                             "deployment.kubernetes.io/max-replicas": str(replicas + 3)},
                             "ownerReferences": [owner_ref(d)], "creationTimestamp": rfc3339(created)},
                "spec": {"replicas": replicas, "minReadySeconds": 0,
                         "selector": {"matchLabels": {**d["spec"]["selector"]["matchLabels"], HASH_LABEL: h}}, "template": tpl},
                "status": {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                           "availableReplicas": replicas, "observedGeneration": 1}}, owned=True)
            for _ in range(replicas):
                nd = node_objs[slot % nodes]
                slot += 1
                idx = slot // nodes + 2
                base = nd["spec"]["podCIDR"].split("/")[0].rsplit(".", 1)[0]
                store.create("pods", _settled_pod(rs, f"{rs['metadata']['name']}-{store.suffix()}", nd["metadata"]["name"],
                                                  f"{base}.{idx}", nd["status"]["addresses"][0]["address"], created + 30), owned=True)
            ts = rfc3339(created + 40)
            status = {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas,
                      "availableReplicas": replicas, "conditions": [
                          {"type": "Available", "status": "True", "lastUpdateTime": ts, "lastTransitionTime": ts,
                           "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
                          {"type": "Progressing", "status": "True", "lastUpdateTime": ts, "lastTransitionTime": ts,
                           "reason": "NewReplicaSetAvailable", "message": f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.'}]}

            def settle(o: dict[str, Any], s: dict[str, Any] = status) -> None:
                o["metadata"].setdefault("annotations", {})[REVISION] = "1"
                o["status"] = s

            store.update("deployments", ns, name, settle)
    cluster.controllers.run_until_idle()
    cluster.events.enabled = True


def build_xlarge(cluster: SimCluster, *, nodes: int = 2000, namespaces: int = 100, per_namespace: int = 50,
                 replicas: int = 10) -> None:
    """2,000 nodes and 50,000 settled pods (100 namespaces x 50 Deployments x 10 replicas), loaded in bulk."""
    build_large(cluster, nodes=nodes, namespaces=namespaces, per_namespace=per_namespace, replicas=replicas)


SCENARIOS: dict[str, Callable[[SimCluster], None]] = {"default": build_default, "small": build_small, "large": build_large,
                                                       "xlarge": build_xlarge}
# Watch history (events a watch can resume across) per scenario; the rest keep DEFAULT_HISTORY. ``large`` keeps its
# whole load; ``xlarge`` keeps 10 s of a 2,000 events/s stream (a retained pod change costs about 10 KB: the old
# version and the encoded line), and a watch that falls further behind lists again, as against a real server.
HISTORY = {"large": 200_000, "xlarge": 20_000}
DEFAULT_HISTORY = 20_000


def make_cluster(scenario: str, clock: SimClock, *, name: str = "rehearsal", **kwargs: Any) -> SimCluster:
    """Build a settled cluster of ``scenario`` on ``clock`` (which must be frozen: speed 0)."""
    if scenario not in SCENARIOS:
        raise KeyError(f"unknown scenario {scenario!r}; choose one of {', '.join(sorted(SCENARIOS))}")
    history = HISTORY.get(scenario, DEFAULT_HISTORY)
    cluster = SimCluster(name, clock, history=kwargs.pop("history", history), **kwargs)
    SCENARIOS[scenario](cluster)
    cluster.controllers.settle()
    return cluster


def headroom(speed: float) -> float:
    """How far behind the wall clock a sped-up cluster starts.

    Clients compute some ages from their own clock (``kubectl describe`` events); a simulated clock running
    ahead of the wall clock would make those "<invalid>". Starting behind by (speed - 1) x 10 minutes
    (at most 6 hours) keeps simulated time in the past for the first ten real minutes of a rehearsal.
    """
    return min(max(0.0, speed - 1.0) * 600.0, 6 * 3600.0)


def make_clusters(scenario: str, *, speed: float = 1.0, past: float = 3 * DAY, **kwargs: Any) -> tuple[SimClock, list[SimCluster]]:
    """The main cluster of ``scenario`` plus the small second one, settled ``past`` seconds ago, clock running."""
    real_now = time.time()
    clock = SimClock(start=real_now - headroom(speed) - past, speed=0.0)
    main = make_cluster(scenario, clock, name="rehearsal", **kwargs)
    second = make_cluster("small", clock, name="b", seed=11, **{k: v for k, v in kwargs.items() if k in ("timings", "faults")})
    clock.jump_to(real_now - headroom(speed))
    clock.set_speed(speed)
    return clock, [main, second]
