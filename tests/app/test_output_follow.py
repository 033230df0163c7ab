"""The step screen's output pane follows the newest line, at 160x50, through a long step that prints slowly.

An observe window prints a line every ten seconds for many minutes: the newest line must stay in view as the pane
fills and its scrollbar appears. When the operator scrolls up to read, the pane stays where they are and its
border counts the lines that came in below; End follows again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from console.config import Policy
from console.engine.session import ChangeSession, StartRequest
from console.journal.store import RecordStore
from screens.app import OpsConsoleApp
from screens.step import StepScreen

SIZE = (160, 50)

RUNBOOK = {
    "apiVersion": "opsconsole/v1", "kind": "Runbook",
    "metadata": {"id": "slow-output", "title": "Slow output", "component": "web", "from": "1", "to": "2", "risk": "low",
                 "environments": ["rehearsal"], "owners": ["platform"]},
    "why": "A step that prints a line at a time, like an observe window.", "scope": "a local shell", "blast_radius": "none",
    "steps": [
        # The first run fills the pane past its height in one go: the next run's pane must still follow.
        {"id": "burst", "title": "Print a burst", "run": ["seq", "1", "200"], "confirm": "yes"},
        {"id": "watch", "title": "Watch", "confirm": "yes",
         "run": ["sh", "-c", ("i=0; while [ ! -e go-ahead ]; do i=$((i+1)); echo \"$i s observed\"; sleep 0.05; done; "
                             "echo 'the window closed'")]},
    ],
    "done_when": ["done"],
}


def now() -> datetime:
    return datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def visible(out) -> list[str]:
    """The lines the pane shows now."""
    top = round(out.scroll_y)
    return list(out.lines[top:top + out.scrollable_content_region.height])


async def test_output_follows_the_newest_line_unless_scrolled_up(tmp_path: Path, dead_kubeconfig: Path, driver_for,
                                                                  monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the step waits for ./go-ahead
    runbook = tmp_path / "slow-output.yaml"
    runbook.write_text(json.dumps(RUNBOOK), encoding="utf-8")
    session = ChangeSession.start(
        StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator="alice",
                     kubeconfig=str(dead_kubeconfig)),
        store=RecordStore(tmp_path / "records"), policy=Policy(), clock=now,
    )
    app = OpsConsoleApp(records_dir=tmp_path / "records", runbooks_dir=tmp_path, clock=now)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        app.push_screen(StepScreen(session, clock=now, production=False))
        await d.until_next("confirm", "burst")
        await d.press("y")
        await d.until_next("confirm", "watch")
        out = app.screen.query_one("#step-output")
        await d.wait(lambda: out.lines and out.lines[-1].endswith("│ 200") and visible(out)[-1].endswith("│ 200"),
                     what="the burst's last line in view")
        await d.press("y")
        height = out.scrollable_content_region.height
        # Well past the pane's height, line by line: the newest line is the pane's last visible line all along.
        await d.wait(lambda: len(out.lines) > 2 * height, timeout=30, what="the pane to fill twice over")
        for _ in range(5):
            # Each look comes after new lines have come in and the app has handled what that posted (a redraw).
            count = len(out.lines)
            await d.wait(lambda: len(out.lines) > count, what="more lines")  # noqa: B023  # called before count moves on
            await pilot.pause()
            last = visible(out)[-1]
            assert last == out.lines[-1] or out.lines[-2] == last, (last, out.lines[-3:])  # a tick behind at most
        assert out.max_scroll_y > 0 and out.following
        # The operator scrolls up to read: the view stays, and the border counts what comes in below.
        await d.press("pageup")
        await d.wait(lambda: not out.following, what="the pane to stop following")
        kept = visible(out)[0]
        await d.wait(lambda: out.unseen >= 5, what="new lines while scrolled up")
        assert visible(out)[0] == kept
        assert f"{out.unseen} new lines ↓" in str(out.border_subtitle)
        assert "end" in d.text("#step-keys") and "follow the output" in d.text("#step-keys")
        # End: back to the newest line, following again.
        await d.press("end")
        await d.wait(lambda: out.following and visible(out)[-1] == out.lines[-1], what="following again")
        assert str(out.border_subtitle) == ""
        (tmp_path / "go-ahead").write_text("", encoding="utf-8")
        # The pane took the window's last line while following (the close-out may already have replaced the screen).
        await d.wait(lambda: bool(out.lines) and out.lines[-1].endswith("the window closed") and out.following,
                     what="the last line, followed")
        await d.until_next("close")
    session.release()
