"""Pods per node, kept up to date from the pods watch's changes (the Nodes panel's PODS column).

A pod counts against the node it is bound to until it has finished, as ``kubectl describe node`` counts its
non-terminated pods: a pending pod not yet scheduled, and a pod that Succeeded or Failed, count nowhere.
``PodCounter.apply`` takes a batch of ``Change``s and says which nodes' counts moved, so the panel redraws only
those rows. No IO, no clock, no UI.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from console.cluster.watch_changes import Change

__all__ = ["PodCounter", "counted_node"]


def counted_node(pod: Mapping[str, Any]) -> str | None:
    """The node a pod counts against, or None (not scheduled yet, or finished)."""
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        return None
    return (pod.get("spec") or {}).get("nodeName") or None


class PodCounter:
    """Pods per node, kept up to date from pod changes (for the Nodes panel's PODS column)."""

    def __init__(self) -> None:
        self.node_of: dict[str, str] = {}
        self.counts: Counter[str] = Counter()

    def apply(self, changes: Iterable[Change]) -> set[str]:
        """Apply pod changes; returns the nodes whose count changed."""
        changed: set[str] = set()
        for ch in changes:
            if ch.type == "RESYNC":
                # A relist replaces everything: every node counted before, and every node counted now, may have
                # changed. Built in one pass and counted once (a first list may hold 50,000 pods).
                changed |= set(self.counts)
                node_of: dict[str, str] = {}
                for obj in ch.objects:
                    node = counted_node(obj)
                    if node is not None:
                        md = obj.get("metadata") or {}
                        node_of[f"{md.get('namespace', '')}/{md.get('name', '')}"] = node
                self.node_of, self.counts = node_of, Counter(node_of.values())
                changed |= set(self.counts)
            else:
                node = counted_node(ch.obj) if ch.type != "DELETED" and ch.obj is not None else None
                self._set(ch.key, node, changed)
        return changed

    def _set(self, key: str, node: str | None, changed: set[str]) -> None:
        old = self.node_of.get(key)
        if old == node:
            return
        if old is not None:
            self.counts[old] -= 1
            if self.counts[old] <= 0:
                del self.counts[old]
            changed.add(old)
        if node is None:
            self.node_of.pop(key, None)
        else:
            self.node_of[key] = node
            self.counts[node] += 1
            changed.add(node)

    def clear(self) -> None:
        """Forget every pod (the view switched to another context or namespace)."""
        self.node_of.clear()
        self.counts.clear()
