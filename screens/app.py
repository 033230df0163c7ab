"""OpsConsoleApp: the Textual application, its global bindings and its start-up (kept small)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from textual import work
from textual.actions import SkipAction
from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from console import __version__
from console.config import Policy
from console.engine import policy as pol
from console.engine.session import ChangeSession
from console.journal.store import RecordStore
from console.runbook.loader import load_runbook
from screens.home import HomeScreen
from screens.key_order import OrderedKeysApp


def utcnow() -> datetime:
    return datetime.now(UTC)


class OpsConsoleApp(OrderedKeysApp):
    """The console; built with its dependencies passed in, so tests choose every path and the clock."""

    CSS_PATH = "opsconsole.tcss"
    TITLE = "opsconsole"
    SUB_TITLE = f"v{__version__}"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", tooltip="Leave the console"),
        Binding("question_mark", "show_keys", "Keys", id="app.help", tooltip="Show every key binding"),
        # On a form ? is a character like any other; F1 shows the keys there too.
        Binding("f1", "show_keys", "Keys", show=False, id="app.help_f1", tooltip="Show every key binding"),
        # Priority, so escape closes the key list before it means "back" to the screen underneath.
        Binding("escape", "hide_keys", "Close the key list", show=False, priority=True, id="app.help_close",
                tooltip="Close the list of keys"),
    ]

    def __init__(self, *, records_dir: Path, runbooks_dir: Path, policy: Policy | None = None, kubeconfig: str | None = None,
                 operator: str = "operator", clock: Callable[[], datetime] = utcnow, start_runbook: Path | None = None,
                 resume_id: str | None = None, cluster_widget: Callable[..., object] | None = None,
                 cluster_panels: bool = False, start_params: dict[str, str] | None = None,
                 start_context: str | None = None, start_approvals: list[pol.Approval] | None = None) -> None:
        super().__init__()
        self.records_dir = records_dir
        self.runbooks_dir = runbooks_dir
        self.policy = policy or Policy()
        self.kubeconfig = kubeconfig
        self.operator = operator
        self.clock = clock
        self.start_runbook = start_runbook
        self.start_params = start_params or {}  # --param and --context of `opsconsole run`, prefilled in the form
        self.start_context = start_context
        self.start_approvals = list(start_approvals or [])  # --approval NAME:ROLE:TICKET, prefilled per role
        self.resume_id = resume_id
        self.cluster_widget = cluster_widget
        self.cluster_panels = cluster_panels  # live panels beside each step (the CLI turns them on)
        self.store = RecordStore(records_dir)
        self._quit_armed = False
        self.closed_outcome: str | None = None  # how the last change closed in this app ended (the exit code)
        self.panels_ready = threading.Event()  # set once the live panels' modules are imported (see _warm_up)

    def on_mount(self) -> None:
        self._warm_up()
        self.push_screen(HomeScreen(records_dir=self.records_dir, runbooks_dir=self.runbooks_dir))
        if self.start_runbook is not None:
            self.open_start(self.start_runbook)
        elif self.resume_id is not None:
            self.open_resume(self.resume_id)

    def get_system_commands(self, screen: Screen):
        """The palette lists every action, built from what is on disk now: a start per runbook, a resume per open change."""
        yield from super().get_system_commands(screen)
        from screens.home import scan_runbooks

        for entry in scan_runbooks(self.runbooks_dir):
            if not entry.problem:
                yield SystemCommand(f"Start: {entry.title}", f"{entry.id} · {entry.versions} · risk {entry.risk}",
                                    lambda path=entry.path: self.open_start(path))
        for change_id in self.open_changes():
            yield SystemCommand(f"Resume {change_id}", "carry on with a change that is not closed",
                                lambda cid=change_id: self.open_resume(cid))
        from screens.records import RecordsScreen

        yield SystemCommand("Review records", "browse, search and verify past changes",
                            lambda: self.push_screen(RecordsScreen(records_dir=self.records_dir, clock=self.clock, reviewer=self.operator)))
        yield SystemCommand("Keys", "show every key binding", self.action_show_keys)

    def open_changes(self) -> list[str]:
        from console.review.index import load_index

        if not self.records_dir.is_dir():
            return []
        return sorted(e.change_id for e in load_index(self.records_dir).entries if e.outcome is None)

    async def action_quit(self) -> None:
        """Quit; with a step running, the first ctrl+q warns and the second cancels the step (recorded) first."""
        from screens.step import StepScreen

        screen = self.screen
        if isinstance(screen, StepScreen) and screen.running:
            if not self._quit_armed:
                self._quit_armed = True
                self.notify("A step is running. ctrl+q again cancels it (recorded as cancelled) and quits; "
                            "the change can be resumed.", severity="warning", timeout=8)
                return
            screen.session.cancel()
        # The exit code says how the last change closed here ended, as line mode's does: 0 success, 1 otherwise.
        self.exit(return_code=0 if self.closed_outcome in (None, "success") else 1)

    def action_show_keys(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_hide_keys(self) -> None:
        if not self.screen.query("HelpPanel"):
            raise SkipAction()  # no key list open: escape means what it means on the screen
        self.action_hide_help_panel()

    @work(thread=True, exclusive=True, group="warm", exit_on_error=False)
    def _warm_up(self) -> None:
        """Pay, while the operator is still on Home or the start form, what the first start would pay on ctrl+s.

        The secret scanner's RE2 rules compile once per process (a quarter of a second), and the live panels
        import the Kubernetes client (most of a second): paid on ctrl+s, they held the step screen and its panels
        back by that much.
        """
        import importlib

        from console.engine.secret_scan import rule_scanner

        try:
            rule_scanner()
            if self.cluster_panels:
                for name in ("kubernetes.client", "console.cluster.kube", "console.cluster.watch",
                             "console.cluster.source", "screens.widgets.cluster_view"):
                    importlib.import_module(name)
        finally:
            self.panels_ready.set()  # a failed import is met again, and reported, where the panels are built

    # -- changes -----------------------------------------------------------------------------------------------

    def open_start(self, path: Path) -> None:
        from console.runbook.loader import RunbookError
        from screens.start import StartScreen

        try:
            loaded = load_runbook(path)
        except RunbookError as exc:
            # Home lists an invalid runbook with its first problem; opening it must not end the console.
            self.notify(f"Cannot start: {exc.problems[0]}", severity="error", timeout=10)
            return
        prefill = self.start_params if path == self.start_runbook else {}
        context = self.start_context if path == self.start_runbook else None
        approvals = self.start_approvals if path == self.start_runbook else []
        self.push_screen(StartScreen(loaded, store=self.store, policy=self.policy, kubeconfig=self.kubeconfig,
                                     operator=self.operator, clock=self.clock, on_started=self._started,
                                     params=prefill, context=context, approvals=approvals))

    def _started(self, session: ChangeSession) -> None:
        self.switch_screen(self._step_screen(session))

    def open_resume(self, change_id: str) -> None:
        from console.engine.session import SessionError
        from console.journal.journal import JournalError
        from console.journal.store import StoreError

        try:
            session = ChangeSession.resume(change_id, store=self.store, policy=self.policy, operator=self.operator,
                                           kubeconfig=self.kubeconfig, clock=self.clock)
        except (SessionError, StoreError, JournalError) as exc:
            self.notify(f"cannot resume {change_id}: {exc}", severity="error", timeout=10)
            return
        self.push_screen(self._step_screen(session))

    def _step_screen(self, session: ChangeSession):
        from screens.step import StepScreen

        production = pol.needs_typed_context(self.policy, session.environment)
        factory = None
        if self.cluster_widget is not None:
            factory = lambda: self.cluster_widget(session)  # noqa: E731 - a one-line factory
        elif self.cluster_panels and session.kube is not None and session.touches_cluster():
            factory = self._panels_for(session)
        return StepScreen(session, clock=self.clock, production=production, cluster_widget=factory)


    def _panels_for(self, session: ChangeSession):
        """The live panels beside the step, on the change's pinned context, filtered to the runbook's namespace.

        Nothing is imported or built until the step screen calls the factory, after its first paint and once
        ``panels_ready`` is set (the imports done in a thread), so the step never waits for the panels.
        """
        assert session.kube is not None  # an open change holds its pinned kubeconfig
        path = session.kube.path
        namespace = session.values.get("namespace") or session.kube.namespace

        def factory():
            from console.cluster.kube import KubeAccess, KubeError
            from console.cluster.source import kube_watch_source
            from screens.widgets.cluster_view import ClusterView

            kube = KubeAccess(path)
            try:
                server = str(kube.context(session.context).server)  # named if it cannot be reached
            except KubeError:
                server = ""
            return ClusterView(source=kube_watch_source(kube), context=session.context, namespace=namespace,
                               clock=self.clock, server=server)

        return factory


def run_app(*, records_dir: Path, runbooks_dir: Path, **kwargs) -> int:
    """Run the console full screen until the operator quits; returns the exit code."""
    app = OpsConsoleApp(records_dir=records_dir, runbooks_dir=runbooks_dir, **kwargs)
    app.run()
    return app.return_code or 0
