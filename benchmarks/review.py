"""Review benchmark: time to open one change of 50 steps, and the list of 10,000 changes (cold and warm index).

    python benchmarks/review.py [--quick] [--records-dir DIR] [--only record|list]

The record store is written through the real journal code (RecordStore.create_change, Journal.create/append with a
clock, CastWriter for each step's output): 1,000 changes, --quick 100. The list's store holds 10,000 short changes
(also with --quick), each a directory named as the store names it with its journal written by the journal code.
With --records-dir the stores are kept there (and in DIR-list) and reused by later runs (generation is skipped when
the directory already holds changes); without it, they go to a temporary directory (on /dev/shm when present, since
generation fsyncs every event) and are removed.

Prints one JSON object per line. Baselines, from the same run on the same files:
- list: a plain os.scandir of the store plus reading every journal file (no parsing, no cache); the cold rebuild
  also reports when its first rows were ready (first_rows_s), which the Records screen shows while it goes on;
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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

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




def write_small_change(root: Path, i: int) -> None:
    """A change for the list benchmark: its directory as the store names it and a short journal (created,
    parameters, an approval, three steps, closed), written through the real journal code. The list reads only
    journals, so the 50 outputs per change of the record benchmark would only slow generation down."""
    start = START + timedelta(hours=3 * i)
    component = COMPONENTS[i % len(COMPONENTS)]
    change_id = f"CHG-{start.year}-{i + 1:05d}"
    name = f"{start:%Y-%m-%d}__{component}__1.{i % 10}.0-1.{i % 10 + 1}.0__{change_id}"
    path = root / f"{start.year}" / name
    path.mkdir(parents=True)
    clock = Clock(start)
    with Journal.create(path / "journal.jsonl", clock=clock) as journal:
        journal.append(ev.CHANGE_CREATED, {
            "change_id": change_id,
            "runbook": {"id": f"{component}-upgrade", "title": f"Upgrade {component}", "component": component,
                        "from": f"1.{i % 10}.0", "to": f"1.{i % 10 + 1}.0", "risk": RISKS[i % len(RISKS)]},
            "environment": "production", "context": "prod-eu-1", "operator": f"op{i % 7}", "host": "bench"})
        journal.append(ev.PARAMS_SET, {"params": {"namespace": component}})
        journal.append(ev.APPROVAL_RECORDED, {"name": "reviewer", "role": "reviewer", "reference": f"OPS-{i}"})
        for n in range(3):
            clock.now = start + timedelta(seconds=10 * n + 1)
            journal.append(ev.STEP_STARTED, {"section": "step", "step_id": f"s-{n}", "kind": "command",
                                             "command": "kubectl rollout restart", "attempt": 1})
            clock.now = start + timedelta(seconds=10 * n + 5)
            journal.append(ev.STEP_FINISHED, {"section": "step", "step_id": f"s-{n}", "status": "passed",
                                              "exit_code": 0, "duration_s": 4.0})
        clock.now = start + timedelta(seconds=60)
        journal.append(ev.CHANGE_CLOSED, {"outcome": OUTCOMES[i % len(OUTCOMES)], "followups": []})


def bench_list(root: Path, count: int, rounds: int) -> None:
    """The list of ``count`` changes: cold (rebuilding the index, with when its first rows were ready) and warm."""
    if not root.is_dir() or not any(root.iterdir()):
        t0 = time.perf_counter()
        for i in range(count):
            write_small_change(root, i)
        emit("review.generate_list_store", time.perf_counter() - t0, "s", None, f"{count} changes x 9 events", None)
    n = sum(1 for _ in RecordStore(root).list_changes())
    plain_list(root)
    base_list = best_of(lambda: plain_list(root), rounds)
    (root / INDEX_NAME).unlink(missing_ok=True)
    first: list[float] = []
    t0 = time.perf_counter()
    cold = load_index(root, progress=lambda rows: first.append(time.perf_counter() - t0) if not first else None)
    cold_s = time.perf_counter() - t0
    assert cold.rebuilt == n, cold
    emit("review.list_cold_index_rebuild", cold_s, "s", base_list, f"informational ({n} changes, every journal read and verified)",
         None, first_rows_s=round(first[0], 4) if first else None)
    warm_s = best_of(lambda: load_index(root), rounds)
    assert load_index(root).reused == n
    emit("review.list_open", warm_s, "s", base_list, f"< 1 s ({n} changes, warm index)", warm_s < 1.0)
    first_ui, all_ui = asyncio.run(list_screen_time(root))
    emit("review.list_screen_open", first_ui, "s", base_list, f"< 1 s (headless app start to the list shown, {n} changes, warm index)",
         first_ui < 1.0)
    emit("review.list_screen_all_rows", all_ui, "s", base_list, f"informational (until all {n} rows are in the table)", None)


async def list_screen_time(root: Path) -> tuple[float, float]:
    """Headless: ReviewApp start until the list shows its first screenfuls, and until every row is in the table."""
    from textual.widgets import DataTable

    from screens.records import RecordsScreen, ReviewApp

    app = ReviewApp(records_dir=root, reviewer="bench")
    t0 = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        while not (isinstance(app.screen, RecordsScreen) and app.screen.load is not None
                   and app.screen.query_one("#records-table", DataTable).row_count > 0):
            await pilot.pause(0.005)  # a sleep, not a wait for idle: the table goes on filling meanwhile
        first = time.perf_counter() - t0  # the rows are in the table; it paints them at the next frame
        screen = app.screen
        table = screen.query_one("#records-table", DataTable)
        while table.row_count < len(screen.shown):
            await pilot.pause(0.01)
        return first, time.perf_counter() - t0


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


@dataclass
class ScreenOpen:
    """One opening of a screen, from the key press: until Pilot returns from the press and a pause (the screen shown
    and the app idle), the first frame painted for the screen, the last frame before it went idle, and CPU time."""

    shown_s: float
    first_frame_s: float
    last_frame_s: float
    cpu_s: float
    first_frame_text: str


def frame_text(update: object) -> str:
    """The characters of a full-screen frame (Textual's LayoutUpdate: a list of lines, each a list of strips)."""
    lines = getattr(update, "strips", None)
    assert lines is not None, f"the first frame of a new screen is a full repaint, got {type(update).__name__}"
    return "\n".join("".join(strip.text for strip in line) for line in lines)


async def time_screen_open(app, pilot, key: str, screen_type: type) -> ScreenOpen:
    """Press ``key`` and wait until a ``screen_type`` screen is shown and the app idle; frames are seen through the
    app's display hook (headless, nothing is written to a terminal, but every frame is still composed)."""
    frames: list[tuple[float, object]] = []
    display = app._display

    def seen(screen, update) -> None:
        if isinstance(screen, screen_type) and update is not None:
            frames.append((time.perf_counter(), update))
        display(screen, update)

    app._display = seen
    try:
        c1, t1 = time.process_time(), time.perf_counter()
        await pilot.press(key)
        while not isinstance(app.screen, screen_type):
            await pilot.pause(0.005)
        await pilot.pause()
        shown, cpu = time.perf_counter() - t1, time.process_time() - c1
    finally:
        app._display = display
    assert frames, f"no frame was painted for {screen_type.__name__}"
    return ScreenOpen(shown, frames[0][0] - t1, frames[-1][0] - t1, cpu, frame_text(frames[0][1]))


async def record_screen_time(root: Path, change_id: str) -> tuple[ScreenOpen, ScreenOpen]:
    """Headless: from Enter on a change in the list until the record screen is shown, and (the same-run baseline)
    from a key to a screen holding only a header, one line of text and the footer, in the same app."""
    from textual.binding import Binding
    from textual.screen import Screen
    from textual.widgets import DataTable, Header, Static
    from textual.widgets._footer import FooterKey

    import screens.records as records_module
    from screens.record import RecordScreen
    from screens.records import RecordsScreen, ReviewApp
    from screens.widgets.footer import SteadyFooter

    class PlainScreen(Screen):
        BINDINGS: ClassVar = [Binding("escape", "app.pop_screen", "Back")]

        def compose(self):
            yield Header()
            yield Static(change_id)
            yield SteadyFooter()

    class BenchApp(ReviewApp):
        CSS_PATH = str(Path(records_module.__file__).with_name("opsconsole.tcss"))  # relative to the class's module
        BINDINGS: ClassVar = [Binding("f9", "plain", "Plain", show=False)]

        def action_plain(self) -> None:
            self.push_screen(PlainScreen())

    app = BenchApp(records_dir=root, reviewer="bench")
    async with app.run_test(size=(120, 40)) as pilot:
        while not (isinstance(app.screen, RecordsScreen) and app.screen.load is not None):
            await pilot.pause(0.005)
        await pilot.pause()
        screen = app.screen
        screen.set_filter(f"id:{change_id}")
        screen.query_one("#records-table", DataTable).focus()
        await pilot.pause()  # the list shows that one row before Enter: its repaint is not the record's
        record = await time_screen_open(app, pilot, "enter", RecordScreen)
        # What the reviewer has once it settles: the record's keys in the footer.
        assert len(app.screen.query(FooterKey)) >= 6, "the record screen's footer shows its keys"
        # The baseline after the record: a screen opened and closed before it leaves work (its removal, its styles)
        # that made the record's figure vary with the baseline's own.
        await pilot.press("escape")
        while not isinstance(app.screen, RecordsScreen):
            await pilot.pause(0.005)
        await pilot.pause()
        plain = await time_screen_open(app, pilot, "f9", PlainScreen)
        return record, plain


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 changes instead of 1,000")
    parser.add_argument("--records-dir", metavar="DIR", help="keep (and reuse) the generated store here")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--list-changes", type=int, default=0, help="changes in the list's store (default 10,000)")
    parser.add_argument("--only", choices=("record", "list"), help="run only the record figures or only the list's")
    args = parser.parse_args()
    count = 100 if args.quick else 1000
    list_count = args.list_changes or 10_000  # the list's figure is for 10,000 changes; generating them takes seconds
    if args.records_dir:
        root, cleanup = Path(args.records_dir), None
    else:
        parent = "/dev/shm" if os.path.isdir("/dev/shm") else None
        cleanup = Path(tempfile.mkdtemp(prefix="opsconsole-review-", dir=parent))
        root = cleanup / "records"
    try:
        if args.only != "list":
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
            load_index(root)  # the record figures are taken with a warm index, as a reviewer opens them

            from screens.record import load_record_view

            ref = refs[n // 2]
            journal = store.journal_path(ref)
            base_record = best_of(lambda: journal.read_bytes(), 10)
            record_s = best_of(lambda: load_record_view(store, ref), 5)
            view = load_record_view(store, ref)
            assert view.report.ok and len(view.outputs) == args.steps
            emit("review.record_open", record_s, "s", base_record, f"< 0.3 s ({args.steps} steps: read, verify, outputs)", record_s < 0.3)
            opens = [asyncio.run(record_screen_time(root, ref.change_id)) for _ in range(3)]
            for record, _ in opens:
                # The first frame is the record itself, not a placeholder: its change, the verified banner, the summary.
                for needle in (ref.change_id, "Integrity verified", "Approvals", "Outcome"):
                    assert needle in record.first_frame_text, f"the record screen's first frame lacks {needle!r}"
            best, plain = min(opens, key=lambda pair: pair[0].shown_s)
            shown = [r.shown_s for r, _ in opens]
            emit("review.record_screen_open", best.shown_s, "s", base_record,
                 f"< 0.3 s (headless Enter to record screen shown and idle, {args.steps} steps; best of {len(opens)})",
                 best.shown_s < 0.3, median_s=round(sorted(shown)[len(shown) // 2], 4), cpu_s=round(best.cpu_s, 4),
                 plain_screen_s=round(plain.shown_s, 4))
            emit("review.record_first_frame", best.first_frame_s, "s", plain.first_frame_s,
                 "informational (Enter to the first frame of the record screen, its summary in it; baseline: a screen of a "
                 "header, one line and the footer, same app)", None)
            emit("review.record_all_shown", best.last_frame_s, "s", plain.last_frame_s,
                 "informational (Enter to the last frame before idle: footer keys and every deferred part in; baseline as "
                 "above)", None)

        list_root = (Path(args.records_dir).with_name(Path(args.records_dir).name + "-list") if args.records_dir
                     else root.with_name("list-records"))
        if args.only != "record":
            bench_list(list_root, list_count, rounds=3)
    finally:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
