"""LiveTable and the panels with fixed data: only visible rows render, off-screen changes repaint nothing,
the cursor follows its object, RESYNC replaces one kind, the nodes' pod counts follow the pods, and the view's
heap is frozen after enough changes."""

from __future__ import annotations

import gc
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

from textual.app import App, ComposeResult

from console.cluster.row_index import RowIndex
from console.cluster.rows import pod_row
from console.cluster.watch_changes import Change, WatchStatus
from screens.widgets.cluster_view import ClusterView, HeapFreezer
from screens.widgets.live_table import LiveTable, progress_bar
from screens.widgets.pods_panel import POD_COLUMNS
from screens.widgets.resource_panel import status_badge
from tests.support.screen import screen_text

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def pod(i: int, *, restarts: int = 0, node: str | None = None, ns: str | None = None, app: str = "web") -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": f"p-{i:05d}", "namespace": ns or f"ns-{i % 7}", "labels": {"app": app},
                                        "creationTimestamp": (NOW - timedelta(minutes=i)).isoformat()},
            "spec": {"containers": [{"name": "c"}], "nodeName": node or f"node-{i % 3}"},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "c", "ready": True, "restartCount": restarts, "state": {"running": {}}}]}}


class TableHost(App[None]):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.rows = [pod_row(pod(i), NOW) for i in range(n)]

    def compose(self) -> ComposeResult:
        yield LiveTable(POD_COLUMNS, RowIndex(self.rows))

    def on_mount(self) -> None:
        table = self.query_one(LiveTable)
        table.set_sort("name")
        table.focus()


async def test_ten_thousand_rows_render_only_what_is_on_screen() -> None:
    app = TableHost(10_000)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(LiveTable)
        await pilot.pause()
        assert table.virtual_size.height == 10_001  # header + every row, virtually
        painted = table.paints
        assert 0 < painted <= 2 * 29  # at most the visible lines, perhaps twice on the first frames
        # An update to a row far off screen repaints nothing and says so.
        table.index.upsert([pod_row(pod(9_000, restarts=4), NOW)])
        assert table.data_changed() is False
        before = table.paints
        await pilot.pause()
        assert table.paints == before
        # An update to a visible row repaints that line only.
        table.index.upsert([pod_row(pod(3, restarts=4), NOW)])
        assert table.data_changed() is True
        await pilot.pause()
        assert 1 <= table.paints - before <= 2
        assert "4" in screen_text(app).splitlines()[4]


async def test_cursor_follows_its_object_and_keys_move_it() -> None:
    app = TableHost(200)
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(LiveTable)
        await pilot.pause()
        await pilot.press("down", "down", "down")
        assert table.cursor_row == 3 and table.cursor_key == "ns-3/p-00003"
        # Rows inserted above it: the highlight stays on the same pod.
        table.index.upsert([pod_row(pod(10_000 + i, ns="aa"), NOW) for i in range(5)])
        table.index.upsert([pod_row({**pod(0), "metadata": {**pod(0)["metadata"], "name": "a-first"}}, NOW)])
        table.data_changed()
        assert table.cursor_key == "ns-3/p-00003"
        assert table.cursor_row == 4  # "a-first" sorts above it
        await pilot.press("end")
        assert table.cursor_row == table.index.visible_count - 1
        assert round(table.scroll_y) > 0  # scrolled to show it
        await pilot.press("home")
        assert table.cursor_row == 0 and round(table.scroll_y) == 0
        # Removing the highlighted row moves the highlight to its neighbour, never off the table.
        key = table.cursor_key
        table.index.remove([key])
        table.data_changed()
        assert table.cursor_key is not None and table.cursor_key != key


async def test_enter_posts_the_highlighted_row() -> None:
    got: list[Any] = []

    class Host(TableHost):
        def on_live_table_row_selected(self, event: LiveTable.RowSelected) -> None:
            got.append(event.key)

    app = Host(20)
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.press("down", "enter")
        await pilot.pause()
        assert got == ["ns-1/p-00001"]


