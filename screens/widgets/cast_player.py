"""CastPlayer: every command's recorded output with its times, searchable with ``/`` and replayable at its pace.

The outputs come in as ``RunOutput`` (lines already split and timed by ``console.review.export``). They are shown
one after another, each under a header naming its step and command. ``/`` searches them all (case-insensitive,
in the text, not the timestamps), ``n``/``N`` move between matches, ``[``/``]`` between commands, and ``p``
replays the current command's output as it was recorded: the same gaps between lines, at ``speed`` times the
original pace (1 by default). Escape stops a replay or closes the search.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Input, RichLog, Static

from console.review.export import OutputLine, RunOutput


@dataclass(frozen=True)
class Row:
    """One row of the view: a command's header or one line of its output."""

    run: int  # index into the outputs
    text: str  # what search looks at
    header: bool = False
    line: OutputLine | None = None


class CastPlayer(Vertical):
    """The Output tab of a record: all outputs, search, and replay."""

    BINDINGS = [
        Binding("slash", "search", "Search", id="output.search", tooltip="Search every command's output"),
        Binding("n", "next_match", "Next", id="output.next", tooltip="Next match"),
        Binding("N", "prev_match", "Prev", show=False, id="output.prev", tooltip="Previous match"),
        Binding("right_square_bracket", "next_run", "Next cmd", show=False, id="output.next_run", tooltip="Next command"),
        Binding("left_square_bracket", "prev_run", "Prev cmd", show=False, id="output.prev_run", tooltip="Previous command"),
        Binding("p", "replay", "Replay", id="output.replay", tooltip="Replay this command's output at its recorded pace"),
        Binding("escape", "stop", "Stop", show=False, id="output.stop", tooltip="Stop the replay or close the search"),
    ]

    status_text: reactive[str] = reactive("")

    def __init__(self, *, id: str | None = None, speed: float = 1.0) -> None:
        super().__init__(id=id)
        self.speed = speed
        self.outputs: list[RunOutput] = []
        self.rows: list[Row] = []
        self.starts: list[int] = []  # row index of each output's header
        self.term = ""
        self.matches: list[int] = []
        self.match = -1
        self.current_run = 0
        self.replaying: int | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="player-status")
        yield Input(placeholder="search the output (enter: find, esc: close)", id="player-search")
        yield RichLog(id="player-log", wrap=False, highlight=False, markup=False, auto_scroll=False)

    def on_mount(self) -> None:
        self.query_one("#player-search", Input).display = False

    @property
    def log_view(self) -> RichLog:
        return self.query_one("#player-log", RichLog)

    # -- content ----------------------------------------------------------------------------------------------

    def set_outputs(self, outputs: Sequence[RunOutput]) -> None:
        """Show these outputs (replacing any before) and forget the search."""
        self.outputs = list(outputs)
        self.rows, self.starts = [], []
        for i, out in enumerate(self.outputs):
            self.starts.append(len(self.rows))
            self.rows.append(Row(i, self._header(out), header=True))
            if out.error:
                self.rows.append(Row(i, f"(output unreadable: {out.error})"))
            elif not out.lines:
                self.rows.append(Row(i, "(no output)"))
            self.rows += [Row(i, line.text, line=line) for line in out.lines]
        self.term, self.matches, self.match, self.current_run = "", [], -1, 0
        self._redraw()

    @staticmethod
    def _header(out: RunOutput) -> str:
        run = out.run
        attempt = f" (attempt {run.attempt})" if run.attempt > 1 else ""
        return f"── {run.section} {run.step_id}{attempt} · {run.command or '(no command)'} · {run.status}"

    def _row_text(self, row: Row, current: bool) -> Text:
        if row.header:
            text = Text(row.text, style="bold")
        elif row.line is None:
            text = Text(row.text, style="italic")
        else:
            text = Text.assemble((row.line.at, "dim"), "  ")
            text.append(row.text, style="yellow" if row.line.kind == "m" else "")
        if self.term:
            text.highlight_regex(re.compile(re.escape(self.term), re.IGNORECASE), "black on yellow")
        if current:
            text.stylize("reverse")
        return text

    def _redraw(self) -> None:
        log = self.log_view
        log.clear()
        current = self.matches[self.match] if 0 <= self.match < len(self.matches) else -1
        for i, row in enumerate(self.rows):
            log.write(self._row_text(row, i == current), scroll_end=False)
        self._update_status()

    def _update_status(self) -> None:
        parts = [f"{len(self.outputs)} command(s) with output"]
        if self.outputs:
            run = self.outputs[self.current_run].run
            parts.append(f"at {run.step_id} ({self.current_run + 1}/{len(self.outputs)})")
        if self.term:
            where = f"{self.match + 1}/{len(self.matches)}" if self.matches else "no matches"
            parts.append(f"“{self.term}”: {where}")
        if self.replaying is not None:
            parts.append(f"▶ replaying at {self.speed:g}× (esc stops)")
        self.status_text = " · ".join(parts)

    def watch_status_text(self, text: str) -> None:
        self.query_one("#player-status", Static).update(text)

    def _scroll_to_row(self, index: int) -> None:
        # Keep a little context above the row, so a match is not on the very first line.
        self.log_view.scroll_to(y=max(0, index - 2), animate=False, immediate=True)

    def _run_of_row(self, index: int) -> int:
        return self.rows[index].run if 0 <= index < len(self.rows) else 0

    # -- navigation -------------------------------------------------------------------------------------------

    def jump_to_run(self, output_index: int) -> None:
        """Scroll to one output's header (``output_index`` into the outputs)."""
        if not self.starts:
            return
        self.current_run = max(0, min(output_index, len(self.starts) - 1))
        self._scroll_to_row(self.starts[self.current_run])
        self._update_status()

    def search(self, term: str) -> int:
        """Highlight every match of ``term`` and go to the first; returns the number of matching rows."""
        self.term = term.strip()
        needle = self.term.lower()
        self.matches = [i for i, row in enumerate(self.rows) if needle and needle in row.text.lower()]
        self.match = 0 if self.matches else -1
        self._redraw()
        if self.matches:
            self.current_run = self._run_of_row(self.matches[0])
            self._scroll_to_row(self.matches[0])
            self._update_status()
        return len(self.matches)

    def _step_match(self, delta: int) -> None:
        if not self.matches:
            return
        self.match = (self.match + delta) % len(self.matches)
        self.current_run = self._run_of_row(self.matches[self.match])
        self._redraw()
        self._scroll_to_row(self.matches[self.match])

    def action_next_match(self) -> None:
        self._step_match(1)

    def action_prev_match(self) -> None:
        self._step_match(-1)

    def action_next_run(self) -> None:
        self.jump_to_run(self.current_run + 1)

    def action_prev_run(self) -> None:
        self.jump_to_run(self.current_run - 1)

    def action_search(self) -> None:
        box = self.query_one("#player-search", Input)
        box.display = True
        box.value = self.term
        box.focus()

    @on(Input.Submitted, "#player-search")
    def _searched(self, event: Input.Submitted) -> None:
        event.stop()
        event.input.display = False
        self.search(event.value)
        self.log_view.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Escape is ours only while there is something to stop; otherwise it goes on to the screen (Back).
        if action == "stop":
            return self.replaying is not None or self.query_one("#player-search", Input).display
        return True

    def action_stop(self) -> None:
        box = self.query_one("#player-search", Input)
        if box.display:
            box.display = False
            self.log_view.focus()
            return
        if self.replaying is not None:
            self.workers.cancel_group(self, "replay")
            self.replaying = None
            self._redraw()
            self.jump_to_run(self.current_run)

    # -- replay -----------------------------------------------------------------------------------------------

    def action_replay(self) -> None:
        if self.outputs:
            self.replay(self.current_run)

    @work(exclusive=True, group="replay")
    async def replay(self, output_index: int) -> None:
        """Show one output line by line with its recorded gaps (divided by ``speed``), then stay on it."""
        out = self.outputs[output_index]
        self.current_run = output_index
        self.replaying = output_index
        self._update_status()
        log = self.log_view
        log.clear()
        log.write(self._row_text(Row(output_index, self._header(out), header=True), False))
        loop = asyncio.get_running_loop()
        t_start = loop.time()
        for line in out.lines:
            # Sleep to the line's own time from the start, not by gaps, so rounding never accumulates.
            delay = t_start + line.offset / self.speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            log.write(self._row_text(Row(output_index, line.text, line=line), False), scroll_end=True)
        self.replaying = None
        self._update_status()
