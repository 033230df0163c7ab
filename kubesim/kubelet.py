"""The scheduler and the kubelets of the rehearsal cluster: where pods go and how they come up, fail and go.

Each container walks Pending -> ContainerCreating -> Running -> Ready on the delays in ``Timings``.
An image whose tag contains ``bad`` never pulls (ErrImagePull, then ImagePullBackOff with growing back-off);
one whose tag contains ``crash`` starts, exits with code 1 and sits in CrashLoopBackOff with a rising restart
count. A deleted or evicted pod is Terminating for ``Timings.terminate`` seconds before it disappears.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubesim.clock import parse_rfc3339, rfc3339

if TYPE_CHECKING:
    from kubesim.cluster import SimCluster

Obj = dict[str, Any]


@dataclass
class Timings:
    """Simulated seconds each step takes (a test may shorten them further)."""

    schedule: float = 0.2
    pull: float = 1.5
    ready: float = 1.0
    terminate: float = 2.0
    crash_run: float = 1.0
    backoff_base: float = 10.0
    backoff_max: float = 300.0
    pull_error_hold: float = 2.0


@dataclass
class ContainerRun:
    """Private kubelet state of one container (what a real kubelet keeps in its runtime)."""

    stage: str = "pulling"  # pulling, pullerr, pullbackoff, starting, running, crashloop
    next: float = 0.0
    restarts: int = 0
    attempts: int = 0
    started: float = 0.0
    container_id: str = ""
    last_term: Obj | None = None
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""


@dataclass
class PodRun:
    """Private kubelet state of one pod."""

    containers: dict[str, ContainerRun] = field(default_factory=dict)
    ip: str = ""


def image_id(image: str) -> str:
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def is_ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions") or [])


def tolerates_unschedulable(pod: Obj) -> bool:
    return any(t.get("key") == "node.kubernetes.io/unschedulable" for t in pod["spec"].get("tolerations") or [])


def node_ready(node: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (node.get("status") or {}).get("conditions") or [])


class Kubelet:
    """Scheduling and the pod lifecycle for every node of one cluster."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.runs: dict[str, PodRun] = {}
        self._ip_next: dict[str, int] = {}

    # ----- scheduling ------------------------------------------------------------------------------------
    def schedule(self, keys: list[tuple[str, str]]) -> None:
        """Bind unscheduled pods to the least loaded schedulable Ready node that fits their nodeSelector."""
        pods = [p for k in keys if (p := self.store.peek("pods", *k)) is not None
                and not p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")]
        if not pods:
            return
        nodes = [n for n in self.store.list("nodes") if node_ready(n)]
        load = {n["metadata"]["name"]: 0 for n in nodes}
        for p in self.store.list("pods"):
            nn = p["spec"].get("nodeName")
            if nn in load:
                load[nn] += 1
        now = self.cluster.clock.now()
        for pod in pods:
            sel = pod["spec"].get("nodeSelector") or {}
            fits = [n for n in nodes
                    if (not n["spec"].get("unschedulable") or tolerates_unschedulable(pod))
                    and all((n["metadata"].get("labels") or {}).get(k) == v for k, v in sel.items())]
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            if not fits:
                cordoned = sum(1 for n in nodes if n["spec"].get("unschedulable"))
                msg = f"0/{len(load)} nodes are available: {cordoned} node(s) were unschedulable." if cordoned else \
                    f"0/{len(load)} nodes are available: {len(load)} node(s) didn't match Pod's node affinity/selector."
                if not nodes:
                    msg = "no nodes available to schedule pods"

                def unsched(p: Obj, msg: str = msg) -> Any:
                    conds = p["status"].setdefault("conditions", [])
                    if any(c["type"] == "PodScheduled" for c in conds):
                        return False
                    conds.append({"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                                  "lastTransitionTime": rfc3339(now), "reason": "Unschedulable", "message": msg})
                    return None
                updated = self.store.update("pods", ns, name, unsched)
                if updated is not None:
                    self.cluster.events.emit(updated, "Warning", "FailedScheduling", msg, component="default-scheduler")
                continue
            node = min(fits, key=lambda n: (load[n["metadata"]["name"]], n["metadata"]["name"]))
            load[node["metadata"]["name"]] += 1
            self.bind(ns, name, node["metadata"]["name"])

    def bind(self, ns: str, name: str, node: str) -> None:
        now = rfc3339(self.cluster.clock.now())

        def do(p: Obj) -> None:
            p["spec"]["nodeName"] = node
            conds = [c for c in p["status"].get("conditions") or [] if c["type"] != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now})
            p["status"]["conditions"] = conds
        pod = self.store.update("pods", ns, name, do)
        if pod is not None:
            self.cluster.events.emit(pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {node}",
                                     component="default-scheduler")

    # ----- lifecycle -------------------------------------------------------------------------------------
    def _ip(self, node: str) -> str:
        nodeobj = self.store.peek("nodes", "", node)
        cidr = ((nodeobj or {}).get("spec") or {}).get("podCIDR", "10.244.0.0/24")
        base = cidr.split("/")[0].rsplit(".", 1)[0]
        n = self._ip_next.get(node, 2)
        self._ip_next[node] = 2 if n >= 254 else n + 1
        return f"{base}.{n}"

    def sync(self, ns: str, name: str) -> float | None:
        """Advance one pod; returns the simulated time it next needs attention, or None."""
        pod = self.store.peek("pods", ns, name)
        if pod is None:
            return None
        now = self.cluster.clock.now()
        uid = pod["metadata"]["uid"]
        if pod["metadata"].get("deletionTimestamp"):
            return self._terminating(pod, now)
        node = pod["spec"].get("nodeName")
        if not node:
            return None
        run = self.runs.get(uid)
        if run is None:
            if is_ready(pod) or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                return None  # bulk-loaded or already settled: nothing to do
            run = PodRun(containers={c["name"]: ContainerRun(next=now + self.cluster.timings.pull)
                                     for c in pod["spec"]["containers"]})
            self.runs[uid] = run
            for c in pod["spec"]["containers"]:
                self._event(pod, c, "Normal", "Pulling", f'Pulling image "{c["image"]}"')
        for c in pod["spec"]["containers"]:
            self._advance(pod, c, run.containers.setdefault(c["name"], ContainerRun(next=now)), run, now)
        self._write_status(pod, run, now)
        pending = [cr.next for cr in run.containers.values() if cr.stage != "running"]
        return min(pending) if pending else None

    def _event(self, pod: Obj, c: Obj, type_: str, reason: str, msg: str) -> None:
        self.cluster.events.emit(pod, type_, reason, msg, component="kubelet", host=pod["spec"].get("nodeName", ""),
                                 field_path=f"spec.containers{{{c['name']}}}")

    def _backoff(self, n: int) -> float:
        t = self.cluster.timings
        delay: float = min(t.backoff_base * (2 ** max(0, n - 1)), t.backoff_max)
        return delay

    def _advance(self, pod: Obj, c: Obj, cr: ContainerRun, run: PodRun, now: float) -> None:
        t = self.cluster.timings
        tag = _tag(c["image"])
        while cr.stage != "running" and now >= cr.next:
            if cr.stage == "pullbackoff":
                cr.stage = "pulling"
                self._event(pod, c, "Normal", "Pulling", f'Pulling image "{c["image"]}"')
                cr.next += t.pull
                continue
            if cr.stage == "pulling":
                if not run.ip:
                    run.ip = self._ip(pod["spec"]["nodeName"])
                if "bad" in tag:
                    cr.attempts += 1
                    cr.stage, cr.waiting_reason = "pullerr", "ErrImagePull"
                    cr.waiting_message = (f'failed to pull and unpack image "{c["image"]}": failed to resolve reference '
                                          f'"{c["image"]}": {c["image"]}: not found')
                    self._event(pod, c, "Warning", "Failed", f'Failed to pull image "{c["image"]}": {cr.waiting_message}')
                    self._event(pod, c, "Warning", "Failed", "Error: ErrImagePull")
                    cr.next += t.pull_error_hold
                    continue
                secs = round(t.pull, 3)
                self._event(pod, c, "Normal", "Pulled", f'Successfully pulled image "{c["image"]}" in {secs}s '
                            f'({secs}s including waiting). Image size: {20_000_000 + len(c["image"]) * 7919} bytes.')
                self._start(pod, c, cr, cr.next)
                continue
            if cr.stage == "pullerr":
                cr.stage, cr.waiting_reason = "pullbackoff", "ImagePullBackOff"
                cr.waiting_message = f'Back-off pulling image "{c["image"]}"'
                self._event(pod, c, "Normal", "BackOff", cr.waiting_message)
                self._event(pod, c, "Warning", "Failed", "Error: ImagePullBackOff")
                cr.next += self._backoff(cr.attempts)
                continue
            if cr.stage == "starting":
                if "crash" in tag:
                    cr.last_term = {"exitCode": 1, "reason": "Error", "startedAt": rfc3339(cr.started),
                                    "finishedAt": rfc3339(cr.next), "containerID": cr.container_id}
                    cr.restarts += 1
                    cr.stage, cr.waiting_reason = "crashloop", "CrashLoopBackOff"
                    delay = self._backoff(cr.restarts)
                    cr.waiting_message = (f"back-off {int(delay)}s restarting failed container={c['name']} "
                                          f"pod={pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})")
                    self._event(pod, c, "Warning", "BackOff",
                                f"Back-off restarting failed container {c['name']} in pod "
                                f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})")
                    cr.next += delay
                else:
                    cr.stage = "running"
                continue
            if cr.stage == "crashloop":
                self._event(pod, c, "Normal", "Pulled", f'Container image "{c["image"]}" already present on machine')
                self._start(pod, c, cr, cr.next)

    def _start(self, pod: Obj, c: Obj, cr: ContainerRun, at: float) -> None:
        t = self.cluster.timings
        cr.stage, cr.started = "starting", at
        cr.container_id = "containerd://" + hashlib.sha256(f"{pod['metadata']['uid']}/{c['name']}/{cr.restarts}".encode()).hexdigest()
        cr.next = at + (t.crash_run if "crash" in _tag(c["image"]) else t.ready)
        self._event(pod, c, "Normal", "Created", f"Created container: {c['name']}")
        self._event(pod, c, "Normal", "Started", f"Started container {c['name']}")

    def _write_status(self, pod: Obj, run: PodRun, now: float) -> None:
        statuses, all_started, all_ready = [], True, True
        for c in pod["spec"]["containers"]:
            cr = run.containers[c["name"]]
            st: Obj = {"name": c["name"], "image": c["image"], "imageID": "", "ready": False,
                       "restartCount": cr.restarts, "started": False, "lastState": {}}
            if cr.stage in ("starting", "running"):
                st["state"] = {"running": {"startedAt": rfc3339(cr.started)}}
                st["started"] = True
                st["ready"] = cr.stage == "running"
            else:
                st["state"] = {"waiting": {"reason": cr.waiting_reason, **({"message": cr.waiting_message} if cr.waiting_message else {})}}
            if cr.container_id:
                st["containerID"], st["imageID"] = cr.container_id, image_id(c["image"])
            if cr.last_term:
                st["lastState"] = {"terminated": cr.last_term}
            all_started &= cr.container_id != ""
            all_ready &= st["ready"]
            statuses.append(st)
        ts = rfc3339(now)

        def do(p: Obj) -> Any:
            old = p.get("status") or {}
            prev = {c["type"]: c for c in old.get("conditions") or []}

            def cond(type_: str, ok: bool, reason: str = "", msg: str = "") -> Obj:
                status = "True" if ok else "False"
                was = prev.get(type_)
                c: Obj = {"type": type_, "status": status, "lastProbeTime": None,
                          "lastTransitionTime": was["lastTransitionTime"] if was and was["status"] == status else ts}
                if not ok and reason:
                    c["reason"], c["message"] = reason, msg
                return c
            not_ready = [c["name"] for c in statuses if not c["ready"]]
            why = f"containers with unready status: [{' '.join(not_ready)}]"
            new: Obj = {
                "phase": "Running" if all_started else "Pending",
                "conditions": [cond("PodReadyToStartContainers", bool(run.ip)), cond("Initialized", True),
                               cond("Ready", all_ready, "ContainersNotReady", why),
                               cond("ContainersReady", all_ready, "ContainersNotReady", why), cond("PodScheduled", True)],
                "hostIP": self._host_ip(p["spec"]["nodeName"]),
                "startTime": old.get("startTime") or ts,
                "containerStatuses": statuses,
                "qosClass": old.get("qosClass", "BestEffort"),
            }
            new["hostIPs"] = [{"ip": new["hostIP"]}]
            if run.ip:
                new["podIP"], new["podIPs"] = run.ip, [{"ip": run.ip}]
            if new == old:
                return False
            p["status"] = new
            return None
        self.store.update("pods", pod["metadata"]["namespace"], pod["metadata"]["name"], do)

    def _host_ip(self, node: str) -> str:
        n = self.store.peek("nodes", "", node) or {}
        for a in (n.get("status") or {}).get("addresses") or []:
            if a["type"] == "InternalIP":
                address: str = a["address"]
                return address
        return "10.0.0.1"

    def _terminating(self, pod: Obj, now: float) -> float | None:
        md = pod["metadata"]
        started = parse_rfc3339(md.get("deletionTimestamp")) or now
        started -= md.get("deletionGracePeriodSeconds", 0) or 0
        done_at = started + min(float(md.get("deletionGracePeriodSeconds") or 0), self.cluster.timings.terminate)
        if now >= done_at:
            if self.store.peek("pods", md["namespace"], md["name"]) is not None:
                self.store.delete("pods", md["namespace"], md["name"])
            self.runs.pop(md["uid"], None)
            return None
        return done_at