def test_progress_bar_and_badge() -> None:
    assert progress_bar(0.0, 4) == "░░░░"
    assert progress_bar(1.0, 4) == "████"
    assert progress_bar(0.5, 4) == "██░░"
    now = NOW.timestamp()
    live = WatchStatus("pods", "live", now - 10, synced=True)
    assert "live" in status_badge([live], now, None)
    down = WatchStatus("pods", "reconnecting", now - 42, "connection refused", synced=True)
    badge = status_badge([live, down], now, now - 42)
    assert "reconnecting" in badge and "data 42s old" in badge and "connection refused" in badge
    never = WatchStatus("pods", "forbidden", now - 5, "pods is forbidden", synced=False)
    assert "no data" in status_badge([never], now, None)


class ViewHost(App[None]):
    def compose(self) -> ComposeResult:
        yield ClusterView(source=lambda context, namespace: None, context="fixed", namespace=None,
                          clock=lambda: NOW, id="view")


def node(name: str, *, unschedulable: bool = False) -> dict[str, Any]:
    return {"kind": "Node", "metadata": {"name": name, "creationTimestamp": (NOW - timedelta(days=3)).isoformat()},
            "spec": {"unschedulable": unschedulable},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.32.4"}}}


async def test_view_routes_changes_and_resync_replaces_one_kind() -> None:
    app = ViewHost()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(ClusterView)
        view.apply_changes([
            Change("nodes", "RESYNC", "", None, (node("node-0"), node("node-1"), node("node-2"))),
            Change("pods", "RESYNC", "", None, tuple(pod(i) for i in range(30))),
        ])
        await pilot.pause()
        assert len(view.pods.table.index) == 30 and len(view.nodes.table.index) == 3
        assert view.nodes.table.index.get("node-0").pods == 10
        # A relist that lost pods removes exactly those rows, and the pod counts follow.
        view.apply_changes([Change("pods", "RESYNC", "", None, tuple(pod(i) for i in range(0, 30, 2)))])
        await pilot.pause()
        assert len(view.pods.table.index) == 15
        assert sum(view.nodes.table.index.get(f"node-{i}").pods for i in range(3)) == 15
        view.apply_changes([Change("nodes", "MODIFIED", "node-1", node("node-1", unschedulable=True))])
        await pilot.pause()
        assert view.nodes.table.index.get("node-1").status == "Ready,SchedulingDisabled"
        assert "Ready,SchedulingDisabled" in screen_text(app)
        # A deleted pod's row goes.
        view.apply_changes([Change("pods", "DELETED", "ns-0/p-00000", pod(0))])
        assert view.pods.table.index.get("ns-0/p-00000") is None


def test_heap_freezer_freezes_survivors_and_collects_cycles_first() -> None:
    # A big view's objects go to the collector's permanent generation so full collections stop walking them.
    freezer = HeapFreezer(every=100)
    frozen_before = gc.get_freeze_count()
    gc.disable()  # only the freezer's own collection may find the cycle below
    try:
        assert freezer.applied(60) is False and gc.get_freeze_count() == frozen_before
        assert freezer.applied(60) is True and freezer.pending == 0
        assert gc.get_freeze_count() > frozen_before  # the first freeze: everything alive now
        # A cycle that dies after that freeze but before the next one is collected by the next one.
        class Node:
            other: Any = None

        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        assert freezer.applied(100) is True and freezer.freezes == 2
        assert gone() is None
    finally:
        gc.unfreeze()
        gc.enable()


async def test_pods_panel_renders_only_the_rows_it_shows() -> None:
    app = ViewHost()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(ClusterView)
        view.apply_changes([Change("pods", "RESYNC", "", None, tuple(pod(i) for i in range(2000)))])
        await pilot.pause()
        index = view.pods.table.index
        rendered = [k for k in index.visible_keys() if index.get(k).rendered]
        shown = [view.pods.table.row_key(r) for r in view.pods.table.visible_rows()]
        assert shown and set(shown) <= set(rendered) and len(rendered) <= 2 * len(shown)
        assert "p-00000" in screen_text(app) and "Running" in screen_text(app)
        # Sorting by a column the name does not give renders every row, once.
        view.pods.table.set_sort("status")
        await pilot.pause()
        assert all(index.get(k).rendered for k in index.visible_keys())
