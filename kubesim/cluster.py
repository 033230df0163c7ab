"""One simulated cluster: its store, clock, event recorder, controllers and the operations they share.

``SimCluster`` is what the HTTP layer serves and what tests hold. Several clusters may share one clock
and one HTTP server (the second kubeconfig context points at another cluster under a path prefix).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from kubesim.clock import SimClock, rfc3339
from kubesim.controllers import Controllers
from kubesim.deployments import owner_ref
from kubesim.errors import Invalid, NotFound
from kubesim.events import EventRecorder
from kubesim.faults import Faults
from kubesim.kubelet import Timings
from kubesim.store import Store, clone

Obj = dict[str, Any]


def _quantity(text: str) -> float:
    """Bytes of a storage quantity such as 10Gi or 500M."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for u in sorted(units, key=len, reverse=True):
        if text.endswith(u):
            return float(text[: -len(u)]) * units[u]
    return float(text)


class SimCluster:
    """A cluster: objects, controllers and the shared operations (pods from templates, termination)."""

    def __init__(self, name: str, clock: SimClock, *, faults: Faults | None = None, timings: Timings | None = None,
                 history: int = 20_000, seed: int = 7) -> None:
        self.name = name
        self.clock = clock
        self.faults = faults or Faults()
        self.timings = timings or Timings()
        self.store = Store(clock, history=history, seed=seed)
        self.events = EventRecorder(self.store)
        self.controllers = Controllers(self)
        self._next_ip = int(ipaddress.IPv4Address("10.96.0.10"))

    # ----- helpers used by the API and the controllers ---------------------------------------------------
    def next_cluster_ip(self) -> str:
        self._next_ip += 1
        return str(ipaddress.IPv4Address(self._next_ip))

    def pod_from_template(self, owner: Obj, name: str, *, shape: Callable[[Obj], None] | None = None) -> Obj:
        """Create a pod from ``owner``'s template, controlled by ``owner``."""
        tpl = owner["spec"]["template"]
        md = tpl.get("metadata") or {}
        pod: Obj = {
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": owner["metadata"]["namespace"], "labels": dict(md.get("labels") or {}),
                         "ownerReferences": [owner_ref(owner)]},
            "spec": clone(tpl["spec"]),
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }
        if name.rsplit("-", 1)[-1].isdigit() is False:
            pod["metadata"]["generateName"] = name.rsplit("-", 1)[0] + "-"
        if md.get("annotations"):
            pod["metadata"]["annotations"] = dict(md["annotations"])
        pod["spec"].setdefault("serviceAccountName", "default")
        pod["spec"].setdefault("enableServiceLinks", True)
        pod["spec"].setdefault("preemptionPolicy", "PreemptLowerPriority")
        pod["spec"].setdefault("priority", 0)
        if shape is not None:
            shape(pod)
        return self.store.create("pods", pod, owned=True)

    def terminate_pod(self, ns: str, name: str, grace: int | None, *, reason: str) -> Obj:
        """Graceful deletion: Terminating now, gone after the grace period (capped by Timings.terminate)."""
        with self.store.lock:
            pod = self.store.peek("pods", ns, name)
            if pod is None:
                raise NotFound.for_("pods", name)
            if pod["metadata"].get("deletionTimestamp"):
                return pod
            if grace is None:
                grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
            if grace == 0 or not pod["spec"].get("nodeName"):
                return self.store.delete("pods", ns, name)
            now = self.clock.now()

            def mark(p: Obj) -> None:
                p["metadata"]["deletionTimestamp"] = rfc3339(now + grace)
                p["metadata"]["deletionGracePeriodSeconds"] = grace
            new = self.store.update("pods", ns, name, mark)
            assert new is not None
            for c in new["spec"]["containers"]:
                self.events.emit(new, "Normal", "Killing", f"Stopping container {c['name']}", component="kubelet",
                                 host=new["spec"].get("nodeName", ""), field_path=f"spec.containers{{{c['name']}}}")
            self.controllers.after(now + min(grace, self.timings.terminate), "pods", (ns, name))
            return new

    def orphan_dependents(self, uid: str) -> None:
        for res, ns, name in self.store.dependents(uid):
            self.store.update(res, ns, name, lambda o: o["metadata"].__setitem__(
                "ownerReferences", [r for r in o["metadata"].get("ownerReferences") or () if r["uid"] != uid]))

    def bind_claim(self, pvc: Obj) -> None:
        """Dynamic provisioning, instantly: the claim is Bound with the capacity it asked for."""
        md = pvc["metadata"]
        md.setdefault("uid", self.store.new_uid())
        req = ((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}
        pvc["spec"]["volumeName"] = f"pvc-{md['uid']}"
        pvc["spec"].setdefault("volumeMode", "Filesystem")
        md.setdefault("annotations", {})["pv.kubernetes.io/bind-completed"] = "yes"
        md.setdefault("finalizers", ["kubernetes.io/pvc-protection"])
        pvc["status"] = {"phase": "Bound", "accessModes": pvc["spec"].get("accessModes", ["ReadWriteOnce"]),
                         "capacity": {"storage": req.get("storage", "1Gi")}}

    def resize_claim(self, old: Obj, new: Obj) -> None:
        """Expansion only; shrinking is refused as the API server refuses it."""
        def get(o: Obj) -> Any:
            return (((o.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")

        before, after = get(old), get(new)
        if before and after and _quantity(after) < _quantity((old.get("status") or {}).get("capacity", {}).get("storage", before)):
            raise Invalid.for_("PersistentVolumeClaim", old["metadata"]["name"],
                               [("spec.resources.requests.storage", "Forbidden: field can not be less than status.capacity")])

    # ----- lifecycle -------------------------------------------------------------------------------------
    def start(self, tick: float = 0.02) -> None:
        self.controllers.start(tick)

    def stop(self) -> None:
        self.controllers.stop()
        self.store.close_watches()
