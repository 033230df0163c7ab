"""Reports: per week or month, how many changes, how many succeeded, rolled back or broke glass, and how long.

Built over the rows the Records screen shows (so its filter narrows the report), by the pure
``console.review.reports``. The chart is made of block characters: one bar per period for the number of changes,
with the success rate, rollbacks and break-glass decisions beside it; tables below give mean and p90 durations by
component and by risk. ``w`` and ``m`` switch between weeks and months.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Static

from console.review.index import IndexEntry
from console.review.reports import Report, bar, build_report, duration_rows, fmt_rate, period_rows
from screens.widgets.footer import SteadyFooter

CHART_WIDTH = 40


def chart_text(report: Report, width: int = CHART_WIDTH) -> Text:
    """One line per period: label, bar of changes, count, success rate, rollbacks, break-glass."""
    if not report.periods:
        return Text("No changes to report on.", style="italic")
    most = max(f.changes for f in report.periods)
    text = Text()
    text.append(f"{'period':<9} {'changes':<{width}}  {'n':>4}  {'success':>7}  {'rollbk':>6}  {'break-glass':>11}\n",
                style="bold")
    for f in report.periods:
        text.append(f"{f.period:<9} ")
        text.append(f"{bar(f.changes, most, width):<{width}}", style="cyan")
        rate = f.success_rate
        style = "green" if rate is not None and rate >= 0.9 else "yellow" if rate is not None and rate >= 0.7 else "red"
        text.append(f"  {f.changes:>4}  ")
        text.append(f"{fmt_rate(rate):>7}", style=style if rate is not None else "dim")
        text.append(f"  {f.rollbacks:>6}  ")
        text.append(f"{f.breakglass:>11}", style="bold red" if f.breakglass else "")
        text.append("\n")
    return text


class ReportScreen(Screen):
    """Figures over a set of changes, with a block-character chart and duration tables."""

    BINDINGS = [
        Binding("w", "period('week')", "Weeks", id="report.week", tooltip="One row per ISO week"),
        Binding("m", "period('month')", "Months", id="report.month", tooltip="One row per month"),
        Binding("escape", "back", "Back", id="report.back", tooltip="Back to the list of changes"),
    ]

    def __init__(self, entries: Sequence[IndexEntry], *, by: str = "week", filter_text: str = "") -> None:
        super().__init__()
        self.entries = list(entries)
        self.by = by
        self.filter_text = filter_text
        self.report: Report | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="report"):
            yield Static(id="report-title", classes="section-title")
            yield Static(id="report-chart")
            yield Static("Per period", classes="section-title")
            yield DataTable(id="report-periods", cursor_type="none", zebra_stripes=True)
            with Horizontal(id="report-durations"):
                yield DataTable(id="report-components", cursor_type="none", zebra_stripes=True)
                yield DataTable(id="report-risks", cursor_type="none", zebra_stripes=True)
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.action_period(self.by)

    def action_period(self, by: str) -> None:
        self.by = by
        self.report = build_report(self.entries, by=by)
        scope = f"filter “{self.filter_text}”" if self.filter_text.strip() else "every change"
        self.query_one("#report-title", Static).update(
            f"{len(self.entries)} change(s) per {by} ({scope}); success counts closed changes only"
        )
        self.query_one("#report-chart", Static).update(chart_text(self.report))
        self._fill("#report-periods", period_rows(self.report))
        self._fill("#report-components", duration_rows(self.report, "component"))
        self._fill("#report-risks", duration_rows(self.report, "risk"))

    def _fill(self, selector: str, rows: list[list[str]]) -> None:
        table = self.query_one(selector, DataTable)
        table.clear(columns=True)
        table.add_columns(*rows[0])
        table.add_rows(rows[1:])

    def action_back(self) -> None:
        self.dismiss(None)
