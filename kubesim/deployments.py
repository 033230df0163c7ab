"""Deployment and ReplicaSet controllers, following kube-controller-manager's rolling-update arithmetic.

A Deployment owns one ReplicaSet per pod template (named ``<deploy>-<pod-template-hash>``, revision in the
``deployment.kubernetes.io/revision`` annotation). A rollout scales the new one up and the old ones down
within maxSurge/maxUnavailable; ``kubectl rollout undo`` simply puts an old template back, so the matching old
ReplicaSet becomes the new one again with the next revision number. Status and the Available/Progressing
conditions (NewReplicaSetCreated, ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded) are
computed as the real controller does, because ``kubectl rollout status`` reads exactly those.
"""

from __future__ import annotations

import json
import math
import zlib
from typing import TYPE_CHECKING, Any

from kubesim.clock import parse_rfc3339, rfc3339
from kubesim.kubelet import is_ready
from kubesim.store import clone

if TYPE_CHECKING:
    from kubesim.cluster import SimCluster
    from kubesim.controllers import Controllers

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: Obj) -> str:
    """pod-template-hash: FNV-style 32-bit hash of the template, safe-encoded as Kubernetes does."""
    h = zlib.crc32(json.dumps(normalize(template), sort_keys=True, separators=(",", ":")).encode())
    return "".join(_SAFE[ord(ch) % len(_SAFE)] for ch in str(h))


