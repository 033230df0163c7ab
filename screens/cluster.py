"""The live cluster dashboard: the screen and the app around the four panels of ``ClusterView``.

``ClusterScreen`` adds to the view the header that always names the context and namespace (red for a production
context, as policy maps it), and pickers to switch context (``c``) and namespace (``n``) at run time.
``ClusterApp`` is what ``opsconsole watch`` runs (``run_watch``): the screen, full screen, read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer

from console.cluster.kube import KubeError
from console.cluster.source import WatchHandle, WatchSource, kube_watch_source
from console.config import Policy
from screens.widgets.cluster_header import ClusterHeader
from screens.widgets.cluster_view import ClusterView
from screens.widgets.lock_banner import LockBanner, context_locks
from screens.widgets.pickers import ContextPicker, NamespacePicker

__all__ = ["ClusterApp", "ClusterScreen", "run_watch"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ClusterScreen(Screen):
    """The dashboard: header naming context and namespace, the four panels, context and namespace pickers.

    ``kube`` is a ``KubeAccess`` (contexts for the picker, clients for the watch); ``source`` may replace
    the watch source (tests, the benchmark). A context that ``policy`` maps to a production environment
    gives the screen a red frame.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "pick_context", "Context", id="cluster.context", tooltip="Switch to another kubeconfig context"),
        Binding("n", "pick_namespace", "Namespace", id="cluster.namespace", tooltip="Switch namespace (or all)"),
    ]

    def __init__(self, *, kube: Any, policy: Policy, context: str | None = None, namespace: str | None = None,
                 source: WatchSource | None = None, clock: Callable[[], datetime] = _utc_now,
                 handle: WatchHandle | None = None) -> None:
        super().__init__()
        self.kube = kube
        self.policy = policy
        self.context = context or kube.current_context
        self.namespace = namespace
        self.clock = clock
        self.view = ClusterView(source=source or kube_watch_source(kube), context=self.context, namespace=namespace,
                                clock=clock, handle=handle, server=self._server(self.context), id="cluster-view")

    def compose(self) -> ComposeResult:
        yield ClusterHeader(id="cluster-header")
        # A change in progress on this cluster, from its change lock (the Lease its console renews per step).
        yield LockBanner(context_locks(self.kube, lambda: self.context), id="lock-banner")
        yield self.view
        yield Footer()

    def on_mount(self) -> None:
        self._show_header()

    def environment(self, context: str) -> tuple[str | None, bool]:
        """(environment name, production?) for a context, as policy maps it."""
        env = self.policy.environment_of(context)
        return env, bool(env and self.policy.environments[env].production)

    def _server(self, context: str) -> str:
        try:
            return str(self.kube.context(context).server)
        except KubeError:  # a header without the URL is better than no dashboard
            return ""

    def _show_header(self) -> None:
        env, production = self.environment(self.context)
        server = self._server(self.context)
        self.set_class(production, "-production")
        self.query_one(ClusterHeader).show(context=self.context, namespace=self.namespace, environment=env,
                                           production=production, server=server, hint="c context · n namespace · ? keys")

    def switch(self, context: str, namespace: str | None) -> None:
        """Show another context/namespace (the header changes first: never act on the wrong cluster)."""
        self.context, self.namespace = context, namespace
        self._show_header()
        self.view.server = self._server(context)
        self.view.switch(context, namespace)
        banner = self.query_one(LockBanner)
        banner.set_fetch(banner.fetch)  # the same fetch asks the new context

    def action_pick_context(self) -> None:
        contexts = []
        for info in self.kube.contexts():
            env, production = self.environment(info.name)
            tag = "  [b red]PRODUCTION[/]" if production else (f"  ({env})" if env else "")
            mark = "● " if info.name == self.context else "  "
            contexts.append((info.name, f"{mark}{info.name}  [dim]{info.server}[/]{tag}"))

        def chosen(name: str | None) -> None:
            if name and name != self.context:
                self.switch(name, self.kube.context(name).namespace if self.namespace else None)

        self.app.push_screen(ContextPicker(contexts, self.context), chosen)

    def action_pick_namespace(self) -> None:
        def chosen(value: str | None) -> None:
            if value is None:
                return
            ns = None if value == NamespacePicker.ALL else value
            if ns != self.namespace:
                self.switch(self.context, ns)

        self.app.push_screen(NamespacePicker(self.view.known_namespaces(), self.namespace), chosen)


class ClusterApp(App):
    """``opsconsole watch``: the dashboard alone, full screen and read-only."""

    CSS_PATH = "opsconsole.tcss"
    TITLE = "opsconsole watch"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave the console"),
        Binding("question_mark", "show_help", "Keys", id="app.help", tooltip="Show every key binding"),
    ]

    def __init__(self, *, kube: Any, policy: Policy, context: str | None = None, namespace: str | None = None,
                 source: WatchSource | None = None, clock: Callable[[], datetime] = _utc_now,
                 handle: WatchHandle | None = None) -> None:
        super().__init__()
        self.cluster_screen = ClusterScreen(kube=kube, policy=policy, context=context, namespace=namespace,
                                            source=source, clock=clock, handle=handle)

    def on_mount(self) -> None:
        self.push_screen(self.cluster_screen)

    def action_show_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()


def run_watch(*, kube: Any, policy: Policy, context: str | None, namespace: str | None,
              handle: WatchHandle | None = None) -> int:
    """Run the dashboard until the operator quits; returns the exit code."""
    app = ClusterApp(kube=kube, policy=policy, context=context, namespace=namespace, handle=handle)
    app.run()
    return app.return_code or 0

