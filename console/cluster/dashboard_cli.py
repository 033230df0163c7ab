"""``opsconsole watch``: the live cluster dashboard, full screen and read-only.

Wiring (in console/cli.py)::

    from console.cluster.dashboard_cli import add_watch_command
    add_watch_command(sub)

Namespace scope follows kubectl: ``-n NS`` watches one namespace, ``-A`` all of them, and neither means the
context's own default namespace. Problems the operator can fix (no kubeconfig, an unknown context, a bad
policy file) are one sentence on stderr and exit status 1; the dashboard itself starts even when the
server does not answer, and says so in every panel rather than showing an empty screen.

This module never imports Textual at import time: the UI is loaded inside the handler.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from console.cluster.watch_changes import Change, WatchStatus

__all__ = ["PANEL_KINDS", "WatchHandle", "WatchLike", "WatchSource", "add_watch_command", "cmd_watch",
           "kube_watch_source", "resolve_scope"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
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
        # Imported here: the client's API modules take most of a second to import (they pull in every
        # model), and the UI calls this in a worker thread.
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


def add_watch_command(sub: Any) -> argparse.ArgumentParser:
    """Register ``watch`` on the CLI's sub-parsers; returns its parser."""
    parser = sub.add_parser("watch", help="watch pods, nodes, rollouts and events live (read-only dashboard)",
                            description="Watch a cluster live: rollouts, pods, nodes and events, full screen. "
                            "Keys: / filter, s sort, enter details, c context, n namespace, z zoom, ? all keys, q quit.")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current context)")
    parser.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--config", metavar="PATH", help="policy file (default: $OPSCONSOLE_CONFIG, ./opsconsole.toml, "
                        "~/.config/opsconsole/opsconsole.toml)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", metavar="NS", help="watch one namespace (default: the context's)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    parser.set_defaults(func=cmd_watch)
    return parser


def resolve_scope(kube: Any, context: str | None, namespace: str | None, all_namespaces: bool) -> tuple[str, str | None]:
    """(context, namespace or None for all) as kubectl would choose them; raises the kube module's errors."""
    name = context or kube.current_context
    info = kube.context(name)
    if all_namespaces:
        return name, None
    return name, namespace or info.namespace


def cmd_watch(args: argparse.Namespace) -> int:
    """Run the dashboard; returns the exit status."""
    from console.cluster.kube import KubeAccess, KubeError
    from console.config import ConfigError, load_policy

    try:
        policy = load_policy(getattr(args, "config", None))
        kube = KubeAccess(args.kubeconfig)
        context, namespace = resolve_scope(kube, args.context, args.namespace, args.all_namespaces)
    except (KubeError, ConfigError) as exc:
        sys.stderr.write(f"opsconsole watch: {exc}\n")
        return EXIT_FAIL
    # Start listing before the UI is even imported: the first lists (seconds on a big cluster) then overlap
    # the UI's start-up instead of following it.
    handle = kube_watch_source(kube)(context, namespace)
    try:
        from screens.cluster import run_watch

        return run_watch(kube=kube, policy=policy, context=context, namespace=namespace, handle=handle)
    finally:
        handle.watch.stop(timeout=1.0)
        kube.close()
