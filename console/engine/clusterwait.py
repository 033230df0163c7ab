"""Cluster-aware steps on live data: rollout waits, observe windows, and the rollback triggers watched in both and
beside verification commands.

Every one of them opens list-then-watch loops (``console.cluster.watch``) on the change's pinned context, keeps a
cache of what they watch, and decides on every tick from the pure functions: ``rollout_status`` (kubectl's own
branches) and ``evaluate_triggers``. ``WatchedTriggers`` is the one evaluator of the runbook's rollback triggers on
live data; the first trigger that fires ends the step as failed and is recorded as the step's trigger. Progress goes
to the step's output as lines, so the record shows how the wait went.

How soon a fired trigger ends a step: a watch delivers a change as the API server sends it; the loops here take
what the watches queued every ``TICK_S`` and evaluate when something changed, so a condition in the watched data
ends a rollout wait or an observe window within one tick plus the time to stop the watches. A verification command
is stopped the way the operator's cancel stops it (its process group, SIGINT first), which a ``kubectl`` or a
``sleep`` obeys at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from console.cluster.kubeconfig import KubeError
from console.cluster.rollout import pod_warnings, rollout_status
from console.cluster.triggers import Trigger, TriggerError, TriggerHit, evaluate_triggers, event_versions, parse_triggers, restart_baseline
from console.cluster.watch_changes import ClusterCache, object_key
from console.engine.runner import OutputLine
from console.engine.step_context import StepContext, StepOutcome, StepOutput
from console.journal.cast import CastWriter
from console.runbook.models import Runbook

if TYPE_CHECKING:  # imported where used, for start-up time (see _watch)
    from kubernetes.client import ApiClient

    from console.cluster.watch import ClusterWatch

TICK_S = 0.1
PLURAL = {"deployment": "deployments", "statefulset": "statefulsets", "daemonset": "daemonsets"}
_ROLLOUT_KINDS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}
DEFAULT_ROLLOUT_TIMEOUT_S = 600
REPORT_EVERY_S = 10.0


def _watch(api_client: ApiClient, kinds: tuple[str, ...], namespace: str | None) -> ClusterWatch:
    # Imported here for start-up cost: console.cluster.watch loads the kubernetes client (seconds on a busy
    # machine), which the session, the line-mode driver and the reviewer need only once a step watches a cluster.
    from console.cluster.watch import ClusterWatch

    return ClusterWatch(api_client, kinds=kinds, namespace=namespace, server_timeout_s=60, read_timeout_s=75)


def _watched_inputs(ctx: StepContext) -> tuple[str, list[dict[str, Any]]]:
    """The namespace a step watches and the runbook's rollback triggers, as the step was bound to the change."""
    return ctx.bound.namespace, [dict(t) for t in ctx.bound.triggers]


def _where(ctx: StepContext) -> str:
    """The namespaces a step watches, for its output: "namespace web" or "namespaces web, cache"."""
    spaces = [ctx.bound.namespace, *ctx.bound.watch_namespaces]
    return f"namespace{'s' if len(spaces) > 1 else ''} {', '.join(spaces)}"


def touches_cluster(runbook: Runbook) -> bool:
    """Whether any step talks to the cluster (kubectl, rollout waits, observe windows)."""
    for _section, steps in runbook.sections():
        for step in steps:
            if step.kind in ("rollout", "observe") or (step.run and step.run[0] == "kubectl"):
                return True
    return False


def _states_line(statuses: Mapping[str, Any], reported: dict[str, str], say: Callable[..., object]) -> None:
    for kind, status in statuses.items():
        if status.state != reported.get(kind):
            if status.state not in ("live", "syncing") or reported.get(kind) not in (None, "syncing", "live"):
                say(f"watch {kind}: {status.state}" + (f" ({status.message})" if status.message else ""), stream="stderr")
            reported[kind] = status.state


def _names(triggers: list[dict[str, Any]]) -> str:
    return ", ".join(next(iter(t)) for t in triggers) or "none"


