"""kubectl's rollout logic, pure: is a Deployment, StatefulSet or DaemonSet rolled out, and if not, why.

Each check follows kubectl's ``pkg/polymorphichelpers/rollout_status.go`` branch for branch and keeps
its wording, so what the console says matches what ``kubectl rollout status`` prints. kubectl returns
``(message, done, error)``; here that becomes a ``RolloutStatus`` whose ``state`` is one of

* ``"progressing"``: kubectl would keep waiting (message is its "Waiting for ..." line);
* ``"complete"``: kubectl would print its success line and exit 0;
* ``"failed"``: the Deployment's Progressing condition says ``ProgressDeadlineExceeded``;
* ``"undecidable"``: kubectl would stop with an error that says nothing about success: an ``OnDelete``
  StatefulSet or DaemonSet (kubectl returns done *and* an error), or a Deployment whose revision is not
  the one asked for. Never reported as complete.

Objects are plain dicts as the API server returns them in JSON (camelCase keys); a missing number
counts as 0, as it does after kubectl's conversion to typed structs. ``pod_warnings`` picks out the pod
problems an operator must see during a rollout (unschedulable, image pulls, crash loops, bad config).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from console.errors import OpsConsoleError

__all__ = [
    "POD_WARNING_REASONS",
    "REVISION_ANNOTATION",
    "TIMED_OUT_REASON",
    "PodWarning",
    "RolloutStatus",
    "UnsupportedKindError",
    "daemonset_status",
    "deployment_status",
    "go_quote",
    "pod_warnings",
    "rollout_status",
    "statefulset_status",
]

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"  # deploymentutil.TimedOutReason
ROLLING_UPDATE = "RollingUpdate"

# Container waiting reasons that mean the pod will not come up by itself.
POD_WARNING_REASONS = ("ImagePullBackOff", "ErrImagePull", "CrashLoopBackOff", "CreateContainerConfigError")


class UnsupportedKindError(OpsConsoleError, ValueError):
    """The object is not a kind kubectl can report rollout status for."""


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    """Where one workload's rollout stands, in kubectl's words, with the numbers for a progress bar."""

    kind: str
    namespace: str
    name: str
    state: str  # "progressing" | "complete" | "failed" | "undecidable"
    message: str
    desired: int
    updated: int
    ready: int
    available: int
    revision: str | None
    images: tuple[str, ...]
    progress: float  # 0.0 .. 1.0; 1.0 only when complete

    @property
    def done(self) -> bool:
        """True when kubectl would stop waiting (complete, failed or undecidable)."""
        return self.state != "progressing"


@dataclass(frozen=True, slots=True)
class PodWarning:
    """A pod problem worth a warning line: which pod, which reason, and the kubelet's or scheduler's words."""

    namespace: str
    pod: str
    reason: str
    message: str
    container: str | None = None

    @property
    def object(self) -> str:
        return f"Pod/{self.pod}"


def go_quote(s: str) -> str:
    """Go's ``%q`` for the names kubectl quotes (backslash and double quote escaped)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _images(obj: Mapping[str, Any]) -> tuple[str, ...]:
    containers = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return tuple(c.get("image", "") for c in containers)


def _fraction(*parts: tuple[int, int]) -> float:
    """The mean of the given done/total fractions, each clamped to 0..1 (an empty total counts as done)."""
    vals = [1.0 if total <= 0 else min(max(done / total, 0.0), 1.0) for done, total in parts]
    return sum(vals) / len(vals)


def _progress(state: str, value: float) -> float:
    if state == "complete":
        return 1.0
    # A bar at 100% that is not done reads as a hang; keep it visibly short of full.
    return round(min(value, 0.99), 4)


def _status(obj: Mapping[str, Any], kind: str, state: str, message: str, *, desired: int, updated: int,
            ready: int, available: int, revision: str | None, progress: float) -> RolloutStatus:
    meta = _meta(obj)
    return RolloutStatus(
        kind=kind,
        namespace=meta.get("namespace", "") or "",
        name=meta.get("name", "") or "",
        state=state,
        message=message,
        desired=desired,
        updated=updated,
        ready=ready,
        available=available,
        revision=revision,
        images=_images(obj),
        progress=_progress(state, progress),
    )


