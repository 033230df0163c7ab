"""Pure evaluation of a runbook's rollback triggers against the live cluster objects the watches hold.

A trigger is a one-key dict exactly as written in the runbook YAML::

    - rollout_failed: deployment/web
    - pod_restarts: {selector: app=web, over: 3}
    - pod_status: {selector: app=web, reasons: [CrashLoopBackOff, ImagePullBackOff]}
    - node_not_ready: true            # or a node name
    - warning_events: {pattern: "Failed|BackOff", namespace: web}

``evaluate_triggers`` returns one ``TriggerHit`` per offending object, saying which trigger fired, on
what, and why. Restarts are counted beyond a baseline captured when the watch window opened
(``restart_baseline``), so restarts that happened before the change never fire. Objects are plain API
JSON dicts; time comes in as ``since``; nothing here reads a clock or the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from console.cluster.rollout import rollout_status
from console.cluster.rows import parse_time, pod_status
from console.cluster.selectors import Selector, SelectorError, parse_selector
from console.errors import OpsConsoleError

__all__ = [
    "TRIGGER_NAMES",
    "Trigger",
    "TriggerError",
    "TriggerHit",
    "evaluate_triggers",
    "event_versions",
    "parse_trigger",
    "parse_triggers",
    "pod_restart_total",
    "restart_baseline",
]

TRIGGER_NAMES = ("rollout_failed", "pod_restarts", "pod_status", "node_not_ready", "warning_events")

# kubectl's resource spellings for the kinds that have a rollout.
_KIND_ALIASES = {
    "deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
    "deployment.apps": "Deployment", "deployments.apps": "Deployment",
    "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
    "statefulset.apps": "StatefulSet", "statefulsets.apps": "StatefulSet",
    "daemonset": "DaemonSet", "daemonsets": "DaemonSet", "ds": "DaemonSet",
    "daemonset.apps": "DaemonSet", "daemonsets.apps": "DaemonSet",
}


class TriggerError(OpsConsoleError, ValueError):
    """A trigger that is not one of the known shapes; the message names its index and what is wrong."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """A validated trigger: its position in the runbook, its name and its parsed argument."""

    index: int
    name: str
    arg: Any
    selector: Selector | None = None
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class TriggerHit:
    """One trigger firing on one object ("Pod/web-abc", "Deployment/web", "Node/n1")."""

    index: int
    trigger: str
    object: str
    message: str
    namespace: str = ""


def _fail(index: int, name: str, why: str) -> TriggerError:
    return TriggerError(f"rollback.triggers[{index}] ({name}): {why}")


def _selector(index: int, name: str, arg: Mapping[str, Any]) -> Selector:
    text = arg.get("selector")
    if not isinstance(text, str) or not text.strip():
        raise _fail(index, name, "needs a label selector, e.g. selector: app=web")
    try:
        return parse_selector(text)
    except SelectorError as exc:
        raise _fail(index, name, str(exc)) from None


def _only_keys(index: int, name: str, arg: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(arg) - allowed)
    if extra:
        raise _fail(index, name, f"unknown field(s) {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}")


def parse_trigger(index: int, raw: Any) -> Trigger:
    """Validate one trigger dict; raises ``TriggerError`` saying what is wrong with it."""
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise TriggerError(f"rollback.triggers[{index}]: a trigger is a mapping with exactly one of "
                           f"{', '.join(TRIGGER_NAMES)}")
    ((name, arg),) = raw.items()
    if name not in TRIGGER_NAMES:
        raise TriggerError(f"rollback.triggers[{index}]: unknown trigger {name!r}; "
                           f"known: {', '.join(TRIGGER_NAMES)}")
    if name == "rollout_failed":
        if not isinstance(arg, str) or arg.count("/") != 1:
            raise _fail(index, name, "expects kind/name, e.g. deployment/web")
        kind_text, _, obj_name = arg.partition("/")
        kind = _KIND_ALIASES.get(kind_text.lower())
        if kind is None or not obj_name:
            raise _fail(index, name, f"{arg!r} is not a deployment, statefulset or daemonset")
        return Trigger(index, name, (kind, obj_name))
    if name == "pod_restarts":
        if not isinstance(arg, Mapping):
            raise _fail(index, name, "expects {selector: ..., over: N}")
        _only_keys(index, name, arg, {"selector", "over"})
        over = arg.get("over")
        if not isinstance(over, int) or isinstance(over, bool) or over < 0:
            raise _fail(index, name, "over must be a whole number >= 0")
        return Trigger(index, name, over, selector=_selector(index, name, arg))
    if name == "pod_status":
        if not isinstance(arg, Mapping):
            raise _fail(index, name, "expects {selector: ..., reasons: [...]}")
        _only_keys(index, name, arg, {"selector", "reasons"})
        reasons = arg.get("reasons")
        if (not isinstance(reasons, Sequence) or isinstance(reasons, str) or not reasons
                or not all(isinstance(r, str) and r for r in reasons)):
            raise _fail(index, name, "reasons must be a non-empty list of status reasons")
        return Trigger(index, name, tuple(reasons), selector=_selector(index, name, arg))
    if name == "node_not_ready":
        if isinstance(arg, bool) or (isinstance(arg, str) and arg):
            return Trigger(index, name, arg)
        raise _fail(index, name, "expects true or a node name")
    # warning_events
    if not isinstance(arg, Mapping):
        raise _fail(index, name, "expects {pattern: REGEX, namespace: NS}")
    _only_keys(index, name, arg, {"pattern", "namespace"})
    pattern = arg.get("pattern", "")
    ns = arg.get("namespace")
    if not isinstance(pattern, str):
        raise _fail(index, name, "pattern must be a regular expression string")
    if ns is not None and not isinstance(ns, str):
        raise _fail(index, name, "namespace must be a string ('*' for every namespace)")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise _fail(index, name, f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
    return Trigger(index, name, ns, pattern=compiled)


def parse_triggers(triggers: Iterable[Any]) -> list[Trigger]:
    """Validate every trigger; the first bad one raises ``TriggerError``."""
    return [parse_trigger(i, raw) for i, raw in enumerate(triggers)]


# --- helpers over raw objects --------------------------------------------------------------------


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _key(obj: Mapping[str, Any]) -> str:
    meta = _meta(obj)
    return f"{meta.get('namespace', '') or ''}/{meta.get('name', '') or ''}"


def pod_restart_total(pod: Mapping[str, Any]) -> int:
    """Every restart of every container (init, sidecar, app) in the pod: monotonic for the pod's life."""
    status = pod.get("status") or {}
    return sum(int(cs.get("restartCount") or 0)
               for group in ("initContainerStatuses", "containerStatuses")
               for cs in status.get(group) or [])


