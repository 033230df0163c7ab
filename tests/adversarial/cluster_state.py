"""The state each adversarial runbook must leave the rehearsal cluster in, for each outcome a change can close with.

Each check reads the rehearsal cluster's store (not through the console) and returns what differs from the state the
outcome implies; an empty list is a match. ``settled`` polls a check with a deadline, because status written by the
cluster's controllers can trail the last command by a tick.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.cluster.rollout import rollout_status
from kubesim.testing import RunningCluster, WaitTimeout

Check = Callable[[RunningCluster, str, dict[str, Any]], list[str]]
WEB_IMAGE = "registry.local/web:{}"


def _deployment(rc: RunningCluster, ns: str, name: str) -> dict[str, Any] | None:
    obj = rc.get("deployments", ns, name)
    return None if obj is None else {"kind": "Deployment", **obj}


def _image(d: dict[str, Any]) -> str:
    return d["spec"]["template"]["spec"]["containers"][0]["image"]


def _rolled_out(d: dict[str, Any] | None, what: str, *, image: str | None = None, replicas: int | None = None) -> list[str]:
    if d is None:
        return [f"{what} does not exist"]
    problems = []
    status = rollout_status(d)
    if status.state != "complete":
        problems.append(f"{what}: {status.message}")
    if image is not None and _image(d) != image:
        problems.append(f"{what} runs {_image(d)}, not {image}")
    if replicas is not None and d["spec"].get("replicas") != replicas:
        problems.append(f"{what} has {d['spec'].get('replicas')} replicas, not {replicas}")
    return problems


def _absent(rc: RunningCluster, resource: str, ns: str, name: str) -> list[str]:
    return [] if rc.get(resource, ns, name) is None else [f"{resource} {ns}/{name} still exists"]


def snapshot(rc: RunningCluster) -> dict[str, Any]:
    """What the checks compare with: web-config's data and web's Deployment before the change."""
    return {
        "web-config": dict(rc.get("configmaps", "web", "web-config")["data"]),
        "web-generation": rc.get("deployments", "web", "web")["metadata"]["generation"],
    }


def layered(rc: RunningCluster, outcome: str, before: dict[str, Any]) -> list[str]:
    data = rc.get("configmaps", "web", "web-config")["data"]
    web = _deployment(rc, "web", "web")
    if outcome == "success":
        problems = _rolled_out(web, "web", image=WEB_IMAGE.format("1.5.0"), replicas=3)
        problems += _rolled_out(_deployment(rc, "cache", "session-cache"), "session-cache", replicas=1)
        if rc.get("services", "cache", "session-cache") is None:
            problems.append("service cache/session-cache does not exist")
        if data.get("CACHE_URL") != "redis://session-cache.cache.svc:6379":
            problems.append(f"web-config CACHE_URL is {data.get('CACHE_URL')!r}")
        return problems
    if outcome == "rolled_back":
        problems = _rolled_out(web, "web", image=WEB_IMAGE.format("1.4.2"), replicas=3)
        problems += _absent(rc, "deployments", "cache", "session-cache") + _absent(rc, "services", "cache", "session-cache")
        if data != before["web-config"]:
            problems.append(f"web-config is {data}, not {before['web-config']}")
        return problems
    return [f"outcome {outcome} is not one this runbook closes with"]


def gated(rc: RunningCluster, outcome: str, before: dict[str, Any]) -> list[str]:
    web = _deployment(rc, "web", "web")
    if outcome == "success":
        return _rolled_out(web, "web", image=WEB_IMAGE.format("1.5.0"), replicas=3)
    if outcome in ("aborted", "rolled_back"):
        problems = _rolled_out(web, "web", image=WEB_IMAGE.format("1.4.2"), replicas=3)
        if outcome == "aborted" and web is not None and web["metadata"]["generation"] != before["web-generation"]:
            problems.append(f"web changed (generation {before['web-generation']} -> {web['metadata']['generation']})")
        return problems
    return [f"outcome {outcome} is not one this runbook closes with"]


def workers(rc: RunningCluster, outcome: str, before: dict[str, Any]) -> list[str]:
    data = rc.get("configmaps", "web", "web-config")["data"]
    web = _deployment(rc, "web", "web")
    problems = _rolled_out(web, "web", image=WEB_IMAGE.format("1.4.2"), replicas=3)
    restarted = (web or {}).get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
    if "kubectl.kubernetes.io/restartedAt" not in restarted:
        problems.append("web was never restarted")
    if outcome == "success":
        want = {**before["web-config"], "WORKERS": "8", "WORKER_TIMEOUT": "30s"}
    elif outcome == "rolled_back":
        want = before["web-config"]
    else:
        return [f"outcome {outcome} is not one this runbook closes with"]
    if data != want:
        problems.append(f"web-config is {data}, not {want}")
    return problems


def emergency(rc: RunningCluster, outcome: str, before: dict[str, Any]) -> list[str]:
    web = _deployment(rc, "web", "web")
    if outcome == "success":
        problems = _rolled_out(web, "web", image=WEB_IMAGE.format("1.4.2"), replicas=6)
        pdb = rc.get("poddisruptionbudgets", "web", "web-emergency")
        if pdb is None or pdb["spec"].get("minAvailable") != 4:
            problems.append(f"the disruption budget is {pdb and pdb['spec']}")
        return problems
    if outcome == "rolled_back":
        return _rolled_out(web, "web", replicas=3) + _absent(rc, "poddisruptionbudgets", "web", "web-emergency")
    return [f"outcome {outcome} is not one this runbook closes with"]


def canary(rc: RunningCluster, outcome: str, before: dict[str, Any]) -> list[str]:
    web = _deployment(rc, "web", "web")
    if outcome == "success":
        problems = _rolled_out(web, "web", image=WEB_IMAGE.format("1.4.2"), replicas=0)
        return problems + _rolled_out(_deployment(rc, "web", "web-canary"), "web-canary",
                                      image=WEB_IMAGE.format("1.5.0"), replicas=3)
    if outcome == "rolled_back":
        return _rolled_out(web, "web", image=WEB_IMAGE.format("1.4.2"), replicas=3) + _absent(rc, "deployments", "web", "web-canary")
    return [f"outcome {outcome} is not one this runbook closes with"]


CHECKS: dict[str, Check] = {
    "layered-cache-dependency": layered,
    "gated-web-release": gated,
    "web-workers-config": workers,
    "emergency-web-capacity": emergency,
    "web-canary-stages": canary,
}


def settled(rc: RunningCluster, runbook_id: str, outcome: str, before: dict[str, Any], timeout: float = 15.0) -> list[str]:
    """The differences from the expected state once the cluster has had ``timeout`` seconds to settle (none: a match)."""
    check = CHECKS[runbook_id]
    try:
        rc.wait_for(lambda: not check(rc, outcome, before), timeout=timeout, what=f"{runbook_id} {outcome} state")
    except WaitTimeout:
        return check(rc, outcome, before)
    return []