def normalize(value: Any) -> Any:
    """Drop nulls and empty maps/lists, so templates compare as Go structs do (null == zero value)."""
    if isinstance(value, dict):
        out = {k: normalize(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def _strip_hash(template: Obj) -> Obj:
    t = clone(template)
    labels = (t.get("metadata") or {}).get("labels") or {}
    labels.pop(HASH_LABEL, None)
    normalized: Obj = normalize(t)
    return normalized


def revision(obj: Obj) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def resolve(value: Any, total: int, round_up: bool) -> int:
    """An int-or-percent against ``total`` (maxSurge rounds up, maxUnavailable down)."""
    if isinstance(value, str) and value.endswith("%"):
        x = int(value[:-1]) * total / 100
        return math.ceil(x) if round_up else math.floor(x)
    return int(value or 0)


def owner_ref(obj: Obj) -> Obj:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _controlled(objs: list[Obj], uid: str) -> list[Obj]:
    return [o for o in objs if any(r.get("controller") and r["uid"] == uid for r in o["metadata"].get("ownerReferences") or ())]


def set_condition(conds: list[Obj], type_: str, status: str, reason: str, message: str, now: str, *, touch: bool = False) -> list[Obj]:
    """SetDeploymentCondition: same status and reason leaves it alone unless ``touch`` (progress seen)."""
    old = next((c for c in conds if c["type"] == type_), None)
    if old and old["status"] == status and old["reason"] == reason and not touch:
        return conds
    new = {"type": type_, "status": status, "lastUpdateTime": now,
           "lastTransitionTime": old["lastTransitionTime"] if old and old["status"] == status else now,
           "reason": reason, "message": message}
    return [c for c in conds if c["type"] != type_] + [new]


class DeploymentController:
    """Reconciles Deployments into ReplicaSets."""

    def __init__(self, cluster: SimCluster, controllers: Controllers) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.controllers = controllers

    def _event(self, d: Obj, msg: str) -> None:
        self.cluster.events.emit(d, "Normal", "ScalingReplicaSet", msg, component="deployment-controller")

    def _scale(self, d: Obj, rs: Obj, n: int) -> None:
        cur = rs["spec"]["replicas"]
        if cur == n:
            return
        size = d["spec"]["replicas"]
        surge = resolve(d["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxSurge", 0), size, True)

        def do(o: Obj) -> None:
            o["spec"]["replicas"] = n
            ann = o["metadata"].setdefault("annotations", {})
            ann["deployment.kubernetes.io/desired-replicas"] = str(size)
            ann["deployment.kubernetes.io/max-replicas"] = str(size + surge)
        self.store.update("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"], do)
        rs["spec"]["replicas"] = n
        self._event(d, f"Scaled {'up' if n > cur else 'down'} replica set {rs['metadata']['name']} from {cur} to {n}")

    def sync(self, ns: str, name: str) -> None:
        d = self.store.peek("deployments", ns, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        uid = d["metadata"]["uid"]
        now = self.cluster.clock.now()
        rss = [clone(r) for r in _controlled(self.store.owned_by(uid, "replicasets"), uid)]
        tpl = d["spec"]["template"]
        want = normalize(tpl)
        new_rs = next((r for r in rss if _strip_hash(r["spec"]["template"]) == want), None)
        olds = [r for r in rss if r is not new_rs]
        max_old = max((revision(r) for r in olds), default=0)
        conds = list((d.get("status") or {}).get("conditions") or [])
        ts = rfc3339(now)
        paused = bool(d["spec"].get("paused"))
        if new_rs is None and not paused:
            new_rs = self._create_rs(d, max_old + 1)
            rss.append(new_rs)
            conds = set_condition(conds, "Progressing", "True", "NewReplicaSetCreated",
                                  f'Created new replica set "{new_rs["metadata"]["name"]}"', ts)
        elif new_rs is not None and revision(new_rs) <= max_old:
            rev = str(max_old + 1)

            def bump(o: Obj) -> None:
                o["metadata"].setdefault("annotations", {})[REVISION] = rev
            self.store.update("replicasets", ns, new_rs["metadata"]["name"], bump)
            new_rs["metadata"].setdefault("annotations", {})[REVISION] = rev
            if not any(c["type"] == "Progressing" for c in conds):
                conds = set_condition(conds, "Progressing", "True", "FoundNewReplicaSet",
                                      f'Found new replica set "{new_rs["metadata"]["name"]}"', ts)
        if new_rs is not None and (d["metadata"].get("annotations") or {}).get(REVISION) != str(revision(new_rs)):
            rev = str(revision(new_rs))
            self.store.update("deployments", ns, name, lambda o: o["metadata"].setdefault("annotations", {}).__setitem__(REVISION, rev))
            d = self.store.peek("deployments", ns, name) or d
        if not paused and new_rs is not None:
            if d["spec"].get("strategy", {}).get("type") == "Recreate":
                self._recreate(d, new_rs, olds)
            else:
                self._rolling(d, new_rs, olds)
            self._cleanup(d, olds)
        self._status(d, new_rs, conds, now)

    def _create_rs(self, d: Obj, rev: int) -> Obj:
        tpl = clone(d["spec"]["template"])
        h = template_hash(tpl)
        tpl.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        sel = clone(d["spec"]["selector"])
        sel.setdefault("matchLabels", {})[HASH_LABEL] = h
        size = d["spec"]["replicas"]
        surge = resolve(d["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxSurge", 0), size, True)
        rs = {
            "kind": "ReplicaSet", "apiVersion": "apps/v1",
            "metadata": {
                "name": f"{d['metadata']['name']}-{h}", "namespace": d["metadata"]["namespace"],
                "labels": dict(tpl["metadata"]["labels"]),
                "annotations": {REVISION: str(rev), "deployment.kubernetes.io/desired-replicas": str(size),
                                "deployment.kubernetes.io/max-replicas": str(size + surge)},
                "ownerReferences": [owner_ref(d)],
            },
            "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds", 0), "selector": sel, "template": tpl},
            "status": {"replicas": 0},
        }
        return clone(self.store.create("replicasets", rs, owned=True))

    def _rolling(self, d: Obj, new_rs: Obj, olds: list[Obj]) -> None:
        size = d["spec"]["replicas"]
        ru = d["spec"].get("strategy", {}).get("rollingUpdate", {})
        surge = resolve(ru.get("maxSurge", "25%"), size, True)
        unavail = resolve(ru.get("maxUnavailable", "25%"), size, False)
        if surge == 0 and unavail == 0:
            unavail = 1
        everything = [new_rs, *olds]
        total = sum(r["spec"]["replicas"] for r in everything)
        # scale the new ReplicaSet up (or down when the Deployment shrank)
        cur = new_rs["spec"]["replicas"]
        if not any(r["spec"]["replicas"] for r in olds) or cur > size:
            self._scale(d, new_rs, size)
        elif cur < size and total < size + surge:
            self._scale(d, new_rs, cur + min(size + surge - total, size - cur))
        # then the old ones down, never below size - maxUnavailable available pods
        old_total = sum(r["spec"]["replicas"] for r in olds)
        if old_total == 0:
            return
        total = sum(r["spec"]["replicas"] for r in everything)
        min_avail = size - unavail
        new_unavail = new_rs["spec"]["replicas"] - (new_rs.get("status") or {}).get("availableReplicas", 0)
        budget = total - min_avail - new_unavail
        if budget <= 0:
            return
        olds_sorted = sorted(olds, key=lambda r: (parse_rfc3339(r["metadata"]["creationTimestamp"]) or 0, r["metadata"]["name"]))
        for r in olds_sorted:  # first the old pods that are not available anyway
            if budget <= 0:
                break
            st = r.get("status") or {}
            unhealthy = r["spec"]["replicas"] - st.get("availableReplicas", 0)
            cut = min(budget, max(0, unhealthy))
            if cut:
                self._scale(d, r, r["spec"]["replicas"] - cut)
                budget -= cut
        avail = sum((r.get("status") or {}).get("availableReplicas", 0) for r in everything)
        budget = min(budget, avail - min_avail)
        for r in olds_sorted:
            if budget <= 0:
                break
            cut = min(budget, r["spec"]["replicas"])
            if cut:
                self._scale(d, r, r["spec"]["replicas"] - cut)
                budget -= cut

    def _recreate(self, d: Obj, new_rs: Obj, olds: list[Obj]) -> None:
        for r in olds:
            self._scale(d, r, 0)
        if any((r.get("status") or {}).get("replicas", 0) for r in olds):
            return
        self._scale(d, new_rs, d["spec"]["replicas"])

    def _cleanup(self, d: Obj, olds: list[Obj]) -> None:
        limit = d["spec"].get("revisionHistoryLimit", 10)
        idle = sorted((r for r in olds if r["spec"]["replicas"] == 0 and not (r.get("status") or {}).get("replicas")), key=revision)
        for r in idle[: max(0, len(idle) - limit)]:
            self.store.delete("replicasets", r["metadata"]["namespace"], r["metadata"]["name"])

    def _status(self, d: Obj, new_rs: Obj | None, conds: list[Obj], now: float) -> None:
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        uid = d["metadata"]["uid"]
        rss = _controlled(self.store.owned_by(uid, "replicasets"), uid)
        new_name = new_rs["metadata"]["name"] if new_rs else ""
        size = d["spec"]["replicas"]

        def st(r: Obj, k: str) -> Any:
            return (r.get("status") or {}).get(k, 0)

        replicas = sum(st(r, "replicas") for r in rss)
        updated = sum(st(r, "replicas") for r in rss if r["metadata"]["name"] == new_name)
        ready = sum(st(r, "readyReplicas") for r in rss)
        available = sum(st(r, "availableReplicas") for r in rss)
        old = d.get("status") or {}
        ts = rfc3339(now)
        unavail = resolve(d["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable", 0), size, False) \
            if d["spec"].get("strategy", {}).get("type") != "Recreate" else 0
        if available >= size - unavail:
            conds = set_condition(conds, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", ts)
        else:
            conds = set_condition(conds, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", ts)
        new_status = {"observedGeneration": d["metadata"].get("generation", 1), "replicas": replicas, "updatedReplicas": updated,
                      "readyReplicas": ready, "availableReplicas": available}
        deadline = d["spec"].get("progressDeadlineSeconds")
        prog = next((c for c in conds if c["type"] == "Progressing"), None)
        complete_before = replicas == updated and prog is not None and prog["reason"] == "NewReplicaSetAvailable"
        rs_text = f'ReplicaSet "{new_name}"' if new_name else f'Deployment "{name}"'
        if deadline is not None and not complete_before:
            if updated == size and replicas == size and available == size:
                conds = set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable", f"{rs_text} has successfully progressed.", ts)
            elif (updated > old.get("updatedReplicas", 0) or replicas - updated < old.get("replicas", 0) - old.get("updatedReplicas", 0)
                  or ready > old.get("readyReplicas", 0) or available > old.get("availableReplicas", 0)):
                conds = set_condition(conds, "Progressing", "True", "ReplicaSetUpdated", f"{rs_text} is progressing.", ts, touch=True)
            elif prog is not None and prog["reason"] != "NewReplicaSetAvailable":
                since = parse_rfc3339(prog["lastUpdateTime"]) or now
                if prog["reason"] == "ProgressDeadlineExceeded" or since + deadline < now:
                    conds = set_condition(conds, "Progressing", "False", "ProgressDeadlineExceeded", f"{rs_text} has timed out progressing.", ts)
                else:
                    self.controllers.after(since + deadline + 0.001, "deployments", (ns, name))
        conds.sort(key=lambda c: c["type"])  # Available before Progressing, as kubectl describe shows them
        new_status["conditions"] = conds
        if size - available > 0:
            new_status["unavailableReplicas"] = size - available
        if new_status != old:
            def do(o: Obj) -> None:
                o["status"] = new_status
            self.store.update("deployments", ns, name, do)


class ReplicaSetController:
    """Keeps the number of a ReplicaSet's pods at spec.replicas."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.store = cluster.store

    def sync(self, ns: str, name: str) -> None:
        rs = self.store.peek("replicasets", ns, name)
        if rs is None:
            return
        uid = rs["metadata"]["uid"]
        pods = _controlled(self.store.owned_by(uid, "pods"), uid)
        active = [p for p in pods if not p["metadata"].get("deletionTimestamp") and p["status"].get("phase") not in ("Succeeded", "Failed")]
        want = rs["spec"].get("replicas", 1)
        if len(active) < want:
            for _ in range(want - len(active)):
                pod = self.cluster.pod_from_template(rs, f"{name}-{self.store.suffix()}")
                self.cluster.events.emit(rs, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                                         component="replicaset-controller")
        elif len(active) > want:
            def rank(p: Obj) -> tuple[int, float]:
                st = p.get("status") or {}
                score = 0 if not p["spec"].get("nodeName") else 1 if st.get("phase") == "Pending" else 2 if not is_ready(p) else 3
                return score, -(parse_rfc3339(p["metadata"]["creationTimestamp"]) or 0)
            for p in sorted(active, key=rank)[: len(active) - want]:
                self.cluster.terminate_pod(ns, p["metadata"]["name"], None, reason="scale")
                self.cluster.events.emit(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}",
                                         component="replicaset-controller")
            pods = _controlled(self.store.owned_by(uid, "pods"), uid)
            active = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        ready = sum(1 for p in active if is_ready(p))
        labels = rs["spec"]["template"]["metadata"].get("labels") or {}
        fully_labeled = sum(1 for p in active if labels.items() <= (p["metadata"].get("labels") or {}).items())
        status = {"replicas": len(active), "fullyLabeledReplicas": fully_labeled,
                  "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": rs["metadata"].get("generation", 1)}
        if status != rs.get("status"):
            def do(o: Obj) -> None:
                o["status"] = status
            self.store.update("replicasets", ns, name, do)
