"""EventsPanel: warnings first, newest first, with count, object, reason and message."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from console.cluster.rows import EventRow, event_row
from screens.widgets.live_table import Column
from screens.widgets.resource_panel import ResourcePanel

__all__ = ["EVENT_COLUMNS", "EventsPanel"]

EVENT_COLUMNS: tuple[Column, ...] = (
    Column("order", "LAST", 5, lambda r: r.last_seen, sort="sort_key", align="right"),
    Column("count", "#", 3, lambda r: str(r.count), sort="count", align="right"),
    Column("object", "OBJECT", 14, lambda r: r.object, sort="object", flex=1),
    Column("reason", "REASON", 14, lambda r: r.reason, sort="reason"),
    Column("message", "MESSAGE", 12, lambda r: r.message, sort="message", flex=3),
)


class EventsPanel(ResourcePanel):
    """Events; the default order (the LAST column) is warnings first, then newest first; warnings are yellow."""

    TITLE: ClassVar[str] = "Events"
    KINDS: ClassVar[tuple[str, ...]] = ("events",)
    COLUMNS: ClassVar[tuple[Column, ...]] = EVENT_COLUMNS
    DEFAULT_SORT: ClassVar[tuple[str | None, bool]] = ("order", False)
    EMPTY: ClassVar[str] = "no events"

    def make_row(self, kind: str, obj: dict[str, Any], now: datetime) -> EventRow:
        return event_row(obj, now)
