"""The preflight's ``kubectl auth can-i`` question for each bound command: verb and resource read off its argv."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.engine.binding import bind
from console.engine.signed_start import _can_i_question
from console.runbook.models import Runbook

DOC = {
    "apiVersion": "opsconsole/v1", "kind": "Runbook",
    "metadata": {"id": "q", "title": "q", "component": "q", "from": "1", "to": "2", "risk": "low",
                 "environments": ["rehearsal"], "owners": ["p"]},
    "why": "w", "scope": "s", "blast_radius": "b", "done_when": ["d"],
}


def bound_for(argv: list[str]):
    runbook = Runbook.model_validate({**DOC, "steps": [{"id": "s", "title": "t", "run": argv}]})
    return bind(runbook.steps[0], "step", {"namespace": "web"}, runbook, Path("."))


@pytest.mark.parametrize(("argv", "question"), [
    (["kubectl", "rollout", "restart", "deployment/web", "-n", "web"], "patch deployment web"),
    (["kubectl", "get", "pods", "-o", "wide"], "get pods web"),
    (["kubectl", "scale", "deployment", "web", "--replicas=3"], "patch deployment web"),
    (["kubectl", "delete", "configmap/old"], "delete configmap web"),
    (["kubectl", "exec", "deploy/web", "--", "true"], "create pods/exec web"),
    (["kubectl", "drain", "node-1", "--ignore-daemonsets"], "delete nodes web"),
    (["kubectl", "-n", "web", "get", "pods"], "get pods web"),
    (["kubectl", "patch", "-n", "web", "-p", "{}", "svc/web"], "patch svc web"),
    (["kubectl", "version"], None),
    (["sh", "-c", "kubectl delete pod x"], None),
])
def test_can_i_question(argv: list[str], question: str | None) -> None:
    runbook = Runbook.model_validate({**DOC, "steps": [{"id": "s", "title": "t", "run": argv}]})
    bound = bind(runbook.steps[0], "step", {"namespace": "web"}, runbook, Path("."))
    assert _can_i_question(bound) == question


def test_an_unreachable_server_is_asked_once_not_once_per_command(tmp_path) -> None:
    """A start against a server that does not answer waits for one call, not one per kubectl command."""
    from console.engine.signed_start import preflight
    from tests.engine.conftest import write_kubeconfig  # every context on a closed port

    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig")
    steps = [bound_for(["kubectl", "delete", "pod", "web-1"]), bound_for(["kubectl", "scale", "deployment/web", "--replicas=3"])]
    found = preflight(steps, {"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert found["server"].startswith("unreachable")
    assert set(found["can_i"].values()) == {"not asked: the server did not answer"}
