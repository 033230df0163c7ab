"""The reviewer's Summary and Timeline carry the operator's notes and the refused confirmations, as the rendered
record (``opsconsole records show``) does, on a record written with the real journal API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from textual.widgets import DataTable, TabbedContent

from console.journal import events as ev
from console.journal.store import RecordStore
from screens.record import RecordScreen
from screens.records import ReviewApp
from screens.widgets.timeline import Timeline
from tests.support.review_records import ChangeBuilder, FixedClock
from tests.support.screen import screen_text
from tests.support.wait import wait_on

T0 = datetime(2026, 11, 2, 22, 0, 0, tzinfo=UTC)


def noted_change(root: Path) -> str:
    store = RecordStore(root)
    b = ChangeBuilder(store, start=T0, component="web", from_version="1.4.2", to_version="1.5.0", risk="medium",
                      environment="staging", operator="alice", title="Restart web with a typo on the way")
    b.run("step", "update-config", start_s=10, duration_s=2.0, command="kubectl patch configmap web-config",
          lines=[(0.2, "configmap/web-config patched\r\n")])
    b.at(20, ev.NOTE_ADDED, {"step_id": "restart", "text": "latency dashboard green before the restart", "author": "alice"})
    b.at(30, ev.STEP_CONFIRMATION_REFUSED, {"section": "step", "step_id": "restart", "typed": "wbe", "by": "alice"})
    b.at(35, ev.STEP_CONFIRMED, {"section": "step", "step_id": "restart", "method": "typed", "word": "web", "by": "alice"})
    b.run("step", "restart", start_s=36, duration_s=3.0, command="kubectl rollout restart deployment/web",
          lines=[(0.2, "deployment.apps/web restarted\r\n")])
    b.close(60, "success")
    return b.ref.change_id


async def test_summary_and_timeline_show_notes_and_refusals(records_dir: Path) -> None:
    change_id = noted_change(records_dir)
    app = ReviewApp(records_dir=records_dir, clock=FixedClock(T0), reviewer="rita")
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_on(pilot, lambda: type(app.screen).__name__ == "RecordsScreen" and app.screen.load is not None,
                      what="the list to load")
        app.screen.query_one("#records-table", DataTable).focus()
        await pilot.press("enter")
        record = await wait_on(pilot, lambda: isinstance(app.screen, RecordScreen) and app.screen, what="the record to open")
        assert record.ref.change_id == change_id
        await pilot.pause()
        summary = screen_text(app)
        assert "Refused confirmations" in summary
        assert "22:00:30Z  restart: typed “wbe” by alice: refused" in summary
        assert "Operator notes" in summary
        assert "22:00:20Z  alice (step restart): latency dashboard green before the restart" in summary
        await pilot.press("t")
        assert record.query_one("#record-tabs", TabbedContent).active == "timeline"
        timeline = record.query_one("#timeline-table", Timeline)
        rows = [[str(c) for c in timeline.get_row_at(i)] for i in range(timeline.row_count)]
        assert [r[:3] for r in rows] == [
            ["step", "update-config", "22:00:10"],
            ["note", "restart", "22:00:20"],
            ["refused", "restart", "22:00:30"],
            ["step", "restart", "22:00:36"],
        ]
        assert "latency dashboard green" in rows[1][6] and "wbe" in rows[2][6]
        # Enter on the run after them still opens that run's output.
        timeline.focus()
        timeline.move_cursor(row=3)
        await pilot.press("enter")
        await pilot.pause()
        assert record.query_one("#record-tabs", TabbedContent).active == "output"
