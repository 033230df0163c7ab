"""``opsconsole watch``: the live cluster dashboard, full screen and read-only.

Wiring (in console/cli.py)::

    from console.cluster.dashboard_cli import add_watch_command
    add_watch_command(sub, start_watch=_start_watch)

Namespace scope follows kubectl: ``-n NS`` watches one namespace, ``-A`` all of them, and neither means the
context's own default namespace. Problems the operator can fix (no kubeconfig, an unknown context, a bad
policy file) are one sentence on stderr and exit status 1; the dashboard itself starts even when the
server does not answer, and says so in every panel rather than showing an empty screen.

The UI is started by ``start_watch``, which the CLI passes in: console never imports the UI.
"""

from __future__ import annotations

import argparse
import functools
import gc
import sys
from typing import TYPE_CHECKING, Any, Protocol

from console.cluster.source import WatchHandle, kube_watch_source

if TYPE_CHECKING:  # for start-up cost, as in cmd_watch: the policy models load pydantic
    from console.config import Policy

__all__ = ["StartWatch", "add_watch_command", "cmd_watch", "resolve_scope"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class StartWatch(Protocol):
    """Runs the dashboard on a watch already started, until the operator quits; returns the exit status."""

    def __call__(self, *, kube: Any, policy: Policy, context: str, namespace: str | None, handle: WatchHandle) -> int: ...


def add_watch_command(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, start_watch: StartWatch) -> argparse.ArgumentParser:
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
    parser.set_defaults(func=functools.partial(cmd_watch, start_watch=start_watch))
    return parser


def resolve_scope(kube: Any, context: str | None, namespace: str | None, all_namespaces: bool) -> tuple[str, str | None]:
    """(context, namespace or None for all) as kubectl would choose them; raises the kube module's errors."""
    name = context or kube.current_context
    info = kube.context(name)
    if all_namespaces:
        return name, None
    return name, namespace or info.namespace


def cmd_watch(args: argparse.Namespace, *, start_watch: StartWatch) -> int:
    """Run the dashboard; returns the exit status.

    Start-up order, for the time to the first full frame on a big cluster: hold the garbage collector off, read
    the kubeconfig (yaml only), start the watch (its lists go out at once, over plain HTTP where the context's
    auth allows: see console/cluster/raw_endpoint.py), then load the policy (pydantic) and the UI (Textual)
    while the lists arrive; the collector resumes once they are drawn (console/cluster/startup_gc.py).
    """
    from console.cluster.startup_gc import GcHeldWatch, hold_gc

    held = hold_gc()  # until the first lists are drawn: see console/cluster/startup_gc.py
    from console.cluster.kube import KubeAccess, KubeError  # no kubernetes client behind it until one is asked for

    try:
        kube = KubeAccess(args.kubeconfig)
        context, namespace = resolve_scope(kube, args.context, args.namespace, args.all_namespaces)
        handle = kube_watch_source(kube)(context, namespace)
    except KubeError as exc:
        if held:
            gc.enable()
        sys.stderr.write(f"opsconsole watch: {exc}\n")
        return EXIT_FAIL
    handle.watch = GcHeldWatch(handle.watch, held=held)
    try:
        from console.config import ConfigError, load_policy

        try:
            policy = load_policy(getattr(args, "config", None))
        except ConfigError as exc:
            sys.stderr.write(f"opsconsole watch: {exc}\n")
            return EXIT_FAIL
        return start_watch(kube=kube, policy=policy, context=context, namespace=namespace, handle=handle)
    finally:
        handle.watch.stop(timeout=1.0)
        kube.close()
