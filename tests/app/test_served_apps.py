"""The apps ``opsconsole serve`` runs per browser session, under Textual's pilot: read-only, one screen each, and
every view noted in the access log."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from console.journal.store import RecordStore
from screens.follow import FollowScreen, ReadOnlyRecordScreen
from screens.served import AccessLog, ReadOnlyRecordsScreen, ServedFollowApp, ServedReviewApp
from tests.support.review_records import build_sample_store

SIZE = (120, 40)


async def until(pilot, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not (pilot.app.screen.is_mounted and condition()):
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await pilot.pause(0.05)


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def views(log: Path) -> list[tuple[str, str | None]]:
    return [(v["view"], v.get("change_id")) for v in map(json.loads, log.read_text().splitlines())]


async def test_the_served_reviewer_reads_and_writes_nothing(records_dir: Path, tmp_path: Path) -> None:
    refs = build_sample_store(records_dir)
    before = files_of(records_dir)
    log = tmp_path / "access.jsonl"
    app = ServedReviewApp(records_dir=records_dir, access=AccessLog(log, "7"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ReadOnlyRecordsScreen) and app.screen.load is not None)
        assert len(app.screen_stack) == 2  # the read-only list alone, not the reviewer's own list under it
        listing = app.screen
        assert isinstance(listing, ReadOnlyRecordsScreen)
        listing.set_filter("outcome:success component:web")
        row = next(i for i, e in enumerate(listing.shown) if e.change_id == "CHG-2026-0001")
        listing.open_record(row)
        await until(pilot, lambda: isinstance(app.screen, ReadOnlyRecordScreen))
        assert all(b.binding.action != "addendum" for b in app.active_bindings.values())
        await pilot.press("a")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is listing)
        # A change still open is followed, not shown as a record.
        listing.set_filter("")
        row = next(i for i, e in enumerate(listing.shown) if e.change_id == "CHG-2026-0003")
        listing.open_record(row)
        await until(pilot, lambda: isinstance(app.screen, FollowScreen) and bool(app.screen.events))
    assert files_of(records_dir) == before  # no index cache, no addendum: nothing written to the store
    assert views(log) == [("records", None), ("record", refs["web"].change_id), ("records", None),
                          ("follow", "CHG-2026-0003")]
    assert {json.loads(line)["session"] for line in log.read_text().splitlines()} == {"7"}


async def test_the_served_follower_shows_one_follow_screen(records_dir: Path, tmp_path: Path) -> None:
    build_sample_store(records_dir)
    ref = RecordStore(records_dir).find("CHG-2026-0003")
    log = tmp_path / "access.jsonl"
    app = ServedFollowApp(change_dir=ref.path, change_id=ref.change_id, access=AccessLog(log, "1"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FollowScreen) and bool(app.screen.events))
        assert len(app.screen_stack) == 2
    assert views(log) == [("follow", "CHG-2026-0003")]
