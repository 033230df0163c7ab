"""Per-kind row renderers, k9s style: one API object (a plain JSON dict) in, one frozen row out.

The pod STATUS, READY and RESTARTS cells are derived exactly as the API server's table printer does it
(``pkg/printers/internalversion/printers.go``: ``printPod``), node STATUS and ROLES as ``printNode``,
event columns as ``printEvent``, and every age with apimachinery's ``duration.HumanDuration``, so a
panel shows what ``kubectl get`` would. Rows carry a stable ``key`` for the table, ``labels`` for
``-l`` filtering, and a ``severity`` ("ok" | "warn" | "error") for colour.

Pure: no IO, no clock (``now`` is an aware ``datetime`` passed in), no kubernetes import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from console.cluster.rollout import rollout_status

__all__ = [
    "DeferredPodRow",
    "EventRow",
    "NodeRow",
    "PodRow",
    "PodStatus",
    "RolloutRow",
    "event_row",
    "human_duration",
    "node_row",
    "parse_time",
    "pod_row",
    "pod_status",
    "rollout_row",
    "since",
]

NODE_UNREACHABLE_POD_REASON = "NodeLost"
LABEL_NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
NODE_LABEL_ROLE = "kubernetes.io/role"
PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure")

# Pod STATUS values that mean the pod is broken, not merely on its way.
_POD_ERROR_STATUSES = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError", "ContainerCannotRun",
    "Error", "OOMKilled", "Evicted", "Failed", "Unknown", "NodeLost", "NodeAffinity", "OutOfcpu",
    "OutOfmemory", "UnexpectedAdmissionError", "ContainerStatusUnknown", "DeadlineExceeded",
})
_POD_OK_STATUSES = frozenset({"Completed", "Succeeded"})


# --- time ----------------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 API timestamp (or a datetime) as an aware UTC datetime; None when absent or zero."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    # Go's zero time (0001-01-01) is how an unset metav1.Time can arrive.
    if dt.year <= 1:
        return None
    return dt


def human_duration(d: timedelta) -> str:
    """apimachinery's ``duration.HumanDuration``: about 2-3 significant figures (45s, 5m30s, 3h, 2d4h)."""
    us = (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds
    seconds = int(us / 1_000_000)  # Go's int(d.Seconds()) truncates toward zero
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = us // 60_000_000
    if minutes < 10:
        s = (us // 1_000_000) % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = us // 3_600_000_000
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def since(timestamp: Any, now: datetime) -> str:
    """kubectl's ``translateTimestampSince``: "<unknown>" for a missing time, else the human duration."""
    t = parse_time(timestamp)
    if t is None:
        return "<unknown>"
    return human_duration(now - t)


def _epoch(t: datetime | None) -> float | None:
    return t.timestamp() if t is not None else None


def _neg(v: float | None) -> float | None:
    return -v if v is not None else None


# --- pods ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PodStatus:
    """The READY, STATUS and RESTARTS cells of ``kubectl get pods``, before formatting the age."""

    ready: int
    total: int
    reason: str
    restarts: int
    last_restart: datetime | None


def _is_restartable(container: Mapping[str, Any] | None) -> bool:
    return container is not None and container.get("restartPolicy") == "Always"


def _condition(conditions: Iterable[Mapping[str, Any]] | None, ctype: str) -> Mapping[str, Any] | None:
    for cond in conditions or []:
        if cond.get("type") == ctype:
            return cond
    return None


def _later(current: datetime | None, candidate: Any) -> datetime | None:
    t = parse_time(candidate)
    if t is not None and (current is None or current < t):
        return t
    return current


def _terminated_text(term: Mapping[str, Any], prefix: str) -> str:
    if term.get("reason"):
        reason: str = term["reason"]
        return prefix + reason
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0) or 0}"


