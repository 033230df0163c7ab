"""Follow benchmark: how long after the writer writes an output line a follower shows it.

    python benchmarks/follow.py [--quick] [--lines N] [--interval S]

A writer process makes a change with the journal and cast APIs the console uses (a journal event per step, each
output line one cast write), each line carrying the writer's CLOCK_MONOTONIC time (one clock for every process
on the host). The same writes are read, at the same time, by:

- ``opsconsole follow ID --plain`` in a process of its own: the latency is the time its printed line reaches this
  script's pipe, less the time in the line;
- the full-screen Follow app, run headless in this process (Textual's pilot): the time the line is in its output
  pane;
- ``tail -F`` on the cast file, the baseline: what a plain reader of a growing file gets (inotify, in C).

Prints one JSON object per figure (see ``shape.py``): the median and the 95th percentile latency of each follower
(target: p95 within 0.5 s), with tail's in the same run as the baseline. Figures, not verdicts: it exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shape import emit  # noqa: E402 - benchmarks/ is on the path when run as a script

from console.journal import events as ev  # noqa: E402
from console.journal.cast import CastWriter  # noqa: E402
from console.journal.journal import Journal  # noqa: E402
from console.journal.store import RecordStore  # noqa: E402

TICK = re.compile(r"tick (\d+) (\d+)")
TARGET_S = 0.5


# -- the writer (this script, run with --write) -------------------------------------------------------------------


def write_change(root: Path, go: Path, lines: int, interval: float) -> None:
    """Make a change, say its ID and cast path, wait for ``go``, then write ``lines`` output lines and close it."""
    store = RecordStore(root)
    now = datetime.now(UTC)
    ref = store.create_change(component="bench", from_version="1", to_version="2", when=now)
    journal = Journal.create(store.journal_path(ref))
    journal.append(ev.CHANGE_CREATED, {"change_id": ref.change_id, "operator": "bench", "environment": "rehearsal",
                                       "context": "rehearsal", "runbook": {"title": "follow benchmark"}})
    journal.append(ev.STEP_STARTED, {"section": "step", "step_id": "tick", "title": "Tick", "kind": "command",
                                     "command": "tick", "attempt": 1})
    cast_path = store.next_output_path(ref, "tick")
    cast = CastWriter(cast_path, title="step tick: Tick", command="tick", started=now)
    print(ref.change_id, cast_path, flush=True)
    while not go.exists():
        time.sleep(0.01)
    for i in range(lines):
        cast.write(f"tick {i} {time.monotonic_ns()}\r\n")
        time.sleep(interval)
    sha = cast.close()
    journal.append(ev.STEP_FINISHED, {"section": "step", "step_id": "tick", "status": "passed", "exit_code": 0,
                                      "duration_s": 0.0, "reason": "passed", "lines": lines,
                                      "file": {"path": cast_path.relative_to(ref.path).as_posix(), "sha256": sha}})
    journal.append(ev.CHANGE_CLOSED, {"outcome": "success", "suggested": "success", "followups": [],
                                      "signoff": {"name": "bench", "role": "operator"}})
    journal.close()


# -- readers ------------------------------------------------------------------------------------------------------


class PipeReader:
    """A child's stdout read on a thread; each tick line's latency taken the moment the line is read."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.latencies: list[float] = []
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            now = time.monotonic_ns()
            m = TICK.search(line)
            if m:
                self.latencies.append((now - int(m.group(2))) / 1e9)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if text in self.lines.get(timeout=max(0.0, deadline - time.monotonic())):
                    return
            except queue.Empty:
                raise SystemExit(f"benchmark: no line with {text!r} within {timeout}s") from None


def start(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            text=True, bufsize=1, cwd=ROOT, env=env)


