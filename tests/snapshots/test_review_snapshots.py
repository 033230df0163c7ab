"""Snapshots of the reviewer at 120x40: the list, a filter, a record's summary, timeline and output search, the
addendum form and its result, a broken chain, and the report. Records are written with fixed times (the journal's
clock and the casts' ``at=``), the addendum with a frozen clock, and cursors do not blink, so the SVGs are stable.
Update only after looking at the difference: ``pytest tests/snapshots/test_review_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import Input

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from console.journal.store import RecordStore
from screens.addendum import AddendumModal
from screens.record import RecordScreen
from screens.records import RecordsScreen, ReviewApp
from tests.support.review_records import FixedClock, build_sample_store, tamper_line
from tests.support.wait import wait_on

SIZE = (120, 40)


@pytest.fixture
def root(records_dir: Path) -> Path:
    build_sample_store(records_dir)
    return records_dir


def app_for(root: Path) -> ReviewApp:
    return ReviewApp(records_dir=root, clock=FixedClock(datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
                     reviewer="rita")


def no_blink(pilot) -> None:
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False


async def listed(pilot) -> RecordsScreen:
    await wait_on(pilot, lambda: isinstance(pilot.app.screen, RecordsScreen) and pilot.app.screen.load is not None, what="the records list, loaded")
    no_blink(pilot)
    await pilot.pause()
    return pilot.app.screen


async def opened(pilot, change_id: str) -> RecordScreen:
    screen = await listed(pilot)
    screen.set_filter(f"id:{change_id}")
    screen.query_one("#records-table").focus()
    await pilot.press("enter")
    await wait_on(pilot, lambda: isinstance(pilot.app.screen, RecordScreen), what="the RecordScreen")
    await pilot.pause()
    return pilot.app.screen


def test_records_list(root: Path, snap_compare) -> None:
    assert snap_compare(app_for(root), terminal_size=SIZE, run_before=listed)


def test_records_filtered(root: Path, snap_compare) -> None:
    async def run_before(pilot) -> None:
        await listed(pilot)
        await pilot.press("slash", *"risk:high,critical", "enter")
        await pilot.pause()

    assert snap_compare(app_for(root), terminal_size=SIZE, run_before=run_before)


def test_record_summary_with_break_glass(root: Path, snap_compare) -> None:
    async def run_before(pilot) -> None:
        await opened(pilot, "CHG-2026-0002")

    assert snap_compare(app_for(root), terminal_size=SIZE, run_before=run_before)


def test_record_timeline(root: Path, snap_compare) -> None:
    async def run_before(pilot) -> None:
        await opened(pilot, "CHG-2026-0001")
        await pilot.press("t")
        await pilot.pause()

    assert snap_compare(app_for(root), terminal_size=SIZE, run_before=run_before)


def test_record_output_search(root: Path, snap_compare) -> None:
    async def run_before(pilot) -> None:
        record = await opened(pilot, "CHG-2026-0001")
        await pilot.press("o")
        record.query_one("#player").log_view.focus()
        no_blink(pilot)
        await pilot.press("slash", *"rollout", "enter", "n")
        await pilot.pause()

    assert snap_compare(app_for(root), terminal_size=SIZE, run_before=run_before)


def test_addendum_form(root: Path, snap_compare) -> None:
    async def run_before(pilot) -> None:
        await opened(pilot, "CHG-2026-0002")
        await pilot.press("a")
        await wait_on(pilot, lambda: isinstance(pilot.app.screen, AddendumModal), what="the AddendumModal")
        no_blink(pilot)
        await pilot.press(*"migration timeout raised to 10m")
        await pilot.pause()

    assert snap_compare(app_for(root), terminal_size=SIZE, run_before=run_before)


def test_addendum_recorded(root: Path, snap_compare) -> None:
    async def run_before(pilot) -> None:
        record = await opened(pilot, "CHG-2026-0002")
        await pilot.press("a")
        await wait_on(pilot, lambda: isinstance(pilot.app.screen, AddendumModal), what="the AddendumModal")
        await pilot.press(*"migration timeout raised to 10m", "enter")
        await wait_on(pilot, lambda: isinstance(pilot.app.screen, RecordScreen) and record.view.summary.addenda, what="the record with its addendum")
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app_for(root), terminal_size=SIZE, run_before=run_before)


def test_broken_chain(root: Path, snap_compare) -> None:
    store = RecordStore(root)
    tamper_line(store.journal_path(store.find("CHG-2026-0001")), 3, b'"name":"bob"', b'"name":"eve"')

    async def run_before(pilot) -> None:
        await opened(pilot, "CHG-2026-0001")

    assert snap_compare(app_for(root), terminal_size=SIZE, run_before=run_before)


def test_report(root: Path, snap_compare) -> None:
    async def run_before(pilot) -> None:
        await listed(pilot)
        await pilot.press("R")
        await pilot.pause()

    assert snap_compare(app_for(root), terminal_size=SIZE, run_before=run_before)
