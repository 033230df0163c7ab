"""The control loop of the rehearsal cluster: work queues fed by store changes, timers on the simulated clock.

Like kube-controller-manager, controllers never poll every object: a store listener turns each change into
keys on work queues (a pod change queues its owner), and things that must happen later (a container that
finishes pulling, a progress deadline) are timers on the simulated clock. One background thread drains them
every tick; tests may instead call ``step``/``run_until_idle`` with the clock frozen.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from kubesim.clock import rfc3339
from kubesim.deployments import DeploymentController, ReplicaSetController
from kubesim.errors import ApiError
from kubesim.kubelet import Kubelet
from kubesim.store import WatchEvent
from kubesim.workloads import DaemonSetController, StatefulSetController

if TYPE_CHECKING:
    from kubesim.cluster import SimCluster

Obj = dict[str, Any]
OWNER_RESOURCE = {"ReplicaSet": "replicasets", "Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}
ORDER = ("gc", "namespaces", "deployments", "replicasets", "statefulsets", "daemonsets", "schedule", "pods", "pvcs")


def controller_of(obj: Obj) -> tuple[str, str] | None:
    """(resource, uid) of the controlling owner, if any."""
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller") and ref["kind"] in OWNER_RESOURCE:
            return OWNER_RESOURCE[ref["kind"]], ref["uid"]
    return None


class Controllers:
    """All controllers of one cluster and the thread that runs them."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.kubelet = Kubelet(cluster)
        self.deployments = DeploymentController(cluster, self)
        self.replicasets = ReplicaSetController(cluster)
        self.statefulsets = StatefulSetController(cluster, self)
        self.daemonsets = DaemonSetController(cluster, self)
        self.queues: dict[str, dict[Any, None]] = {q: {} for q in ORDER}
        self._timers: list[tuple[float, int, str, Any]] = []
        self._seq = itertools.count()
        self._changes: deque[WatchEvent] = deque()
        self._uid_keys: dict[str, tuple[str, str, str]] = {}
        self._nodes_changed = False  # set by a node event; the scan it calls for runs once per step
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.errors: list[BaseException] = []
        self.store.add_listener(self._changes.append)

    # ----- queueing --------------------------------------------------------------------------------------
    def enqueue(self, queue: str, key: Any) -> None:
        self.queues[queue][key] = None

    def after(self, when: float, queue: str, key: Any) -> None:
        """Queue ``key`` on ``queue`` once the simulated clock reaches ``when``."""
        heapq.heappush(self._timers, (when, next(self._seq), queue, key))

    def enqueue_all(self) -> None:
        """Queue every object once (after a bulk load)."""
        for res, q in (("deployments", "deployments"), ("replicasets", "replicasets"), ("statefulsets", "statefulsets"),
                       ("daemonsets", "daemonsets"), ("pods", "pods")):
            for o in self.store.list(res):
                self.enqueue(q, (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def _owner_key(self, obj: Obj) -> tuple[str, tuple[str, str]] | None:
        ref = controller_of(obj)
        if ref is None:
            return None
        res, uid = ref
        known = self._uid_keys.get(uid)
        if known is None:
            name = next(r["name"] for r in obj["metadata"]["ownerReferences"] if r["uid"] == uid)
            return res, (obj["metadata"].get("namespace", ""), name)
        return known[0], (known[1], known[2])

    def _route(self, ev: WatchEvent) -> None:
        o, res = ev.obj, ev.resource
        md = o["metadata"]
        key = (md.get("namespace", ""), md["name"])
        if ev.type == "DELETED":
            self._uid_keys.pop(md.get("uid", ""), None)
            self.enqueue("gc", md.get("uid", ""))
        else:
            self._uid_keys[md["uid"]] = (res, key[0], key[1])
        owner = self._owner_key(o)
        if owner is not None:
            self.enqueue(*owner)
        if res == "pods":
            if ev.type == "DELETED":
                self.kubelet.runs.pop(md.get("uid", ""), None)
                return
            self.enqueue("pods", key)
            if not o["spec"].get("nodeName"):
                self.enqueue("schedule", key)
        elif res in ("deployments", "replicasets", "statefulsets", "daemonsets"):
            if ev.type != "DELETED":
                self.enqueue(res, key)
        elif res == "nodes":
            self._node_changed(ev)
        elif res == "namespaces" and ev.type != "DELETED" and md.get("deletionTimestamp"):
            self.enqueue("namespaces", md["name"])
        elif res == "persistentvolumeclaims" and ev.type != "DELETED":
            self.enqueue("pvcs", key)

    def _node_changed(self, ev: WatchEvent) -> None:
        # Daemon sets and unscheduled pods are queued once per step (_nodes_settled), not once per node event:
        # loading thousands of nodes before tens of thousands of pods would otherwise scan every pod per node.
        self._nodes_changed = True
        if ev.type == "MODIFIED" and ev.prev is not None:
            was, now = bool(ev.prev["spec"].get("unschedulable")), bool(ev.obj["spec"].get("unschedulable"))
            if was != now:
                name = ev.obj["metadata"]["name"]
                state = "NodeNotSchedulable" if now else "NodeSchedulable"
                self.cluster.events.emit(ev.obj, "Normal", state, f"Node {name} status is now: {state}",
                                         component="node-controller")

    def _nodes_settled(self) -> None:
        """After node changes: daemon sets may need pods on them, and pending pods may now fit somewhere."""
        self._nodes_changed = False
        for ds in self.store.list("daemonsets"):
            self.enqueue("daemonsets", (ds["metadata"]["namespace"], ds["metadata"]["name"]))
        for p in self.store.list("pods"):
            if not p["spec"].get("nodeName"):
                self.enqueue("schedule", (p["metadata"]["namespace"], p["metadata"]["name"]))

    # ----- running ---------------------------------------------------------------------------------------
    def step(self, budget: int = 20_000) -> int:
        """Do all work that is due now; returns how many items were handled."""
        done = 0
        now = self.cluster.clock.now()
        with self.store.lock:
            while self._timers and self._timers[0][0] <= now:
                _, _, q, key = heapq.heappop(self._timers)
                self.enqueue(q, key)
        for _ in range(50):
            with self.store.lock:
                while self._changes:
                    self._route(self._changes.popleft())
                if self._nodes_changed:
                    self._nodes_settled()
                work = [(q, list(self.queues[q])) for q in ORDER if self.queues[q]]
                for q, _ in work:
                    self.queues[q] = {}
            if not work or done >= budget:
                break
            for q, keys in work:
                if q == "schedule":
                    with self.store.lock:
                        self.kubelet.schedule(keys)
                    done += len(keys)
                    continue
                for key in keys:
                    with self.store.lock:
                        try:
                            self._reconcile(q, key)
                        except ApiError as e:  # a lost race (name taken, object gone): retry shortly
                            self.errors.append(e)
                            self.after(now + 1.0, q, key)
                    done += 1
        return done

    def _reconcile(self, q: str, key: Any) -> None:
        if q == "pods":
            nxt = self.kubelet.sync(*key)
            if nxt is not None:
                self.after(nxt, "pods", key)
        elif q == "deployments":
            self.deployments.sync(*key)
        elif q == "replicasets":
            self.replicasets.sync(*key)
        elif q == "statefulsets":
            self.statefulsets.sync(*key)
        elif q == "daemonsets":
            self.daemonsets.sync(*key)
        elif q == "gc":
            self._collect(key)
        elif q == "namespaces":
            self._finish_namespace(key)
        elif q == "pvcs":
            self._resize(*key)

    def _collect(self, uid: str) -> None:
        """Garbage collection: dependents whose owners are all gone are deleted (pods gracefully)."""
        for res, ns, name in self.store.dependents(uid):
            o = self.store.peek(res, ns, name)
            if o is None:
                continue
            alive = [r for r in o["metadata"].get("ownerReferences") or () if r["uid"] != uid and r["uid"] in self._uid_keys]
            if alive:
                continue
            if res == "pods":
                self.cluster.terminate_pod(ns, name, None, reason="gc")
            else:
                self.store.delete(res, ns, name)

    def _finish_namespace(self, name: str) -> None:
        for res, o in self.store.all_objects():
            if o["metadata"].get("namespace") == name:
                self.store.delete(res, name, o["metadata"]["name"])
        if self.store.peek("namespaces", "", name) is not None:
            self.store.delete("namespaces", "", name)

    def _resize(self, ns: str, name: str) -> None:
        pvc = self.store.peek("persistentvolumeclaims", ns, name)
        if pvc is None or (pvc.get("status") or {}).get("phase") != "Bound":
            return
        want = ((pvc["spec"].get("resources") or {}).get("requests") or {}).get("storage")
        have = (pvc["status"].get("capacity") or {}).get("storage")
        if want and want != have:
            def grow(o: Obj) -> None:
                o["status"]["capacity"] = {"storage": want}
                o["status"].pop("conditions", None)
            new = self.store.update("persistentvolumeclaims", ns, name, grow)
            if new is not None:
                self.cluster.events.emit(new, "Normal", "FileSystemResizeSuccessful",
                                         f"MountVolume.NodeExpandVolume succeeded for volume \"{new['spec'].get('volumeName', '')}\"",
                                         component="kubelet")

    def run_until_idle(self, max_steps: int = 200) -> None:
        """Step until there is no work due now (timers in the future are left)."""
        for _ in range(max_steps):
            if self.step() == 0 and not self._changes:
                return

    def settle(self, horizon: float = 600.0, dt: float = 1.0) -> None:
        """Advance a frozen clock in ``dt`` steps until nothing is pending (scenario set-up)."""
        start = self.cluster.clock.now()
        while True:
            self.run_until_idle()
            if not self._timers or self.cluster.clock.now() - start > horizon:
                return
            gap = max(dt, self._timers[0][0] - self.cluster.clock.now())
            self.cluster.clock.advance(min(gap, 30.0))

    def start(self, tick: float = 0.02) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(tick,), name=f"sim-controllers-{self.cluster.name}", daemon=True)
        self._thread.start()

    def _loop(self, tick: float) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except (KeyError, ValueError, TypeError, AttributeError, IndexError) as e:  # a bug in a controller:
                self.errors.append(e)  # keep it for tests to see instead of killing the loop silently
            self._stop.wait(tick)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def pending_timers(self) -> int:
        return len(self._timers)

    def now_text(self) -> str:
        return rfc3339(self.cluster.clock.now())


__all__ = ["Controllers", "controller_of"]