def deployment_status(obj: Mapping[str, Any], revision: int = 0) -> RolloutStatus:
    """kubectl's DeploymentStatusViewer.Status; ``revision`` > 0 demands that revision be the running one."""
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    name = meta.get("name", "") or ""
    q = go_quote(name)
    spec_replicas = spec.get("replicas")
    has_replicas = isinstance(spec_replicas, int) and not isinstance(spec_replicas, bool)
    replicas = _int(spec_replicas) if has_replicas else 0
    updated = _int(status.get("updatedReplicas"))
    current = _int(status.get("replicas"))
    available = _int(status.get("availableReplicas"))
    ready = _int(status.get("readyReplicas"))
    rev_text = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
    desired = replicas if has_replicas else current
    bar = _fraction((updated, desired), (min(available, updated), desired))

    def result(state: str, message: str) -> RolloutStatus:
        return _status(obj, "Deployment", state, message, desired=desired, updated=updated, ready=ready,
                       available=available, revision=rev_text, progress=bar)

    if revision > 0:
        # deploymentutil.Revision: a missing annotation is revision 0; a bad one is a parse error.
        if rev_text is None:
            running = 0
        else:
            try:
                running = int(str(rev_text), 10)
            except ValueError:
                return result("undecidable", f"cannot get the revision of deployment {q}: "
                                             f"strconv.ParseInt: parsing {go_quote(str(rev_text))}: invalid syntax")
        if running != revision:
            return result("undecidable",
                          f"desired revision ({revision}) is different from the running revision ({running})")

    if _int(meta.get("generation")) <= _int(status.get("observedGeneration")):
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Progressing":
                if cond.get("reason") == TIMED_OUT_REASON:
                    return result("failed", f"deployment {q} exceeded its progress deadline")
                break
        if has_replicas and updated < replicas:
            return result("progressing", f"Waiting for deployment {q} rollout to finish: "
                                         f"{updated} out of {replicas} new replicas have been updated...")
        if current > updated:
            return result("progressing", f"Waiting for deployment {q} rollout to finish: "
                                         f"{current - updated} old replicas are pending termination...")
        if available < updated:
            return result("progressing", f"Waiting for deployment {q} rollout to finish: "
                                         f"{available} of {updated} updated replicas are available...")
        return result("complete", f"deployment {q} successfully rolled out")
    return result("progressing", "Waiting for deployment spec update to be observed...")


# kubectl names RollingUpdateStatefulSetStrategyType for both kinds; the text is the same.
STRATEGY_ERROR = f"rollout status is only available for {ROLLING_UPDATE} strategy type"


def statefulset_status(obj: Mapping[str, Any]) -> RolloutStatus:
    """kubectl's StatefulSetStatusViewer.Status."""
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    spec_replicas = spec.get("replicas")
    has_replicas = isinstance(spec_replicas, int) and not isinstance(spec_replicas, bool)
    replicas = _int(spec_replicas) if has_replicas else 0
    updated = _int(status.get("updatedReplicas"))
    ready = _int(status.get("readyReplicas"))
    available = _int(status.get("availableReplicas"))
    current_replicas = _int(status.get("currentReplicas"))
    update_rev = status.get("updateRevision", "") or ""
    current_rev = status.get("currentRevision", "") or ""
    desired = replicas if has_replicas else _int(status.get("replicas"))
    rolling = strategy.get("rollingUpdate")
    partition = rolling.get("partition") if isinstance(rolling, Mapping) else None
    target = desired - partition if isinstance(partition, int) and has_replicas else desired
    bar = _fraction((updated, target), (ready, desired))

    def result(state: str, message: str) -> RolloutStatus:
        return _status(obj, "StatefulSet", state, message, desired=desired, updated=updated, ready=ready,
                       available=available, revision=update_rev or None, progress=bar)

    if strategy.get("type") != ROLLING_UPDATE:
        return result("undecidable", STRATEGY_ERROR)
    observed = _int(status.get("observedGeneration"))
    if observed == 0 or _int(meta.get("generation")) > observed:
        return result("progressing", "Waiting for statefulset spec update to be observed...")
    if has_replicas and ready < replicas:
        return result("progressing", f"Waiting for {replicas - ready} pods to be ready...")
    if rolling is not None:
        if has_replicas and isinstance(partition, int) and updated < replicas - partition:
            return result("progressing", "Waiting for partitioned roll out to finish: "
                                         f"{updated} out of {replicas - partition} new pods have been updated...")
        # kubectl returns here even when partition is unset.
        return result("complete", f"partitioned roll out complete: {updated} new pods have been updated...")
    if update_rev != current_rev:
        return result("progressing", "waiting for statefulset rolling update to complete "
                                     f"{updated} pods at revision {update_rev}...")
    return result("complete",
                  f"statefulset rolling update complete {current_replicas} pods at revision {current_rev}...")


