"""RowIndex benchmark: apply a burst of changed rows to a 10,000-row live table and read one screen.

    python benchmarks/row_index.py [--quick]

Prints one JSON object per line. For each scenario (sort column, filter) the value is the median time to
upsert 500 changed pod rows into 10,000 and read a 40-row window; the baseline, measured in the same
run over the same rows, is the naive way: update a dict, filter every row (same semantics), sort them
all, slice 40.
Also measured: rendering 500 pods with ``pod_row`` against ``json.loads`` of the same objects (the
cost the watch has already paid to receive them).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shape import emit

from console.cluster.row_index import RowIndex
from console.cluster.rows import PodRow, pod_row
from console.cluster.selectors import parse_selector

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
STATUSES = ["Running"] * 8 + ["Pending", "CrashLoopBackOff", "ContainerCreating", "Completed"]


def make_pod(i: int, rng: random.Random) -> dict:
    app = rng.choice(["web", "api", "db", "cache", "worker"])
    return {
        "kind": "Pod",
        "metadata": {"name": f"{app}-{i:05d}-x7k2", "namespace": rng.choice(["web", "ops", "data"]),
                     "creationTimestamp": f"2026-11-{rng.randint(1, 20):02d}T{rng.randint(0, 23):02d}:00:00Z",
                     "labels": {"app": app, "tier": rng.choice(["frontend", "backend"])}},
        "spec": {"nodeName": f"worker-{rng.randint(1, 40)}", "containers": [{"name": "app"}]},
        "status": {"phase": "Running", "podIP": f"10.244.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "app", "ready": True, "restartCount": rng.randint(0, 30),
                                          "state": {"running": {"startedAt": "2026-11-21T10:00:00Z"}}}]},
    }


def naive(rows: dict, changed: list, column: str, reverse: bool, accept) -> list:
    for r in changed:
        rows[r.key] = r
    key = PodRow.SORT_KEYS.get(column)
    getter = key or (lambda r: getattr(r, column))
    visible = [r for r in rows.values() if accept(r)]
    visible.sort(key=lambda r: (getter(r) if getter(r) is not None else float("inf"), r.key), reverse=reverse)
    return visible[:40]




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (well under a minute)")
    args = ap.parse_args()
    rounds = 15 if args.quick else 60
    n, burst = 10_000, 500
    rng = random.Random(42)
    pods = [make_pod(i, rng) for i in range(n)]
    rows = [pod_row(p, NOW) for p in pods]

    web = parse_selector("app=web")

    def text(r: PodRow) -> str:
        # The same k9s semantics the index applies: substring over the visible fields, any case.
        return "\x1f".join(str(getattr(r, f)) for f in PodRow.SEARCH_FIELDS).casefold()

    scenarios = [
        ("name", False, "", lambda r: True),
        ("restarts", True, "web", lambda r: "web" in text(r)),
        ("age", False, "-l app=web", lambda r: web.matches(r.labels)),
        ("status", False, "!running", lambda r: "running" not in text(r)),
    ]
    for column, reverse, filt, accept in scenarios:
        idx = RowIndex(rows)
        idx.set_sort(column, reverse)
        idx.set_filter(filt)
        idx.window(0, 40)
        plain = {r.key: r for r in rows}
        ours, base = [], []
        for _ in range(rounds):
            changed = [replace(r, restarts=r.restarts + 1,
                               status=rng.choice(STATUSES), age="1s") for r in rng.sample(rows, burst)]
            t0 = time.perf_counter()
            idx.upsert(changed)
            shown = idx.window(0, 40)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            expected = naive(plain, changed, column, reverse, accept)
            base.append(time.perf_counter() - t0)
            assert len(shown) == len(expected)
        value, baseline = statistics.median(ours) * 1000, statistics.median(base) * 1000
        label = f"row_index.upsert{burst}_of_{n}+window40.sort={column}{'-desc' if reverse else ''}"
        label += f".filter={filt!r}" if filt else ""
        emit(label, value, "ms", baseline, "< 10 ms and < baseline", value < 10 and value < baseline)

    sample = pods[:burst]
    texts = [json.dumps(p) for p in sample]
    render, parse = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for p in sample:
            pod_row(p, NOW)
        render.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for t in texts:
            json.loads(t)
        parse.append(time.perf_counter() - t0)
    value, baseline = statistics.median(render) * 1000, statistics.median(parse) * 1000
    emit(f"rows.pod_row_x{burst}", value, "ms", baseline, "<= 5x json.loads of the same pods", value <= 5 * baseline)


if __name__ == "__main__":
    main()
