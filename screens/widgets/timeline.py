"""Timeline: every run of a change (preconditions, gates, steps, rollback, verification) as a row with a bar.

Each bar is placed on one scale from the change's start to its end, so a glance shows where the time went and
what overlapped; a run still open when the journal ends stretches to the end, drawn as interrupted. The operator's
notes and the refused confirmations sit among the runs at their time, their text where a run has its bar. Enter
on a run posts ``Timeline.RunChosen`` so the record screen can show that run's output; on a note, its whole text.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import DataTable

from console.review.summary import ChangeSummary, StepRun, parse_ts
from console.review.summary import format_duration as fmt_duration

SECTION_SHORT = {"precondition": "pre", "gate": "gate", "step": "step", "rollback": "rollback", "verification": "verify"}
STATUS_STYLE = {"passed": "green", "failed": "bold red", "interrupted": "yellow", "running": "yellow", "answered": "cyan"}
BAR_WIDTH = 36
NOTE_STYLE = "italic cyan"
REFUSED_STYLE = "bold yellow"


@dataclass(frozen=True)
class Entry:
    """One row of the timeline: a run, a note or a refused confirmation (``index`` into its list in the summary)."""

    kind: str  # run | note | refused
    index: int
    at: str  # when it started or happened (ISO, UTC)


def entries(summary: ChangeSummary) -> list[Entry]:
    """Runs, notes and refused confirmations in the order they happened (runs first at the same instant)."""
    rows = [Entry("run", i, run.started or "") for i, run in enumerate(summary.runs)]
    rows += [Entry("note", i, n.get("at") or "") for i, n in enumerate(summary.notes)]
    rows += [Entry("refused", i, r.get("at") or "") for i, r in enumerate(summary.refusals)]
    order = {"run": 0, "refused": 1, "note": 2}
    return sorted(rows, key=lambda e: (e.at, order[e.kind]))


def _fit(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


@dataclass(frozen=True)
class Span:
    """Where one run sits on the change's time scale, in seconds from the change's start."""

    start_s: float
    end_s: float | None  # None: never finished in the journal


def span_of(run: StepRun, t0: str) -> Span:
    base = parse_ts(t0)
    start = (parse_ts(run.started) - base).total_seconds() if run.started else 0.0
    end = (parse_ts(run.ended) - base).total_seconds() if run.ended else None
    return Span(start, end)


def bar_text(span: Span, total_s: float, width: int) -> str:
    """``width`` cells: spaces, then the run's bar (at least one cell, so a 1 s step is still visible)."""
    if width <= 0:
        return ""
    if total_s <= 0:
        return "█" + " " * (width - 1)
    end = span.end_s if span.end_s is not None else total_s
    a = min(width - 1, max(0, int(span.start_s / total_s * width)))
    b = min(width, max(a + 1, round(end / total_s * width)))
    return " " * a + "█" * (b - a) + " " * (width - b)


class Timeline(DataTable):
    """A read-only table of a change's runs with start, end, duration and a horizontal bar each."""

    class RunChosen(Message):
        """The reviewer asked for one run's output (``index`` into ``ChangeSummary.runs``)."""

        def __init__(self, index: int) -> None:
            self.index = index
            super().__init__()

    def __init__(self, *, id: str | None = None, bar_width: int = BAR_WIDTH) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.bar_width = bar_width
        self.summary: ChangeSummary | None = None

    def on_mount(self) -> None:
        for label, width in (("Section", 8), ("Step", 22), ("Start", 8), ("End", 8), ("Dur", 7), ("Result", 11)):
            self.add_column(label, width=width, key=label.lower())
        self.add_column("", width=self.bar_width, key="bar")

    def show(self, summary: ChangeSummary) -> None:
        """Fill the table from a summary (clears what was there)."""
        self.clear()
        self.summary = summary
        t0 = summary.created or (summary.runs[0].started if summary.runs else None)
        end_ts = summary.closed or summary.last_ts
        total = (parse_ts(end_ts) - parse_ts(t0)).total_seconds() if t0 and end_ts else 0.0
        for entry in entries(summary):
            if entry.kind == "note":
                note = summary.notes[entry.index]
                self.add_row("note", note.get("step_id") or "—", entry.at[11:19] or "—", "", "",
                             Text(f"by {note.get('author', '?')}", style=NOTE_STYLE),
                             Text(_fit(f"✎ {note.get('text', '')}", self.bar_width), style=NOTE_STYLE),
                             key=f"note-{entry.index}")
                continue
            if entry.kind == "refused":
                refusal = summary.refusals[entry.index]
                self.add_row("refused", refusal.get("step_id") or "—", entry.at[11:19] or "—", "", "",
                             Text("refused", style=REFUSED_STYLE),
                             Text(_fit(f"typed “{refusal.get('typed', '')}” by {refusal.get('by', '?')}", self.bar_width),
                                  style=REFUSED_STYLE),
                             key=f"refused-{entry.index}")
                continue
            i = entry.index
            run = summary.runs[i]
            span = span_of(run, t0) if t0 else Span(0.0, None)
            style = STATUS_STYLE.get(run.status, "")
            label = run.step_id + (f" #{run.attempt}" if run.attempt > 1 else "")
            duration = run.duration_s
            if duration is None and span.end_s is not None:
                duration = span.end_s - span.start_s
            self.add_row(
                SECTION_SHORT.get(run.section, run.section),
                label,
                run.started[11:19] if run.started else "—",
                run.ended[11:19] if run.ended else "—",
                fmt_duration(duration),
                Text(run.status if run.exit_code in (None, 0) else f"{run.status} ({run.exit_code})", style=style),
                Text(bar_text(span, total, self.bar_width), style=style or "white"),
                key=f"run-{i}",
            )

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        # Enter (or a click) on a row: say which run, in the record's own terms rather than a table row key.
        event.stop()
        kind, _, index = str(event.row_key.value).partition("-")
        if kind == "run":
            self.post_message(self.RunChosen(int(index)))
        elif kind == "note" and self.summary is not None:
            note = self.summary.notes[int(index)]
            self.notify(str(note.get("text", "")), title=f"Note by {note.get('author', '?')} at {str(note.get('at', ''))[11:19]}",
                        timeout=15)
