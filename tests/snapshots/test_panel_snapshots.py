"""Snapshots of each cluster panel with fixed objects (tests/cluster/fixtures) and a frozen "now".

Each panel is shown alone in a small host app at a fixed size, fed one RESYNC of fixture objects, and given
fixed watch states, so the SVGs change only when the panels' rendering does. Update only after looking at
the difference: ``pytest tests/snapshots/test_panel_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult

from console.cluster.watch_changes import Change, WatchStatus
from screens.widgets.cluster_header import ClusterHeader
from screens.widgets.events_panel import EventsPanel
from screens.widgets.nodes_panel import NodesPanel
from screens.widgets.pods_panel import PodsPanel
from screens.widgets.resource_panel import ResourcePanel
from screens.widgets.rollouts_panel import RolloutsPanel

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "cluster" / "fixtures"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def live(kinds: tuple[str, ...]) -> dict[str, WatchStatus]:
    return {k: WatchStatus(k, "live", NOW.timestamp() - 300, synced=True) for k in kinds}


class PanelHost(App[None]):
    """One panel (and optionally the cluster header) with the app's real stylesheet."""

    CSS_PATH = str(REPO / "screens" / "opsconsole.tcss")

    def __init__(self, panel: ResourcePanel, feed: dict[str, list[dict[str, Any]]], *, header: bool = False,
                 focus: bool = False) -> None:
        super().__init__()
        self.panel, self.feed, self.header, self.focus_table = panel, feed, header, focus

    def compose(self) -> ComposeResult:
        if self.header:
            yield ClusterHeader(id="cluster-header")
        yield self.panel

    def on_mount(self) -> None:
        self.panel.apply_changes([Change(kind, "RESYNC", "", None, tuple(objs)) for kind, objs in self.feed.items()])
        self.panel.set_statuses(live(self.panel.KINDS))
        if self.header:
            self.query_one(ClusterHeader).show(context="prod-eu-1", namespace="web", environment="production",
                                               production=True, server="https://10.0.0.1:6443")
        if self.focus_table:
            self.panel.table.focus()
        else:
            self.set_focus(None)


def clock() -> datetime:
    return NOW


def test_pods_panel(snap_compare: Any) -> None:
    pods = [c["pod"] for c in fixture("pods")["cases"]]
    app = PanelHost(PodsPanel(clock=clock), {"pods": pods}, focus=True)
    assert snap_compare(app, terminal_size=(120, 36))


def test_pods_panel_filtered_and_sorted(snap_compare: Any) -> None:
    pods = [c["pod"] for c in fixture("pods")["cases"]]
    app = PanelHost(PodsPanel(clock=clock), {"pods": pods}, focus=True)

    async def run_before(pilot: Any) -> None:
        app.panel.set_filter("!Running")
        app.panel.table.set_sort("restarts", reverse=True)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 24), run_before=run_before)


def test_nodes_panel(snap_compare: Any) -> None:
    cases = fixture("nodes")["cases"]
    panel = NodesPanel(clock=clock)
    panel.pod_counts = {c["node"]["metadata"]["name"]: c.get("pod_count", 0) for c in cases}
    app = PanelHost(panel, {"nodes": [c["node"] for c in cases]})
    assert snap_compare(app, terminal_size=(80, 10))


def test_rollouts_panel_with_production_header(snap_compare: Any) -> None:
    workloads = fixture("workloads")
    feed: dict[str, list[dict[str, Any]]] = {"deployments": [], "statefulsets": [], "daemonsets": []}
    for obj in workloads.values():
        feed[{"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}[obj["kind"]]].append(obj)
    app = PanelHost(RolloutsPanel(clock=clock), feed, header=True)
    assert snap_compare(app, terminal_size=(120, 12))


def test_events_panel_reconnecting(snap_compare: Any) -> None:
    events = fixture("events")["events"]
    panel = EventsPanel(clock=clock)
    app = PanelHost(panel, {"events": events})

    async def run_before(pilot: Any) -> None:
        # Live, then the watch drops 42 s ago: the badge says so and how old the rows are.
        panel.set_statuses({"events": WatchStatus("events", "reconnecting", NOW.timestamp() - 42,
                                                  "connection refused", synced=True)})
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 10), run_before=run_before)
