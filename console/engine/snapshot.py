"""The cluster as it was before a change's first step and after its last, summarised for the record.

Reviewers months later have no cluster to look at; this is what they get instead: nodes by condition, and for
every namespace the change touches, pods by status and each rollout's revision and images. Reading the cluster is
bounded in time and a failure to read is recorded as such, never fatal to the change.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from console.cluster.rows import node_row, pod_row

REVISION = "deployment.kubernetes.io/revision"
KUBECTL_TIMEOUT = "--request-timeout=20s"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def _kubectl_items(args: list[str], env: dict[str, str]) -> list[dict[str, Any]]:
    proc = subprocess.run(["kubectl", *args, "-o", "json", KUBECTL_TIMEOUT], env=env, capture_output=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode(errors="replace").strip() or f"kubectl exited {proc.returncode}")
    items: list[dict[str, Any]] = json.loads(proc.stdout).get("items", [])
    return items


def _rollout_line(w: dict[str, Any]) -> str:
    meta = w.get("metadata", {})
    revision = (meta.get("annotations") or {}).get(REVISION) or w.get("status", {}).get("updateRevision", "")
    images = [c.get("image", "") for c in w.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])]
    status = w.get("status", {})
    ready = status.get("readyReplicas", status.get("numberReady", 0))
    desired = w.get("spec", {}).get("replicas", status.get("desiredNumberScheduled", 0))
    return f"{w.get('kind', '?')}/{meta.get('name')} revision {revision or '?'} ready {ready}/{desired} images {', '.join(images)}"


def summarise_cluster(nodes: Sequence[dict[str, Any]], by_namespace: Mapping[str, Sequence[dict[str, Any]]], *,
                      now: datetime) -> dict[str, Any]:
    """A short, stable summary (pure): nodes by status, then per namespace its pods by status and its rollouts.

    ``by_namespace`` maps each namespace to its objects (pods and workloads mixed, as one kubectl list gives them).
    """
    summary: dict[str, Any] = {
        "namespaces": ", ".join(by_namespace),
        "nodes by status": dict(sorted(Counter(node_row(n, now).status for n in nodes).items())),
    }
    for namespace, objects in by_namespace.items():
        pods = [o for o in objects if o.get("kind") == "Pod"]
        workloads = [o for o in objects if o.get("kind") in WORKLOAD_KINDS]
        summary[f"pods by status in {namespace}"] = dict(sorted(Counter(pod_row(p, now).status for p in pods).items()))
        summary[f"rollouts in {namespace}"] = [
            _rollout_line(w) for w in sorted(workloads, key=lambda o: (o.get("kind", ""), o["metadata"]["name"]))
        ]
    return summary


def take_summary(env: dict[str, str], namespaces: Sequence[str], now: datetime) -> dict[str, Any]:
    """Read the cluster (nodes once, one list per namespace) and summarise it; unreadable gives {"error": why}."""
    try:
        nodes = _kubectl_items(["get", "nodes"], env)
        objects = {ns: _kubectl_items(["get", "pods,deployments,statefulsets,daemonsets", "-n", ns], env) for ns in namespaces}
        return summarise_cluster(nodes, objects, now=now)
    except (RuntimeError, subprocess.TimeoutExpired, ValueError, OSError) as exc:
        return {"namespaces": ", ".join(namespaces), "error": f"could not read the cluster: {exc}"}
