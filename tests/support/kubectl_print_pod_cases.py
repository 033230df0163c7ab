"""kubectl's own printPod test cases, ported as API JSON with the cells kubectl's tests expect.

Source: kubernetes/kubernetes pkg/printers/internalversion/printers_test.go (``TestPrintPod``,
``TestPrintPodWithRestartableInitContainer``, ``TestPrintPodwide``, ``TestPrintPodConditions``,
``TestPrintNonTerminatedPod``). Each Go ``api.Pod`` literal is written here as the v1 JSON the API would carry
(``make([]api.Container, n)`` becomes n unnamed containers, ``ContainerStateTerminated{}`` becomes
``{"exitCode": 0}``, ``time.Now().Add(-10 * time.Second)`` becomes ``ago(10)`` against a fixed ``NOW``). The
expected READY, STATUS, RESTARTS and AGE cells are kubectl's, unchanged; no pod carries a creationTimestamp, so
AGE is "<unknown>" throughout, as in the Go tests.

``SOURCE_CASES`` adds branches printPod has but its tests do not reach (NodeLost, Init:Signal, ExitCode, ...);
their expected cells are read off printPod's source and say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 1, 1, tzinfo=UTC)
UNKNOWN = "<unknown>"


def ago(seconds: float) -> str:
    """An RFC 3339 timestamp ``seconds`` before ``NOW``."""
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


DAY = 24 * 3600


@dataclass(frozen=True)
class Case:
    """One pod and the cells kubectl prints for it; ``wide`` is IP, NODE, NOMINATED NODE, READINESS GATES."""

    source: str
    pod: dict[str, Any]
    ready: str
    status: str
    restarts: str
    age: str = UNKNOWN
    wide: tuple[str, str, str, str] | None = None
    note: str = field(default="", compare=False)


def containers(n: int) -> list[dict[str, Any]]:
    """``make([]api.Container, n)``: n containers with empty names."""
    return [{"name": ""} for _ in range(n)]


def cstatus(*, ready: bool = False, restarts: int = 0, state: dict[str, Any] | None = None,
            last: dict[str, Any] | None = None, name: str = "", started: bool | None = None) -> dict[str, Any]:
    """A v1 ContainerStatus; ``state`` and ``last`` are ContainerState objects ({} when unset)."""
    cs: dict[str, Any] = {"name": name, "ready": ready, "restartCount": restarts, "state": state or {},
                          "lastState": last or {}}
    if started is not None:
        cs["started"] = started
    return cs


def pod(name: str, *, spec: dict[str, Any] | None = None, n: int = 0, deleted: bool = False, **status: Any) -> dict[str, Any]:
    """A v1 Pod named ``name`` with ``n`` unnamed containers (or ``spec``) and the given status fields."""
    meta: dict[str, Any] = {"name": name}
    if deleted:
        meta["deletionTimestamp"] = ago(10)  # deleteTime := time.Now().Add(-10 * time.Second)
    return {"metadata": meta, "spec": spec if spec is not None else {"containers": containers(n)}, "status": status}


RUNNING = {"running": {}}
WAITING: dict[str, Any] = {"waiting": {}}


def terminated(reason: str = "", exit_code: int = 0, **extra: Any) -> dict[str, Any]:
    """A ContainerState holding ``terminated``; Go's zero ContainerStateTerminated{} is ``{"exitCode": 0}``."""
    term: dict[str, Any] = {"exitCode": exit_code, **extra}
    if reason:
        term["reason"] = reason
    return {"terminated": term}


def finished(seconds_ago: float) -> dict[str, Any]:
    """LastTerminationState: terminated, finishedAt ``seconds_ago`` before NOW."""
    return terminated(finishedAt=ago(seconds_ago))


SIDECARS = {"initContainers": [{"name": "restartable-init-1", "restartPolicy": "Always"},
                               {"name": "restartable-init-2", "restartPolicy": "Always"}],
            "containers": containers(1)}
READY_TRUE = {"type": "Ready", "status": "True"}