def daemonset_status(obj: Mapping[str, Any]) -> RolloutStatus:
    """kubectl's DaemonSetStatusViewer.Status (DaemonSets have no revision to check)."""
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    name = meta.get("name", "") or ""
    q = go_quote(name)
    desired = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled"))
    ready = _int(status.get("numberReady"))
    available = _int(status.get("numberAvailable"))
    bar = _fraction((updated, desired), (available, desired))

    def result(state: str, message: str) -> RolloutStatus:
        return _status(obj, "DaemonSet", state, message, desired=desired, updated=updated, ready=ready,
                       available=available, revision=None, progress=bar)

    if (spec.get("updateStrategy") or {}).get("type") != ROLLING_UPDATE:
        return result("undecidable", STRATEGY_ERROR)
    if _int(meta.get("generation")) <= _int(status.get("observedGeneration")):
        if updated < desired:
            return result("progressing", f"Waiting for daemon set {q} rollout to finish: "
                                         f"{updated} out of {desired} new pods have been updated...")
        if available < desired:
            return result("progressing", f"Waiting for daemon set {q} rollout to finish: "
                                         f"{available} of {desired} updated pods are available...")
        return result("complete", f"daemon set {q} successfully rolled out")
    return result("progressing", "Waiting for daemon set spec update to be observed...")


def rollout_status(obj: Mapping[str, Any], revision: int = 0) -> RolloutStatus:
    """Dispatch on ``obj["kind"]``; ``revision`` applies to Deployments only, as in kubectl."""
    kind = obj.get("kind")
    if kind == "Deployment":
        return deployment_status(obj, revision)
    if kind == "StatefulSet":
        return statefulset_status(obj)
    if kind == "DaemonSet":
        return daemonset_status(obj)
    group = (obj.get("apiVersion") or "").rpartition("/")[0]
    raise UnsupportedKindError(f"no status viewer has been implemented for {kind}.{group}" if group
                               else f"no status viewer has been implemented for {kind}")


def pod_warnings(pods: Iterable[Mapping[str, Any]]) -> list[PodWarning]:
    """Unschedulable pods and containers stuck in an image-pull, crash-loop or config error, in pod order."""
    out: list[PodWarning] = []
    for pod in pods:
        meta, status = _meta(pod), pod.get("status") or {}
        ns, name = meta.get("namespace", "") or "", meta.get("name", "") or ""
        for cond in status.get("conditions") or []:
            if (cond.get("type") == "PodScheduled" and cond.get("status") == "False"
                    and cond.get("reason") == "Unschedulable"):
                out.append(PodWarning(ns, name, "Unschedulable", cond.get("message", "") or ""))
        for group in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
            for cs in status.get(group) or []:
                waiting = (cs.get("state") or {}).get("waiting") or {}
                reason = waiting.get("reason")
                if reason in POD_WARNING_REASONS:
                    out.append(PodWarning(ns, name, reason, waiting.get("message", "") or "", cs.get("name")))
    return out
