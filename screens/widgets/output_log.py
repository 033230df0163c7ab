"""OutputLog: a command's output, streamed with timestamps, bounded however much the command prints."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

from textual.widgets import Log

from console.engine.runner import OutputLine


class OutputLog(Log):
    """A Log fed from any thread: lines queue up and are written in one batch per tick (about ten times a second).

    The queue is bounded too, so a command printing a million lines a second costs the UI a fixed amount of work per
    tick; what the pane drops is still in the step's asciicast file.
    """

    DEFAULT_CSS = """
    OutputLog { height: 1fr; border: round $panel; overflow-x: hidden; overflow-y: auto; }
    """

    def __init__(self, *, max_lines: int = 2000, per_tick: int = 500, **kwargs) -> None:
        super().__init__(max_lines=max_lines, highlight=False, auto_scroll=True, **kwargs)
        self._pending: deque[tuple[OutputLine, datetime]] = deque(maxlen=max_lines)
        self._lock = threading.Lock()
        self._dropped = 0
        self.per_tick = per_tick
        self.started: datetime | None = None

    def on_mount(self) -> None:
        self.set_interval(0.1, self.flush_pending)

    def begin(self, started: datetime, title: str) -> None:
        """A new run starts: clear the pane and remember when, for the timestamps."""
        with self._lock:
            self._pending.clear()
            self._dropped = 0
        self.started = started
        self.clear()
        self.write_line(f"── {title} · started {started:%H:%M:%S} UTC")

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
        self.write_lines(lines)
