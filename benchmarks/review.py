"""Review benchmark: time to open the list of changes and one change, on a store of 1,000 changes of 50 steps.

    python benchmarks/review.py [--quick] [--records-dir DIR]

The store is written through the real journal code (RecordStore.create_change, Journal.create/append with a
clock, CastWriter for each step's output); --quick writes 100 changes. With --records-dir the store is kept there
and reused by later runs (generation is skipped when the directory already holds changes); without it, it goes to
a temporary directory (on /dev/shm when present, since generation fsyncs every event) and is removed.

Prints one JSON object per line. Baselines, from the same run on the same files:
- list: a plain os.scandir of the store plus reading every journal file (no parsing, no cache);
- record: reading that change's journal file (no parsing, verification or outputs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shape import emit

from console.journal import events as ev
from console.journal.cast import CastWriter
from console.journal.journal import Journal
from console.journal.store import RecordStore
from console.review.index import INDEX_NAME, load_index

START = datetime(2026, 1, 5, 22, 0, 0, tzinfo=UTC)
COMPONENTS = ("web", "api", "db", "cache", "queue", "auth")
RISKS = ("low", "medium", "high", "critical")
OUTCOMES = ("success",) * 8 + ("rolled_back", "aborted")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def sections(steps: int) -> list[str]:
    pre, gates, verify = 3, 2, 5
    return ["precondition"] * pre + ["gate"] * gates + ["step"] * (steps - pre - gates - verify) + ["verification"] * verify


def write_change(store: RecordStore, i: int, steps: int) -> None:
    start = START + timedelta(hours=7 * i)
    component = COMPONENTS[i % len(COMPONENTS)]
    risk = RISKS[i % len(RISKS)]
    outcome = OUTCOMES[i % len(OUTCOMES)]
    ref = store.create_change(component=component, from_version=f"1.{i % 10}.0", to_version=f"1.{i % 10 + 1}.0", when=start)
    clock = Clock(start)
    t = 0.0

    def at(seconds: float, type: str, data: dict) -> None:
        clock.now = start + timedelta(seconds=seconds)
        journal.append(type, data)

    with Journal.create(store.journal_path(ref), clock=clock) as journal:
        at(0, ev.CHANGE_CREATED, {
            "change_id": ref.change_id,
            "runbook": {"id": f"{component}-upgrade", "title": f"Upgrade {component}", "component": component,
                        "from": ref.from_version, "to": ref.to_version, "risk": risk, "path": "runbooks/x.yaml", "sha256": "ab" * 32},
            "environment": "production" if i % 3 else "staging", "context": "prod-eu-1", "operator": f"op{i % 7}",
            "description": "benchmark change", "scope": component, "blast_radius": component, "emergency": i % 25 == 0,
            "host": "bench"})
        at(1, ev.PARAMS_SET, {"params": {"namespace": component, "replicas": 3}})
        at(2, ev.APPROVAL_RECORDED, {"name": "reviewer", "role": "reviewer", "reference": f"OPS-{i}"})
        if i % 25 == 0:
            at(3, ev.BREAKGLASS_RECORDED, {"reason": "outage", "approver": "lead", "what": "change window", "step_id": "s-5"})
        t = 5.0
        for n, section in enumerate(sections(steps)):
            step_id = f"s-{n}"
            command = f"kubectl rollout status deployment/{component} -n {component} --step {n}"
            at(t, ev.STEP_STARTED, {"section": section, "step_id": step_id, "title": f"Step {n}", "kind": "command",
                                    "command": command, "argv": command.split(), "attempt": 1})
            path = store.next_output_path(ref, step_id)
            writer = CastWriter(path, started=clock.now, command=command, clock=lambda: 0.0)
            writer.write(f"Waiting for deployment \"{component}\" rollout to finish: 1 of 3 updated\r\n", at=0.2)
            writer.write(f"deployment \"{component}\" successfully rolled out\r\n", at=1.1)
            writer.marker("exit 0", at=1.5)
            sha = writer.close()
            duration = 1.5 + (n % 5)
            t += duration
            at(t, ev.STEP_FINISHED, {"section": section, "step_id": step_id, "status": "passed", "exit_code": 0,
                                     "duration_s": duration, "reason": "",
                                     "file": {"path": path.relative_to(ref.path).as_posix(), "sha256": sha}})
            t += 0.5
        if outcome == "rolled_back":
            at(t + 1, ev.ROLLBACK_STARTED, {"reason": "benchmark", "steps": []})
            at(t + 2, ev.ROLLBACK_FINISHED, {"status": "done", "failed_step": None})
        at(t + 5, ev.CHANGE_CLOSED, {"outcome": outcome, "followups": [], "signoff": {"name": "lead", "role": "cm"}})




def plain_list(root: Path) -> int:
    """The baseline: find every journal with os.scandir and read it whole."""
    total = 0
    for year in os.scandir(root):
        if year.is_dir() and year.name.isdigit():
            for change in os.scandir(year.path):
                if change.is_dir():
                    with open(os.path.join(change.path, "journal.jsonl"), "rb") as f:
                        total += len(f.read())
    return total


def best_of(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


async def screen_times(root: Path, change_id: str) -> tuple[float, float]:
    """Headless: ReviewApp start until the list is filled; then Enter until the record screen is mounted."""
    from textual.widgets import DataTable

    from screens.record import RecordScreen
    from screens.records import RecordsScreen, ReviewApp

    app = ReviewApp(records_dir=root, reviewer="bench")
    t0 = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        while not (isinstance(app.screen, RecordsScreen) and app.screen.load is not None):
            await pilot.pause(0.005)
        await pilot.pause()  # the filled table's first paint
        list_s = time.perf_counter() - t0
        screen = app.screen
        screen.set_filter(f"id:{change_id}")
        screen.query_one("#records-table", DataTable).focus()
        t1 = time.perf_counter()
        await pilot.press("enter")
        while not isinstance(app.screen, RecordScreen):
            await pilot.pause(0.005)
        await pilot.pause()
        record_s = time.perf_counter() - t1
    return list_s, record_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 changes instead of 1,000")
    parser.add_argument("--records-dir", metavar="DIR", help="keep (and reuse) the generated store here")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    count = 100 if args.quick else 1000
    if args.records_dir:
        root, cleanup = Path(args.records_dir), None
    else:
        parent = "/dev/shm" if os.path.isdir("/dev/shm") else None
        cleanup = Path(tempfile.mkdtemp(prefix="opsconsole-review-", dir=parent))
        root = cleanup / "records"
    try:
        store = RecordStore(root)
        existing = len(store.list_changes()) if root.is_dir() else 0
        if existing == 0:
            t0 = time.perf_counter()
            for i in range(count):
                # A store object per change, as each console run has: RecordStore remembers every output path it
                # handed out and scans that set on each call, which grows without bound in one long-lived object.
                write_change(RecordStore(root), i, args.steps)
            emit("review.generate", time.perf_counter() - t0, "s", None, f"{count} changes x {args.steps} steps", None)
        else:
            print(f"reusing {existing} changes in {root}", file=sys.stderr)
        refs = store.list_changes()
        n = len(refs)
        rounds = 3 if n >= 1000 else 5
        # Baseline first so both see a warm page cache.
        plain_list(root)
        base_list = best_of(lambda: plain_list(root), rounds)
        (root / INDEX_NAME).unlink(missing_ok=True)
        t0 = time.perf_counter()
        cold = load_index(root)
        cold_s = time.perf_counter() - t0
        assert cold.rebuilt == n, cold
        emit("review.list_open_cold_index", cold_s, "s", base_list, f"informational ({n} changes, builds the cache)", None)
        warm_s = best_of(lambda: load_index(root), rounds)
        assert load_index(root).reused == n
        emit("review.list_open", warm_s, "s", base_list, f"< 1 s ({n} changes, cached index)", warm_s < 1.0)

        from screens.record import load_record_view

        ref = refs[n // 2]
        journal = store.journal_path(ref)
        base_record = best_of(lambda: journal.read_bytes(), 10)
        record_s = best_of(lambda: load_record_view(store, ref), 5)
        view = load_record_view(store, ref)
        assert view.report.ok and len(view.outputs) == args.steps
        emit("review.record_open", record_s, "s", base_record, f"< 0.3 s ({args.steps} steps: read, verify, outputs)", record_s < 0.3)

        list_ui, record_ui = asyncio.run(screen_times(root, ref.change_id))
        emit("review.list_screen_open", list_ui, "s", base_list, f"< 1 s (headless app start to filled table, {n} rows)", list_ui < 1.0)
        emit("review.record_screen_open", record_ui, "s", base_record, "< 0.3 s (headless Enter to record screen shown)", record_ui < 0.3)
    finally:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