def pod_status(pod: Mapping[str, Any]) -> PodStatus:
    """printPod's derivation of READY, STATUS and RESTARTS, branch for branch."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    conditions = status.get("conditions") or []
    phase = status.get("phase", "") or ""
    reason = status.get("reason") or phase
    for cond in conditions:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    total = len(spec.get("containers") or [])
    ready = 0
    restarts = 0
    restartable_restarts = 0
    last_restart: datetime | None = None
    last_restartable_restart: datetime | None = None

    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total += sum(1 for c in init_specs.values() if _is_restartable(c))
    init_count = len(spec.get("initContainers") or [])

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        last_term = (cs.get("lastState") or {}).get("terminated")
        if last_term:
            last_restart = _later(last_restart, last_term.get("finishedAt"))
        restartable = _is_restartable(init_specs.get(cs.get("name")))
        if restartable:
            restartable_restarts += int(cs.get("restartCount") or 0)
            if last_term:
                last_restartable_restart = _later(last_restartable_restart, last_term.get("finishedAt"))
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term is not None and not (term.get("exitCode") or 0):
            continue
        if restartable and cs.get("started") is True:
            if cs.get("ready"):
                ready += 1
            continue
        if term is not None:
            reason = _terminated_text(term, "Init:")
        elif waiting is not None and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{init_count}"
        initializing = True
        break

    initialized = (_condition(conditions, "Initialized") or {}).get("status") == "True"
    if not initializing or initialized:
        restarts = restartable_restarts
        last_restart = last_restartable_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            last_term = (cs.get("lastState") or {}).get("terminated")
            if last_term:
                last_restart = _later(last_restart, last_term.get("finishedAt"))
            state = cs.get("state") or {}
            waiting, term = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif term is not None:
                reason = _terminated_text(term, "")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # A pod whose some containers completed but others still run is Running (or NotReady).
        if reason == "Completed" and has_running:
            ready_cond = _condition(conditions, "Ready") or {}
            reason = "Running" if ready_cond.get("status") == "True" else "NotReady"

    if meta.get("deletionTimestamp") and status.get("reason") == NODE_UNREACHABLE_POD_REASON:
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"
    return PodStatus(ready=ready, total=total, reason=reason, restarts=restarts, last_restart=last_restart)


def _pod_severity(st: PodStatus, phase: str, unschedulable: bool) -> str:
    r = st.reason
    if unschedulable or r in _POD_ERROR_STATUSES or phase == "Failed":
        return "error"
    if r.startswith(("Signal:", "ExitCode:")):
        return "error"
    if r.startswith("Init:"):
        tail = r[5:]
        # "Init:0/2" is progress; "Init:CrashLoopBackOff" or "Init:ExitCode:1" is a failure.
        return "warn" if "/" in tail and tail.split("/")[0].isdigit() else "error"
    if r in _POD_OK_STATUSES:
        return "ok"
    if r == "Running" and st.ready == st.total:
        return "ok"
    return "warn"


@dataclass(frozen=True, slots=True)
class PodRow:
    """One line of the pods table: kubectl's columns plus labels, a status detail and a severity."""

    key: str
    namespace: str
    name: str
    ready: str
    status: str
    status_detail: str
    message: str
    restarts: int
    restarts_text: str
    age: str
    created_at: float | None
    node: str
    ip: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    severity: str = "ok"

    SEARCH_FIELDS: ClassVar[tuple[str, ...]] = (
        "namespace", "name", "ready", "status", "status_detail", "restarts_text", "age", "node", "ip",
    )
    SORT_KEYS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "age": lambda r: _neg(r.created_at),  # ascending age = youngest first
    }


