"""What an emergency change still owes after it ran: one list, shown on Home and under ``records list``.

SOP-005's fast track lets an emergency start outside the window on a verbal approval, and in exchange asks for a
detailed post-mortem within 24 hours (policy: ``[emergency] post_mortem_hours``). An obligation is met by an
addendum of kind ``post-mortem`` on the change's record; until then it is *due*, and past its deadline *overdue*.
Where policy would have wanted signed approvals, the emergency owes them too (``approval.owed``), within the same
hours: a *retro-approval*, met once a ``signature.retro_approval`` is on record for every role it names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from console.journal import events as ev
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


def missing_approvals(events: Sequence[Any]) -> dict[str, int]:
    """Role -> signed approvals an emergency still owes: its ``approval.owed`` less each ``signature.retro_approval``
    on record (one per person); {} when it owes none."""
    owed = next((e for e in events if e.type == ev.APPROVAL_OWED), None)
    if owed is None:
        return {}
    counts: dict[str, int] = {}
    seen: set[str] = set()
    for e in events:
        if e.type == ev.SIGNATURE_RETRO_APPROVAL and e.data.get("principal") not in seen:
            seen.add(e.data.get("principal"))
            counts[str(e.data.get("role"))] = counts.get(str(e.data.get("role")), 0) + 1
    required = owed.data.get("required") or {}
    return {str(role): int(n) - counts.get(role, 0) for role, n in sorted(required.items()) if int(n) > counts.get(role, 0)}


def open_obligations(store: RecordStore, post_mortem_hours: float) -> list[Obligation]:
    """Every emergency in the store without its post-mortem addendum, or without the signed approvals it owes,
    soonest due first."""
    if not store.root.is_dir():
        return []
    owed = []
    for entry in load_index(store.root).entries:
        if not entry.emergency or not entry.created:
            continue
        # Only emergencies are read in full: a handful, even in a large store.
        events = read_events(store.root / entry.rel / "journal.jsonl").events
        due = parse_ts(entry.created) + timedelta(hours=post_mortem_hours)
        if not any(a.get("kind") == "post-mortem" for a in summarise(events).addenda):
            owed.append(Obligation(entry.change_id, "post-mortem", due, entry.operator))
        missing = missing_approvals(events)
        if missing:
            roles = ", ".join(role if n == 1 else f"{n} × {role}" for role, n in missing.items())
            owed.append(Obligation(entry.change_id, f"retro-approval ({roles})", due, entry.operator))
    return sorted(owed, key=lambda o: o.due)
