"""Pilot tests of the reviewer: the Records list (filter, sort), a Record (summary, timeline, output search and
replay, integrity failure) and addenda, on records written with the real journal API at fixed times."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Group
from rich.text import Text
from textual.widgets import DataTable, Input, RichLog, Static, TabbedContent

from console.journal import events as ev
from console.journal.journal import read_events, verify
from console.journal.store import RecordStore
from screens.addendum import AddendumModal
from screens.record import RecordScreen
from screens.records import COLUMNS, RecordsScreen, ReviewApp
from screens.report import ReportScreen
from screens.widgets.cast_player import CastPlayer
from screens.widgets.timeline import Timeline
from tests.support.review_records import FixedClock, build_sample_store, tamper_line
from tests.support.wait import wait_on

SIZE = (120, 40)
ADDENDUM_TIME = datetime(2026, 12, 1, 9, 30, 0, tzinfo=UTC)


@pytest.fixture
def store_dir(records_dir: Path) -> Path:
    build_sample_store(records_dir)
    return records_dir


def make_app(root: Path, **kw) -> ReviewApp:
    return ReviewApp(records_dir=root, clock=FixedClock(ADDENDUM_TIME), reviewer="rita", **kw)


async def loaded(pilot) -> RecordsScreen:
    await wait_on(pilot, lambda: isinstance(pilot.app.screen, RecordsScreen) and pilot.app.screen.load is not None, what="the records list, loaded")
    await pilot.pause()
    return pilot.app.screen


def ids(screen: RecordsScreen) -> list[str]:
    table = screen.query_one("#records-table", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def status(screen) -> str:
    return str(screen.query_one("#records-status", Static).render())


def texts(group: Group) -> list[Text]:
    return [r for r in group.renderables if isinstance(r, Text)]


# -- the list ----------------------------------------------------------------------------------------------------


async def test_the_list_holds_every_change_newest_first(store_dir: Path) -> None:
    async with make_app(store_dir).run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        assert ids(screen) == ["CHG-2026-0004", "CHG-2026-0003", "CHG-2026-0002", "CHG-2026-0001"]
        row = [str(c) for c in screen.query_one("#records-table", DataTable).get_row_at(2)]
        assert row == ["CHG-2026-0002", "2026-11-10", "api", "2.0.0→2.1.0", "high", "production", "bob",
                       "rolled back", "2m00s", "✓"]
        in_progress = [str(c) for c in screen.query_one("#records-table", DataTable).get_row_at(1)]
        assert in_progress[7] == "in progress"
        assert status(screen).startswith("4 of 4 change(s) · sorted by Date ↓")
        assert (store_dir / ".index.json").is_file()


async def test_filter_by_text_and_by_column(store_dir: Path) -> None:
    async with make_app(store_dir).run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        await pilot.press("slash")
        assert screen.query_one("#records-filter", Input).has_focus
        await pilot.press(*"component:web")
        assert ids(screen) == ["CHG-2026-0004", "CHG-2026-0001"]
        await pilot.press(*" env:production")
        assert ids(screen) == ["CHG-2026-0001"]
        screen.set_filter("outcome:rolled-back")
        assert ids(screen) == ["CHG-2026-0002"]
        screen.set_filter("risk:high,critical")
        assert ids(screen) == ["CHG-2026-0003", "CHG-2026-0002"]
        screen.set_filter("op:alice since:2026-11-20")
        assert ids(screen) == ["CHG-2026-0004"]
        screen.set_filter("until:2026-11-10 Ollama")  # a bare word matches the title too
        assert ids(screen) == ["CHG-2026-0001"]
        screen.set_filter("colour:red")
        assert "unknown filter 'colour'" in status(screen)
        assert ids(screen) == ["CHG-2026-0001"]  # the last good filter stays until the query reads again
        screen.set_filter("")
        assert len(ids(screen)) == 4


async def test_sort_by_any_column_with_keys_and_headers(store_dir: Path) -> None:
    async with make_app(store_dir).run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        await pilot.press("s")  # from Date to the next column, Component
        assert screen.sort_key == "component"
        assert ids(screen)[:2] == ["CHG-2026-0002", "CHG-2026-0003"]  # api, db, then web
        screen.sort_by("duration", reverse=False)
        assert ids(screen) == ["CHG-2026-0004", "CHG-2026-0003", "CHG-2026-0002", "CHG-2026-0001"]
        await pilot.press("o")
        assert ids(screen) == ["CHG-2026-0001", "CHG-2026-0002", "CHG-2026-0003", "CHG-2026-0004"]
        screen.sort_by("risk", reverse=False)
        assert ids(screen) == ["CHG-2026-0004", "CHG-2026-0001", "CHG-2026-0002", "CHG-2026-0003"]
        # a click on the Operator header sorts by operator
        table = screen.query_one("#records-table", DataTable)
        x = sum(w + 2 for _, _, w in COLUMNS[:6]) + 3  # each cell has one space of padding either side
        await pilot.click(table, offset=(x, 0))
        await pilot.pause()
        assert screen.sort_key == "operator"
        assert [screen.shown[i].operator for i in range(4)] == ["alice", "alice", "bob", "carol"]


# -- a record ----------------------------------------------------------------------------------------------------


async def open_change(pilot, change_id: str) -> RecordScreen:
    screen = await loaded(pilot)
    screen.set_filter(f"id:{change_id}")
    screen.query_one("#records-table", DataTable).focus()
    await pilot.press("enter")
    await wait_on(pilot, lambda: isinstance(pilot.app.screen, RecordScreen), what="the RecordScreen")
    await pilot.pause()
    return pilot.app.screen


async def test_the_summary_has_the_minimum_fields_and_bold_break_glass(store_dir: Path) -> None:
    async with make_app(store_dir).run_test(size=SIZE) as pilot:
        record = await open_change(pilot, "CHG-2026-0002")
        assert "✓ Integrity verified: 11 events" in str(record.query_one("#record-integrity", Static).render())
        group = record.query_one("#record-summary", Static).content
        plain = "\n".join(t.plain for t in texts(group))
        assert "carol (change-manager)  CAB-77" in plain
        glass = [t for t in texts(group) if "change window overridden" in t.plain]
        assert len(glass) == 1 and "bold" in str(glass[0].style)
        assert "approved by dave: “customer outage needs the fix now”" in glass[0].plain
        fields = dict.fromkeys(("Change", "Operator", "Approvals", "Risk", "Environment", "Component", "Outcome", "Duration", "Scope", "Blast radius", "Emergency"))
        table = group.renderables[0]
        labels = [str(c) for c in table.columns[0].cells]
        assert set(fields) <= set(labels)
        await pilot.press("escape")
        await wait_on(pilot, lambda: isinstance(pilot.app.screen, RecordsScreen), what="the RecordsScreen")


async def test_the_timeline_has_a_bar_per_run_on_one_scale(store_dir: Path) -> None:
    async with make_app(store_dir).run_test(size=SIZE) as pilot:
        record = await open_change(pilot, "CHG-2026-0001")
        await pilot.press("t")
        assert record.query_one("#record-tabs", TabbedContent).active == "timeline"
        timeline = record.query_one("#timeline-table", Timeline)
        rows = [[str(c) for c in timeline.get_row_at(i)] for i in range(timeline.row_count)]
        assert [r[:5] for r in rows] == [
            ["pre", "backup", "22:00:10", "22:00:12", "2.5s"],
            ["gate", "nodes-ready", "22:00:20", "22:00:21", "1.0s"],
            ["step", "restart", "22:00:30", "22:00:33", "3.0s"],
            ["step", "wait", "22:00:40", "22:02:15", "1m35s"],
            ["verify", "health", "22:02:30", "22:02:31", "1.5s"],
        ]
        # 180 s over 36 cells: the wait step (40 s to 135 s) starts at cell 8 and fills 19 cells
        bar = rows[3][6]
        assert bar.index("█") == 8 and bar.count("█") == 19 and len(bar) == 36
        # Enter on a run shows its output
        timeline.focus()
        timeline.move_cursor(row=3)
        await pilot.press("enter")
        await pilot.pause()
        assert record.query_one("#record-tabs", TabbedContent).active == "output"
        player = record.query_one("#player", CastPlayer)
        assert player.current_run == 3


async def test_output_search_moves_between_matches(store_dir: Path) -> None:
    async with make_app(store_dir).run_test(size=SIZE) as pilot:
        record = await open_change(pilot, "CHG-2026-0001")
        await pilot.press("o")
        player = record.query_one("#player", CastPlayer)
        player.log_view.focus()
        await pilot.press("slash")
        await pilot.press(*"rollout")
        await pilot.press("enter")
        await pilot.pause()
        # the restart and wait headers (their commands say "rollout") and the two "rollout to finish" lines
        matched = [player.rows[i].text for i in player.matches]
        assert len(matched) == 4 and all("rollout" in m.lower() for m in matched)
        assert "“rollout”: 1/4" in player.status_text
        await pilot.press("n")
        assert player.match == 1 and "2/4" in player.status_text
        await pilot.press("N", "N")
        assert player.match == 3
        await pilot.press("slash", *"no such text", "enter")
        assert player.matches == [] and "no matches" in player.status_text


async def test_replay_keeps_the_recorded_pace(store_dir: Path) -> None:
    async with make_app(store_dir).run_test(size=SIZE) as pilot:
        record = await open_change(pilot, "CHG-2026-0004")
        await pilot.press("o")
        player = record.query_one("#player", CastPlayer)
        log = player.query_one("#player-log", RichLog)
        player.log_view.focus()
        started = time.monotonic()
        await pilot.press("p")
        await wait_on(pilot, lambda: player.replaying is not None, what="the replay to start")
        await wait_on(pilot, lambda: len(log.lines) >= 2, what="the first output line")  # header, then the first output line at 0.2 s
        first = time.monotonic() - started
        await wait_on(pilot, lambda: player.replaying is None, what="the replay to end", timeout=15)
        total = time.monotonic() - started
        assert first >= 0.2
        assert total >= 2.0  # the exit marker was recorded 2.0 s after the start
        assert "deployment.apps/web restarted" in log.lines[1].text and "exit 0" in log.lines[2].text


async def test_escape_stops_a_replay_then_leaves(store_dir: Path) -> None:
    async with make_app(store_dir).run_test(size=SIZE) as pilot:
        record = await open_change(pilot, "CHG-2026-0002")
        await pilot.press("o")
        player = record.query_one("#player", CastPlayer)
        player.log_view.focus()
        await pilot.press("p")
        await wait_on(pilot, lambda: player.replaying is not None, what="the replay to start")
        await pilot.press("escape")
        await wait_on(pilot, lambda: player.replaying is None, what="the replay to end")
        assert isinstance(pilot.app.screen, RecordScreen)
        await pilot.press("escape")
        await wait_on(pilot, lambda: isinstance(pilot.app.screen, RecordsScreen), what="the RecordsScreen")


# -- integrity ---------------------------------------------------------------------------------------------------


async def test_a_broken_chain_shows_the_line_and_stays_readable(records_dir: Path) -> None:
    refs = build_sample_store(records_dir)
    journal = RecordStore(records_dir).journal_path(refs["web"])
    async with make_app(records_dir).run_test(size=SIZE) as pilot:
        await loaded(pilot)
    # An edit after the list was cached: same size, new mtime, so the row is rebuilt.
    tamper_line(journal, 3, b'"name":"bob"', b'"name":"eve"')
    async with make_app(records_dir).run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        assert screen.load.rebuilt == 1 and screen.load.reused == 3
        assert "1 broken" in status(screen)
        row = [str(c) for c in screen.query_one("#records-table", DataTable).get_row_at(3)]
        assert row[0] == "CHG-2026-0001" and row[-1] == "✗"
        screen.set_filter("integrity:broken")
        assert ids(screen) == ["CHG-2026-0001"]
        record = await open_change(pilot, "CHG-2026-0001")
        banner = str(record.query_one("#record-integrity", Static).render())
        assert "✗ Integrity BROKEN at journal.jsonl line 3: hash does not match its content" in banner
        assert "Readable up to there: 2 event(s) shown." in banner
        assert record.query_one("#record-integrity").has_class("broken")
        group = record.query_one("#record-summary", Static).content
        labels = [str(c) for c in group.renderables[0].columns[1].cells]
        assert "alice" in labels and "2026-11-02" in labels  # read from the events before the bad line
        assert record.view.summary.approvals == []  # the tampered approval is not shown as if it were good
        await pilot.press("a")  # no addenda on a broken chain
        await pilot.pause()
        assert not isinstance(pilot.app.screen, AddendumModal)
        assert verify(journal).first.line == 3


async def test_a_changed_output_file_is_named_when_the_record_opens(records_dir: Path) -> None:
    refs = build_sample_store(records_dir)
    cast = next((refs["api"].path / "outputs").glob("*migrate.cast"))
    cast.write_bytes(cast.read_bytes().replace(b"timed out", b"succeeded"))
    async with make_app(records_dir).run_test(size=SIZE) as pilot:
        record = await open_change(pilot, "CHG-2026-0002")
        banner = str(record.query_one("#record-integrity", Static).render())
        assert "SHA-256 differs from the journal" in banner and "001-migrate.cast" in banner


# -- addenda -----------------------------------------------------------------------------------------------------


async def test_an_addendum_is_appended_signed_and_the_chain_holds(store_dir: Path) -> None:
    async with make_app(store_dir).run_test(size=SIZE) as pilot:
        record = await open_change(pilot, "CHG-2026-0002")
        journal = record.store.journal_path(record.ref)
        before = journal.read_bytes()
        await pilot.press("a")
        await wait_on(pilot, lambda: isinstance(pilot.app.screen, AddendumModal), what="the AddendumModal")
        modal = pilot.app.screen
        assert modal.query_one("#addendum-author", Input).value == "rita"
        await pilot.press("ctrl+s")  # no text yet: refused in the form
        assert "needs text" in str(modal.query_one("#addendum-error", Static).render())
        modal.query_one("#kind-follow-up").value = True
        modal.query_one("#addendum-refers", Input).value = "7"
        modal.query_one("#addendum-text", Input).focus()
        await pilot.press(*"migration timeout raised to 10m in PR 88", "enter")
        await wait_on(pilot, lambda: isinstance(pilot.app.screen, RecordScreen), what="the RecordScreen")
        await wait_on(pilot, lambda: record.view.summary.addenda != [], what="the addendum in the summary")
        after = journal.read_bytes()
        assert after.startswith(before)  # appended, nothing rewritten
        last = read_events(journal).events[-1]
        assert last.type == ev.ADDENDUM_ADDED and last.ts == "2026-12-01T09:30:00.000000Z"
        assert last.data == {"author": "rita", "kind": "follow-up", "text": "migration timeout raised to 10m in PR 88",
                             "refers_to": 7}
        assert verify(journal).ok
        assert record.query_one("#record-tabs", TabbedContent).active == "addenda"
        shown = "\n".join(t.plain for t in texts(record.query_one("#record-addenda", Static).content))
        assert "#12 2026-12-01 09:30:00Z follow-up by rita (to event 7)" in shown
        await pilot.press("escape")
        screen = await loaded(pilot)
        await wait_on(pilot, lambda: any(e.addenda == 1 for e in screen.entries), what="the addendum counted in the list")


async def test_escape_cancels_an_addendum_and_an_open_change_takes_none(store_dir: Path) -> None:
    async with make_app(store_dir).run_test(size=SIZE) as pilot:
        record = await open_change(pilot, "CHG-2026-0001")
        size = record.store.journal_path(record.ref).stat().st_size
        await pilot.press("a")
        await wait_on(pilot, lambda: isinstance(pilot.app.screen, AddendumModal), what="the AddendumModal")
        await pilot.press("escape")
        await wait_on(pilot, lambda: isinstance(pilot.app.screen, RecordScreen), what="the RecordScreen")
        assert record.store.journal_path(record.ref).stat().st_size == size
        await pilot.press("escape")
        record = await open_change(pilot, "CHG-2026-0003")
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(pilot.app.screen, RecordScreen)
        assert record.view.summary.addenda == []


# -- reports -----------------------------------------------------------------------------------------------------


async def test_the_report_screen_follows_the_filter(store_dir: Path) -> None:
    async with make_app(store_dir).run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        screen.set_filter("env:production")
        screen.query_one("#records-table", DataTable).focus()
        await pilot.press("R")
        await wait_on(pilot, lambda: isinstance(pilot.app.screen, ReportScreen), what="the ReportScreen")
        report = pilot.app.screen
        periods = report.query_one("#report-periods", DataTable)
        rows = [[str(c) for c in periods.get_row_at(i)] for i in range(periods.row_count)]
        assert rows == [
            ["2026-W45", "1", "100%", "0 (0%)", "0", "3m00s", "3m00s"],
            ["2026-W46", "1", "0%", "1 (100%)", "1", "2m00s", "2m00s"],
            ["total", "2", "50%", "1 (50%)", "1", "2m30s", "3m00s"],
        ]
        chart = str(report.query_one("#report-chart", Static).render())
        assert "2026-W45  " + "█" * 40 + "     1     100%" in chart
        await pilot.press("m")
        rows = [[str(c) for c in periods.get_row_at(i)] for i in range(periods.row_count)]
        assert [r[0] for r in rows] == ["2026-11", "total"]
        await pilot.press("escape")
        await wait_on(pilot, lambda: isinstance(pilot.app.screen, RecordsScreen), what="the RecordsScreen")