def pod_row(obj: Mapping[str, Any], now: datetime) -> PodRow:
    """Render a Pod (API JSON) as of ``now``."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    st = pod_status(obj)
    restarts_text = str(st.restarts)
    if st.restarts != 0 and st.last_restart is not None:
        restarts_text = f"{st.restarts} ({human_duration(now - st.last_restart)} ago)"
    ips = status.get("podIPs") or []
    ip = (ips[0].get("ip") if ips else None) or status.get("podIP") or "<none>"
    phase = status.get("phase", "") or ""

    sched = _condition(status.get("conditions"), "PodScheduled") or {}
    unschedulable = (phase == "Pending" and sched.get("status") == "False"
                     and sched.get("reason") == "Unschedulable")
    detail, message = "", ""
    if unschedulable:
        detail, message = "Pending: Unschedulable", sched.get("message", "") or ""
    else:
        # The waiting or termination message behind a bad STATUS is what the operator needs next.
        for group in ("containerStatuses", "initContainerStatuses"):
            for cs in status.get(group) or []:
                state = cs.get("state") or {}
                inner = state.get("waiting") or state.get("terminated") or {}
                reason = inner.get("reason")
                if reason and reason in st.reason and inner.get("message"):
                    message = inner["message"]
                    break
            if message:
                break
        if not message and status.get("message"):
            message = status["message"]

    ns, name = meta.get("namespace", "") or "", meta.get("name", "") or ""
    created = parse_time(meta.get("creationTimestamp"))
    return PodRow(
        key=f"{ns}/{name}",
        namespace=ns,
        name=name,
        ready=f"{st.ready}/{st.total}",
        status=st.reason,
        status_detail=detail,
        message=message,
        restarts=st.restarts,
        restarts_text=restarts_text,
        age=human_duration(now - created) if created else "<unknown>",
        created_at=_epoch(created),
        node=spec.get("nodeName") or "<none>",
        ip=ip,
        labels=dict(meta.get("labels") or {}),
        severity=_pod_severity(st, phase, unschedulable),
    )


class DeferredPodRow:
    """A pod's row that is rendered (``pod_row``) only when a field other than its key or name is first read.

    A table of 50,000 pods sorted by name reads the other fields of the rows on screen only (of every row only when
    it is sorted by another column or filtered), so most rows are never rendered: for the first list and for each
    watch change off screen, only the key and name are taken from the object. Reads of any ``PodRow`` field go to
    the rendered row; equality and hashing are the rendered row's, so a deferred row and ``pod_row`` of the same
    object at the same ``now`` are equal.
    """

    __slots__ = ("_now", "_obj", "_row", "key", "name", "namespace")

    SEARCH_FIELDS: ClassVar[tuple[str, ...]] = PodRow.SEARCH_FIELDS
    SORT_KEYS: ClassVar[Mapping[str, Callable[[Any], Any]]] = PodRow.SORT_KEYS

    def __init__(self, obj: Mapping[str, Any], now: datetime) -> None:
        meta = obj.get("metadata") or {}
        self.namespace: str = meta.get("namespace", "") or ""
        self.name: str = meta.get("name", "") or ""
        self.key = f"{self.namespace}/{self.name}"
        self._obj: Mapping[str, Any] | None = obj
        self._now = now
        self._row: PodRow | None = None

    @property
    def rendered(self) -> bool:
        """Whether the full row has been rendered yet."""
        return self._row is not None

    @property
    def row(self) -> PodRow:
        """The full row, rendered on first use (the object is then let go)."""
        row = self._row
        if row is None:
            assert self._obj is not None
            row = self._row = pod_row(self._obj, self._now)
            self._obj = None
        return row

    def __getattr__(self, attr: str) -> Any:
        # Called only for names that are not slots: the other PodRow fields.
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.row, attr)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DeferredPodRow):
            return self is other or self.row == other.row
        if isinstance(other, PodRow):
            return self.row == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.row)

    def __repr__(self) -> str:
        return f"DeferredPodRow({self.key!r}, rendered={self.rendered})"


# --- nodes ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One line of the nodes table: kubectl's STATUS, ROLES, AGE, VERSION plus pressure and pod count."""

    key: str
    name: str
    status: str
    ready: bool
    roles: str
    version: str
    pressure: tuple[str, ...]
    age: str
    created_at: float | None
    pods: int
    internal_ip: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    severity: str = "ok"

    SEARCH_FIELDS: ClassVar[tuple[str, ...]] = ("name", "status", "roles", "version", "pressure", "age",
                                                "internal_ip")
    SORT_KEYS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"age": lambda r: _neg(r.created_at)}


