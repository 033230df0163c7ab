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
# Objects per list page: small enough that the first rows show within a moment on a big cluster, big enough that
# the pages' round trips cost little (benchmarks/panels.py measures the first frame with every pod).
LIST_PAGE = 500


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


def kube_watch_source(kube: Any, *, kinds: Sequence[str] = PANEL_KINDS, page_size: int | None = LIST_PAGE) -> WatchSource:
    """A ``WatchSource`` over a ``KubeAccess``: its transport per context (plain HTTP where the auth allows, so
    listing starts before the official client has loaded), pod logs through the official client."""

    def source(context: str, namespace: str | None) -> WatchHandle:
        from console.cluster.watch import ClusterWatch

        cw = ClusterWatch(kube.transport_for(context), kinds=kinds, namespace=namespace, page_size=page_size)
        cw.start()
        core: list[Any] = []  # the client's CoreV1Api, built on the first log asked for

        def read_log(ns: str, pod: str, container: str | None, tail: int) -> str:
            # Imported here for start-up cost: the client's API modules take most of a second to import (they
            # pull in every model), and logs are read only when the operator opens a pod's details.
            if not core:
                from kubernetes import client

                core.append(client.CoreV1Api(kube.client_for(context)))
            kwargs: dict[str, Any] = {"tail_lines": tail, "_request_timeout": (5, 15)}
            if container:
                kwargs["container"] = container
            return str(core[0].read_namespaced_pod_log(pod, ns, **kwargs))

        return WatchHandle(cw, read_log, kube.context(context).server)

    return source
