"""What an emergency change still owes after it ran: one list, shown on Home and under ``records list``.

SOP-005's fast track lets an emergency start outside the window on a verbal approval, and in exchange asks for a
detailed post-mortem within 24 hours (policy: ``[emergency] post_mortem_hours``). An obligation is met by an
addendum of kind ``post-mortem`` on the change's record; until then it is *due*, and past its deadline *overdue*.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from console.journal.journal import read_events
from console.journal.store import RecordStore
from console.review.index import load_index
from console.review.summary import parse_ts, summarise


@dataclass(frozen=True)
class Obligation:
    """One thing an emergency change owes."""

    change_id: str
    what: str
    due: datetime
    operator: str

    def overdue(self, now: datetime) -> bool:
        return now >= self.due

    def describe(self, now: datetime) -> str:
        left = self.due - now
        when = (f"overdue since {self.due:%Y-%m-%d %H:%MZ}" if left <= timedelta(0)
                else f"due by {self.due:%Y-%m-%d %H:%MZ} ({_hours(left)} left)")
        return f"{self.change_id} ({self.operator}): {self.what} {when}"


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f}h" if hours < 10 else f"{hours:.0f}h"


def open_obligations(store: RecordStore, post_mortem_hours: float) -> list[Obligation]:
    """Every emergency in the store without its post-mortem addendum, soonest due first."""
    if not store.root.is_dir():
        return []
    owed = []
    for entry in load_index(store.root).entries:
        if not entry.emergency or not entry.created:
            continue
        # Only emergencies are read in full: a handful, even in a large store.
        summary = summarise(read_events(store.root / entry.rel / "journal.jsonl").events)
        if any(a.get("kind") == "post-mortem" for a in summary.addenda):
            continue
        due = parse_ts(entry.created) + timedelta(hours=post_mortem_hours)
        owed.append(Obligation(entry.change_id, "post-mortem", due, entry.operator))
    return sorted(owed, key=lambda o: o.due)
