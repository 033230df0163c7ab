"""Where the live dashboard's data comes from: a ``WatchSource`` starts a watch of one context and namespace and
hands back a ``WatchHandle`` (the watch, pod logs, the server's URL).

``kube_watch_source`` is the real one, over a ``KubeAccess``; tests and the benchmark may pass their own. The
screens that show the dashboard take a source, so nothing here knows about the UI, and the command that starts
the UI (``console/cli.py``) passes in what it has already started.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from console.cluster.watch_changes import Change, WatchStatus

__all__ = ["PANEL_KINDS", "LogReader", "WatchHandle", "WatchLike", "WatchSource", "kube_watch_source"]

PANEL_KINDS = ("pods", "nodes", "deployments", "statefulsets", "daemonsets", "events")


class WatchLike(Protocol):
    """What the dashboard needs of a ``ClusterWatch``."""

    def start(self) -> None: ...
    def stop(self, timeout: float = 2.0) -> None: ...
    def drain(self, max_changes: int | None = None) -> list[Change]: ...
    def statuses(self) -> dict[str, WatchStatus]: ...


# (namespace, pod, container or None, tail lines) -> the log text; raises the client's errors.
LogReader = Callable[[str, str, "str | None", int], str]


@dataclass
class WatchHandle:
    """A started watch, and what else the dashboard may use for the same context (pod logs, the URL)."""

    watch: Any  # a WatchLike; Any so tests may pass a ClusterWatch or anything shaped like one
    log_reader: LogReader | None = None
    server: str = ""


# (context, namespace or None for all) -> a started WatchHandle; may block (the UI calls it in a thread).
WatchSource = Callable[[str, "str | None"], WatchHandle]


def kube_watch_source(kube: Any, *, kinds: Sequence[str] = PANEL_KINDS) -> WatchSource:
    """A ``WatchSource`` over a ``KubeAccess``: one cached client per context, pod logs through it."""

    def source(context: str, namespace: str | None) -> WatchHandle:
        # Imported here for start-up cost: the client's API modules take most of a second to import (they pull
        # in every model), and the UI calls this in a worker thread; the CLI imports this module to build its parser.
        from kubernetes import client

        from console.cluster.watch import ClusterWatch

        api = kube.client_for(context)
        cw = ClusterWatch(api, kinds=kinds, namespace=namespace)
        cw.start()
        core = client.CoreV1Api(api)

        def read_log(ns: str, pod: str, container: str | None, tail: int) -> str:
            kwargs: dict[str, Any] = {"tail_lines": tail, "_request_timeout": (5, 15)}
            if container:
                kwargs["container"] = container
            return str(core.read_namespaced_pod_log(pod, ns, **kwargs))

        return WatchHandle(cw, read_log, kube.context(context).server)

    return source