def _workload_pods(workload: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The pods a workload's ``spec.selector`` selects, matchLabels and matchExpressions alike. A workload without
    a selector, or with an empty one, selects none here: apps/v1 requires one that is not empty, and the API server
    has already refused one that does not parse."""
    from console.cluster.selectors import label_selector

    selector = label_selector((workload.get("spec") or {}).get("selector"), "spec.selector")
    if not selector.requirements:
        return []
    return [p for p in pods if selector.matches((p.get("metadata") or {}).get("labels"))]


@dataclass(frozen=True)
class FiredTrigger:
    """A rollback trigger that fired: the step's failure reason and what the journal records as ``trigger.fired``."""

    reason: str
    record: dict[str, str]


def _fired(hit: TriggerHit, *, name_namespace: bool = False) -> FiredTrigger:
    """The fired trigger; ``name_namespace`` says in the reason which namespace it fired in (a step watching several)."""
    where = f" in namespace {hit.namespace}" if name_namespace and hit.namespace else ""
    return FiredTrigger(f"rollback trigger {hit.trigger} fired{where}: {hit.object}: {hit.message}",
                        {"trigger": hit.trigger, "object": hit.object, "message": hit.message,
                         **({"namespace": hit.namespace} if hit.namespace else {})})


class WatchedTriggers:
    """The runbook's rollback triggers evaluated on live watches: the step's namespace (with nodes), every other
    namespace the step names (``namespaces``: pods, workloads and events are watched and evaluated in each), and the
    events of any other namespace a ``warning_events`` trigger names. A hit records the namespace it fired in.

    ``extra_kinds`` are watched in the step's namespace too, for the caller (a rollout wait reads its workload from
    ``cache``). ``poll()`` applies what the watches queued and returns the first trigger that fires, in runbook
    order. It evaluates only when something changed, and only the triggers whose kinds have been listed: a kind the
    operator may not read leaves its own triggers unwatched (its watch state is reported) but not the others.
    Restarts count from the pods' totals when pods were first listed, as in an observe window.
    """

    def __init__(self, ctx: StepContext, triggers: list[dict[str, Any]], namespace: str, since: datetime, *,
                 extra_kinds: Iterable[str] = (), namespaces: Iterable[str] | None = None) -> None:
        # Imported here for start-up cost: console.cluster.kube loads the kubernetes client (see ``_watch``).
        from console.cluster.kube import KubeAccess

        self.triggers = triggers
        self.namespace = namespace
        watch_also = ctx.bound.watch_namespaces if namespaces is None else tuple(namespaces)
        self.namespaces = list(dict.fromkeys([namespace, *watch_also]))
        self.since = since
        self.baselines: dict[str, dict[str, int]] = {}
        self.events_before: dict[str, str] = {}
        self._needs = [self._need(t) for t in parse_triggers(triggers)]
        scopes: dict[str | None, list[str]] = {namespace: [*extra_kinds, "pods"]}
        for other in self.namespaces[1:]:
            scopes.setdefault(other, ["pods"])
        for needs in self._needs:
            for scope, kind in needs:
                scopes.setdefault(scope, []).append(kind)
        # The change's pinned kubeconfig: its current context is the one the change was started for.
        self._access = KubeAccess(ctx.env.get("KUBECONFIG"))
        try:
            api_client = self._access.client_for(None)
        except BaseException:
            self._access.close()
            raise
        self._watches = {scope: _watch(api_client, tuple(dict.fromkeys(kinds)), scope) for scope, kinds in scopes.items()}
        for watch in self._watches.values():
            watch.start()
        self._caches = {scope: ClusterCache() for scope in scopes}
        self.cache = self._caches[namespace]
        self._synced: set[tuple[str | None, str]] = set()

    @property
    def baseline(self) -> dict[str, int] | None:
        """Restart totals of the step's own namespace when its pods were first listed."""
        return self.baselines.get(self.namespace)

    def _need(self, trigger: Trigger) -> list[tuple[str | None, str]]:
        """Every (namespace watched, kind) that one trigger is evaluated on."""
        if trigger.name == "rollout_failed":
            return [(ns, _ROLLOUT_KINDS[trigger.arg[0]]) for ns in self.namespaces]
        if trigger.name in ("pod_restarts", "pod_status"):
            return [(ns, "pods") for ns in self.namespaces]
        if trigger.name == "node_not_ready":
            return [(self.namespace, "nodes")]  # cluster-scoped: its loop lists every node whatever the namespace
        if trigger.arg is None:
            return [(ns, "events") for ns in self.namespaces]
        return [(None if trigger.arg == "*" else trigger.arg, "events")]

    def statuses(self) -> dict[str, Any]:
        """Each watch loop's state, labelled for the step's output."""
        out: dict[str, Any] = {}
        for scope, watch in self._watches.items():
            for kind, status in watch.statuses().items():
                label = kind if scope == self.namespace else f"{kind} in {scope or 'all namespaces'}"
                out[label] = status
        return out

    def pods(self) -> list[Any]:
        """Every pod watched, in every namespace the step watches."""
        return [p for ns in self.namespaces for p in self._caches[ns].objects("pods")]

    def synced(self, kind: str) -> bool:
        """Whether ``kind`` of the step's namespace has been listed into ``cache``."""
        return (self.namespace, kind) in self._synced

    def poll(self) -> FiredTrigger | None:
        """Take what the watches queued; the first trigger that fires on it, if any."""
        changed = False
        for scope, watch in self._watches.items():
            changes = watch.drain()
            if not changes:
                continue
            changed = True
            self._caches[scope].apply(changes)
            # A kind counts as listed once its list has reached this cache (a loop says "synced" a moment before
            # it hands the list on, so its status cannot tell).
            for ch in changes:
                if ch.type == "RESYNC" and (scope, ch.kind) not in self._synced:
                    self._synced.add((scope, ch.kind))
                    # What the first list held is the window's "before": restarts count from it, and events in it
                    # are old unless seen again.
                    if ch.kind == "events":
                        self.events_before.update(event_versions(ch.objects))
                    if ch.kind == "pods" and scope in self.namespaces:
                        self.baselines[str(scope)] = restart_baseline(ch.objects)
        ready = [t for t, needs in zip(self.triggers, self._needs, strict=True) if all(n in self._synced for n in needs)]
        if not (changed and ready):
            return None
        nodes = self.cache.objects("nodes")
        # An event may be in two scopes (the step's namespace and all namespaces): count it once.
        events = list({object_key(e): e for cache in self._caches.values() for e in cache.objects("events")}.values())
        hits: list[TriggerHit] = []
        for ns in self.namespaces:
            cache = self._caches[ns]
            hits += evaluate_triggers(
                ready, namespace=ns, pods=cache.objects("pods"), nodes=nodes,
                workloads=[*cache.objects("deployments"), *cache.objects("statefulsets"), *cache.objects("daemonsets")],
                events=events, baseline=self.baselines.get(ns), since=self.since, events_before=self.events_before,
            )
        # Runbook order first, then the order the step names its namespaces in.
        hits.sort(key=lambda h: h.index)
        return _fired(hits[0], name_namespace=len(self.namespaces) > 1) if hits else None

    def stop(self) -> None:
        """Stop every watch and close the client, without holding up the step: once its outcome is decided the step
        ends at once, and the watches wind down in the background (each loop's connection is cut at once)."""
        for watch in self._watches.values():
            watch.stop(timeout=0)

        def wind_down() -> None:
            for watch in self._watches.values():
                watch.stop(timeout=2.0)
            self._access.close()

        threading.Thread(target=wind_down, name="watch-wind-down", daemon=True).start()


def run_rollout(ctx: StepContext) -> StepOutcome:
    """Wait on a Deployment, StatefulSet or DaemonSet until kubectl's logic says complete or failed, a rollback trigger
    fires, or the step times out."""
    namespace, triggers = _watched_inputs(ctx)
    target = ctx.bound.target or ""
    kind, _, name = target.partition("/")
    out = StepOutput(ctx, f"rollout status {target} -n {namespace}")
    plural = PLURAL[kind]
    timeout = float(ctx.bound.timing.timeout_s or DEFAULT_ROLLOUT_TIMEOUT_S)  # scaled on a rehearsal environment
    watched = WatchedTriggers(ctx, triggers, namespace, ctx.now(), extra_kinds=(plural,))
    if triggers:
        out(f"watching rollback triggers in {_where(ctx)}: {_names(triggers)}")
    reported: dict[str, str] = {}
    warned: set[tuple[str, str]] = set()
    try:
        while True:
            fired = watched.poll()
            _states_line(watched.statuses(), reported, out)
            if fired is not None:
                # A trigger outranks kubectl's verdict: the runbook's author named it as the reason to roll back.
                out(fired.reason, stream="stderr")
                return out.outcome(False, fired.reason, trigger=fired.record)
            obj = watched.cache.get(plural, f"{namespace}/{name}")
            if watched.synced(plural) and obj is None:
                return out.outcome(False, f"{target} not found in namespace {namespace}")
            if obj is not None:
                status = rollout_status(obj)
                if status.message != out.last:
                    out(status.message)
                for w in pod_warnings(_workload_pods(obj, watched.cache.objects("pods"))):
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
        watched.stop()


def run_observe(ctx: StepContext) -> StepOutcome:
    """Watch the namespace for the window's duration; the first rollback trigger that fires ends it as a failure."""
    namespace, triggers = _watched_inputs(ctx)
    duration = float(ctx.bound.timing.duration_s or 0)  # scaled on a rehearsal environment
    out = StepOutput(ctx, f"observe {namespace} for {int(duration)}s")
    watched = WatchedTriggers(ctx, triggers, namespace, ctx.now())
    out(f"watching {_where(ctx)} for {ctx.bound.timing.shown('duration')}; rollback triggers: {_names(triggers)}")
    reported: dict[str, str] = {}
    next_report = 0.0
    try:
        while True:
            fired = watched.poll()
            _states_line(watched.statuses(), reported, out)
            if fired is not None:
                out(fired.reason, stream="stderr")
                return out.outcome(False, fired.reason, trigger=fired.record)
            left = duration - out.elapsed
            if left <= 0:
                out("the window closed with no trigger fired")
                return out.outcome(True, "the window closed with no trigger fired")
            if out.elapsed >= next_report:
                pods = watched.pods()
                out(f"{int(out.elapsed)}s observed, {int(left)}s left; {len(pods)} pods watched, no trigger fired")
                next_report = out.elapsed + REPORT_EVERY_S
            if ctx.cancel.wait(min(TICK_S, max(left, 0.01))):
                return out.outcome(False, "cancelled by the operator")
    finally:
        watched.stop()


class CommandGuard:
    """The rollback triggers watched beside a running verification command, in a thread of their own.

    The first trigger that fires is said in the command's output and stops the command (``stop_command``, the
    runner's cancel). ``finish()``, called once the command has ended, returns that trigger, if one fired, which
    then decides the step's outcome. Neither end holds the command up: the watches start in the thread (the first
    list, and the client library's import, take a second or more), and ``finish()`` does not wait for them to stop;
    the thread closes them on its own. A lock makes "fired" and "finished" exclusive, so a trigger either fired
    while the step ran, with its line in the output, or not at all.
    """

    def __init__(self, ctx: StepContext, cast: CastWriter, stop_command: Callable[[], None]) -> None:
        self.ctx = ctx
        self.namespace, self.triggers = _watched_inputs(ctx)
        self.cast = cast
        self.stop_command = stop_command
        self.fired: FiredTrigger | None = None
        self._finished = False
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"triggers:{ctx.step.id}", daemon=True)

    def start(self) -> None:
        self.say(f"watching rollback triggers in namespace {self.namespace}: {_names(self.triggers)}", stream="stdout")
        self._thread.start()

    def finish(self) -> FiredTrigger | None:
        """The command has ended: the trigger that stopped it, or None; no line is said after this."""
        with self._lock:
            self._finished = True
        self._done.set()
        return self.fired

    def say(self, text: str, *, stream: str = "stderr") -> bool:
        """A line in the command's output as the runner writes it (redacted; stderr in red in the cast), unless the
        step has finished; returns whether it was said."""
        with self._lock:
            if self._finished:
                return False
            self._write(text, stream)
            return True

    def _write(self, text: str, stream: str) -> None:
        text = self.ctx.redactor.redact(text)
        t = self.cast.elapsed
        self.cast.write(f"\x1b[31m{text}\x1b[0m\r\n" if stream == "stderr" else f"{text}\r\n", at=t)
        for listener in self.ctx.listeners:
            listener(OutputLine(t, stream, text))

    def _fire(self, fired: FiredTrigger) -> None:
        with self._lock:
            if self._finished:
                return  # the command ended first: the step's own verdict stands
            self.fired = fired
            self._write(fired.reason, "stderr")
        self.stop_command()

    def _run(self) -> None:
        try:
            watched = WatchedTriggers(self.ctx, self.triggers, self.namespace, self.ctx.now())
        except (KubeError, TriggerError) as exc:
            self.say(f"rollback triggers are not watched during this step: {exc}")
            return
        reported: dict[str, str] = {}
        try:
            while not self._done.is_set():
                fired = watched.poll()
                _states_line(watched.statuses(), reported, self.say)
                if fired is not None:
                    self._fire(fired)
                    return
                self._done.wait(TICK_S)
        finally:
            watched.stop()


def command_guard(ctx: StepContext, cast: CastWriter, stop_command: Callable[[], None]) -> CommandGuard | None:
    """A started ``CommandGuard`` for a verification command of a runbook that has rollback triggers and touches a
    cluster; None for every other command."""
    if not ctx.bound.triggers or not touches_cluster(ctx.runbook):  # bound with triggers: verification commands
        return None
    guard = CommandGuard(ctx, cast, stop_command)
    guard.start()
    return guard
