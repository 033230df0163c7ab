"""Tests for the sorted, filtered RowIndex."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

import pytest

from console.cluster.row_index import RowIndex
from console.cluster.rows import PodRow
from console.cluster.selectors import SelectorError

# --- RowIndex ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    name: str
    status: str
    restarts: int
    labels: dict = field(default_factory=dict, hash=False)
    hidden: str = ""

    SEARCH_FIELDS = ("name", "status")


def rows() -> list[Row]:
    return [
        Row("web/web-1", "web-1", "Running", 0, {"app": "web", "tier": "frontend"}),
        Row("web/web-2", "web-2", "CrashLoopBackOff", 7, {"app": "web", "tier": "frontend"}),
        Row("web/db-0", "db-0", "Running", 1, {"app": "db", "tier": "db"}),
        Row("web/cache-0", "cache-0", "Pending", 0, {"app": "cache"}, hidden="web"),
    ]


def test_default_order_is_by_key() -> None:
    idx = RowIndex(rows())
    assert idx.visible_keys() == ["web/cache-0", "web/db-0", "web/web-1", "web/web-2"]
    assert idx.visible_count == 4 and len(idx) == 4


def test_text_filter_is_case_insensitive_substring_over_visible_fields() -> None:
    idx = RowIndex(rows())
    idx.set_filter("CRASH")
    assert idx.visible_keys() == ["web/web-2"]
    idx.set_filter("web")
    # cache-0 holds "web" only in a field that is not shown, so it does not match.
    assert idx.visible_keys() == ["web/web-1", "web/web-2"]
    idx.set_filter("1running")  # no match across two fields
    assert idx.visible_keys() == []


def test_inverted_filter() -> None:
    idx = RowIndex(rows())
    idx.set_filter("!running")
    assert idx.visible_keys() == ["web/cache-0", "web/web-2"]
    idx.set_filter("!")
    assert idx.visible_count == 4


def test_label_selector_filter_and_inversion() -> None:
    idx = RowIndex(rows())
    idx.set_filter("-l app=web,tier!=db")
    assert idx.visible_keys() == ["web/web-1", "web/web-2"]
    idx.set_filter("! -l app=web")
    assert idx.visible_keys() == ["web/cache-0", "web/db-0"]
    idx.set_filter("-l tier")
    assert idx.visible_keys() == ["web/db-0", "web/web-1", "web/web-2"]


def test_bad_selector_keeps_previous_filter() -> None:
    idx = RowIndex(rows())
    idx.set_filter("crash")
    with pytest.raises(SelectorError):
        idx.set_filter("-l app in")
    assert idx.filter_text == "crash" and idx.visible_keys() == ["web/web-2"]


def test_sort_and_reverse_and_window() -> None:
    idx = RowIndex(rows())
    idx.set_sort("restarts")
    assert idx.visible_keys() == ["web/cache-0", "web/web-1", "web/db-0", "web/web-2"]
    idx.set_sort("restarts", reverse=True)
    assert idx.visible_keys() == ["web/web-2", "web/db-0", "web/web-1", "web/cache-0"]
    assert [r.key for r in idx.window(1, 2)] == ["web/db-0", "web/web-1"]
    assert [r.key for r in idx.window(3, 10)] == ["web/cache-0"]
    assert idx.window(4, 10) == [] and idx.window(0, 0) == []
    assert idx.position_of("web/web-2") == 0 and idx.position_of("web/cache-0") == 3
    idx.set_sort("status")
    assert [r.status for r in idx.window(0, 4)] == ["CrashLoopBackOff", "Pending", "Running", "Running"]
    idx.set_sort(None)
    assert idx.visible_keys()[0] == "web/cache-0"


def test_sort_uses_row_class_sort_keys() -> None:
    young = PodRow("a/young", "a", "young", "1/1", "Running", "", "", 0, "0", "5m", 2000.0, "n", "ip")
    old = PodRow("a/old", "a", "old", "1/1", "Running", "", "", 0, "0", "5d", 1000.0, "n", "ip")
    unknown = PodRow("a/unknown", "a", "unknown", "1/1", "Running", "", "", 0, "0", "<unknown>", None, "n", "ip")
    idx = RowIndex([old, unknown, young])
    idx.set_sort("age")
    assert idx.visible_keys() == ["a/young", "a/old", "a/unknown"]  # a missing time sorts last


def test_upsert_same_key_twice_keeps_one_row_and_moves_it() -> None:
    idx = RowIndex(rows())
    idx.set_sort("restarts")
    r = idx.get("web/web-1")
    assert r is not None
    idx.upsert([replace(r, restarts=50)])
    idx.upsert([replace(r, restarts=50)])
    idx.upsert([replace(r, restarts=99), replace(r, restarts=3)])  # last one in a batch wins
    assert idx.visible_count == 4 and len(idx) == 4
    assert idx.visible_keys() == ["web/cache-0", "web/db-0", "web/web-1", "web/web-2"]
    assert idx.get("web/web-1").restarts == 3


def test_upsert_moves_rows_across_the_filter() -> None:
    idx = RowIndex(rows())
    idx.set_filter("crash")
    r = idx.get("web/web-1")
    idx.upsert([replace(r, status="CrashLoopBackOff")])
    assert idx.visible_keys() == ["web/web-1", "web/web-2"]
    idx.upsert([replace(idx.get("web/web-2"), status="Running")])
    assert idx.visible_keys() == ["web/web-1"]
    assert idx.position_of("web/web-2") is None and "web/web-2" in idx


def test_remove() -> None:
    idx = RowIndex(rows())
    idx.remove(["web/db-0", "nope"])
    assert idx.visible_keys() == ["web/cache-0", "web/web-1", "web/web-2"]
    assert idx.get("web/db-0") is None and idx.position_of("web/db-0") is None
    idx.remove(["web/db-0"])  # repeated DELETED event
    assert len(idx) == 3
    idx.clear()
    assert len(idx) == 0 and idx.window(0, 10) == []


def test_custom_key_function() -> None:
    idx = RowIndex([{"id": 2, "name": "b"}, {"id": 1, "name": "a"}], key=lambda d: d["id"])
    assert idx.visible_keys() == [1, 2]


def test_incremental_and_bulk_paths_agree_with_a_full_sort() -> None:
    rng = random.Random(7)
    statuses = ["Running", "Pending", "CrashLoopBackOff", "Completed", None]

    def make(i: int) -> Row:
        return Row(f"ns/p-{i:05d}", f"p-{i}", rng.choice(statuses) or "", rng.randint(0, 20),
                   {"app": rng.choice(["web", "db"])})

    idx = RowIndex(make(i) for i in range(3000))
    idx.set_sort("restarts", reverse=True)
    idx.set_filter("-l app=web")
    live = {r.key: r for r in idx.window(0, 10_000)}
    live_all = {f"ns/p-{i:05d}": idx.get(f"ns/p-{i:05d}") for i in range(3000)}
    for round_no in range(30):
        # Small batches take the bisect path, large ones the lazy rebuild.
        size = rng.choice([1, 5, 40, 900])
        batch = [make(rng.randrange(3500)) for _ in range(size)]
        idx.upsert(batch)
        for r in batch:
            live_all[r.key] = r
        gone = [f"ns/p-{rng.randrange(3500):05d}" for _ in range(rng.choice([1, 10, 500]))]
        idx.remove(gone)
        for k in gone:
            live_all.pop(k, None)
        if round_no % 3 == 0:
            idx.window(0, 40)  # reads in between, as a screen does
    expected = sorted((r for r in live_all.values() if r and r.labels.get("app") == "web"),
                      key=lambda r: (r.restarts, r.key))[::-1]
    assert idx.visible_keys() == [r.key for r in expected]
    assert idx.visible_count == len(expected)
    assert [r.key for r in idx.window(100, 40)] == [r.key for r in expected[100:140]]
    for pos in (0, 17, len(expected) - 1):
        assert idx.position_of(expected[pos].key) == pos
    assert live  # the initial window was read
