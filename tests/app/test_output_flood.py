"""The output pane under a flood: lines fed from another thread all arrive, and the newest is the one in view.

The runner calls the pane's ``feed`` on its own thread for every line; the pane writes them in batches on the
app's thread. A burst of 20,000 lines must end with every line in the pane (when it may keep them all) or
accounted for by its "not shown here" notes (when it keeps a bounded tail), and the last line drawn at the bottom
of the pane while it follows.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

from textual.app import App, ComposeResult

from console.engine.runner import OutputLine
from screens.widgets.output_log import OutputLog

BURST = 20_000
STARTED = datetime(2026, 11, 18, 12, 0, 59, 500_000, tzinfo=UTC)


class PaneApp(App):
    def __init__(self, pane: OutputLog) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        yield self.pane


def burst(pane: OutputLog) -> threading.Thread:
    """Feed the burst from a thread of its own, as the runner does (one call per line, 2 ms of output apart)."""
    def run() -> None:
        for n in range(BURST):
            pane.feed(OutputLine(n * 0.002, "stderr" if n % 1000 == 999 else "stdout", f"line {n:05d} GET /api/v1/pods"))
    thread = threading.Thread(target=run)
    thread.start()
    return thread


async def until(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def bottom_row(pane: OutputLog) -> str:
    """The text drawn on the pane's last row now."""
    height = pane.scrollable_content_region.height
    return pane.render_line(height - 1).text


async def test_a_burst_from_a_thread_all_reaches_the_pane_and_the_last_line_is_in_view() -> None:
    pane = OutputLog(max_lines=BURST + 100, per_tick=5000)
    app = PaneApp(pane)
    async with app.run_test(size=(100, 30)) as pilot:
        pane.begin(STARTED, "flood: a burst")
        feeder = burst(pane)
        await until(lambda: pane.accounted == BURST, "every line written")
        feeder.join()
        await pilot.pause()
        assert pane.received == BURST
        assert len(pane.lines) == BURST + 1  # the run's header line, then every line fed
        assert pane.lines[-1] == "12:01:39 ! line 19999 GET /api/v1/pods"  # 59.5 s + 39.998 s
        assert pane.lines[1000] == "12:01:01 ! line 00999 GET /api/v1/pods"  # stderr is marked ("!")
        assert not any("not shown here" in line for line in pane.lines)
        await until(lambda: pane.scroll_y == pane.max_scroll_y > 0, "the view at the end")
        assert pane.following
        assert bottom_row(pane).rstrip() == pane.lines[-1]


async def test_a_bounded_pane_accounts_for_every_line_and_follows_the_last() -> None:
    pane = OutputLog(max_lines=2000, per_tick=500)
    app = PaneApp(pane)
    async with app.run_test(size=(30, 20)) as pilot:
        pane.begin(STARTED, "flood: bounded")
        feeder = burst(pane)
        feeder.join()
        await until(lambda: pane.accounted == BURST, "every line written or counted as not shown")
        await pilot.pause()
        assert pane.received == BURST
        assert len(pane.lines) <= 2000
        assert pane.lines[-1].endswith("line 19999 GET /api/v1/pods")
        await until(lambda: pane.scroll_y == pane.max_scroll_y > 0, "the view at the end")
        # The last line is drawn cut to the pane's width (it is wider than the 30 columns), not wrapped or shifted.
        width = pane.size.width
        row = pane.render_line(pane.scrollable_content_region.height - 1)
        assert row.cell_length == width
        assert row.text == pane.lines[-1][:width]


async def after_refresh(pane: OutputLog) -> None:
    """Until the next frame is drawn and every call deferred to it before this one has run."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    pane.call_after_refresh(lambda: done.done() or done.set_result(None))
    await asyncio.wait_for(done, timeout=30)


async def test_page_up_stays_up_when_a_batch_is_written_before_the_next_frame() -> None:
    # Under a flood a batch is written between the key and the frame that applies its scroll: the batch's own move
    # to the end (deferred until that frame) must not carry the view back down and undo the operator's PageUp.
    pane = OutputLog(max_lines=2000, per_tick=500)
    app = PaneApp(pane)
    async with app.run_test(size=(60, 20)):
        pane.begin(STARTED, "flood: page up")
        for n in range(300):
            pane.feed(OutputLine(n * 0.001, "stdout", f"line {n:05d}"))
        pane.flush_pending()
        await until(lambda: pane.scroll_y == pane.max_scroll_y > 0, "the view at the end")
        for round_ in range(5):
            pane.scroll_page_up(animate=False)  # what PageUp does; applied with the next frame
            for n in range(20):
                pane.feed(OutputLine(1 + n * 0.001, "stdout", f"more {round_}.{n:02d}"))
            pane.flush_pending()  # the tick's batch, before that frame
            await after_refresh(pane)  # the moves deferred to that frame have been made, in the order asked
            assert not pane.following, f"round {round_}: the view went back to the end"
            assert pane.scroll_y < pane.max_scroll_y
            pane.follow()
            await until(lambda: pane.scroll_y == pane.max_scroll_y, "the view back at the end")
