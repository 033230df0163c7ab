"""A cold index (a new store, or a cache from another version) is rebuilt from every journal: the Records list shows
rows as they are rebuilt, before the last journal is read, and all of them at the end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static

import console.review.index as index_module
from screens.records import RecordsScreen, ReviewApp
from tests.support.review_records import build_sample_store

SIZE = (120, 40)


async def until(pilot: Any, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not (pilot.app.screen.is_mounted and condition()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await pilot.pause(0.02)


async def test_rows_show_while_a_cold_index_is_rebuilt(records_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_sample_store(records_dir)  # four changes, no index yet
    assert not (records_dir / index_module.INDEX_NAME).exists()
    monkeypatch.setattr(RecordsScreen, "FIRST_ROWS", 2)
    # The rebuild stops before its third row until the test has seen the first two on screen.
    gate = threading.Event()
    built: list[str] = []
    real_build = index_module.build_entry

    def build_entry(root: Path, change_dir: Path, **kw: Any) -> index_module.IndexEntry:
        if len(built) == 2:
            assert gate.wait(30), "the list never showed the rows rebuilt so far"
        built.append(change_dir.name)
        return real_build(root, change_dir, **kw)

    monkeypatch.setattr(index_module, "build_entry", build_entry)
    app = ReviewApp(records_dir=records_dir, reviewer="rita")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RecordsScreen)
                    and app.screen.query_one("#records-table", DataTable).row_count == 2)
        screen = app.screen
        assert isinstance(screen, RecordsScreen)
        assert screen.load is None and len(built) == 2  # the rebuild has not ended
        assert "reading the store" in str(screen.query_one("#records-status", Static).render())
        gate.set()
        await until(pilot, lambda: screen.load is not None)
        await pilot.pause()
        assert screen.query_one("#records-table", DataTable).row_count == 4
        assert screen.load is not None and screen.load.rebuilt == 4
        assert "reading the store" not in str(screen.query_one("#records-status", Static).render())


async def test_a_big_list_fills_in_chunks_and_a_new_filter_starts_over(records_dir: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    build_sample_store(records_dir)
    monkeypatch.setattr(RecordsScreen, "FIRST_FILL", 1)
    monkeypatch.setattr(RecordsScreen, "FILL_CHUNK", 1)
    app = ReviewApp(records_dir=records_dir, reviewer="rita")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RecordsScreen) and app.screen.load is not None)
        screen = app.screen
        assert isinstance(screen, RecordsScreen)
        table = screen.query_one("#records-table", DataTable)
        await until(pilot, lambda: table.row_count == 4)
        assert [str(table.get_row_at(i)[0]) for i in range(4)] == [e.change_id for e in screen.shown]
        screen.set_filter("component:web")
        web = [e.change_id for e in screen.shown]
        assert len(web) == 2 and table.row_count == 1  # the first row at once, the second between frames
        await until(pilot, lambda: table.row_count == 2)
        await pilot.pause()
        await pilot.pause()
        # The older fill's remaining chunks were abandoned: only the filtered rows, once each.
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == web
