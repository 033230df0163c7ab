"""The cluster as it was before a change's first step and after its last, summarised for the record.

Reviewers months later have no cluster to look at; this is what they get instead: pods by status, nodes by
condition, and each rollout's revision and images in the change's namespace. Reading the cluster is bounded in
time and a failure to read is recorded as such, never fatal to the change.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from typing import Any

from console.cluster.rows import node_row, pod_row
from console.engine.steps import cluster_snapshot

REVISION = "deployment.kubernetes.io/revision"


def summarise_cluster(snap: dict[str, list[dict[str, Any]]], *, namespace: str, now) -> dict[str, Any]:
    """A short, stable summary of a cluster snapshot (pure)."""
    pods = Counter(pod_row(p, now).status for p in snap.get("pods", []))
    nodes = Counter(node_row(n, now).status for n in snap.get("nodes", []))
    rollouts = []
    for w in sorted(snap.get("workloads", []), key=lambda o: (o.get("kind", ""), o["metadata"]["name"])):
        meta = w.get("metadata", {})
        revision = (meta.get("annotations") or {}).get(REVISION) or w.get("status", {}).get("updateRevision", "")
        images = [c.get("image", "") for c in w.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])]
        status = w.get("status", {})
        ready = status.get("readyReplicas", status.get("numberReady", 0))
        desired = w.get("spec", {}).get("replicas", status.get("desiredNumberScheduled", 0))
        rollouts.append(f"{w.get('kind', '?')}/{meta.get('name')} revision {revision or '?'} ready {ready}/{desired} images {', '.join(images)}")
    return {
        "namespace": namespace,
        "pods by status": dict(sorted(pods.items())),
        "nodes by status": dict(sorted(nodes.items())),
        "rollouts": rollouts,
    }


def take_summary(env: dict[str, str], namespace: str, now) -> dict[str, Any]:
    """Read the cluster and summarise it; an unreadable cluster gives {"error": why}."""
    try:
        return summarise_cluster(cluster_snapshot(env, namespace), namespace=namespace, now=now)
    except (RuntimeError, subprocess.TimeoutExpired, ValueError, OSError) as exc:
        return {"namespace": namespace, "error": f"could not read the cluster: {exc}"}
