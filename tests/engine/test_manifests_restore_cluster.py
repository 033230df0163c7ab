"""Apply steps, restores and per-step triggers over several namespaces, run by the engine against the rehearsal cluster.

One rehearsal cluster serves the module; each test works on objects of its own names, so they do not meet. Changes
are driven through ``ChangeSession`` with the cluster's kubeconfig: every kubectl is the real one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from console.config import load_policy
from console.engine.session import ChangeSession, StartRequest
from console.journal import events as ev
from console.journal.store import RecordStore
from kubesim.testing import RunningCluster, running_cluster

from .conftest import events_of, pass_confirmation, runbook_doc, write_runbook

pytestmark = pytest.mark.kubectl


@pytest.fixture(scope="module")
def cluster() -> Iterator[RunningCluster]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH")
    with running_cluster("default", speed=30) as rc:
        yield rc


def kubectl(rc: RunningCluster, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["kubectl", *args], env=rc.env(), capture_output=True, text=True, timeout=30, input=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


Start = Callable[..., ChangeSession]


@pytest.fixture
def start(tmp_path: Path, records_dir: Path, cluster: RunningCluster) -> Iterator[Start]:
    opened: list[ChangeSession] = []

    def _start(doc: dict[str, Any], **params: Any) -> ChangeSession:
        path = write_runbook(tmp_path, doc)
        request = StartRequest(runbook_path=path, environment="rehearsal", context="rehearsal", operator="alice",
                               params=params, kubeconfig=str(cluster.kubeconfig))
        session = ChangeSession.start(request, store=RecordStore(records_dir), policy=load_policy())
        opened.append(session)
        return session

    yield _start
    for s in opened:
        s.release()


def configmap(name: str, data: dict[str, str], namespace: str = "web") -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                       "data": data})


def artifacts(session: ChangeSession, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in events_of(session, ev.ARTIFACT_SAVED) if e.data.get("kind") == kind]


def confirm_and_run(session: ChangeSession) -> Any:
    nxt = session.next()
    if nxt.kind == "confirm":
        pass_confirmation(session)
    assert session.next().kind == "run", session.next()
    return session.run()


def test_an_apply_step_records_its_copy_diffs_it_before_the_confirmation_and_applies_it(
        start: Start, cluster: RunningCluster) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: apply-{suffix}\ndata:\n  LEVEL: \"{level}\"\n"
    doc = runbook_doc([{"id": "put-config", "apply": {"manifest": manifest}, "namespace": "web"}],
                      params={"suffix": {"default": "one"}, "level": {"default": "debug"}})
    session = start(doc)
    (copy,) = artifacts(session, "manifest")
    text = (session.ref.path / copy["file"]["path"]).read_text()
    assert text == manifest.replace("{suffix}", "one").replace("{level}", "debug")
    item = session.next().item
    assert item is not None
    preview = session.diff(item)
    assert preview is not None and preview.changed and preview.problem is None
    assert any("+  name: apply-one" in line for line in preview.lines), preview.lines
    (diff,) = artifacts(session, "diff")
    assert diff["manifest_sha256"] == copy["file"]["sha256"] and diff["changed"] is True and diff["exit_code"] == 1
    outcome = confirm_and_run(session)
    assert outcome.passed, outcome.reason
    started = events_of(session, ev.STEP_STARTED)[-1].data
    assert started["manifest"] == copy["file"] and copy["file"]["sha256"] in started["command"]
    assert started["argv"][:3] == ["kubectl", "apply", "-f"] and started["argv"][3].endswith(copy["file"]["path"])
    assert cluster.get("configmaps", "web", "apply-one")["data"] == {"LEVEL": "debug"}


def test_an_apply_step_whose_objects_name_another_namespace_fails_saying_so(start: Start, cluster: RunningCluster) -> None:
    session = start(runbook_doc([{"id": "put-config", "apply": {"manifest": configmap("elsewhere", {"A": "1"}, "cache")}}]),
                    namespace="web")
    outcome = confirm_and_run(session)
    assert not outcome.passed and "kubectl diff failed: exit code 2" in outcome.reason, outcome.reason
    assert "namespace" in outcome.reason.split("exit code 2", 1)[1], outcome.reason
    assert cluster.get("configmaps", "cache", "elsewhere") is None


def test_an_apply_step_refuses_a_copy_that_changed_after_it_was_recorded(start: Start, cluster: RunningCluster) -> None:
    doc = runbook_doc([{"id": "put-config", "apply": {"manifest": configmap("apply-two", {"A": "1"})}}])
    session = start(doc, namespace="web")
    (copy,) = artifacts(session, "manifest")
    path = session.ref.path / copy["file"]["path"]
    path.write_text(configmap("apply-two", {"A": "2"}))
    outcome = confirm_and_run(session)
    assert not outcome.passed and "has changed since it was recorded" in outcome.reason, outcome.reason
    assert cluster.get("configmaps", "web", "apply-two") is None


def test_a_restore_puts_back_what_the_backup_captured(start: Start, cluster: RunningCluster) -> None:
    kubectl(cluster, "apply", "-f", "-", stdin=configmap("restore-me", {"MODE": "old"}))
    doc = runbook_doc(
        [{"id": "change-it", "run": ["kubectl", "patch", "configmap", "restore-me", "-n", "web", "--type", "merge",
                                     "-p", '{"data":{"MODE":"new","EXTRA":"x"}}']},
         {"id": "put-back", "restore": {"from": "backup"}}],
        preconditions=[{"id": "backup", "kind": "check", "capture": "artifact", "backup": True,
                        "run": ["kubectl", "get", "configmap", "restore-me", "-n", "web", "-o", "yaml"]}])
    session = start(doc)
    assert confirm_and_run(session).passed  # the backup
    assert confirm_and_run(session).passed  # the change
    assert cluster.get("configmaps", "web", "restore-me")["data"] == {"MODE": "new", "EXTRA": "x"}
    item = session.next().item
    assert item is not None
    preview = session.diff(item)
    assert preview is not None and preview.changed, preview
    assert '-    "EXTRA": "x",' in preview.lines and '+    "MODE": "old"' in preview.lines, preview.lines
    outcome = confirm_and_run(session)
    assert outcome.passed, outcome.reason
    assert cluster.get("configmaps", "web", "restore-me")["data"] == {"MODE": "old"}
    kept = artifacts(session, "restore-manifest")
    assert [k.get("verb") for k in kept] == [None, "replace"] and all(k["from_step"] == "backup" for k in kept)
    applied = json.loads((session.ref.path / kept[-1]["file"]["path"]).read_text())
    assert "resourceVersion" not in applied["metadata"] and "uid" not in applied["metadata"]


def test_a_restore_refuses_a_backup_with_redacted_values_and_names_them(start: Start, cluster: RunningCluster) -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    kubectl(cluster, "apply", "-f", "-", stdin=configmap("with-token", {"TOKEN": token, "PLAIN": "ok"}))
    doc = runbook_doc(
        [{"id": "put-back", "restore": {"from": "backup"}}],
        preconditions=[{"id": "backup", "kind": "check", "capture": "artifact", "backup": True,
                        "run": ["kubectl", "get", "configmap", "with-token", "-n", "web", "-o", "yaml"]}])
    session = start(doc)
    assert confirm_and_run(session).passed
    item = session.next().item
    assert item is not None
    preview = session.diff(item)
    assert preview is not None and preview.problem is not None and "data.TOKEN" in preview.problem, preview
    outcome = confirm_and_run(session)
    assert not outcome.passed
    assert "had values redacted" in outcome.reason and "ConfigMap/with-token" in outcome.reason and "data.TOKEN" in outcome.reason
    assert "PLAIN" not in outcome.reason


def test_a_restore_refuses_a_secret_and_says_so(start: Start, cluster: RunningCluster) -> None:
    doc = runbook_doc(
        [{"id": "put-back", "restore": {"from": "backup"}}],
        preconditions=[{"id": "backup", "kind": "check", "capture": "artifact", "backup": True,
                        "run": ["kubectl", "get", "secret", "web-credentials", "-n", "web", "-o", "yaml"]}])
    session = start(doc)
    assert confirm_and_run(session).passed
    outcome = confirm_and_run(session)
    assert not outcome.passed and "Secret/web-credentials" in outcome.reason and "does not restore Secrets" in outcome.reason


def test_an_observe_window_watches_every_namespace_it_names_and_records_where_a_trigger_fired(
        start: Start, cluster: RunningCluster) -> None:
    doc = runbook_doc([{
        "id": "watch-both", "kind": "observe", "duration": "2m", "namespace": "web", "namespaces": ["web", "cache"],
        "triggers": [{"pod_status": {"selector": "app=redis-bad", "reasons": ["CrashLoopBackOff"]}}],
    }])
    kubectl(cluster, "create", "deployment", "redis-bad", "--image=registry.local/redis:7-crash", "-n", "cache")
    session = start(doc)
    started_bound = session.bind(session.next().item)  # type: ignore[arg-type]
    assert started_bound.watch_namespaces == ("cache",)
    outcome = confirm_and_run(session)
    assert not outcome.passed and "in namespace cache" in outcome.reason, outcome.reason
    (fired,) = events_of(session, ev.TRIGGER_FIRED)
    assert fired.data["namespace"] == "cache" and fired.data["object"].startswith("Pod/redis-bad-"), fired.data
    assert events_of(session, ev.STEP_STARTED)[-1].data["namespaces"] == ["web", "cache"]


def test_a_resumed_change_applies_the_recorded_copy_not_the_file_as_it_is_now(
        tmp_path: Path, records_dir: Path, start: Start, cluster: RunningCluster) -> None:
    (tmp_path / "cfg.yaml").write_text(configmap("from-file", {"V": "as-started"}))
    session = start(runbook_doc([{"id": "put-config", "apply": {"manifest_file": "cfg.yaml"}}]), namespace="web")
    change_id = session.change_id
    session.release()
    (tmp_path / "cfg.yaml").write_text(configmap("from-file", {"V": "edited-later"}))
    resumed = ChangeSession.resume(change_id, store=RecordStore(records_dir), policy=load_policy(), operator="bob",
                                   kubeconfig=str(cluster.kubeconfig))
    try:
        outcome = confirm_and_run(resumed)
        assert outcome.passed, outcome.reason
    finally:
        resumed.release()
    assert cluster.get("configmaps", "web", "from-file")["data"] == {"V": "as-started"}
