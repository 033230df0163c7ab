"""OutputLog: a command's output, streamed with timestamps, bounded however much the command prints.

It follows the newest line unless the operator has scrolled up to read: then it stays where it was, its border
says how many lines came in since ("12 new lines ↓"), and End (or scrolling back to the bottom) follows again.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Log

from console.engine.runner import OutputLine


def unseen_text(count: int) -> str:
    """The marker on the pane's border while it does not follow: what came in below, and how to get there."""
    if count <= 0:
        return "scrolled up · End follows the output"
    return f"{count} new line{'s' if count != 1 else ''} ↓ · End follows the output"


class OutputLog(Log):
    """A Log fed from any thread: lines queue up and are written in one batch per tick (about ten times a second).

    The queue is bounded too, so a command printing a million lines a second costs the UI a fixed amount of work per
    tick; what the pane drops is still in the step's asciicast file.
    """

    class FollowChanged(Message):
        """The pane started or stopped following the newest line (``following`` says which)."""

    DEFAULT_CSS = """
    OutputLog { height: 1fr; border: round $panel; overflow-x: hidden; overflow-y: auto; border-subtitle-align: right; }
    OutputLog.-paused { border: round $warning; border-subtitle-color: $warning; border-subtitle-style: bold; }
    """

    def __init__(self, *, max_lines: int = 2000, per_tick: int = 500, **kwargs) -> None:
        # auto_scroll off: Log's own follows only while the view is exactly at the end, and a batch that first
        # makes the pane overflow cannot scroll it (its scrollbar does not exist yet), so it stopped following
        # there for good. Following is decided here instead (``following``).
        super().__init__(max_lines=max_lines, highlight=False, auto_scroll=False, **kwargs)
        self._pending: deque[tuple[OutputLine, datetime]] = deque(maxlen=max_lines)
        self._lock = threading.Lock()
        self._dropped = 0
        self.per_tick = per_tick
        self.received = 0  # lines fed since the run began, shown or not
        self.accounted = 0  # lines written to the pane or counted in its "not shown here" notes
        self._stamp: tuple[datetime | None, int, str] = (None, -1, "")  # (run start, whole second, its HH:MM:SS)
        self.started: datetime | None = None
        self.following = True
        self.unseen = 0  # lines written while not following
        self._frame_style: Style | None = None  # the pane's style while a frame is drawn (render_lines)

    def on_mount(self) -> None:
        self.set_interval(0.1, self.flush_pending)

    def begin(self, started: datetime, title: str) -> None:
        """A new run starts: clear the pane and remember when, for the timestamps."""
        with self._lock:
            self._pending.clear()
            self._dropped = 0
            self.received = 0
            self.accounted = 0
        self.started = started
        self.clear()
        self.scroll_to(y=0, animate=False, immediate=True, force=True)
        self.follow()
        self._write([f"── {title} · started {started:%H:%M:%S} UTC"])

    def feed(self, line: OutputLine) -> None:
        """Called from the runner's thread: queue the line, never touch the widget."""
        with self._lock:
            self.received += 1
            if len(self._pending) == self._pending.maxlen:
                self._dropped += 1
            self._pending.append((line, self.started or datetime.now()))

    def flush_pending(self) -> None:
        with self._lock:
            if not self._pending:
                return
            batch = [self._pending.popleft() for _ in range(min(self.per_tick, len(self._pending)))]
            dropped, self._dropped = self._dropped, 0
            self.accounted += dropped + len(batch)
        lines = []
        if dropped:
            lines.append(f"… {dropped} lines not shown here (they are in the step's recorded output)")
        for line, started in batch:
            mark = "!" if line.stream == "stderr" else "│"
            lines.append(f"{self._clock_text(started, line.t)} {mark} {line.text}")
        self._write(lines)

    def _clock_text(self, started: datetime, t: float) -> str:
        # Thousands of lines share a second: strftime once per second rather than once per line.
        whole = int(started.microsecond / 1e6 + t)
        run, second, text = self._stamp
        if run is not started or second != whole:
            text = f"{started.replace(microsecond=0) + timedelta(seconds=whole):%H:%M:%S}"
            self._stamp = (started, whole, text)
        return text

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        # Log measures each batch's widest line in a worker thread, for horizontal scrolling; this pane crops at
        # its width (overflow-x hidden), so a thread per batch, competing with the runner's, buys nothing.
        return

    def render_lines(self, crop: Region) -> list[Strip]:
        # The pane's style is worked out once a frame, not once a line: ``rich_style`` walks every ancestor's styles
        # and builds Rich styles (about a third of a millisecond a time here), and every row of the pane is drawn
        # anew on each frame of a flood, and on each key that moves the pane.
        self._frame_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._frame_style = None

    def _render_line(self, y: int, scroll_x: int, width: int) -> Strip:
        # One plain segment per line, cut to the pane's width once and kept: the pane neither highlights nor parses
        # markup and never scrolls sideways, so building and cropping a Rich Text per line (as Log does) only costs
        # time on every frame of a flood. A selection, or highlighting, is drawn by Log itself.
        if self.text_selection is not None or self.highlight or scroll_x:
            return super()._render_line(y, scroll_x, width)
        rich_style = self._frame_style or self.rich_style
        if y >= len(self._lines):
            return Strip.blank(width, rich_style)
        cache = self._render_line_cache
        strip = cache.get(y)
        if strip is None or strip.cell_length != width:  # (a style change clears the cache: notify_style_update)
            strip = Strip([Segment(set_cell_size(self._process_line(self._lines[y]), width), rich_style)], width)
            cache[y] = strip
        return strip.apply_offsets(0, y)

    def _write(self, lines: list[str]) -> None:
        self.write_lines(lines, scroll_end=False)
        if self.following:
            self._to_end()
        else:
            self.unseen += len(lines)
            self.border_subtitle = unseen_text(self.unseen)

    def _to_end(self) -> None:
        # Now, and again once the lines just written are laid out (a scrollbar they bring may not exist yet, and
        # until it does the view cannot move). The second move is made only if the pane still follows then: a
        # PageUp pressed before that frame is applied first, and the batch must not carry the view back down.
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.call_after_refresh(self._end_if_following)

    def _end_if_following(self) -> None:
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def follow(self) -> None:
        """Follow the newest line again (End)."""
        changed = not self.following
        self.following = True
        self.unseen = 0
        self.border_subtitle = ""
        self.remove_class("-paused")
        self._to_end()
        if changed:
            self.post_message(self.FollowChanged())

    def action_scroll_end(self) -> None:
        self.follow()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Only the operator moves the view up (the pane itself only ever moves it down, to the end): up and off
        # the end, it stops following; back down at the end, it follows again.
        if new_value < old_value and new_value < self.max_scroll_y and self.following:
            self.following = False
            self.unseen = 0
            self.border_subtitle = unseen_text(0)
            self.add_class("-paused")
            self.post_message(self.FollowChanged())
        elif not self.following and new_value >= self.max_scroll_y and new_value > old_value:
            self.follow()