TEST_PRINT_POD = [
    Case("TestPrintPod[0]: name, num of containers, restarts, container ready status",
         pod("test1", n=2, phase="podPhase",
             containerStatuses=[cstatus(ready=True, restarts=3, state=RUNNING), cstatus(restarts=3)]),
         "1/2", "podPhase", "6"),
    Case("TestPrintPod[1]: container error overwrites pod phase",
         pod("test2", n=2, phase="podPhase",
             containerStatuses=[cstatus(ready=True, restarts=3, state=RUNNING),
                                cstatus(restarts=3, state={"waiting": {"reason": "ContainerWaitingReason"}})]),
         "1/2", "ContainerWaitingReason", "6"),
    Case("TestPrintPod[2]: terminated state, the first container overwrites the rest",
         pod("test3", n=2, phase="podPhase",
             containerStatuses=[cstatus(restarts=3, state={"waiting": {"reason": "ContainerWaitingReason"}}),
                                cstatus(restarts=3, state=terminated("ContainerTerminatedReason"))]),
         "0/2", "ContainerWaitingReason", "6"),
    Case("TestPrintPod[3]: ready is not enough for reporting running",
         pod("test4", n=2, phase="podPhase",
             containerStatuses=[cstatus(ready=True, restarts=3, state=RUNNING), cstatus(ready=True, restarts=3)]),
         "1/2", "podPhase", "6"),
    Case("TestPrintPod[4]: ready is not enough for reporting running (pod reason)",
         pod("test5", n=2, reason="podReason", phase="podPhase",
             containerStatuses=[cstatus(ready=True, restarts=3, state=RUNNING), cstatus(ready=True, restarts=3)]),
         "1/2", "podReason", "6"),
    Case("TestPrintPod[5]: one container running, one completed, no Ready condition",
         pod("test6", n=2, phase="Running",
             containerStatuses=[cstatus(ready=True, restarts=3, state=terminated("Completed")),
                                cstatus(ready=True, restarts=3, state=RUNNING)]),
         "1/2", "NotReady", "6"),
    Case("TestPrintPod[6]: one container running, one completed, with Ready condition",
         pod("test6", n=2, phase="Running", conditions=[READY_TRUE],
             containerStatuses=[cstatus(ready=True, restarts=3, state=terminated("Completed")),
                                cstatus(ready=True, restarts=3, state=RUNNING)]),
         "1/2", "Running", "6"),
    Case("TestPrintPod[7]: one init container restarting, one container not running",
         pod("test7", spec={"initContainers": containers(1), "containers": containers(1)}, phase="podPhase",
             initContainerStatuses=[cstatus(restarts=3, state=RUNNING, last=finished(10))],
             containerStatuses=[cstatus(state=WAITING)]),
         "0/1", "Init:0/1", "3 (10s ago)"),
    Case("TestPrintPod[8]: two init containers, one restarting, one not running",
         pod("test8", spec={"initContainers": containers(2), "containers": containers(1)}, phase="podPhase",
             initContainerStatuses=[cstatus(restarts=3, state=RUNNING, last=finished(10)), cstatus(state=WAITING)],
             containerStatuses=[cstatus(state=WAITING)]),
         "0/1", "Init:0/2", "3 (10s ago)"),
    Case("TestPrintPod[9]: two init containers, one completed without restarts, one restarting",
         pod("test9", spec={"initContainers": containers(2), "containers": containers(1)}, phase="podPhase",
             initContainerStatuses=[cstatus(state=terminated()), cstatus(restarts=3, state=RUNNING, last=finished(10))],
             containerStatuses=[cstatus(state=WAITING)]),
         "0/1", "Init:1/2", "3 (10s ago)"),
    Case("TestPrintPod[10]: two init containers, one completed with restarts, one restarting",
         pod("test10", spec={"initContainers": containers(2), "containers": containers(1)}, phase="podPhase",
             initContainerStatuses=[cstatus(restarts=2, state=terminated(), last=finished(120)),
                                    cstatus(restarts=3, state=RUNNING, last=finished(10))],
             containerStatuses=[cstatus(state=WAITING)]),
         "0/1", "Init:1/2", "5 (10s ago)"),
    Case("TestPrintPod[11]: init container completed with restarts, one container restarting",
         pod("test11", spec={"initContainers": containers(1), "containers": containers(1)}, phase="Running",
             initContainerStatuses=[cstatus(restarts=2, state=terminated(), last=finished(120))],
             containerStatuses=[cstatus(restarts=4, state=RUNNING, last=finished(20))]),
         "0/1", "Running", "4 (20s ago)"),
    Case("TestPrintPod[12]: one container that restarted 5d ago",
         pod("test12", n=1, phase="Running",
             containerStatuses=[cstatus(ready=True, restarts=3, state=RUNNING, last=finished(5 * DAY))]),
         "1/1", "Running", "3 (5d ago)"),
    Case("TestPrintPod[13]: two containers, one never restarted, one restarted 10d ago",
         pod("test13", n=2, phase="Running",
             containerStatuses=[cstatus(ready=True, state=RUNNING),
                                cstatus(ready=True, restarts=3, state=RUNNING, last=finished(10 * DAY))]),
         "2/2", "Running", "3 (10d ago)"),
    Case("TestPrintPod[14]: two containers, restarted 5d ago and 20d ago",
         pod("test14", n=2, phase="Running",
             containerStatuses=[cstatus(ready=True, restarts=6, state=RUNNING, last=finished(5 * DAY)),
                                cstatus(ready=True, restarts=3, state=RUNNING, last=finished(20 * DAY))]),
         "2/2", "Running", "9 (5d ago)"),
    Case("TestPrintPod[15]: PodScheduled condition with reason SchedulingGated",
         pod("test15", n=2, phase="podPhase",
             conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
         "0/2", "SchedulingGated", "0"),
    Case("TestPrintPod[16]: pod succeeded",
         pod("test16", n=1, phase="Succeeded", containerStatuses=[cstatus(state=terminated("Completed"))]),
         "0/1", "Completed", "0"),
    Case("TestPrintPod[17]: pod failed",
         pod("test17", n=1, phase="Failed", containerStatuses=[cstatus(state=terminated("Error", 1))]),
         "0/1", "Error", "0"),
    Case("TestPrintPod[18]: pod succeeded, being deleted",
         pod("test18", n=1, deleted=True, phase="Succeeded", containerStatuses=[cstatus(state=terminated("Completed"))]),
         "0/1", "Completed", "0"),
    Case("TestPrintPod[19]: pod running, being deleted",
         pod("test19", n=1, deleted=True, phase="Running", containerStatuses=[cstatus(state=RUNNING)]),
         "0/1", "Terminating", "0"),
    Case("TestPrintPod[20]: pod pending, being deleted",
         pod("test20", n=1, deleted=True, phase="Pending"),
         "0/1", "Terminating", "0"),
]

TEST_PRINT_POD_WITH_RESTARTABLE_INIT_CONTAINER = [
    Case("TestPrintPodWithRestartableInitContainer[0]: two sidecars, the first running but not started",
         pod("test1", spec=SIDECARS, phase="Pending",
             initContainerStatuses=[
                 cstatus(name="restartable-init-1", restarts=3, state=RUNNING, started=False, last=finished(10)),
                 cstatus(name="restartable-init-2", state=WAITING, started=False)],
             containerStatuses=[cstatus(state=WAITING)],
             conditions=[{"type": "Initialized", "status": "False"}]),
         "0/3", "Init:0/2", "3 (10s ago)"),
    Case("TestPrintPodWithRestartableInitContainer[1]: the first sidecar started, the second running but not started",
         pod("test1", spec=SIDECARS, phase="Pending",
             initContainerStatuses=[
                 cstatus(name="restartable-init-1", restarts=3, state=RUNNING, started=True, last=finished(10)),
                 cstatus(name="restartable-init-2", state=RUNNING, started=False)],
             containerStatuses=[cstatus(state=WAITING)],
             conditions=[{"type": "Initialized", "status": "False"}]),
         "0/3", "Init:1/2", "3 (10s ago)"),
    Case("TestPrintPodWithRestartableInitContainer[2]: both sidecars started, one container running",
         pod("test2", spec=SIDECARS, phase="Running",
             initContainerStatuses=[
                 cstatus(name="restartable-init-1", restarts=3, state=RUNNING, started=True, last=finished(10)),
                 cstatus(name="restartable-init-2", state=RUNNING, started=True)],
             containerStatuses=[cstatus(ready=True, restarts=4, state=RUNNING, last=finished(20))],
             conditions=[{"type": "Initialized", "status": "True"}]),
         "1/3", "Running", "7 (10s ago)"),
    Case("TestPrintPodWithRestartableInitContainer[3]: sidecars exited non-zero, the container completed",
         pod("test3", spec=SIDECARS, phase="Succeeded",
             initContainerStatuses=[
                 cstatus(name="restartable-init-1", restarts=3, state=terminated("Error", 137), started=False,
                         last=finished(10)),
                 cstatus(name="restartable-init-2", state=terminated("Error", 137), started=False)],
             containerStatuses=[cstatus(restarts=4, state=terminated("Completed"), last=finished(20))],
             conditions=[{"type": "Initialized", "status": "True"}]),
         "0/3", "Completed", "7 (10s ago)"),
    Case("TestPrintPodWithRestartableInitContainer[4]: statuses for init containers and containers the spec lacks",
         pod("test4", spec={"initContainers": [{"name": "init1", "image": "initimage"},
                                               {"name": "sidecar1", "image": "sidecarimage", "restartPolicy": "Always"}],
                            "containers": [{"name": "container1", "image": "containerimage"}]},
             phase="Running",
             initContainerStatuses=[cstatus(name="initinvalid"), cstatus(name="init1"), cstatus(name="sidecar1")],
             containerStatuses=[cstatus(name="containerinvalid"), cstatus(name="container1")]),
         "0/2", "Init:0/2", "0"),
]

_GATES = {"readinessGates": [{"conditionType": "condition1"}, {"conditionType": "condition2"},
                             {"conditionType": "condition3"}]}
_GATE_CONDITIONS = [{"type": "condition1", "status": "False"}, {"type": "condition2", "status": "True"}]

TEST_PRINT_POD_WIDE = [
    Case("TestPrintPodwide[0]: node name and pod IP set, readiness gates",
         pod("test1", spec={"containers": containers(2), "nodeName": "test1", **_GATES}, phase="podPhase",
             conditions=_GATE_CONDITIONS, podIP="1.1.1.1", podIPs=[{"ip": "1.1.1.1"}], nominatedNodeName="node1",
             containerStatuses=[cstatus(ready=True, restarts=3, state=RUNNING), cstatus(restarts=3)]),
         "1/2", "podPhase", "6", wide=("1.1.1.1", "test1", "node1", "1/3")),
    Case("TestPrintPodwide[1]: dual-stack pod IPs print the first",
         pod("test1", spec={"containers": containers(2), "nodeName": "test1", **_GATES}, phase="podPhase",
             conditions=_GATE_CONDITIONS, podIP="1.1.1.1", podIPs=[{"ip": "1.1.1.1"}, {"ip": "2001:db8::"}],
             nominatedNodeName="node1",
             containerStatuses=[cstatus(ready=True, restarts=3, state=RUNNING), cstatus(restarts=3)]),
         "1/2", "podPhase", "6", wide=("1.1.1.1", "test1", "node1", "1/3")),
    Case("TestPrintPodwide[2]: no node name, no pod IP",
         pod("test2", spec={"containers": containers(2), "nodeName": ""}, phase="podPhase",
             containerStatuses=[cstatus(ready=True, restarts=3, state=RUNNING),
                                cstatus(restarts=3, state={"waiting": {"reason": "ContainerWaitingReason"}})]),
         "1/2", "ContainerWaitingReason", "6", wide=("<none>", "<none>", "<none>", "<none>")),
]

_TWO = [cstatus(ready=True, restarts=3, state=RUNNING), cstatus(restarts=3)]

TEST_PRINT_POD_CONDITIONS = [
    Case("TestPrintPodConditions[0]: running", pod("test1", n=2, phase="Running", containerStatuses=_TWO),
         "1/2", "Running", "6"),
    Case("TestPrintPodConditions[1]: succeeded", pod("test1", n=2, phase="Succeeded", containerStatuses=_TWO),
         "1/2", "Succeeded", "6"),
    Case("TestPrintPodConditions[2]: failed", pod("test2", n=2, phase="Failed", containerStatuses=_TWO),
         "1/2", "Failed", "6"),
]

TEST_PRINT_NON_TERMINATED_POD = [
    Case("TestPrintNonTerminatedPod[0]: Running", pod("test1", n=2, phase="Running", containerStatuses=_TWO),
         "1/2", "Running", "6"),
    Case("TestPrintNonTerminatedPod[1]: Pending", pod("test2", n=2, phase="Pending", containerStatuses=_TWO),
         "1/2", "Pending", "6"),
    Case("TestPrintNonTerminatedPod[2]: Unknown", pod("test3", n=2, phase="Unknown", containerStatuses=_TWO),
         "1/2", "Unknown", "6"),
    Case("TestPrintNonTerminatedPod[3]: Succeeded", pod("test4", n=2, phase="Succeeded", containerStatuses=_TWO),
         "1/2", "Succeeded", "6"),
    Case("TestPrintNonTerminatedPod[4]: Failed",
         pod("test5", n=2, phase="Failed",
             containerStatuses=[cstatus(ready=True, restarts=3, state=RUNNING), cstatus(ready=True, restarts=3)]),
         "1/2", "Failed", "6"),
]

KUBECTL_CASES = (TEST_PRINT_POD + TEST_PRINT_POD_WITH_RESTARTABLE_INIT_CONTAINER + TEST_PRINT_POD_WIDE
                 + TEST_PRINT_POD_CONDITIONS + TEST_PRINT_NON_TERMINATED_POD)

# Branches of printPod that its tests leave out; expected cells read off the Go source, as noted on each.
SOURCE_CASES = [
    Case("printPod: deleted pod whose status.reason is NodeLost reads Unknown",
         pod("lost", n=1, deleted=True, phase="Running", reason="NodeLost",
             containerStatuses=[cstatus(ready=True, state=RUNNING)]),
         "1/1", "Unknown", "0"),
    Case("printPod: init container terminated without a reason shows its exit code",
         pod("init-exit", spec={"initContainers": containers(1), "containers": containers(1)}, phase="Pending",
             initContainerStatuses=[cstatus(restarts=1, state=terminated(exit_code=1), last=finished(30))],
             containerStatuses=[cstatus(state={"waiting": {"reason": "PodInitializing"}})]),
         "0/1", "Init:ExitCode:1", "1 (30s ago)"),
    Case("printPod: init container killed by a signal",
         pod("init-signal", spec={"initContainers": containers(1), "containers": containers(1)}, phase="Pending",
             initContainerStatuses=[cstatus(state=terminated(exit_code=137, signal=9))],
             containerStatuses=[cstatus(state=WAITING)]),
         "0/1", "Init:Signal:9", "0"),
    Case("printPod: init container in CrashLoopBackOff",
         pod("init-crash", spec={"initContainers": containers(2), "containers": containers(1)}, phase="Pending",
             initContainerStatuses=[cstatus(state=terminated()),
                                    cstatus(restarts=5, state={"waiting": {"reason": "CrashLoopBackOff"}},
                                            last=finished(90))],
             containerStatuses=[cstatus(state={"waiting": {"reason": "PodInitializing"}})]),
         "0/1", "Init:CrashLoopBackOff", "5 (90s ago)"),
    Case("printPod: an init container waiting in PodInitializing counts as progress",
         pod("init-progress", spec={"initContainers": containers(1), "containers": containers(1)}, phase="Pending",
             initContainerStatuses=[cstatus(state={"waiting": {"reason": "PodInitializing"}})],
             containerStatuses=[cstatus(state=WAITING)]),
         "0/1", "Init:0/1", "0"),
    Case("printPod: app container terminated without a reason shows its exit code",
         pod("exit", n=1, phase="Failed", containerStatuses=[cstatus(state=terminated(exit_code=2))]),
         "0/1", "ExitCode:2", "0"),
    Case("printPod: app container killed by a signal",
         pod("signal", n=1, phase="Failed", containerStatuses=[cstatus(state=terminated(exit_code=143, signal=15))]),
         "0/1", "Signal:15", "0"),
    Case("printPod: CrashLoopBackOff with restarts 3m ago (HumanDuration's 2-10 minute form)",
         pod("crash", n=1, phase="Running",
             containerStatuses=[cstatus(restarts=7, state={"waiting": {"reason": "CrashLoopBackOff"}},
                                        last=finished(3 * 60 + 5))]),
         "0/1", "CrashLoopBackOff", "7 (3m5s ago)"),
    Case("printPod: AGE from creationTimestamp (HumanDuration's hours-and-minutes form)",
         {**pod("aged", n=1, phase="Running", containerStatuses=[cstatus(ready=True, state=RUNNING)]),
          "metadata": {"name": "aged", "creationTimestamp": ago(3 * 3600 + 120)}},
         "1/1", "Running", "0", age="3h2m"),
]
