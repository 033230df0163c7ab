"""Report figures over many changes (pure): per week or month, how many, how well, how long.

Takes rows with the fields of ``IndexEntry`` (date, component, risk, outcome, duration_s, breakglass,
rolled_back) and returns numbers; the CLI prints them as a table and the Reports screen draws them as bars.
No clock: "since" is passed in. Success rate counts closed changes only (an open change has no outcome yet);
durations are of closed changes only, for the same reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from console.errors import OpsConsoleError
from console.review.summary import format_duration

PERIODS = ("week", "month")
BLOCKS = " ▏▎▍▌▋▊▉█"  # eighths of a cell, for bars finer than one character


class RowLike(Protocol):
    date: str
    component: str
    risk: str
    outcome: str | None
    duration_s: float | None
    breakglass: int
    rolled_back: bool


class ReportError(OpsConsoleError, ValueError):
    """A report that cannot be built as asked (an unknown period, a malformed date)."""


@dataclass(frozen=True)
class DurationStats:
    """Mean and 90th percentile (nearest rank) of some changes' durations, in seconds."""

    n: int
    mean_s: float
    p90_s: float


@dataclass
class PeriodFigures:
    """The figures of one week or month (or of the whole report, as its total)."""

    period: str
    changes: int = 0
    closed: int = 0
    succeeded: int = 0
    rollbacks: int = 0
    breakglass: int = 0
    by_component: dict[str, DurationStats] = field(default_factory=dict)
    by_risk: dict[str, DurationStats] = field(default_factory=dict)
    overall: DurationStats | None = None  # every closed change's duration in the period

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.closed if self.closed else None

    @property
    def rollback_rate(self) -> float | None:
        return self.rollbacks / self.changes if self.changes else None


@dataclass
class Report:
    """Periods oldest first, and the total over all of them."""

    by: str
    since: str | None
    periods: list[PeriodFigures]
    total: PeriodFigures


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` (also ``YYYY-MM``, the month's first day) as a date; ``ReportError`` otherwise."""
    try:
        if len(text) == 7:
            return date.fromisoformat(text + "-01")
        return date.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{text!r} is not a date (YYYY-MM-DD or YYYY-MM)") from None


def period_of(day: date, by: str) -> str:
    """The label of the period holding ``day``: ISO week ``2026-W47`` or month ``2026-11``."""
    if by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if by == "month":
        return f"{day.year:04d}-{day.month:02d}"
    raise ReportError(f"period must be one of {', '.join(PERIODS)}, not {by!r}")


def p90(values: Sequence[float]) -> float:
    """Nearest-rank 90th percentile: the smallest value with at least 90 % of values at or below it."""
    if not values:
        raise ReportError("no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _stats(values: list[float]) -> DurationStats:
    return DurationStats(len(values), sum(values) / len(values), p90(values))


def _figures(label: str, rows: list[RowLike]) -> PeriodFigures:
    f = PeriodFigures(label, changes=len(rows))
    by_component: dict[str, list[float]] = {}
    by_risk: dict[str, list[float]] = {}
    for r in rows:
        if r.outcome:
            f.closed += 1
            f.succeeded += r.outcome == "success"
            if r.duration_s is not None:
                by_component.setdefault(r.component or "?", []).append(r.duration_s)
                by_risk.setdefault(r.risk or "?", []).append(r.duration_s)
        f.rollbacks += bool(r.rolled_back)
        f.breakglass += int(r.breakglass)
    every = [d for values in by_component.values() for d in values]
    f.overall = _stats(every) if every else None
    f.by_component = {k: _stats(v) for k, v in sorted(by_component.items())}
    risk_order = {"low": 0, "medium": 1, "high": 2, "critical": 3}
    f.by_risk = {k: _stats(v) for k, v in sorted(by_risk.items(), key=lambda kv: (risk_order.get(kv[0], 9), kv[0]))}
    return f


def build_report(rows: Iterable[RowLike], *, by: str = "week", since: str | None = None) -> Report:
    """Group changes by the period of their date (rows on or after ``since`` only) and compute each period's figures."""
    if by not in PERIODS:
        raise ReportError(f"period must be one of {', '.join(PERIODS)}, not {by!r}")
    start = parse_day(since) if since else None
    groups: dict[str, list[RowLike]] = {}
    kept: list[RowLike] = []
    for r in rows:
        if not r.date:
            continue
        day = parse_day(r.date[:10])
        if start is not None and day < start:
            continue
        kept.append(r)
        groups.setdefault(period_of(day, by), []).append(r)
    periods = [_figures(label, groups[label]) for label in sorted(groups)]
    return Report(by, since, periods, _figures("total", kept))


# -- presentation helpers (still pure) -------------------------------------------------------------------------




def fmt_rate(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def bar(value: float, maximum: float, width: int) -> str:
    """A left-aligned bar of block characters, ``width`` cells for ``maximum``, in eighths of a cell."""
    if width <= 0 or maximum <= 0 or value <= 0:
        return ""
    eighths = round(min(value, maximum) / maximum * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (BLOCKS[part] if part else "")


def period_rows(report: Report) -> list[list[str]]:
    """Header and one row per period, then the total: the command line's first table."""
    rows = [["PERIOD", "CHANGES", "SUCCESS", "ROLLBACKS", "BREAK-GLASS", "MEAN", "P90"]]
    for f in [*report.periods, report.total]:
        rows.append([
            f.period, str(f.changes), fmt_rate(f.success_rate),
            f"{f.rollbacks} ({fmt_rate(f.rollback_rate)})", str(f.breakglass),
            format_duration(f.overall.mean_s if f.overall else None), format_duration(f.overall.p90_s if f.overall else None),
        ])
    return rows


def duration_rows(report: Report, group: str) -> list[list[str]]:
    """``group`` is "component" or "risk": one row per period and group with n, mean and p90."""
    rows = [["PERIOD", group.upper(), "CLOSED", "MEAN", "P90"]]
    for f in [*report.periods, report.total]:
        stats = f.by_component if group == "component" else f.by_risk
        for name, s in stats.items():
            rows.append([f.period, name, str(s.n), format_duration(s.mean_s), format_duration(s.p90_s)])
    return rows


def text_table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)).rstrip() for r in rows]