def restart_baseline(pods: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Restart totals by "namespace/name", captured when the watch window opens."""
    return {_key(p): pod_restart_total(p) for p in pods}


def event_versions(events: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """resourceVersions by "namespace/name" of the events listed when the watch window opened."""
    return {_key(e): str(_meta(e).get("resourceVersion", "") or "") for e in events}


def _in_namespace(obj: Mapping[str, Any], namespace: str | None) -> bool:
    return namespace is None or (_meta(obj).get("namespace") or "") == namespace


def _pod_reasons(pod: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The printed STATUS and every reason the pod carries now, each with a message when there is one."""
    printed = pod_status(pod).reason
    reasons: dict[str, str] = {printed: ""}
    status = pod.get("status") or {}
    if status.get("reason"):
        reasons.setdefault(status["reason"], status.get("message", "") or "")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and cond.get("reason"):
            reasons[cond["reason"]] = cond.get("message", "") or ""
    for group in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(group) or []:
            state = cs.get("state") or {}
            for inner in (state.get("waiting"), state.get("terminated")):
                if inner and inner.get("reason"):
                    text = inner.get("message", "") or ""
                    reasons[inner["reason"]] = f"container {cs.get('name', '?')}" + (f": {text}" if text else "")
    return printed, reasons


def _event_last_seen(ev: Mapping[str, Any]) -> datetime | None:
    series = ev.get("series") or {}
    return (parse_time(series.get("lastObservedTime")) or parse_time(ev.get("lastTimestamp"))
            or parse_time(ev.get("eventTime")) or parse_time(ev.get("firstTimestamp")))


# --- evaluation ----------------------------------------------------------------------------------


def evaluate_triggers(
    triggers: Iterable[Any],
    *,
    namespace: str | None,
    pods: Iterable[Mapping[str, Any]],
    nodes: Iterable[Mapping[str, Any]],
    workloads: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
    baseline: Mapping[str, int] | None = None,
    since: datetime | None = None,
    events_before: Mapping[str, str] | None = None,
) -> list[TriggerHit]:
    """Every hit of every trigger, in trigger order then object order.

    ``namespace`` scopes pods, workloads and (by default) events; None means all namespaces.
    ``baseline`` maps "namespace/name" to the pod's restart total when the window opened; a pod
    not in it (created since) counts all its restarts, and a pod whose total went *down* (recreated
    under the same name, as StatefulSet pods are) counts from zero. ``since`` drops warning events
    last seen before it. ``events_before`` (``event_versions`` of the events listed when the window
    opened) narrows that to the events seen then and unchanged since: an event created or updated
    after the list is new whatever its timestamps say, so a cluster whose clock is behind the
    console's (a sped-up rehearsal cluster is, by design) still fires. A trigger whose target object
    is absent does not fire.
    """
    parsed = parse_triggers(triggers)
    pods = [p for p in pods if _in_namespace(p, namespace)]
    nodes = list(nodes)
    workloads = [w for w in workloads if _in_namespace(w, namespace)]
    events = list(events)
    base = baseline or {}
    since_t = parse_time(since) if since is not None else None
    hits: list[TriggerHit] = []
    for t in parsed:
        if t.name == "rollout_failed":
            kind, name = t.arg
            for w in workloads:
                if w.get("kind") == kind and _meta(w).get("name") == name:
                    rs = rollout_status(w)
                    if rs.state == "failed":
                        hits.append(TriggerHit(t.index, t.name, f"{kind}/{name}", rs.message, rs.namespace))
        elif t.name == "pod_restarts":
            assert t.selector is not None
            for p in pods:
                if not t.selector.matches(_meta(p).get("labels")):
                    continue
                total = pod_restart_total(p)
                before = base.get(_key(p), 0)
                new = total - before if total >= before else total
                if new > t.arg:
                    hits.append(TriggerHit(
                        t.index, t.name, f"Pod/{_meta(p).get('name', '')}",
                        f"{new} restarts since the window opened (more than {t.arg}); {total} in all",
                        _meta(p).get("namespace", "") or ""))
        elif t.name == "pod_status":
            assert t.selector is not None
            for p in pods:
                if not t.selector.matches(_meta(p).get("labels")):
                    continue
                printed, reasons = _pod_reasons(p)
                for wanted in t.arg:
                    if wanted in reasons:
                        detail = reasons[wanted]
                        msg = f"status {printed}" if wanted == printed else f"status {printed}, {wanted}"
                        hits.append(TriggerHit(t.index, t.name, f"Pod/{_meta(p).get('name', '')}",
                                               f"{msg}: {detail}" if detail else msg,
                                               _meta(p).get("namespace", "") or ""))
                        break
        elif t.name == "node_not_ready":
            if t.arg is False:
                continue
            for n in nodes:
                name = _meta(n).get("name", "") or ""
                if isinstance(t.arg, str) and name != t.arg:
                    continue
                ready = None
                for cond in (n.get("status") or {}).get("conditions") or []:
                    if cond.get("type") == "Ready":
                        ready = cond
                if ready is not None and ready.get("status") == "True":
                    continue
                if ready is None:
                    why = "has no Ready condition"
                else:
                    why = f"is NotReady (Ready={ready.get('status', '')}"
                    if ready.get("reason"):
                        why += f", {ready['reason']}"
                    why += ")"
                    if ready.get("message"):
                        why += f": {ready['message']}"
                hits.append(TriggerHit(t.index, t.name, f"Node/{name}", f'node "{name}" {why}'))
        else:  # warning_events
            ev_ns = namespace if t.arg is None else (None if t.arg == "*" else t.arg)
            assert t.pattern is not None
            for ev in events:
                if ev.get("type") != "Warning" or not _in_namespace(ev, ev_ns):
                    continue
                listed = events_before is None or events_before.get(_key(ev)) == str(_meta(ev).get("resourceVersion", "") or "")
                if since_t is not None and listed:
                    seen = _event_last_seen(ev)
                    if seen is not None and seen < since_t:
                        continue
                reason = ev.get("reason", "") or ""
                message = (ev.get("message") or ev.get("note") or "").strip()
                if not (t.pattern.search(reason) or t.pattern.search(message)):
                    continue
                inv = ev.get("involvedObject") or ev.get("regarding") or {}
                obj = f"{inv.get('kind', '')}/{inv.get('name', '')}" if inv.get("name") else inv.get("kind", "")
                count = (ev.get("series") or {}).get("count") or ev.get("count") or 1
                text = f"{reason}: {message}" + (f" (x{count})" if count > 1 else "")
                hits.append(TriggerHit(t.index, t.name, obj, text, _meta(ev).get("namespace", "") or ""))
    return hits