async def screen_latencies(change_dir: Path, change_id: str, go: Path, lines: int) -> list[float]:
    """The Follow app run headless; the latency of each tick line is taken when it is in the output pane."""
    from screens.follow import FollowApp, FollowScreen
    from screens.widgets.output_log import OutputLog

    app = FollowApp(change_dir=change_dir, change_id=change_id, exit_on_close=True)
    seen: dict[int, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 60
        while not (isinstance(app.screen, FollowScreen) and app.screen.events):
            await pilot.pause(0.01)
            if time.monotonic() > deadline:
                raise SystemExit("benchmark: the Follow app never read the journal")
        log = app.screen.query_one(OutputLog)
        os.close(os.open(go, os.O_CREAT | os.O_WRONLY))  # the writer starts
        done = 0
        while len(seen) < lines and app.return_code is None and time.monotonic() < deadline + 120:
            await pilot.pause(0.005)
            now = time.monotonic_ns()
            for text in log.lines[done:]:
                m = TICK.search(text)
                if m and int(m.group(1)) not in seen:
                    seen[int(m.group(1))] = (now - int(m.group(2))) / 1e9
            done = len(log.lines)
    return list(seen.values())


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)] if values else float("nan")


def run(follower: str, lines: int, interval: float) -> tuple[list[float], list[float]]:
    """One writer, read by ``follower`` (plain or screen) and by tail -F at the same time."""
    with tempfile.TemporaryDirectory(prefix="follow-bench-") as tmp:
        root, go = Path(tmp) / "records", Path(tmp) / "go"
        env = dict(os.environ, PYTHONPATH=str(ROOT), OPSCONSOLE_RECORDS=str(root))
        writer = start([sys.executable, __file__, "--write", str(root), str(go), str(lines), str(interval)], env)
        assert writer.stdout is not None
        change_id, cast_path = writer.stdout.readline().split()
        tail = start(["tail", "-n", "+1", "-F", cast_path])
        baseline = PipeReader(tail)
        baseline.wait_for('"version": 2')
        readers = [tail]
        try:
            if follower == "plain":
                follow = start([sys.executable, "-m", "console.cli", "follow", change_id, "--plain"], env)
                readers.append(follow)
                plain = PipeReader(follow)
                plain.wait_for("tick started")
                go.touch()
                follow.wait(timeout=120)
                measured = plain.latencies
            else:
                change_dir = RecordStore(root).find(change_id).path
                measured = asyncio.run(screen_latencies(change_dir, change_id, go, lines))
            writer.wait(timeout=120)
            deadline = time.monotonic() + 10
            while len(baseline.latencies) < lines and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            for proc in [*readers, writer]:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait()
        return measured, baseline.latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run (under a minute)")
    parser.add_argument("--lines", type=int, help="output lines per run (default 400; --quick 60)")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between the writer's lines (default 0.02)")
    parser.add_argument("--write", nargs=4, metavar=("ROOT", "GO", "LINES", "INTERVAL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write_change(Path(args.write[0]), Path(args.write[1]), int(args.write[2]), float(args.write[3]))
        return
    lines = args.lines or (60 if args.quick else 400)
    for follower, label in (("plain", "follow --plain"), ("screen", "Follow screen (pilot)")):
        measured, baseline = run(follower, lines, args.interval)
        name = "follow_plain" if follower == "plain" else "follow_screen"
        base_p50 = statistics.median(baseline) if baseline else None
        emit(f"{name}_latency_p50", statistics.median(measured) if measured else None, "s", base_p50,
             what=f"{label}: writer's write to the line shown, median", baseline_is="tail -F on the cast file, same writes",
             lines=len(measured), of=lines)
        value = p95(measured)
        emit(f"{name}_latency_p95", value, "s", p95(baseline) if baseline else None, f"<= {TARGET_S} s",
             bool(measured) and len(measured) == lines and value <= TARGET_S,
             what=f"{label}: writer's write to the line shown, 95th percentile", baseline_is="tail -F on the cast file, same writes",
             lines=len(measured), of=lines)


if __name__ == "__main__":
    main()
