"""OutputLog: a command's output, streamed with timestamps, bounded however much the command prints.

It follows the newest line unless the operator has scrolled up to read: then it stays where it was, its border
says how many lines came in since ("12 new lines ↓"), and End (or scrolling back to the bottom) follows again.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

from textual.message import Message
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
        self.started: datetime | None = None
        self.following = True
        self.unseen = 0  # lines written while not following

    def on_mount(self) -> None:
        self.set_interval(0.1, self.flush_pending)

    def begin(self, started: datetime, title: str) -> None:
        """A new run starts: clear the pane and remember when, for the timestamps."""
        with self._lock:
            self._pending.clear()
            self._dropped = 0
        self.started = started
        self.clear()
        self.scroll_to(y=0, animate=False, immediate=True, force=True)
        self.follow()
        self._write([f"── {title} · started {started:%H:%M:%S} UTC"])

    def feed(self, line: OutputLine) -> None:
        """Called from the runner's thread: queue the line, never touch the widget."""
        with self._lock:
            if len(self._pending) == self._pending.maxlen:
                self._dropped += 1
            self._pending.append((line, self.started or datetime.now()))

    def flush_pending(self) -> None:
        with self._lock:
            if not self._pending:
                return
            batch = [self._pending.popleft() for _ in range(min(self.per_tick, len(self._pending)))]
            dropped, self._dropped = self._dropped, 0
        lines = []
        if dropped:
            lines.append(f"… {dropped} lines not shown here (they are in the step's recorded output)")
        for line, started in batch:
            at = started + timedelta(seconds=line.t)
            mark = "!" if line.stream == "stderr" else "│"
            lines.append(f"{at:%H:%M:%S} {mark} {line.text}")
        self._write(lines)

    def _write(self, lines: list[str]) -> None:
        self.write_lines(lines, scroll_end=False)
        if self.following:
            self._to_end()
        else:
            self.unseen += len(lines)
            self.border_subtitle = unseen_text(self.unseen)

    def _to_end(self) -> None:
        # Now, and again once the lines just written are laid out (a scrollbar they bring may not exist yet, and
        # until it does the view cannot move).
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.scroll_end(animate=False, x_axis=False)

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
