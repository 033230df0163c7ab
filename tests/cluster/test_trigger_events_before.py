"""Warning events against what a watch window listed first: new or updated events fire whatever their timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from console.cluster.triggers import evaluate_triggers, event_versions

SINCE = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TRIGGER = [{"warning_events": {"pattern": "BackOff"}}]


def event(name: str, rv: str, last_seen: str) -> dict[str, Any]:
    return {"kind": "Event", "type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container",
            "metadata": {"name": name, "namespace": "web", "resourceVersion": rv}, "lastTimestamp": last_seen,
            "involvedObject": {"kind": "Pod", "name": name.split(".")[0]}}


def fired(events: list[dict[str, Any]], before: dict[str, str] | None) -> list[str]:
    hits = evaluate_triggers(TRIGGER, namespace="web", pods=[], nodes=[], workloads=[], events=events, since=SINCE,
                             events_before=before)
    return [h.object for h in hits]


def test_event_versions_key_by_namespace_and_name() -> None:
    assert event_versions([event("a.1", "7", "2026-11-21T11:00:00Z")]) == {"web/a.1": "7"}


def test_an_event_listed_and_unchanged_is_old_unless_seen_after_since() -> None:
    listed = [event("old.1", "5", "2026-11-21T11:00:00Z"), event("recent.1", "6", "2026-11-21T12:00:01Z")]
    assert fired(listed, event_versions(listed)) == ["Pod/recent"]


def test_an_event_created_or_updated_after_the_list_fires_even_with_an_earlier_clock() -> None:
    # A cluster whose clock runs hours behind the console's: every timestamp is before ``since``.
    listed = [event("old.1", "5", "2026-11-21T09:00:00Z")]
    before = event_versions(listed)
    now = [event("old.1", "9", "2026-11-21T09:00:05Z"), event("new.1", "10", "2026-11-21T09:00:06Z")]
    assert fired(now, before) == ["Pod/old", "Pod/new"]
    assert fired(now, None) == []  # timestamps alone cannot tell