def node_row(obj: Mapping[str, Any], now: datetime, pod_count: int = 0) -> NodeRow:
    """Render a Node (API JSON) as of ``now``; ``pod_count`` comes from the pods the caller holds."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    conditions = status.get("conditions") or []
    # printNode: only the Ready condition speaks for STATUS; its last occurrence wins (a map in Go).
    ready_cond: Mapping[str, Any] | None = None
    for cond in conditions:
        if cond.get("type") == "Ready":
            ready_cond = cond
    parts: list[str] = []
    if ready_cond is not None:
        parts.append("Ready" if ready_cond.get("status") == "True" else "NotReady")
    else:
        parts.append("Unknown")
    if spec.get("unschedulable"):
        parts.append("SchedulingDisabled")

    labels = dict(meta.get("labels") or {})
    roles: set[str] = set()
    for k, v in labels.items():
        if k.startswith(LABEL_NODE_ROLE_PREFIX):
            role = k[len(LABEL_NODE_ROLE_PREFIX):]
            if role:
                roles.add(role)
        elif k == NODE_LABEL_ROLE and v:
            roles.add(v)
    pressure = tuple(c.get("type") for c in conditions
                     if c.get("type") in PRESSURE_CONDITIONS and c.get("status") == "True")
    internal_ip = "<none>"
    for addr in status.get("addresses") or []:
        if addr.get("type") == "InternalIP":
            internal_ip = addr.get("address", "") or "<none>"
            break

    is_ready = parts[0] == "Ready"
    if not is_ready:
        severity = "error"
    elif spec.get("unschedulable") or pressure:
        severity = "warn"
    else:
        severity = "ok"
    created = parse_time(meta.get("creationTimestamp"))
    name = meta.get("name", "") or ""
    return NodeRow(
        key=name,
        name=name,
        status=",".join(parts),
        ready=is_ready,
        roles=",".join(sorted(roles)) or "<none>",
        version=((status.get("nodeInfo") or {}).get("kubeletVersion")) or "",
        pressure=pressure,
        age=human_duration(now - created) if created else "<unknown>",
        created_at=_epoch(created),
        pods=pod_count,
        internal_ip=internal_ip,
        labels=labels,
        severity=severity,
    )


# --- rollouts ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RolloutRow:
    """One workload's rollout: the counts, revision, images and kubectl's message, with a progress bar."""

    key: str
    kind: str
    namespace: str
    name: str
    desired: int
    updated: int
    ready: int
    available: int
    revision: str | None
    images: tuple[str, ...]
    progress: float
    message: str
    state: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    severity: str = "ok"

    SEARCH_FIELDS: ClassVar[tuple[str, ...]] = ("kind", "namespace", "name", "revision", "images", "message",
                                                "state")

    @property
    def ready_text(self) -> str:
        """The READY cell of ``kubectl get deploy``: ready/desired."""
        return f"{self.ready}/{self.desired}"


_ROLLOUT_SEVERITY = {"complete": "ok", "progressing": "warn", "undecidable": "warn", "failed": "error"}


def rollout_row(obj: Mapping[str, Any]) -> RolloutRow:
    """Render a Deployment, StatefulSet or DaemonSet; raises ``UnsupportedKindError`` for anything else.

    The key is ``namespace/Kind/name``: a Deployment and a StatefulSet may share a name in a namespace.
    """
    rs = rollout_status(obj)
    labels = dict(((obj.get("metadata") or {}).get("labels")) or {})
    return RolloutRow(
        key=f"{rs.namespace}/{rs.kind}/{rs.name}",
        kind=rs.kind,
        namespace=rs.namespace,
        name=rs.name,
        desired=rs.desired,
        updated=rs.updated,
        ready=rs.ready,
        available=rs.available,
        revision=rs.revision,
        images=rs.images,
        progress=rs.progress,
        message=rs.message,
        state=rs.state,
        labels=labels,
        severity=_ROLLOUT_SEVERITY[rs.state],
    )


# --- events --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event, with kubectl's LAST SEEN / FIRST SEEN / COUNT rules and a warnings-first sort key."""

    key: str
    namespace: str
    type: str
    reason: str
    object: str
    message: str
    count: int
    last_seen: str
    first_seen: str
    last_seen_at: float | None
    first_seen_at: float | None
    source: str
    sort_key: tuple[int, float, str]
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    severity: str = "ok"

    SEARCH_FIELDS: ClassVar[tuple[str, ...]] = ("namespace", "type", "reason", "object", "message", "source")
    SORT_KEYS: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "last_seen": lambda r: _neg(r.last_seen_at),
        "first_seen": lambda r: _neg(r.first_seen_at),
    }


def event_row(obj: Mapping[str, Any], now: datetime) -> EventRow:
    """Render a core/v1 Event (or an events.k8s.io/v1 one) as of ``now``."""
    meta = obj.get("metadata") or {}
    first = parse_time(obj.get("firstTimestamp")) or parse_time(obj.get("eventTime"))
    last = parse_time(obj.get("lastTimestamp")) or first
    count = int(obj.get("count") or obj.get("deprecatedCount") or 0)
    series = obj.get("series")
    if series:
        last = parse_time(series.get("lastObservedTime")) or last
        count = int(series.get("count") or 0)
    elif count == 0:
        count = 1  # singleton events carry no count in the new API
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    kind, iname = involved.get("kind", "") or "", involved.get("name", "") or ""
    target = f"{kind.lower()}/{iname}"  # as kubectl get events writes it: pod/web-1, node/node-2
    source = obj.get("source") or {}
    src = (source.get("component") or obj.get("reportingController") or obj.get("reportingComponent")
           or "")
    host = source.get("host") or obj.get("reportingInstance") or ""
    etype = obj.get("type", "") or ""
    ns = meta.get("namespace", "") or ""
    name = meta.get("name", "") or ""
    last_at = _epoch(last)
    return EventRow(
        key=meta.get("uid") or f"{ns}/{name}",
        namespace=ns,
        type=etype,
        reason=obj.get("reason", "") or "",
        object=target,
        message=(obj.get("message") or obj.get("note") or "").strip(),
        count=count,
        last_seen=human_duration(now - last) if last else "<unknown>",
        first_seen=human_duration(now - first) if first else "<unknown>",
        last_seen_at=last_at,
        first_seen_at=_epoch(first),
        source=f"{src}, {host}" if src and host else src,
        # Warnings first, then newest first; an event with no time sorts after timed ones.
        sort_key=(0 if etype == "Warning" else 1, -last_at if last_at is not None else float("inf"), name),
        labels=dict(meta.get("labels") or {}),
        severity="warn" if etype == "Warning" else "ok",
    )
