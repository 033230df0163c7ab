"""The real kubectl against the rehearsal cluster: its output must look like a real cluster's."""

from __future__ import annotations

import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable

import pytest

from kubesim.testing import RunningCluster

KUBECTL = shutil.which("kubectl")
KubectlRunner = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = [pytest.mark.kubectl, pytest.mark.skipif(KUBECTL is None, reason="kubectl not on PATH")]


def _rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


def _web_pods(rc: RunningCluster) -> dict[str, dict]:
    return {p["metadata"]["name"]: p for p in rc.store.list("pods", "web") if not p["metadata"].get("deletionTimestamp")}


def test_get_nodes(kubectl: KubectlRunner) -> None:
    rows = _rows(kubectl("get", "nodes").stdout)
    assert rows[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [r[0] for r in rows[1:]] == ["node-1", "node-2", "node-3"]
    assert all(r[1] == "Ready" and r[2] == "<none>" and r[4] == "v1.32.4" for r in rows[1:])
    assert all(re.fullmatch(r"\d+d(\d+h)?", r[3]) for r in rows[1:])


def test_get_pods_all_namespaces_wide(kubectl: KubectlRunner, rehearsal_cluster: RunningCluster) -> None:
    rows = _rows(kubectl("get", "pods", "-A", "-o", "wide").stdout)
    assert rows[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    by_name = {r[1]: r for r in rows[1:]}
    assert {"postgres-0", "postgres-1"} <= set(by_name)
    webs = [r for r in rows[1:] if r[0] == "web"]
    assert len(webs) == 3 and all(r[2] == "1/1" and r[3] == "Running" and r[4] == "0" for r in webs)
    assert all(re.fullmatch(r"10\.244\.\d+\.\d+", r[6]) and r[7].startswith("node-") for r in rows[1:])
    assert len([r for r in rows[1:] if r[1].startswith("node-exporter-")]) == 3


def test_get_workloads(kubectl: KubectlRunner) -> None:
    out = kubectl("get", "deploy,sts,ds", "-A").stdout
    assert re.search(r"web\s+deployment\.apps/web\s+3/3\s+3\s+3\s+3d", out)
    assert re.search(r"data\s+statefulset\.apps/postgres\s+2/2\s+3d", out)
    assert re.search(r"kube-system\s+daemonset\.apps/node-exporter\s+3\s+3\s+3\s+3\s+3\s+<none>\s+3d", out)


def test_describe_deployment(kubectl: KubectlRunner) -> None:
    out = kubectl("describe", "deployment", "web", "-n", "web").stdout
    assert re.search(r"Replicas:\s+3 desired \| 3 updated \| 3 total \| 3 available \| 0 unavailable", out)
    assert re.search(r"Image:\s+registry\.local/web:1\.4\.2", out)
    assert re.search(r"Available\s+True\s+MinimumReplicasAvailable", out)
    assert re.search(r"Progressing\s+True\s+NewReplicaSetAvailable", out)
    assert re.search(r"NewReplicaSet:\s+web-\w+ \(3/3 replicas created\)", out)
    assert re.search(r"ScalingReplicaSet\s+.*Scaled up replica set web-\w+ from 0 to 3", out)


def test_rollout_restart_rolls_new_replicaset(kubectl: KubectlRunner, rehearsal_cluster: RunningCluster) -> None:
    before = set(_web_pods(rehearsal_cluster))
    assert kubectl("rollout", "restart", "deployment/web", "-n", "web").stdout.strip() == "deployment.apps/web restarted"
    out = kubectl("rollout", "status", "deployment/web", "-n", "web", "--timeout=60s", timeout=70).stdout
    assert 'deployment "web" successfully rolled out' in out
    rc = rehearsal_cluster
    rc.wait_for(lambda: not ({p["metadata"]["name"] for p in rc.store.list("pods", "web")} & before), what="old pods gone")
    rss = {r["metadata"]["name"]: r for r in rc.store.list("replicasets", "web")}
    assert len(rss) == 2
    new = next(r for r in rss.values() if r["spec"]["replicas"] == 3)
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert "kubectl.kubernetes.io/restartedAt" in new["spec"]["template"]["metadata"]["annotations"]
    pods = _web_pods(rc)
    assert len(pods) == 3 and all(p["metadata"]["labels"]["pod-template-hash"] == new["metadata"]["labels"]["pod-template-hash"] for p in pods.values())


def test_scale(kubectl: KubectlRunner, rehearsal_cluster: RunningCluster) -> None:
    assert "deployment.apps/web scaled" in kubectl("scale", "deployment/web", "-n", "web", "--replicas=5").stdout
    kubectl("rollout", "status", "deployment/web", "-n", "web", "--timeout=60s", timeout=70)
    rows = _rows(kubectl("get", "deploy", "web", "-n", "web").stdout)
    assert rows[1][:4] == ["web", "5/5", "5", "5"]
    kubectl("scale", "statefulset/postgres", "-n", "data", "--replicas=3")
    rc = rehearsal_cluster
    rc.wait_for(lambda: (rc.get("statefulsets", "data", "postgres") or {}).get("status", {}).get("readyReplicas") == 3, what="postgres-2 ready")
    assert rc.get("persistentvolumeclaims", "data", "data-postgres-2")["status"]["phase"] == "Bound"


def test_bad_image_exceeds_deadline_then_undo(kubectl: KubectlRunner, rehearsal_cluster: RunningCluster) -> None:
    kubectl("patch", "deployment", "web", "-n", "web", "-p", '{"spec":{"progressDeadlineSeconds":30}}')
    kubectl("set", "image", "deployment/web", "-n", "web", "web=registry.local/web:1.5.0-bad")
    proc = kubectl("rollout", "status", "deployment/web", "-n", "web", "--timeout=60s", check=False, timeout=70)
    assert proc.returncode == 1
    assert 'deployment "web" exceeded its progress deadline' in proc.stderr
    rc = rehearsal_cluster
    conds = {c["type"]: c for c in rc.get("deployments", "web", "web")["status"]["conditions"]}
    assert conds["Progressing"]["status"] == "False" and conds["Progressing"]["reason"] == "ProgressDeadlineExceeded"
    statuses = _rows(kubectl("get", "pods", "-n", "web").stdout)
    assert any(r[2] in ("ImagePullBackOff", "ErrImagePull") and r[1] == "0/1" for r in statuses[1:])
    assert sum(1 for r in statuses[1:] if r[2] == "Running") >= 2  # maxUnavailable kept the old ones serving
    assert "rolled back" in kubectl("rollout", "undo", "deployment/web", "-n", "web").stdout
    out = kubectl("rollout", "status", "deployment/web", "-n", "web", "--timeout=60s", timeout=70).stdout
    assert 'successfully rolled out' in out
    dep = rc.get("deployments", "web", "web")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/web:1.4.2"
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    rss = rc.store.list("replicasets", "web")
    assert len(rss) == 2  # the old ReplicaSet came back instead of a third one
    rc.wait_for(lambda: all(p["spec"]["containers"][0]["image"].endswith(":1.4.2") for p in rc.store.list("pods", "web")), what="bad pods gone")


def test_cordon_drain_uncordon(kubectl: KubectlRunner, rehearsal_cluster: RunningCluster) -> None:
    rc = rehearsal_cluster
    assert "node/node-2 cordoned" in kubectl("cordon", "node-2").stdout
    rows = {r[0]: r for r in _rows(kubectl("get", "nodes").stdout)[1:]}
    assert rows["node-2"][1] == "Ready,SchedulingDisabled"
    on_node = {p["metadata"]["name"] for p in rc.store.list("pods") if p["spec"].get("nodeName") == "node-2"
               and not p["metadata"]["name"].startswith("node-exporter")}
    assert on_node
    proc = kubectl("drain", "node-2", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s", timeout=70)
    assert "node/node-2 drained" in proc.stdout
    for name in on_node:
        assert "evicting pod" in proc.stdout + proc.stderr and name in proc.stdout
    assert "ignoring DaemonSet-managed Pods" in proc.stderr
    rc.wait_for(lambda: rc.get("deployments", "web", "web")["status"].get("readyReplicas") == 3, what="web back to 3 ready")
    left = [p for p in rc.store.list("pods") if p["spec"].get("nodeName") == "node-2"]
    assert [p["metadata"]["name"] for p in left] == [p["metadata"]["name"] for p in left if p["metadata"]["name"].startswith("node-exporter")]
    assert "node/node-2 uncordoned" in kubectl("uncordon", "node-2").stdout
    assert not rc.get("nodes", "", "node-2")["spec"].get("unschedulable")
    events = kubectl("get", "events", "-A").stdout
    assert "NodeNotSchedulable" in events and "NodeSchedulable" in events


def test_get_events(kubectl: KubectlRunner) -> None:
    rows = _rows(kubectl("get", "events", "-n", "web").stdout)
    assert rows[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    reasons = {r[2] for r in rows[1:]}
    assert {"Scheduled", "Pulling", "Pulled", "Created", "Started", "SuccessfulCreate", "ScalingReplicaSet"} <= reasons
    assert any(r[3] == "deployment/web" for r in rows[1:])


def test_get_pods_watch_sees_changes(kubectl: KubectlRunner, rehearsal_cluster: RunningCluster) -> None:
    proc = subprocess.Popen([KUBECTL, "get", "pods", "-n", "web", "--watch"], env=rehearsal_cluster.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        seen: list[str] = []

        def read_until(pred, timeout: float = 20.0) -> None:
            deadline = time.monotonic() + timeout
            while not pred():
                left = deadline - time.monotonic()
                assert left > 0, f"kubectl --watch printed only:\n{''.join(seen)}"
                try:
                    seen.append(lines.get(timeout=left))
                except queue.Empty:
                    continue
        read_until(lambda: len(seen) >= 4)  # header and three pods
        assert seen[0].split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        kubectl("rollout", "restart", "deployment/web", "-n", "web")
        read_until(lambda: any("Terminating" in x for x in seen) and any("ContainerCreating" in x for x in seen)
                   and sum(1 for x in seen[4:] if re.search(r"\s1/1\s+Running", x)) >= 1)
        assert not any(x.split()[:2] == ["NAME", "READY"] for x in seen[1:])  # one header only
    finally:
        proc.kill()
        proc.wait(timeout=5)


def test_second_context_shows_other_cluster(kubectl: KubectlRunner) -> None:
    rows = _rows(kubectl("--context", "rehearsal-b", "get", "pods").stdout)
    assert len(rows) == 2 and rows[1][0].startswith("web-") and rows[1][2] == "Running"
    nodes = _rows(kubectl("--context", "rehearsal-b", "get", "nodes").stdout)
    assert [r[0] for r in nodes[1:]] == ["staging-node-1"]
    assert "No resources found in default namespace." in kubectl("get", "pods").stderr


def test_logs_and_errors(kubectl: KubectlRunner, rehearsal_cluster: RunningCluster) -> None:
    pod = next(iter(_web_pods(rehearsal_cluster)))
    out = kubectl("logs", pod, "-n", "web", "--tail=5").stdout.splitlines()
    assert len(out) == 5 and all(re.match(r"\d{4}-\d\d-\d\dT\S+Z (INFO|ERROR|FATAL)", x) for x in out)
    missing = kubectl("get", "deploy", "nope", "-n", "web", check=False)
    assert missing.returncode == 1 and 'deployments.apps "nope" not found' in missing.stderr
    rehearsal_cluster.faults.forbid("secrets")
    denied = kubectl("get", "secrets", "-n", "web", check=False)
    assert denied.returncode == 1 and 'cannot list resource "secrets"' in denied.stderr


REDIS = """apiVersion: apps/v1
kind: Deployment
metadata: {name: redis, namespace: cache, labels: {app: redis}}
spec:
  replicas: 1
  selector: {matchLabels: {app: redis}}
  template:
    metadata: {labels: {app: redis}}
    spec:
      containers: [{name: redis, image: "registry.local/redis:TAG", ports: [{containerPort: 6379}]}]
"""


def test_apply_and_create_commands(kubectl: KubectlRunner, rehearsal_cluster: RunningCluster, tmp_path) -> None:
    manifest = tmp_path / "redis.yaml"
    manifest.write_text(REDIS.replace("TAG", "7.2"))
    assert "deployment.apps/redis created" in kubectl("apply", "-f", str(manifest)).stdout
    assert "deployment.apps/redis unchanged" in kubectl("apply", "-f", str(manifest)).stdout
    manifest.write_text(REDIS.replace("TAG", "7.4"))
    assert "deployment.apps/redis configured" in kubectl("apply", "-f", str(manifest)).stdout
    assert "successfully rolled out" in kubectl("rollout", "status", "deploy/redis", "-n", "cache", "--timeout=60s", timeout=70).stdout
    rc = rehearsal_cluster
    assert rc.get("deployments", "cache", "redis")["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    kubectl("create", "configmap", "flags", "-n", "cache", "--from-literal=a=1", "--from-literal=b=2")
    assert rc.get("configmaps", "cache", "flags")["data"] == {"a": "1", "b": "2"}
    kubectl("create", "secret", "generic", "pw", "-n", "cache", "--from-literal=pw=hunter2")
    assert rc.get("secrets", "cache", "pw")["data"] == {"pw": "aHVudGVyMg=="}
    kubectl("create", "namespace", "scratch")
    kubectl("create", "deployment", "echo", "-n", "scratch", "--image=registry.local/echo:1.0", "--replicas=2")
    rc.wait_for(lambda: (rc.get("deployments", "scratch", "echo") or {}).get("status", {}).get("readyReplicas") == 2, what="echo ready")
    kubectl("delete", "namespace", "scratch")
    rc.wait_for(lambda: rc.get("namespaces", "", "scratch") is None and not rc.store.list("pods", "scratch"), what="namespace gone")
    assert "<invalid>" not in kubectl("describe", "pod", "-n", "cache").stdout
