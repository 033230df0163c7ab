"""Table tests for kubectl's rollout logic: every branch of every viewer, plus pod warnings."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from console.cluster.rollout import (
    PodWarning,
    UnsupportedKindError,
    daemonset_status,
    deployment_status,
    go_quote,
    pod_warnings,
    rollout_status,
    statefulset_status,
)

FIXTURES = Path(__file__).parent / "fixtures"
WORKLOADS = json.loads((FIXTURES / "workloads.json").read_text())


def deploy(*, generation: int = 2, observed: int = 2, replicas: int | None = 3, status: dict[str, Any] | None = None,
           conditions: list[dict[str, Any]] | None = None, revision: str | None = "4",
           name: str = "web") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "web", "generation": generation}
    if revision is not None:
        meta["annotations"] = {"deployment.kubernetes.io/revision": revision}
    spec: dict[str, Any] = {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    st = {"observedGeneration": observed, **(status or {})}
    if conditions is not None:
        st["conditions"] = conditions
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec, "status": st}


DONE = {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}
DEADLINE = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]


@pytest.mark.parametrize(
    ("obj", "revision", "state", "message"),
    [
        pytest.param(deploy(status=DONE), 5, "undecidable",
                     "desired revision (5) is different from the running revision (4)", id="revision-mismatch"),
        pytest.param(deploy(status=DONE, revision=None), 1, "undecidable",
                     "desired revision (1) is different from the running revision (0)", id="revision-missing-is-0"),
        pytest.param(deploy(status=DONE, revision="x1"), 1, "undecidable",
                     'cannot get the revision of deployment "web": strconv.ParseInt: parsing "x1": invalid syntax',
                     id="revision-unparseable"),
        pytest.param(deploy(status=DONE), 4, "complete", 'deployment "web" successfully rolled out',
                     id="revision-matches"),
        pytest.param(deploy(status=DONE, conditions=DEADLINE), 0, "failed",
                     'deployment "web" exceeded its progress deadline', id="progress-deadline"),
        pytest.param(deploy(status={"replicas": 4, "updatedReplicas": 1, "availableReplicas": 3}), 0, "progressing",
                     'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
                     id="updating"),
        pytest.param(deploy(status={"replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}), 0, "progressing",
                     'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
                     id="old-pending-termination"),
        pytest.param(deploy(status={"replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}), 0, "progressing",
                     'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...',
                     id="waiting-available"),
        pytest.param(deploy(status=DONE), 0, "complete", 'deployment "web" successfully rolled out', id="complete"),
        pytest.param(deploy(generation=3, observed=2, status=DONE), 0, "progressing",
                     "Waiting for deployment spec update to be observed...", id="generation-not-observed"),
        pytest.param(deploy(generation=3, observed=2, status=DONE, conditions=DEADLINE), 0, "progressing",
                     "Waiting for deployment spec update to be observed...", id="deadline-ignored-until-observed"),
        pytest.param(deploy(replicas=None, status={"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}), 0,
                     "complete", 'deployment "web" successfully rolled out', id="nil-replicas-skips-check"),
        pytest.param(deploy(replicas=0, status={}), 0, "complete", 'deployment "web" successfully rolled out',
                     id="scaled-to-zero-missing-numbers-are-0"),
        pytest.param(deploy(status=DONE, conditions=[{"type": "Available", "reason": "ProgressDeadlineExceeded"},
                                                      {"type": "Progressing", "reason": "NewReplicaSetAvailable"}]),
                     0, "complete", 'deployment "web" successfully rolled out', id="only-progressing-condition-counts"),
        pytest.param(deploy(status=DONE, name='we"b'), 0, "complete", 'deployment "we\\"b" successfully rolled out',
                     id="go-quoting"),
    ],
)
def test_deployment_branches(obj: dict, revision: int, state: str, message: str) -> None:
    rs = deployment_status(obj, revision)
    assert (rs.state, rs.message) == (state, message)
    assert rs.kind == "Deployment" and rs.name == obj["metadata"]["name"] and rs.namespace == "web"
    assert rs.progress == 1.0 if state == "complete" else rs.progress < 1.0
    assert rs.done == (state != "progressing")


def sts(*, strategy: dict[str, Any] | None = None, generation: int = 2, observed: int = 2, replicas: int | None = 3,
        status: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"updateStrategy": strategy if strategy is not None else {"type": "RollingUpdate"},
                            "template": {"spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "web", "generation": generation},
            "spec": spec, "status": {"observedGeneration": observed, **(status or {})}}


READY3 = {"readyReplicas": 3, "updatedReplicas": 3, "currentReplicas": 3, "currentRevision": "db-1",
          "updateRevision": "db-1"}


@pytest.mark.parametrize(
    ("obj", "state", "message"),
    [
        pytest.param(sts(strategy={"type": "OnDelete"}, status=READY3), "undecidable",
                     "rollout status is only available for RollingUpdate strategy type", id="on-delete"),
        pytest.param(sts(strategy={}, status=READY3), "undecidable",
                     "rollout status is only available for RollingUpdate strategy type", id="no-strategy"),
        pytest.param(sts(observed=0, generation=0, status=READY3), "progressing",
                     "Waiting for statefulset spec update to be observed...", id="never-observed"),
        pytest.param(sts(generation=3, observed=2, status=READY3), "progressing",
                     "Waiting for statefulset spec update to be observed...", id="generation-ahead"),
        pytest.param(sts(status={**READY3, "readyReplicas": 1}), "progressing", "Waiting for 2 pods to be ready...",
                     id="waiting-ready"),
        pytest.param(sts(strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
                         status={**READY3, "updatedReplicas": 1}), "progressing",
                     "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...",
                     id="partition-waiting"),
        pytest.param(sts(strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
                         status={**READY3, "updatedReplicas": 2}), "complete",
                     "partitioned roll out complete: 2 new pods have been updated...", id="partition-done"),
        pytest.param(sts(strategy={"type": "RollingUpdate", "rollingUpdate": {}},
                         status={**READY3, "updatedReplicas": 1, "updateRevision": "db-2"}), "complete",
                     "partitioned roll out complete: 1 new pods have been updated...",
                     id="rolling-update-without-partition-returns-complete"),
        pytest.param(sts(status={**READY3, "updatedReplicas": 1, "updateRevision": "db-2"}), "progressing",
                     "waiting for statefulset rolling update to complete 1 pods at revision db-2...",
                     id="revision-differs"),
        pytest.param(sts(status=READY3), "complete", "statefulset rolling update complete 3 pods at revision db-1...",
                     id="revisions-equal"),
        pytest.param(sts(replicas=None, status={"currentRevision": "r", "updateRevision": "r"}), "complete",
                     "statefulset rolling update complete 0 pods at revision r...", id="nil-replicas"),
    ],
)
def test_statefulset_branches(obj: dict, state: str, message: str) -> None:
    rs = statefulset_status(obj)
    assert (rs.state, rs.message, rs.kind) == (state, message, "StatefulSet")
    assert rs.progress == 1.0 if state == "complete" else rs.progress < 1.0


def ds(*, strategy: str | None = "RollingUpdate", generation: int = 2, observed: int = 2,
       status: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": {"spec": {"containers": [{"name": "agent", "image": "agent:3"}]}}}
    if strategy is not None:
        spec["updateStrategy"] = {"type": strategy}
    return {"kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "ops", "generation": generation},
            "spec": spec, "status": {"observedGeneration": observed, **(status or {})}}


DS_DONE = {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3, "numberReady": 3}


@pytest.mark.parametrize(
    ("obj", "state", "message"),
    [
        pytest.param(ds(strategy="OnDelete", status=DS_DONE), "undecidable",
                     "rollout status is only available for RollingUpdate strategy type", id="on-delete"),
        pytest.param(ds(strategy=None, status=DS_DONE), "undecidable",
                     "rollout status is only available for RollingUpdate strategy type", id="no-strategy"),
        pytest.param(ds(status={**DS_DONE, "updatedNumberScheduled": 1}), "progressing",
                     'Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...',
                     id="updating"),
        pytest.param(ds(status={**DS_DONE, "numberAvailable": 2}), "progressing",
                     'Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...',
                     id="available"),
        pytest.param(ds(status=DS_DONE), "complete", 'daemon set "agent" successfully rolled out', id="complete"),
        pytest.param(ds(generation=3, status=DS_DONE), "progressing",
                     "Waiting for daemon set spec update to be observed...", id="not-observed"),
    ],
)
def test_daemonset_branches(obj: dict, state: str, message: str) -> None:
    rs = daemonset_status(obj)
    assert (rs.state, rs.message, rs.kind, rs.namespace) == (state, message, "DaemonSet", "ops")


def test_numbers_revision_and_images_from_fixtures() -> None:
    rs = rollout_status(WORKLOADS["deployment_progressing"])
    assert (rs.desired, rs.updated, rs.ready, rs.available, rs.revision) == (3, 1, 3, 3, "7")
    assert rs.images == ("registry.example/web:1.5.0", "registry.example/proxy:2.1")
    # Half the replicas updated-and-available is a third of the way in both measures.
    assert rs.progress == pytest.approx(1 / 3, abs=1e-3)
    failed = rollout_status(WORKLOADS["deployment_deadline"])
    assert (failed.state, failed.revision) == ("failed", "8")
    done = rollout_status(WORKLOADS["deployment_complete"])
    assert (done.state, done.progress) == ("complete", 1.0)
    s = rollout_status(WORKLOADS["statefulset_rolling"])
    # Partition 0 is set, so kubectl waits for all three pods to be updated.
    assert (s.state, s.revision, s.images) == ("progressing", "db-7c9d", ("postgres:16.4",))
    assert s.message == "Waiting for partitioned roll out to finish: 1 out of 3 new pods have been updated..."
    assert rollout_status(WORKLOADS["statefulset_ondelete"]).state == "undecidable"
    d = rollout_status(WORKLOADS["daemonset_complete"])
    assert (d.state, d.desired, d.revision) == ("complete", 3, None)


def test_progress_never_reaches_one_before_complete() -> None:
    obj = deploy(status={"replicas": 4, "updatedReplicas": 3, "availableReplicas": 3})
    rs = deployment_status(obj)
    assert rs.state == "progressing" and rs.progress == 0.99


def test_rollout_status_dispatch_and_revision_passthrough() -> None:
    assert rollout_status(deploy(status=DONE), revision=9).state == "undecidable"
    assert rollout_status(sts(status=READY3)).kind == "StatefulSet"
    assert rollout_status(ds(status=DS_DONE)).kind == "DaemonSet"
    with pytest.raises(UnsupportedKindError, match="no status viewer has been implemented for Pod$"):
        rollout_status({"kind": "Pod", "apiVersion": "v1"})


def test_status_is_immutable() -> None:
    rs = rollout_status(copy.deepcopy(WORKLOADS["deployment_complete"]))
    with pytest.raises(AttributeError):
        rs.state = "failed"  # type: ignore[misc]


def test_go_quote() -> None:
    assert go_quote("web") == '"web"'
    assert go_quote('a"b\\c') == '"a\\"b\\\\c"'


# --- pod warnings --------------------------------------------------------------------------------

def _pod(name: str, *, conditions: list | None = None, statuses: list | None = None,
         init: list | None = None) -> dict:
    st: dict[str, Any] = {"phase": "Pending"}
    if conditions is not None:
        st["conditions"] = conditions
    if statuses is not None:
        st["containerStatuses"] = statuses
    if init is not None:
        st["initContainerStatuses"] = init
    return {"metadata": {"name": name, "namespace": "web"}, "status": st}


def _waiting(reason: str, message: str = "", name: str = "app") -> dict:
    return {"name": name, "state": {"waiting": {"reason": reason, "message": message}}}


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        pytest.param(_pod("p1", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                             "message": "0/3 nodes are available"}]),
                     [PodWarning("web", "p1", "Unschedulable", "0/3 nodes are available")], id="unschedulable"),
        pytest.param(_pod("p2", conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
                     [], id="gated-is-not-a-warning"),
        pytest.param(_pod("p3", conditions=[{"type": "PodScheduled", "status": "True"}]), [], id="scheduled"),
        pytest.param(_pod("p4", statuses=[_waiting("ImagePullBackOff", "Back-off pulling image")]),
                     [PodWarning("web", "p4", "ImagePullBackOff", "Back-off pulling image", "app")], id="image-pull"),
        pytest.param(_pod("p5", statuses=[_waiting("ErrImagePull", "not found")]),
                     [PodWarning("web", "p5", "ErrImagePull", "not found", "app")], id="err-image-pull"),
        pytest.param(_pod("p6", statuses=[_waiting("CrashLoopBackOff", "back-off 10s")]),
                     [PodWarning("web", "p6", "CrashLoopBackOff", "back-off 10s", "app")], id="crashloop"),
        pytest.param(_pod("p7", statuses=[_waiting("CreateContainerConfigError", 'secret "x" not found')]),
                     [PodWarning("web", "p7", "CreateContainerConfigError", 'secret "x" not found', "app")],
                     id="config-error"),
        pytest.param(_pod("p8", init=[_waiting("CrashLoopBackOff", "", "migrate")]),
                     [PodWarning("web", "p8", "CrashLoopBackOff", "", "migrate")], id="init-container"),
        pytest.param(_pod("p9", statuses=[_waiting("ContainerCreating")]), [], id="creating-is-fine"),
        pytest.param(_pod("p10", statuses=[{"name": "app", "state": {"running": {}}}]), [], id="running"),
        pytest.param({}, [], id="empty-object"),
    ],
)
def test_pod_warnings(pod: dict, expected: list[PodWarning]) -> None:
    assert pod_warnings([pod]) == expected


def test_pod_warning_object_name() -> None:
    assert PodWarning("web", "p1", "Unschedulable", "").object == "Pod/p1"
