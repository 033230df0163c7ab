"""Every screen says what its keys do, and does it: Home, ``?``, the step screen's panels and zoom, the close-out.

At 160x50, driven by keys through the pilot: Tab moves between Home's tables and the key bar says what Enter does
on the row under the cursor; escape closes the key list before it means "back"; coming back from a start form
keeps Home's cursor; the step screen shows every panel its key list names, whole, and z zooms one; a step
without an explanation shows none; a closed change no longer offers to sign off.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from textual.widgets import DataTable

from console.journal.store import RecordStore
from screens.app import OpsConsoleApp
from screens.closeout import CloseoutScreen
from screens.home import HomeScreen, scan_runbooks
from tests.support.review_records import build_sample_store
from tests.support.screen import screen_text

SIZE = (160, 50)


def now() -> datetime:
    return datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def help_text(app: OpsConsoleApp) -> str:
    return screen_text(app) if app.screen.query("HelpPanel") else ""


async def test_home_keys_say_and_do(runbooks_dir: Path, tmp_path: Path, dead_kubeconfig: Path, driver_for) -> None:
    records = tmp_path / "store"
    refs = build_sample_store(records)
    app = OpsConsoleApp(records_dir=records, runbooks_dir=runbooks_dir, kubeconfig=str(dead_kubeconfig), clock=now)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await d.wait(lambda: isinstance(app.screen, HomeScreen), what="Home")
        home = app.screen
        ids = [e.id for e in scan_runbooks(runbooks_dir)]
        assert app.focused is home.query_one("#runbooks")
        assert f"enter  start {ids[0]}" in d.text("#home-keys")
        # ? says Tab moves between the tables, and it does.
        await d.press("question_mark")
        assert "Move between the runbooks" in help_text(app).replace("\n", " ") or "Other table" in help_text(app)
        await d.press("escape")  # escape closes the key list ...
        assert not app.screen.query("HelpPanel") and app.screen is home  # ... and nothing else
        await d.press("tab")
        assert app.focused is home.query_one("#records")
        records_table = home.query_one("#records", DataTable)
        first = records_table.coordinate_to_cell_key(records_table.cursor_coordinate).row_key.value
        assert first == refs["web"].change_id
        assert f"enter  open {first}" in d.text("#home-keys")
        await d.press("down", "down")
        assert f"enter  resume {refs['db'].change_id}" in d.text("#home-keys")  # the open change resumes
        await d.press("shift+tab")
        assert app.focused is home.query_one("#runbooks")
        # Escape from a start form: back on Home with the cursor where it was.
        target = ids.index("web-config-restart")
        await d.press(*["down"] * target, "enter")
        await d.wait(lambda: type(app.screen).__name__ == "StartScreen", what="the start form")
        await d.press("f1")  # on a form ? is typed into the field; F1 shows the keys
        assert app.screen.query("HelpPanel")
        await d.press("escape")
        assert type(app.screen).__name__ == "StartScreen"  # the first escape only closed the key list
        await d.press("escape")
        await d.wait(lambda: app.screen is home, what="Home again")
        await pilot.pause()
        assert home.query_one("#runbooks", DataTable).cursor_row == target
        assert app.focused is home.query_one("#runbooks")
        assert "enter  start web-config-restart" in d.text("#home-keys")
    assert RecordStore(records).find(refs["web"].change_id)


PLAIN = {
    "apiVersion": "opsconsole/v1", "kind": "Runbook",
    "metadata": {"id": "plain-drill", "title": "Plain drill", "component": "web", "from": "1", "to": "2", "risk": "low",
                 "environments": ["rehearsal"], "owners": ["platform"]},
    "why": "A step with no explanation.", "scope": "a local echo", "blast_radius": "none",
    "steps": [{"id": "say", "title": "Say hello", "run": ["echo", "hello"], "confirm": "yes"}],
    "done_when": ["it said hello"],
}


async def test_no_explanation_is_no_text_and_a_closed_change_offers_no_sign_off(tmp_path: Path, dead_kubeconfig: Path,
                                                                                 driver_for) -> None:
    runbook = tmp_path / "runbooks" / "plain-drill.yaml"
    runbook.parent.mkdir()
    runbook.write_text(json.dumps(PLAIN), encoding="utf-8")
    app = OpsConsoleApp(records_dir=tmp_path / "records", runbooks_dir=runbook.parent, kubeconfig=str(dead_kubeconfig),
                        clock=now, start_runbook=runbook)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await d.wait(lambda: type(app.screen).__name__ == "StartScreen", what="the start form")
        await d.press("ctrl+s")
        await d.until_next("confirm", "say")
        text = screen_text(app)
        assert "Say hello" in text and "No explanation" not in text
        assert not app.screen.query_one("#step-explain-box").display
        await d.press("y")
        await d.wait(lambda: isinstance(app.screen, CloseoutScreen), what="the close-out")
        screen = app.screen
        assert "sign off and close" in d.text("#closeout-keys")
        await d.press("ctrl+s")
        await d.wait(lambda: screen.closed_head is not None, what="the change to close")
        await pilot.pause()
        keys = d.text("#closeout-keys")
        assert "sign off" not in keys.lower() and "esc  back to Home" in keys
        await d.press("question_mark")
        assert "Sign off" not in help_text(app) and "Home" in help_text(app)
        await d.press("escape", "escape")
        await d.wait(lambda: isinstance(app.screen, HomeScreen), what="Home")


async def test_step_panels_are_all_shown_whole_and_z_zooms(records_dir: Path, runbooks_dir: Path, cluster, frozen_clock,
                                                          policy, driver_for) -> None:
    from screens.cluster import ClusterView

    app = OpsConsoleApp(records_dir=records_dir, runbooks_dir=runbooks_dir, policy=policy, kubeconfig=str(cluster.kubeconfig),
                        operator="alice", clock=frozen_clock, cluster_panels=True)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await d.start_change("web-config-restart")
        screen = app.screen
        view = await d.wait(lambda: screen.query(ClusterView) and screen.query_one(ClusterView), what="the panels")
        await d.wait(lambda: len(view.pods.table.index) >= 3 and len(view.nodes.table.index) == 3, what="pods and nodes")
        await d.until_next("confirm", "update-config")
        assert app.focused is None  # the keys act on the step; the panels do not take them
        column = screen.query_one("#step-cluster").region
        for panel in view.panels:
            region = panel.region
            assert region.width >= 30 and region.height >= 5, (panel.id, region)
            assert column.contains_region(region), (panel.id, region, column)  # nothing cut at the edge
        text = screen_text(app)
        nodes_top = next(line for line in text.splitlines() if "Nodes [" in line)
        assert nodes_top.rstrip().endswith("╮"), nodes_top  # the right border is drawn
        # Into the panels: the key list names each panel, and each is on screen.
        for _ in range(6):
            if app.focused is not None and view.pods in app.focused.ancestors:
                break
            await d.press("tab")
        assert app.focused is not None and view.pods in app.focused.ancestors
        assert "z" in d.text("#step-keys") and "zoom" in d.text("#step-keys")
        await d.press("question_mark")
        listed = help_text(app)
        assert "Events" in listed and "Zoom" in listed
        await d.press("escape")
        for title in ("Rollouts [", "Pods [", "Nodes [", "Events ["):
            assert title in screen_text(app), title
        await d.press("z")
        await d.wait(lambda: screen.maximized is view.pods, what="the pods panel zoomed")
        assert view.pods.region.width > column.width  # it fills the screen now
        await d.press("z")
        await d.wait(lambda: screen.maximized is None, what="the panels back beside the step")
        screen.session.release()
