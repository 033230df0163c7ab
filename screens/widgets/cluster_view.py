"""ClusterView: the four live panels and the watch plumbing for one context and namespace.

The dashboard (``screens.cluster``) and the runbook step screen (beside the step, filtered to the runbook's
namespace) both embed it. It starts a ``ClusterWatch`` for one context and namespace in a thread worker, drains
it on a 10 Hz timer on the UI thread, and hands each panel its kinds' changes in one batch. Watch threads never
touch widgets; a panel that fails to apply a batch gets an error badge and the others carry on; a worker that
fails becomes a notification (one ``Worker.StateChanged`` handler, Harlequin's pattern). The nodes' pod counts
come from the pure ``PodCounter``.

The view holds every object it shows: at 50,000 pods that is about a million small containers that never form
reference cycles, and each full cyclic collection of the garbage collector walks all of them (a second or two
with the UI stopped). ``HeapFreezer`` moves what has survived into the collector's permanent generation after
every 500 changes, so collections walk only what arrived since.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from console.cluster.pod_counts import PodCounter
from console.cluster.reachability import unreachable_sentence
from console.cluster.source import WatchHandle, WatchSource
from console.cluster.watch_changes import LIVE, RECONNECTING, Change, WatchStatus
from screens.widgets.events_panel import EventsPanel
from screens.widgets.nodes_panel import NodesPanel
from screens.widgets.pods_panel import PodsPanel
from screens.widgets.resource_panel import ResourcePanel
from screens.widgets.rollouts_panel import RolloutsPanel

__all__ = ["TICK_S", "ClusterView", "HeapFreezer"]

log = logging.getLogger(__name__)

TICK_S = 0.1


def _utc_now() -> datetime:
    return datetime.now(UTC)


class HeapFreezer:
    """Freezes the heap (``gc.freeze``) once ``every`` changes have been applied since the last freeze.

    Objects in the permanent generation are still freed when their last reference goes (a replaced pod is); only a
    reference cycle that was alive at a freeze and dies later is never collected. So before each freeze but the
    first a full collection runs, which is cheap because it walks only what was allocated since the last freeze;
    the first freeze comes right after the initial lists, when a collection would walk everything.
    """

    def __init__(self, every: int = 500) -> None:
        self.every = every
        self.pending = 0
        self.freezes = 0

    def applied(self, count: int) -> bool:
        """Count ``count`` applied changes; returns True when this call froze the heap."""
        self.pending += count
        if self.pending < self.every:
            return False
        self.pending = 0
        if self.freezes:
            gc.collect()
        gc.freeze()
        self.freezes += 1
        return True


class ClusterView(Vertical):
    """The four panels and the watch plumbing for one context and namespace (see the module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("z", "maximize_panel", "Zoom", id="cluster.zoom", tooltip="Show the focused panel alone (again to go back)"),
        Binding("1", "focus_panel('rollouts')", "Rollouts", show=False, id="cluster.focus_rollouts",
                tooltip="Focus the Rollouts panel"),
        Binding("2", "focus_panel('pods')", "Pods", show=False, id="cluster.focus_pods", tooltip="Focus the Pods panel"),
        Binding("3", "focus_panel('nodes')", "Nodes", show=False, id="cluster.focus_nodes", tooltip="Focus the Nodes panel"),
        Binding("4", "focus_panel('events')", "Events", show=False, id="cluster.focus_events",
                tooltip="Focus the Events panel"),
    ]

    def __init__(self, *, source: WatchSource, context: str, namespace: str | None,
                 clock: Callable[[], datetime] = _utc_now, tick_s: float = TICK_S, handle: WatchHandle | None = None,
                 server: str = "", id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.source = source
        self.server = server  # the context's API server, named when it cannot be reached
        self.reach = Static("", id="cluster-reach")
        self._initial = handle  # a watch started before the UI (the CLI does, so the list overlaps start-up)
        self.context = context
        self.namespace = namespace
        self.clock = clock
        self.tick_s = tick_s
        self.handle: WatchHandle | None = None
        self._generation = 0
        self.pod_counter = PodCounter()
        self.heap = HeapFreezer()
        self.ticks = 0
        self.rollouts = RolloutsPanel(clock=clock, id="rollouts")
        self.pods = PodsPanel(clock=clock, id="pods")
        self.nodes = NodesPanel(clock=clock, id="nodes")
        self.events = EventsPanel(clock=clock, id="events")
        self._reach_text = ""
        self._by_kind: dict[str, ResourcePanel] = {}
        for panel in self.panels:
            for kind in panel.KINDS:
                self._by_kind[kind] = panel

    @property
    def panels(self) -> tuple[ResourcePanel, ...]:
        return (self.rollouts, self.pods, self.nodes, self.events)

    def compose(self) -> ComposeResult:
        yield self.reach
        yield self.rollouts
        yield self.pods
        with Horizontal(id="cluster-bottom"):
            yield self.nodes
            yield self.events

    def on_mount(self) -> None:
        self.reach.display = False
        self.set_interval(self.tick_s, self.tick)
        if self._initial is not None:
            self.handle, self._initial = self._initial, None
        else:
            self.start_watch()
        self.pods.table.focus()

    def on_unmount(self) -> None:
        # Workers are cancelled when the app closes, so stop the threads here; ClusterWatch.stop cuts their
        # connections and is bounded by its timeout.
        handle, self.handle = self.handle, None
        if handle is not None:
            handle.watch.stop(timeout=1.0)

    # -- the watch -------------------------------------------------------------------------------

    def start_watch(self) -> None:
        """Start watching ``context``/``namespace`` (in a thread: building a client may block)."""
        self._generation += 1
        self._start_worker(self._generation, self.context, self.namespace)

    @work(thread=True, exit_on_error=False, group="cluster-watch", name="start-watch")
    def _start_worker(self, generation: int, context: str, namespace: str | None) -> tuple[int, WatchHandle]:
        return generation, self.source(context, namespace)

    def switch(self, context: str, namespace: str | None) -> None:
        """Show another context and/or namespace: stop the old watch, forget its rows, start anew."""
        old, self.handle = self.handle, None
        self._stop_handle(old, wait=False)
        self.context, self.namespace = context, namespace
        self.pod_counter.clear()
        for panel in self.panels:
            panel.reset()
        self.start_watch()

    def _stop_handle(self, handle: WatchHandle | None, *, wait: bool) -> None:
        if handle is None:
            return
        if wait:
            handle.watch.stop()
        else:
            self._stop_worker(handle)

    @work(thread=True, exit_on_error=False, group="cluster-watch-stop", name="stop-watch")
    def _stop_worker(self, handle: WatchHandle) -> None:
        handle.watch.stop()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Harlequin's pattern: a failed worker becomes a notification and an error badge, never a crash."""
        worker = event.worker
        if worker.group == "cluster-watch" and event.state == WorkerState.SUCCESS:
            generation, handle = cast("tuple[int, WatchHandle]", worker.result)
            if generation != self._generation:  # a switch happened meanwhile: this watch is stale
                self._stop_worker(handle)
                return
            self.handle = handle
        elif worker.group in ("cluster-watch", "cluster-watch-stop") and event.state == WorkerState.ERROR:
            err = worker.error
            message = str(err) or type(err).__name__
            if worker.group == "cluster-watch":
                for panel in self.panels:
                    panel.set_error(message)
            self.notify(message, title="Cluster watch", severity="error", timeout=10)
            log.warning("cluster worker %s failed: %s", worker.name, message)

    # -- the tick --------------------------------------------------------------------------------

    def tick(self) -> None:
        """Drain the watch and apply the batch, panel by panel; nothing is redrawn unless it changed."""
        handle = self.handle
        if handle is None:
            return
        self.ticks += 1
        changes = handle.watch.drain()
        if changes:
            # Counted (and perhaps frozen) before they are applied: a first list of 50,000 pods is then frozen before
            # its rows are built, and collections during that work no longer walk every pod.
            self.heap.applied(sum(len(ch.objects) if ch.type == "RESYNC" else 1 for ch in changes))
            self.apply_changes(changes)
        statuses = handle.watch.statuses()
        for panel in self.panels:
            panel.set_statuses(statuses)
        self._show_reach(list(statuses.values()))

    def _show_reach(self, statuses: Sequence[WatchStatus]) -> None:
        """While no kind is live and the server is not answering, one sentence says which server, why, and since when."""
        failing = [s for s in statuses if s.state == RECONNECTING and s.message]
        sentence = ""
        if failing and not any(s.state == LIVE for s in statuses):
            since = min(s.since for s in failing)
            sentence = unreachable_sentence(server=self.server, context=self.context, reason=failing[0].message,
                                            seconds=self.clock().timestamp() - since)
        if sentence != self._reach_text:
            self._reach_text = sentence
            self.reach.update(sentence)
            self.reach.display = bool(sentence)

    def apply_changes(self, changes: Sequence[Change]) -> None:
        """Route a batch to the panels (pods first: the nodes' pod counts come from them)."""
        by_panel: dict[int, list[Change]] = {}
        pod_changes: list[Change] = []
        for ch in changes:
            panel = self._by_kind.get(ch.kind)
            if panel is None:
                continue
            by_panel.setdefault(id(panel), []).append(ch)
            if ch.kind == "pods":
                pod_changes.append(ch)
        counts_changed = self.pod_counter.apply(pod_changes) if pod_changes else set()
        for panel in (self.pods, self.rollouts, self.events, self.nodes):
            batch = by_panel.get(id(panel))
            if panel is self.nodes and counts_changed:
                self._guard(panel, partial(self.nodes.set_pod_counts, self.pod_counter.counts, counts_changed))
            if batch:
                self._guard(panel, partial(panel.apply_changes, batch))

    def _guard(self, panel: ResourcePanel, fn: Callable[[], object]) -> None:
        # One panel's failure (an object no renderer expected) must not take the dashboard down: the panel
        # shows an error badge with the reason and keeps its last good rows; the other panels carry on.
        try:
            fn()
        except Exception as exc:
            log.exception("panel %s failed to apply changes", panel.id)
            panel.set_error(f"{type(exc).__name__}: {exc}")
            self.notify(f"{panel.TITLE}: {type(exc).__name__}: {exc}", title="Panel error", severity="error")

    # -- details and panels ----------------------------------------------------------------------

    @on(ResourcePanel.ObjectChosen)
    def _object_chosen(self, event: ResourcePanel.ObjectChosen) -> None:
        event.stop()
        reader = self.handle.log_reader if self.handle is not None else None
        from screens.widgets.object_detail import ObjectDetailScreen  # when first asked for: its widgets cost start-up

        self.app.push_screen(ObjectDetailScreen(event.kind, event.obj, log_reader=reader))

    def action_maximize_panel(self) -> None:
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
            return
        focused = self.app.focused
        panel = next((p for p in self.panels if focused is not None and (focused is p or p in focused.ancestors)), None)
        if panel is not None:
            screen.maximize(panel, container=False)

    def action_focus_panel(self, name: str) -> None:
        panel = {"rollouts": self.rollouts, "pods": self.pods, "nodes": self.nodes, "events": self.events}[name]
        panel.table.focus()

    def known_namespaces(self) -> list[str]:
        """Namespaces seen in the objects on hand (for the namespace picker)."""
        seen: set[str] = set()
        for panel in (self.pods, self.rollouts):
            for kind in panel.KINDS:
                for obj in panel.cache.objects(kind):
                    ns = (obj.get("metadata") or {}).get("namespace")
                    if ns:
                        seen.add(ns)
        return sorted(seen)
