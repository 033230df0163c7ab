"""Rollback triggers watched while a step waits: a rollout wait and a verification command each end as failed,
with the trigger on record, when pods crash-loop on the rehearsal cluster; a healthy rollout still completes.

Each change runs in this process through ``ChangeSession`` with the real kubectl against a fresh default-scenario
cluster. The image's tag decides what the cluster's kubelet does with it: ``crash`` starts, exits 1 and sits in
CrashLoopBackOff; ``bad`` never pulls (ErrImagePull, then ImagePullBackOff); anything else comes up Ready.
A rollout wait also says which of its workload's pods are stuck, selecting them as the workload's selector does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.cluster.rollout import rollout_status
from console.config import load_policy
from console.engine.runner import OutputLine
from console.engine.session import ChangeSession, StartRequest
from console.engine.step_context import StepOutcome
from console.journal import events as ev
from console.journal.cast import read_cast
from console.journal.journal import verify
from console.journal.store import RecordStore
from kubesim.testing import RunningCluster, running_cluster

pytestmark = pytest.mark.kubectl

KUBECTL = shutil.which("kubectl")
CRASHING = "registry.local/web:1.5.0-crash"
HEALTHY = "registry.local/web:1.5.0"

CRASH_LOOP = {"pod_status": {"selector": "app=web", "reasons": ["CrashLoopBackOff"]}}
# Every kind of trigger, none of which a healthy rollout of web sets off.
QUIET_ON_A_GOOD_ROLLOUT = [
    {"rollout_failed": "deployment/web"},
    {"pod_restarts": {"selector": "app=web", "over": 0}},
    CRASH_LOOP,
    {"node_not_ready": True},
    {"warning_events": {"pattern": "BackOff|Failed", "namespace": "web"}},
]


def runbook(steps: list[dict[str, Any]], triggers: list[dict[str, Any]], verification: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "opsconsole/v1", "kind": "Runbook",
        "metadata": {"id": "web-triggers", "title": "Web with rollback triggers", "component": "web", "from": "1.4.2",
                     "to": "1.5.0", "risk": "low", "environments": ["rehearsal"], "owners": ["platform"]},
        "why": "Rehearse rollback triggers while steps wait.", "scope": "web", "blast_radius": "web",
        "params": {"image": {"type": "string"}} if "{image}" in json.dumps(steps) else {},
        "steps": steps,
        "rollback": {"triggers": triggers, "steps": [
            {"id": "undo", "title": "Undo", "run": ["kubectl", "rollout", "undo", "deployment/web", "-n", "web"], "confirm": "none"}]},
        "verification": verification or [],
        "done_when": ["web runs the new image"],
    }


SET_IMAGE = {"id": "set-image", "title": "Set the image", "run": ["kubectl", "set", "image", "deployment/web", "web={image}", "-n", "web"],
             "confirm": "none", "rollback": ["undo"]}
WAIT = {"id": "wait", "title": "Wait for the rollout", "kind": "rollout", "target": "deployment/web", "namespace": "web", "timeout": "10m"}


@pytest.fixture
def cluster() -> Iterator[RunningCluster]:
    if KUBECTL is None:
        pytest.skip("kubectl not on PATH")
    with running_cluster("default", speed=20.0) as rc:
        yield rc


@pytest.fixture
def start(tmp_path: Path, cluster: RunningCluster) -> Iterator:
    opened: list[ChangeSession] = []

    def _start(doc: dict[str, Any], image: str | None = None) -> ChangeSession:
        path = tmp_path / "runbook.yaml"
        path.write_text(json.dumps(doc), encoding="utf-8")
        request = StartRequest(runbook_path=path, environment="rehearsal", context="rehearsal", operator="alice",
                               params={"image": image} if image else {}, kubeconfig=str(cluster.kubeconfig))
        session = ChangeSession.start(request, store=RecordStore(tmp_path / "records"), policy=load_policy())
        opened.append(session)
        return session

    yield _start
    for s in opened:
        s.release()


def run_until(session: ChangeSession, step_id: str) -> StepOutcome:
    """Confirm and run steps in order until ``step_id`` has run; returns its outcome."""
    while True:
        nxt = session.next()
        if nxt.kind == "confirm":
            assert session.confirm("yes")
            continue
        assert nxt.kind == "run", f"the change stopped at {nxt.kind} ({nxt.reason}) before {step_id} ran"
        outcome = session.run()
        if nxt.item.step_id == step_id:
            return outcome
        assert outcome.passed, f"{nxt.item.step_id} failed: {outcome.reason}"


def finished(session: ChangeSession, step_id: str) -> dict[str, Any]:
    return next(e.data for e in session.events if e.type == ev.STEP_FINISHED and e.data["step_id"] == step_id)


def output_text(session: ChangeSession, step_id: str) -> str:
    _header, events = read_cast(session.ref.path / finished(session, step_id)["file"]["path"])
    return "".join(text for _t, _code, text in events)


def test_a_rollout_wait_ends_when_its_new_pods_crash_loop(start, cluster: RunningCluster) -> None:
    session = start(runbook([SET_IMAGE, WAIT], [CRASH_LOOP]), CRASHING)
    outcome = run_until(session, "wait")

    assert not outcome.passed
    assert outcome.reason.startswith("rollback trigger pod_status fired: Pod/web-"), outcome.reason
    done = finished(session, "wait")
    assert done["status"] == "failed" and done["trigger"]["trigger"] == "pod_status"
    (fired,) = [e.data for e in session.events if e.type == ev.TRIGGER_FIRED]
    assert fired == done["trigger"]
    assert fired["object"].startswith("Pod/web-") and "CrashLoopBackOff" in fired["message"]
    # The step ended on the trigger, not on kubectl's verdict: the rollout had not completed (nor can it).
    assert rollout_status(cluster.get("deployments", "web", "web")).state != "complete"
    text = output_text(session, "wait")
    assert "rollback trigger pod_status fired" in text and "successfully rolled out" not in text
    assert session.next().kind == "failure" and "rollback" in session.next().options
    assert verify(session.ref.path / "journal.jsonl").ok


def test_a_verification_command_is_stopped_when_a_trigger_fires(start, cluster: RunningCluster, tmp_path: Path) -> None:
    # The check blocks until the Deployment is deleted, which never happens here: only the trigger can end it.
    blocking = {"id": "blocks", "title": "Wait on the deployment", "kind": "check", "namespace": "web",
                "run": ["sh", "-c", "echo waiting; exec kubectl wait --for=delete deployment/web -n web --timeout=10m"]}
    look = {"id": "look", "title": "Look at web", "run": ["kubectl", "get", "deployment/web", "-n", "web"], "confirm": "none"}
    session = start(runbook([look], [CRASH_LOOP], verification=[blocking]))
    run_until(session, "look")
    assert session.next().item.step_id == "blocks"

    waiting = threading.Event()
    outcome: dict[str, StepOutcome] = {}

    def listen(line: OutputLine) -> None:
        if line.text == "waiting":
            waiting.set()

    worker = threading.Thread(target=lambda: outcome.setdefault("o", session.run(listeners=[listen])), daemon=True)
    worker.start()
    try:
        assert waiting.wait(30), "the check never started"
        # Only now do web's pods start to crash-loop, while the check runs.
        subprocess.run([KUBECTL, "set", "image", "deployment/web", f"web={CRASHING}", "-n", "web"], env=cluster.env(),
                       check=True, capture_output=True, timeout=30)
        worker.join(60)
        assert not worker.is_alive(), "the check was not stopped when the trigger fired"
    finally:
        if worker.is_alive():
            session.cancel()
            worker.join(30)

    o = outcome["o"]
    assert not o.passed and o.reason.startswith("rollback trigger pod_status fired: Pod/web-"), o.reason
    done = finished(session, "blocks")
    assert done["status"] == "failed" and done["trigger"]["trigger"] == "pod_status"
    assert done["exit_code"] != 0
    (fired,) = [e.data for e in session.events if e.type == ev.TRIGGER_FIRED]
    assert fired == done["trigger"] and "CrashLoopBackOff" in fired["message"]
    assert cluster.get("deployments", "web", "web") is not None  # the command had nothing to end it but the trigger
    assert "rollback trigger pod_status fired" in output_text(session, "blocks")
    assert session.next().kind == "failure"


def test_a_healthy_rollout_completes_with_every_trigger_watched(start, cluster: RunningCluster) -> None:
    check = {"id": "rolled-out", "title": "The rollout is complete", "kind": "check", "namespace": "web",
             "run": ["kubectl", "rollout", "status", "deployment/web", "-n", "web", "--timeout=60s"]}
    session = start(runbook([SET_IMAGE, WAIT], QUIET_ON_A_GOOD_ROLLOUT, verification=[check]), HEALTHY)
    outcome = run_until(session, "wait")
    assert outcome.passed, outcome.reason
    assert "successfully rolled out" in outcome.reason
    outcome = run_until(session, "rolled-out")
    assert outcome.passed, outcome.reason
    assert "watching rollback triggers in namespace web: rollout_failed, pod_restarts" in output_text(session, "rolled-out")
    assert not [e for e in session.events if e.type == ev.TRIGGER_FIRED]
    assert session.next().kind == "close"


def test_a_warning_events_trigger_watches_the_namespace_it_names(start, cluster: RunningCluster) -> None:
    # The window watches web; the trigger names data, where postgres's new image cannot be pulled.
    break_db = {"id": "break-db", "title": "Set a database image that does not exist", "confirm": "none",
                "run": ["kubectl", "set", "image", "statefulset/postgres", "postgres=registry.local/postgres:16.4-bad", "-n", "data"]}
    # ten declared minutes: half a minute of real time at the rehearsal clock's 20x
    window = {"id": "watch", "title": "Watch", "kind": "observe", "namespace": "web", "duration": "10m"}
    trigger = {"warning_events": {"pattern": "ErrImagePull|ImagePullBackOff", "namespace": "data"}}
    session = start(runbook([break_db, window], [trigger]))
    outcome = run_until(session, "watch")
    assert not outcome.passed and outcome.reason.startswith("rollback trigger warning_events fired: Pod/postgres-"), outcome.reason
    (fired,) = [e.data for e in session.events if e.type == ev.TRIGGER_FIRED]
    assert fired["trigger"] == "warning_events" and fired["object"].startswith("Pod/postgres-")
    assert "ErrImagePull" in fired["message"] or "ImagePullBackOff" in fired["message"]
    assert "watch events in data: live" not in output_text(session, "watch")  # a healthy watch is not reported


# A Deployment that selects its pods with matchExpressions only (no matchLabels), whose image never pulls.
API_BY_EXPRESSIONS = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "web"},
    "spec": {
        "replicas": 1, "progressDeadlineSeconds": 3600,
        "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]},
                                          {"key": "canary", "operator": "DoesNotExist"}]},
        "template": {"metadata": {"labels": {"app": "api"}},
                     "spec": {"containers": [{"name": "api", "image": "registry.local/api:2.0-bad"}]}},
    },
}


def test_a_rollout_wait_reports_pods_its_workload_selects_by_expressions(start, cluster: RunningCluster, tmp_path: Path) -> None:
    manifest = tmp_path / "api.json"
    manifest.write_text(json.dumps(API_BY_EXPRESSIONS), encoding="utf-8")
    apply = {"id": "apply", "title": "Create api", "run": ["kubectl", "apply", "-f", str(manifest)], "confirm": "none"}
    wait = {"id": "wait", "title": "Wait for api", "kind": "rollout", "target": "deployment/api", "namespace": "web",
            "timeout": "10m"}
    session = start(runbook([apply, wait], []))
    run_until(session, "apply")
    assert session.next().item.step_id == "wait"

    stuck = threading.Event()
    outcome: dict[str, StepOutcome] = {}

    def listen(line: OutputLine) -> None:
        if line.text.startswith("pod api-") and ("ErrImagePull" in line.text or "ImagePullBackOff" in line.text):
            stuck.set()

    worker = threading.Thread(target=lambda: outcome.setdefault("o", session.run(listeners=[listen])), daemon=True)
    worker.start()
    try:
        seen = stuck.wait(60)
        # Whatever was seen, end the wait the cluster's way: its clock passes the progress deadline.
        cluster.advance(4000)
        worker.join(60)
        assert not worker.is_alive(), "the rollout wait did not end at the progress deadline"
    finally:
        if worker.is_alive():
            session.cancel()
            worker.join(30)

    assert seen, "the wait never said that api's pod cannot pull its image:\n" + output_text(session, "wait")
    o = outcome["o"]
    assert not o.passed and "exceeded its progress deadline" in o.reason, o.reason
