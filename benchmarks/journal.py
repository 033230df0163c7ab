"""Journal benchmark: fsynced appends per second, and the time to verify a long journal.

    python benchmarks/journal.py [--quick] [--dir DIR] [--only appends|verify]

Prints one JSON object per line. Baselines are measured in the same run, in the same directory:
- appends: os.write + os.fsync of the very same lines to an O_APPEND file (created and synced as the journal is),
  event by event alternating with ours; each event's data is built before either clock starts;
- verify: reading the same journal and json.loads-ing every line (no canonical check, chain or hashes); verify is
  timed as the command line runs it (a long journal's second half in a forked process if a CPU is free), in two
  processes whatever the load, and in one process, and the canonical-form check's own cost (parsing and
  re-serialising every event's data, comparing the bytes, in runs as verify does it) is printed beside it; then
  ``Journal.open`` and ``read_and_verify`` (events kept, one process).
The appends alternate with their baseline's one by one so a noisy disk affects both alike; ``median_ratio`` is the
ratio of the median times per event, which a burst of someone else's disk use moves less than the totals.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic_core import from_json
from shape import emit

import console.journal.journal as journal_module
import console.journal.verify as verify_module
from console.journal.chain import canonical_of_parsed
from console.journal.event_data import check_data
from console.journal.journal import GENESIS, Event, Journal, event_hash, fsync_dir, read_and_verify, utc_ts, verify

START = datetime(2026, 11, 21, 23, 0, 0, tzinfo=UTC)


OUTPUTS = 1000
CAST = b'{"version": 2, "width": 120, "height": 40}\n[0.5, "o", "deployment \\"web\\" successfully rolled out\\r\\n"]\n'
CAST_SHA = hashlib.sha256(CAST).hexdigest()


def payload(i: int) -> dict:
    """An event about the size of a real one (a command that finished, with its output's hash)."""
    return {
        "step": f"step-{i % 17}",
        "argv": ["kubectl", "rollout", "status", "deployment/web", "-n", "web", "--timeout=10m"],
        "exit": 0,
        "duration_s": 12.345,
        "file": {"path": f"outputs/{i % OUTPUTS:03d}-restart.cast", "sha256": CAST_SHA},
    }




def _alternating(work: Path, name: str, n: int, type_: str, make: Callable[[int], dict],
                 check: Callable[[str, dict], object] | None = None) -> tuple[float, float, float]:
    """Appends/s of ours and of the baseline, and the ratio of their median times per event.

    Event by event, ours then the baseline's, the other way round every other event (so neither always follows the
    other's fsync): a shared disk's fsync time drifts within seconds, and this way both see the same drift. The
    baseline writes the line our journal wrote just before (the one before, when it goes first) with one ``os.write``
    and one ``os.fsync``, to an O_APPEND file created and synced as ``Journal.create`` creates the journal (else its
    first fsync would pay for the create). The events' data is built before the clock starts: the baseline builds
    nothing either. A model check (``check``) is work the engine does per event, so it is timed.
    """
    datas = [make(i) for i in range(n)]
    path = work / f"{name}.jsonl"
    journal = Journal.create(path)
    fd = os.open(work / f"{name}-plain.jsonl", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
    os.fsync(fd)
    fsync_dir(work)
    ours: list[float] = []
    base: list[float] = []
    line = b""
    clock = time.perf_counter

    def plain() -> None:
        t0 = clock()
        os.write(fd, line)
        os.fsync(fd)
        base.append(clock() - t0)

    try:
        for i, data in enumerate(datas):
            if i % 2:
                plain()
            t0 = clock()
            if check is not None:
                check(type_, data)
            event = journal.append(type_, data)
            ours.append(clock() - t0)
            line = event.to_line()
            if not i % 2:
                plain()
    finally:
        journal.close()
        os.close(fd)
    return n / sum(ours), n / sum(base), statistics.median(base) / statistics.median(ours)


def bench_appends(work: Path, n: int) -> None:
    ours, base, median_ratio = _alternating(work, "journal", n, "command.finished", payload)
    ratio = ours / base
    emit(f"journal append+fsync ({n} events)", ours, "appends/s", base, ">= 0.8x baseline", ratio >= 0.8, ratio=ratio,
         median_ratio=round(median_ratio, 4))
    # Where fsync is cheap (a VM's write cache) the ratio mostly shows CPU work; this is that work per event.
    extra_us = (1 / ours - 1 / base) * 1e6
    emit("journal append overhead over write+fsync", extra_us, "us/event", 1e6 / base, "<= 50 us", extra_us <= 50)


def step_finished(i: int) -> dict:
    """A step.finished event's data as the engine writes it (a real type, so its model check applies)."""
    return {
        "section": "step", "step_id": f"step-{i % 17}", "status": "passed", "exit_code": 0, "duration_s": 12.345,
        "process_s": 1.5, "reason": "", "lines": 120,
        "file": {"path": f"outputs/{i % OUTPUTS:03d}-restart.cast", "sha256": CAST_SHA},
    }


def bench_checked_appends(work: Path, n: int) -> None:
    """What the engine does per event: check the data against its type's model, then append with fsync."""
    ours, base, median_ratio = _alternating(work, "checked", n, "step.finished", step_finished, check_data)
    ratio = ours / base
    emit(f"journal model check+append+fsync ({n} events)", ours, "appends/s", base, ">= 0.8x baseline", ratio >= 0.8,
         ratio=ratio, median_ratio=round(median_ratio, 4))
    # The CPU per event without the disk: what a cheap fsync (a VM's write cache) leaves of the ratio.
    journal = Journal.create(work / "cpu.jsonl")
    fsync = os.fsync
    journal_module.os.fsync = lambda fd: None  # type: ignore[attr-defined]
    try:
        datas = [step_finished(i) for i in range(n)]
        t0 = time.process_time()
        for data in datas:
            check_data("step.finished", data)
            journal.append("step.finished", data)
        cpu_us = (time.process_time() - t0) / n * 1e6
    finally:
        journal_module.os.fsync = fsync  # type: ignore[attr-defined]
        journal.close()
    emit("journal model check+append CPU (no fsync)", cpu_us, "us/event", 1e6 / base, "<= 50 us", cpu_us <= 50)


def write_journal(path: Path, n: int) -> None:
    """A valid n-event journal, built in memory and written at once (an fsync per line would take minutes)."""
    prev, out = GENESIS, []
    for seq in range(1, n + 1):
        ts = utc_ts(START + timedelta(milliseconds=seq))
        data = json.loads(json.dumps(payload(seq)))
        event = Event(seq, ts, "command.finished", data, prev, event_hash(seq, ts, "command.finished", data, prev))
        out.append(event.to_line())
        prev = event.hash
    path.write_bytes(b"".join(out))


def _timed_verify(path: Path, n: int, **replaced: object) -> tuple[float, float]:
    """Wall and CPU seconds of one ``verify(path)`` with these names of the verify module replaced meanwhile (how
    the figures choose one process, two, or what the command line would do); the journal must verify whole."""
    saved = {name: getattr(verify_module, name) for name in replaced}
    for name, value in replaced.items():
        setattr(verify_module, name, value)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        report = verify(path)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        for name, value in saved.items():
            setattr(verify_module, name, value)
    assert report.ok and report.events == n, report.problems[:3]
    return wall, cpu


def bench_verify(work: Path, n: int, label: str) -> None:
    path = work / "long.jsonl"
    write_journal(path, n)
    (work / "outputs").mkdir()
    for i in range(OUTPUTS):  # the referenced outputs exist and match, as in a real record
        (work / "outputs" / f"{i:03d}-restart.cast").write_bytes(CAST)

    t0 = time.perf_counter()
    with open(path, "rb") as f:
        loaded = [json.loads(line) for line in f]
    base = time.perf_counter() - t0
    assert len(loaded) == n
    del loaded

    # As a command-line verify runs: the second half in a forked process (one thread here, so it may fork), if the
    # machine has a CPU to spare for it when verify starts, from the load and what runs then (else in one process):
    # "processes" says what it did.
    halves: list[bool] = []
    in_two = verify_module._in_two

    def recorded(*args: object) -> object:
        result = in_two(*args)  # type: ignore[arg-type]
        halves.append(result is not None)
        return result

    ours, _cpu = _timed_verify(path, n, _in_two=recorded)
    emit(f"journal verify {label}", ours, "s", base, "< 1 s", ours < 1.0, processes=2 if any(halves) else 1,
         load=round(os.getloadavg()[0], 2))

    # In two processes whatever the load (on a busy machine the halves share CPUs with the rest, and take longer).
    two, _cpu = _timed_verify(path, n, _spare_cpu=lambda: True)
    emit(f"journal verify {label}, two processes", two, "s", base, "< 1 s", two < 1.0,
         load=round(os.getloadavg()[0], 2))

    # In one process, as a program with other threads (the reviewer) verifies; CPU time beside the wall clock.
    one, one_cpu = _timed_verify(path, n, _may_fork=lambda: False)
    emit(f"journal verify {label}, one process", one, "s", base, "< 1 s", one < 1.0, cpu_s=round(one_cpu, 4))

    # What the canonical-form check costs in it, done as verify does it: each event's data parsed alone, a run of
    # RUN_LINES serialised again as one list and compared with the texts joined the same way.
    lines = path.read_bytes().splitlines()
    data_bytes = [line[8 : line.rfind(b',"hash":"')] for line in lines]
    runs = [data_bytes[i : i + verify_module.RUN_LINES] for i in range(0, n, verify_module.RUN_LINES)]
    gc.disable()
    try:
        t0 = time.perf_counter()
        for texts in runs:
            objects = list(map(from_json, texts))
            if canonical_of_parsed(objects) != b"[" + b",".join(texts) + b"]":
                raise AssertionError("a line the benchmark wrote is not canonical")
        check_s = time.perf_counter() - t0
    finally:
        gc.enable()
    emit(f"journal verify {label}: canonical-form check (parse and re-serialise data)", check_s, "s", one,
         share_of_one_process_verify=round(check_s / one, 3))

    # Opened as a program opens it: not just after making 100,000 other events, which the collector would walk first.
    del lines, data_bytes, runs
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    journal = Journal.open(path)
    opened, opened_cpu = time.perf_counter() - t0, time.process_time() - c0
    journal.close()
    del journal
    gc.collect()
    emit(f"journal open {label}", opened, "s", base, "< 1 s", opened < 1.0, cpu_s=round(opened_cpu, 4),
         load=round(os.getloadavg()[0], 2))

    # What the offline reviewer does: the events and the verdict from one read (always one process: it keeps events).
    t0, c0 = time.perf_counter(), time.process_time()
    read, report = read_and_verify(path)
    both, both_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert report.ok and len(read.events) == n
    del read, report
    gc.collect()
    emit(f"journal read_and_verify {label}", both, "s", base, "< 1 s", both < 1.0, cpu_s=round(both_cpu, 4))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run, under a minute")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary files (default: the system temp dir)")
    parser.add_argument("--only", choices=("appends", "verify"), help="run one half")
    args = parser.parse_args()
    appends = 2_000 if args.quick else 10_000
    with tempfile.TemporaryDirectory(prefix="opsconsole-bench-", dir=args.dir) as tmp:
        work = Path(tmp)
        if args.only in (None, "appends"):
            bench_appends(work, appends)
            bench_checked_appends(work, appends)
        if args.only in (None, "verify"):
            bench_verify(work, 100_000, "100k events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
