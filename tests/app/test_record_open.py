"""Opening a record builds only what the first tab shows: the timeline, the output player and the addenda are mounted
and filled when their tab is first shown (and filled again after a reload); the summary renders once per width."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from textual.widgets import DataTable, Static, TabbedContent

from screens.record import RecordScreen, SettledGroup
from screens.records import RecordsScreen, ReviewApp
from screens.widgets.cast_player import CastPlayer
from screens.widgets.timeline import Timeline
from tests.support.review_records import FixedClock, build_sample_store
from tests.support.wait import wait_on


async def open_record(pilot, change_id: str) -> RecordScreen:
    await wait_on(pilot, lambda: isinstance(pilot.app.screen, RecordsScreen) and pilot.app.screen.load is not None,
                  what="the records list, loaded")
    screen = pilot.app.screen
    screen.set_filter(f"id:{change_id}")
    screen.query_one("#records-table", DataTable).focus()
    await pilot.press("enter")
    return await wait_on(pilot, lambda: isinstance(pilot.app.screen, RecordScreen) and pilot.app.screen,
                         what="the RecordScreen")


async def test_timeline_and_player_are_mounted_when_first_shown(records_dir: Path) -> None:
    build_sample_store(records_dir)
    app = ReviewApp(records_dir=records_dir, clock=FixedClock(datetime(2026, 12, 1, tzinfo=UTC)), reviewer="rita")
    async with app.run_test(size=(120, 40)) as pilot:
        record = await open_record(pilot, "CHG-2026-0001")
        await pilot.pause()
        assert not record.query(Timeline) and not record.query(CastPlayer) and not record.query("#record-addenda")
        await pilot.press("d")
        addenda = record.query_one("#record-addenda", Static).content
        assert "No addenda" in addenda.renderables[0].plain
        await pilot.press("t")
        timeline = record.query_one("#timeline-table", Timeline)
        assert record.query_one("#record-tabs", TabbedContent).active == "timeline"
        assert timeline.row_count == len(record.view.summary.runs) == 5
        assert not record.query(CastPlayer)
        # Enter on a run: the player is mounted, filled and on that run before the output tab shows.
        timeline.focus()
        timeline.move_cursor(row=2)
        await pilot.press("enter")
        await wait_on(pilot, lambda: record.query_one("#record-tabs", TabbedContent).active == "output",
                      what="the output tab")
        player = record.query_one("#player", CastPlayer)
        assert len(player.outputs) == len(record.view.outputs) and player.current_run == 2
        assert len(record.query(Timeline)) == 1 and len(record.query(CastPlayer)) == 1
        await pilot.press("t", "o")  # shown again: the same widgets, not new ones
        assert record.query_one("#player", CastPlayer) is player and len(record.query(Timeline)) == 1


async def test_a_reload_fills_the_shown_timeline_again(records_dir: Path) -> None:
    build_sample_store(records_dir)
    app = ReviewApp(records_dir=records_dir, reviewer="rita")
    async with app.run_test(size=(120, 40)) as pilot:
        record = await open_record(pilot, "CHG-2026-0001")
        await pilot.press("t")
        timeline = record.query_one("#timeline-table", Timeline)
        timeline.clear()  # so a refill shows
        record.reload()
        await wait_on(pilot, lambda: timeline.row_count == 5, what="the timeline filled again after the reload",
                      describe=lambda: f"{timeline.row_count} rows")
        assert len(record.query(Timeline)) == 1


def test_a_settled_group_renders_as_a_group_and_once_per_width() -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("Description", "a long description " * 8)
    parts = [grid, Text(""), Text("Approvals", style="bold underline"), Text("  none", style="italic")]
    console = Console(width=200, record=False, color_system=None)
    settled = SettledGroup(*parts)
    for width in (40, 118, 40):
        options = console.options.update_width(width)
        assert list(console.render(settled, options)) == list(console.render(Group(*parts), options))
    assert len(settled._rendered) == 2  # 40 and 118: the second 40 was the first one's lines


async def test_a_click_on_a_tab_mounts_and_fills_it(records_dir: Path) -> None:
    build_sample_store(records_dir)
    app = ReviewApp(records_dir=records_dir, reviewer="rita")
    async with app.run_test(size=(120, 40)) as pilot:
        record = await open_record(pilot, "CHG-2026-0001")
        await pilot.pause()
        await pilot.click("#--content-tab-output")
        player = await wait_on(pilot, lambda: record.query(CastPlayer).first() if record.query(CastPlayer) else None,
                               what="the output player mounted by the click")
        await wait_on(pilot, lambda: len(player.outputs) == len(record.view.outputs) > 0, what="the outputs in the player")
        assert record.query_one("#record-tabs", TabbedContent).active == "output"
