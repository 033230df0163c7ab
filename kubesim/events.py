"""Kubernetes Events as the controllers and the kubelet record them: aggregated by object, reason and message.

A repeated event (BackOff every restart) bumps ``count`` and ``lastTimestamp`` of one Event instead of adding
a new one, which is what ``kubectl get events`` shows as "(x4 over 2m)". Old events are pruned so a long
rehearsal does not grow without bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubesim.clock import rfc3339

if TYPE_CHECKING:
    from kubesim.store import Store

Obj = dict[str, Any]
MAX_EVENTS = 5000

KIND_API = {
    "Pod": "v1", "Node": "v1", "Namespace": "v1", "PersistentVolumeClaim": "v1",
    "Deployment": "apps/v1", "ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
}


class EventRecorder:
    """Writes core/v1 Events into a store."""

    def __init__(self, store: Store, *, enabled: bool = True) -> None:
        self.store = store
        self.enabled = enabled
        self._index: dict[tuple[str, str, str, str], tuple[str, str]] = {}  # (uid, type, reason, msg) -> (ns, name)
        self._order: list[tuple[str, str]] = []

    def emit(self, obj: Obj, type_: str, reason: str, message: str, *, component: str, host: str = "",
             field_path: str = "") -> None:
        if not self.enabled:
            return
        md = obj["metadata"]
        kind = obj.get("kind", "")
        ns = md.get("namespace") or "default"
        now = rfc3339(self.store.clock.now())
        key = (md.get("uid", ""), type_, reason, message)
        with self.store.lock:
            found = self._index.get(key)
            if found and self.store.peek("events", *found) is not None:
                def bump(e: Obj) -> None:
                    e["count"] = e.get("count", 1) + 1
                    e["lastTimestamp"] = now
                self.store.update("events", found[0], found[1], bump)
                return
            name = f"{md['name']}.{int(self.store.clock.now() * 1e9):x}{self.store.suffix(3)}"
            involved: Obj = {"kind": kind, "namespace": md.get("namespace", ""), "name": md["name"], "uid": md.get("uid", ""),
                             "apiVersion": KIND_API.get(kind, "v1"), "resourceVersion": md.get("resourceVersion", "")}
            if field_path:
                involved["fieldPath"] = field_path
            if not md.get("namespace"):
                involved.pop("namespace")
            source: Obj = {"component": component}
            if host:
                source["host"] = host
            event = {
                "kind": "Event", "apiVersion": "v1",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": involved, "reason": reason, "message": message, "source": source,
                "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": type_,
                "eventTime": None, "reportingComponent": component, "reportingInstance": host,
            }
            self.store.create("events", event, owned=True)
            self._index[key] = (ns, name)
            self._order.append((ns, name))
            if len(self._order) > MAX_EVENTS:
                old = self._order[: len(self._order) - MAX_EVENTS]
                del self._order[: len(old)]
                for ns_, name_ in old:
                    if self.store.peek("events", ns_, name_) is not None:
                        self.store.delete("events", ns_, name_)
