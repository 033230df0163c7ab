"""Report figures (pure): grouping by ISO week or month, success and rollback rates, break-glass counts, and
mean / nearest-rank p90 durations by component and risk, table-driven over plain rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from console.review.reports import (
    ReportError,
    bar,
    build_report,
    duration_rows,
    fmt_rate,
    p90,
    period_of,
    period_rows,
    text_table,
)


@dataclass
class Row:
    date: str
    component: str = "web"
    risk: str = "low"
    outcome: str | None = "success"
    duration_s: float | None = 60.0
    breakglass: int = 0
    rolled_back: bool = False


@pytest.mark.parametrize(("day", "by", "label"), [
    (date(2026, 11, 2), "week", "2026-W45"),
    (date(2026, 11, 8), "week", "2026-W45"),  # Sunday ends the ISO week
    (date(2026, 11, 9), "week", "2026-W46"),
    (date(2027, 1, 1), "week", "2026-W53"),  # ISO years differ from calendar years at the edges
    (date(2026, 11, 30), "month", "2026-11"),
])
def test_periods(day: date, by: str, label: str) -> None:
    assert period_of(day, by) == label


@pytest.mark.parametrize(("values", "expected"), [
    ([5.0], 5.0), ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 9), ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 10), ([3, 1, 2], 3),
])
def test_p90_is_nearest_rank(values: list[float], expected: float) -> None:
    assert p90(values) == expected


def test_figures_per_period() -> None:
    rows = [
        Row("2026-11-02", "web", "low", "success", 60),
        Row("2026-11-03", "web", "low", "success", 120),
        Row("2026-11-04", "api", "high", "rolled_back", 600, breakglass=2, rolled_back=True),
        Row("2026-11-05", "api", "high", None, None),  # open: counted, but no outcome or duration
        Row("2026-11-10", "db", "critical", "aborted", 30),
        Row("2026-10-01", "web", "low", "success", 10),  # before --since
    ]
    report = build_report(rows, by="week", since="2026-11-01")
    w45, w46 = report.periods
    assert (w45.period, w45.changes, w45.closed, w45.succeeded, w45.rollbacks, w45.breakglass) == ("2026-W45", 4, 3, 2, 1, 2)
    assert w45.success_rate == pytest.approx(2 / 3) and w45.rollback_rate == 0.25
    assert w45.by_component["web"].mean_s == 90 and w45.by_component["web"].p90_s == 120
    assert list(w45.by_risk) == ["low", "high"]  # risk order, not alphabetical
    assert w45.overall.n == 3 and w45.overall.mean_s == 260 and w45.overall.p90_s == 600
    assert (w46.changes, w46.success_rate, w46.by_risk["critical"].n) == (1, 0.0, 1)
    assert report.total.changes == 5
    table = text_table(period_rows(report))
    assert table[0].split() == ["PERIOD", "CHANGES", "SUCCESS", "ROLLBACKS", "BREAK-GLASS", "MEAN", "P90"]
    assert table[1].split() == ["2026-W45", "4", "67%", "1", "(25%)", "2", "4m20s", "10m00s"]
    assert table[-1].split()[:3] == ["total", "5", "50%"]
    assert ["2026-W45", "api", "1", "10m00s", "10m00s"] in duration_rows(report, "component")


def test_a_period_with_only_open_changes_has_no_rate() -> None:
    report = build_report([Row("2026-11-02", outcome=None, duration_s=None)], by="month")
    f = report.periods[0]
    assert f.success_rate is None and f.overall is None and fmt_rate(f.success_rate) == "—"
    assert period_rows(report)[1] == ["2026-11", "1", "—", "0 (0%)", "0", "—", "—"]


def test_bad_arguments() -> None:
    with pytest.raises(ReportError, match="period must be one of week, month"):
        build_report([], by="year")
    with pytest.raises(ReportError, match="not a date"):
        build_report([], since="last tuesday")
    assert build_report([], by="week").periods == []


@pytest.mark.parametrize(("value", "maximum", "width", "expected"), [
    (10, 10, 4, "████"), (5, 10, 4, "██"), (1, 16, 4, "▎"), (0, 10, 4, ""), (3, 0, 4, ""), (20, 10, 4, "████"),
    (9, 16, 2, "█▏"),
])
def test_bars_in_eighths(value: float, maximum: float, width: int, expected: str) -> None:
    assert bar(value, maximum, width) == expected
