"""Cluster-aware steps on live data: rollout waits with kubectl's logic, and observe windows with rollback triggers.

Both open list-then-watch loops (``console.cluster.watch``) on the change's pinned context, keep a cache of what
they watch, and decide on every tick from the pure functions: ``rollout_status`` (kubectl's own branches) and
``evaluate_triggers``. Progress goes to the step's output as lines, so the record shows how the rollout went.
"""

from __future__ import annotations

from collections.abc import Callable

from console.engine.steps import StepContext, StepOutcome, StepOutput

TICK_S = 0.2
PLURAL = {"deployment": "deployments", "statefulset": "statefulsets", "daemonset": "daemonsets"}
DEFAULT_ROLLOUT_TIMEOUT_S = 600


def _access(ctx: StepContext):
    """The change's pinned kubeconfig: its current context is the one the change was started for."""
    from console.cluster.kube import KubeAccess

    return KubeAccess(ctx.env.get("KUBECONFIG"))


def _watch(access, kinds: tuple[str, ...], namespace: str | None):
    from console.cluster.watch import ClusterWatch

    watch = ClusterWatch(access.client_for(None), kinds=kinds, namespace=namespace, server_timeout_s=60, read_timeout_s=75)
    watch.start()
    return watch


def _states_line(watch, reported: dict[str, str], say: Callable[..., None]) -> None:
    for kind, status in watch.statuses().items():
        if status.state != reported.get(kind):
            if status.state not in ("live", "syncing") or reported.get(kind) not in (None, "syncing", "live"):
                say(f"watch {kind}: {status.state}" + (f" ({status.message})" if status.message else ""), stream="stderr")
            reported[kind] = status.state


def _matches(labels: dict[str, str], selector: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def run_rollout(ctx: StepContext) -> StepOutcome:
    """Wait on a Deployment, StatefulSet or DaemonSet until kubectl's logic says complete or failed, or time out."""
    from console.cluster.rollout import pod_warnings, rollout_status
    from console.cluster.watch import ClusterCache

    step = ctx.step
    target = ctx.bound.target or ""
    kind, _, name = target.partition("/")
    namespace = ctx.bound.namespace
    out = StepOutput(ctx, f"rollout status {target} -n {namespace}")
    plural = PLURAL[kind]
    timeout = float(step.timeout or DEFAULT_ROLLOUT_TIMEOUT_S)
    access = _access(ctx)
    watch = _watch(access, (plural, "pods"), namespace)
    cache = ClusterCache()
    reported: dict[str, str] = {}
    warned: set[tuple[str, str]] = set()
    try:
        while True:
            cache.apply(watch.drain())
            _states_line(watch, reported, out)
            synced = watch.statuses()[plural].synced
            obj = cache.get(plural, f"{namespace}/{name}")
            if synced and obj is None:
                return out.outcome(False, f"{target} not found in namespace {namespace}")
            if obj is not None:
                status = rollout_status(obj)
                if status.message != out.last:
                    out(status.message)
                selector = (obj.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
                pods = [p for p in cache.objects("pods") if _matches(p.get("metadata", {}).get("labels") or {}, selector)]
                for w in pod_warnings(pods):
                    if (w.pod, w.reason) not in warned:
                        warned.add((w.pod, w.reason))
                        out(f"pod {w.pod}: {w.reason}" + (f": {w.message}" if w.message else ""), stream="stderr")
                if status.state == "complete":
                    return out.outcome(True, status.message)
                if status.state in ("failed", "undecidable"):
                    return out.outcome(False, status.message)
            if out.elapsed >= timeout:
                return out.outcome(False, f"timed out after {int(timeout)}s: {out.last or 'no status seen'}")
            if ctx.cancel.wait(TICK_S):
                return out.outcome(False, "cancelled by the operator")
    finally:
        watch.stop(timeout=1.0)
        access.close()


def run_observe(ctx: StepContext) -> StepOutcome:
    """Watch the namespace for the window's duration; the first rollback trigger that fires ends it as a failure."""
    from console.cluster.triggers import evaluate_triggers, restart_baseline
    from console.cluster.watch import ClusterCache

    step = ctx.step
    duration = float(step.duration or 0)
    namespace = ctx.bound.namespace
    triggers = [dict(t) for t in ctx.bound.triggers]
    out = StepOutput(ctx, f"observe {namespace} for {int(duration)}s")
    names = ", ".join(next(iter(t)) for t in triggers) or "none"
    out(f"watching namespace {namespace} for {int(duration)}s; rollback triggers: {names}")
    kinds = ("pods", "deployments", "statefulsets", "daemonsets", "events")
    access = _access(ctx)
    watch = _watch(access, kinds, namespace)
    nodes_watch = _watch(access, ("nodes",), None)  # nodes are not namespaced: a node NotReady is a trigger
    cache = ClusterCache()
    reported: dict[str, str] = {}
    baseline: dict[str, int] | None = None
    since = ctx.now()
    next_report = 0.0
    try:
        while True:
            cache.apply(watch.drain())
            cache.apply(nodes_watch.drain())
            _states_line(watch, reported, out)
            statuses = {**watch.statuses(), **nodes_watch.statuses()}
            if baseline is None and statuses["pods"].synced:
                baseline = restart_baseline(cache.objects("pods"))
            if baseline is not None and all(s.synced for s in statuses.values()):
                workloads = [*cache.objects("deployments"), *cache.objects("statefulsets"), *cache.objects("daemonsets")]
                hits = evaluate_triggers(
                    triggers, namespace=namespace, pods=cache.objects("pods"), nodes=cache.objects("nodes"),
                    workloads=workloads, events=cache.objects("events"), baseline=baseline, since=since,
                )
                if hits:
                    hit = hits[0]
                    reason = f"rollback trigger {hit.trigger} fired: {hit.object}: {hit.message}"
                    out(reason, stream="stderr")
                    return out.outcome(False, reason, trigger={"trigger": hit.trigger, "object": hit.object, "message": hit.message})
            left = duration - out.elapsed
            if left <= 0:
                out("the window closed with no trigger fired")
                return out.outcome(True, "the window closed with no trigger fired")
            if out.elapsed >= next_report:
                pods = cache.objects("pods")
                out(f"{int(out.elapsed)}s observed, {int(left)}s left; {len(pods)} pods watched, no trigger fired")
                next_report = out.elapsed + 10
            if ctx.cancel.wait(min(TICK_S * 2.5, max(left, 0.01))):
                return out.outcome(False, "cancelled by the operator")
    finally:
        watch.stop(timeout=1.0)
        nodes_watch.stop(timeout=1.0)
        access.close()

