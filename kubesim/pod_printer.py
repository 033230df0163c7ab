"""The API server's ``printPod`` (pkg/printers/internalversion/printers.go): the cells of ``kubectl get pods``.

READY counts ready app containers plus started, ready sidecars (restartable init containers) over all of them;
STATUS is the pod's reason or phase, overridden by the first failing or pending init container ("Init:1/2",
"Init:CrashLoopBackOff", "Init:ExitCode:1"), else by the app containers' waiting or terminated reasons
("CrashLoopBackOff", "Completed", "Signal:9"), then by deletion ("Terminating", or "Unknown" for a pod whose
node was lost); RESTARTS sums restart counts and adds "(5m ago)" from the latest last-termination time.

Written from kubectl's Go source for the rehearsal cluster alone, branch for branch and in the same order. The
console derives the same columns with its own code; because this copy shares nothing with it, ``kubectl get
pods`` against the rehearsal cluster is an independent check of the console's Pods panel. Pure: a pod (API JSON)
and ``now`` (epoch seconds) in, cells out.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from kubesim.clock import parse_rfc3339
from kubesim.duration import human_duration

Obj = dict[str, Any]

# k8s.io/kubernetes/pkg/util/node.NodeUnreachablePodReason: the node controller's reason for a pod it evicts
# from a node that stopped reporting.
NODE_UNREACHABLE_POD_REASON = "NodeLost"
POD_REASON_SCHEDULING_GATED = "SchedulingGated"


class PodStatus(NamedTuple):
    """printPod's derived values before formatting: (STATUS, ready, total, restarts, last restart epoch)."""

    reason: str
    ready: int
    total: int
    restarts: int
    last_restart: float | None


def translate_timestamp_since(timestamp: str | None, now: float) -> str:
    """printers.go ``translateTimestampSince``: "<unknown>" for an unset time, else HumanDuration(now - t)."""
    t = parse_rfc3339(timestamp)
    return "<unknown>" if t is None else human_duration(now - t)


def _is_restartable_init_container(container: Obj | None) -> bool:
    # podutil.IsRestartableInitContainer: a sidecar is an init container with restartPolicy Always.
    return container is not None and container.get("restartPolicy") == "Always"


def _is_pod_initialized_condition_true(conditions: list[Obj]) -> bool:
    # The first Initialized condition decides.
    for condition in conditions:
        if condition.get("type") == "Initialized":
            return condition.get("status") == "True"
    return False


def _has_pod_ready_condition(conditions: list[Obj]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _later(current: float | None, finished_at: str | None) -> float | None:
    # lastRestartDate.Before(&terminatedDate): an unset finishedAt is Go's zero time and never later.
    t = parse_rfc3339(finished_at)
    if t is not None and (current is None or current < t):
        return t
    return current


def _is_terminal(phase: str) -> bool:
    return phase in ("Succeeded", "Failed")


def pod_status(pod: Obj) -> PodStatus:
    """READY, STATUS and RESTARTS of one pod, as printPod computes them."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    conditions = status.get("conditions") or []
    restarts = 0
    restartable_init_restarts = 0
    total = len(spec.get("containers") or [])
    ready = 0
    last_restart: float | None = None
    last_restartable_init_restart: float | None = None

    phase = status.get("phase") or ""
    reason = status.get("reason") or phase

    for condition in conditions:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == POD_REASON_SCHEDULING_GATED:
            reason = POD_REASON_SCHEDULING_GATED

    spec_init = spec.get("initContainers") or []
    init_containers: dict[str, Obj] = {}
    for container in spec_init:
        init_containers[container.get("name") or ""] = container
        if _is_restartable_init_container(container):
            total += 1

    initializing = False
    for i, container in enumerate(status.get("initContainerStatuses") or []):
        restart_count = int(container.get("restartCount") or 0)
        restarts += restart_count
        last_terminated = (container.get("lastState") or {}).get("terminated")
        if last_terminated is not None:
            last_restart = _later(last_restart, last_terminated.get("finishedAt"))
        restartable = _is_restartable_init_container(init_containers.get(container.get("name") or ""))
        if restartable:
            restartable_init_restarts += restart_count
            if last_terminated is not None:
                last_restartable_init_restart = _later(last_restartable_init_restart, last_terminated.get("finishedAt"))
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and int(terminated.get("exitCode") or 0) == 0:
            continue
        if restartable and container.get("started") is True:
            if container.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            # initialization failed
            if not terminated.get("reason"):
                if terminated.get("signal"):
                    reason = f"Init:Signal:{terminated['signal']}"
                else:
                    reason = f"Init:ExitCode:{int(terminated.get('exitCode') or 0)}"
            else:
                reason = "Init:" + terminated["reason"]
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec_init)}"
        initializing = True
        break

    if not initializing or _is_pod_initialized_condition_true(conditions):
        restarts = restartable_init_restarts
        last_restart = last_restartable_init_restart
        has_running = False
        for container in reversed(status.get("containerStatuses") or []):
            restarts += int(container.get("restartCount") or 0)
            last_terminated = (container.get("lastState") or {}).get("terminated")
            if last_terminated is not None:
                last_restart = _later(last_restart, last_terminated.get("finishedAt"))
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated is not None:
                if terminated.get("signal"):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{int(terminated.get('exitCode') or 0)}"
            elif container.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1

        # A pod whose some containers completed while another still runs is Running (or NotReady), not Completed.
        if reason == "Completed" and has_running:
            reason = "Running" if _has_pod_ready_condition(conditions) else "NotReady"

    if meta.get("deletionTimestamp") and status.get("reason") == NODE_UNREACHABLE_POD_REASON:
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and not _is_terminal(phase):
        reason = "Terminating"

    return PodStatus(reason, ready, total, restarts, last_restart)


def restarts_text(st: PodStatus, now: float) -> str:
    """The RESTARTS cell: the count, and "(10s ago)" when a last termination time is known."""
    if st.restarts != 0 and st.last_restart is not None:
        return f"{st.restarts} ({human_duration(now - st.last_restart)} ago)"
    return str(st.restarts)


def _pod_ip(status: Obj) -> str:
    # The v1 -> internal conversion keeps podIP when it is set and otherwise takes podIPs[0]; printPod prints
    # the first internal pod IP.
    if status.get("podIP"):
        ip: str = status["podIP"]
        return ip
    ips = status.get("podIPs") or []
    return (ips[0].get("ip") if ips else "") or "<none>"


def _readiness_gates(spec: Obj, conditions: list[Obj]) -> str:
    gates = spec.get("readinessGates") or []
    if not gates:
        return "<none>"
    true_conditions = 0
    for gate in gates:
        # The first condition of the gate's type decides.
        for condition in conditions:
            if condition.get("type") == gate.get("conditionType"):
                if condition.get("status") == "True":
                    true_conditions += 1
                break
    return f"{true_conditions}/{len(gates)}"


def pod_cells(pod: Obj, now: float) -> list[Any]:
    """The nine cells of a pods Table row: NAME READY STATUS RESTARTS AGE, then the ``-o wide`` four."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    st = pod_status(pod)
    return [
        meta.get("name", ""), f"{st.ready}/{st.total}", st.reason, restarts_text(st, now),
        translate_timestamp_since(meta.get("creationTimestamp"), now),
        _pod_ip(status), spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>",
        _readiness_gates(spec, status.get("conditions") or []),
    ]
