"""Journal benchmark: fsynced appends per second, and the time to verify a long journal.

    python benchmarks/journal.py [--quick] [--dir DIR]

Prints one JSON object per line. Baselines are measured in the same run, in the same directory:
- appends: a plain loop of os.write + os.fsync of the very same lines to an O_APPEND file;
- verify: reading the same journal and json.loads-ing every line (no canonical check, chain or hashes);
  the canonical-form check's own cost (re-serialising every event's data) is printed beside it.
The append loops alternate with their baselines in rounds of 50 events so a noisy disk affects both alike.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shape import emit

import console.journal.journal as journal_module
from console.journal.chain import canonical_text
from console.journal.event_data import check_data
from console.journal.journal import GENESIS, Event, Journal, event_hash, read_events, utc_ts, verify

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




def bench_appends(work: Path, n: int, rounds: int) -> None:
    ours_s = base_s = 0.0
    per_round = n // rounds
    for r in range(rounds):
        journal = Journal.create(work / f"journal-{r}.jsonl")
        t0 = time.perf_counter()
        for i in range(per_round):
            journal.append("command.finished", payload(i))
        ours_s += time.perf_counter() - t0
        journal.close()
        lines = (work / f"journal-{r}.jsonl").read_bytes().splitlines(keepends=True)

        fd = os.open(work / f"plain-{r}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        t0 = time.perf_counter()
        for line in lines:
            os.write(fd, line)
            os.fsync(fd)
        base_s += time.perf_counter() - t0
        os.close(fd)
    total = per_round * rounds
    ours, base = total / ours_s, total / base_s
    ratio = ours / base
    emit(f"journal append+fsync ({total} events)", ours, "appends/s", base, ">= 0.8x baseline", ratio >= 0.8, ratio=ratio)
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


def bench_checked_appends(work: Path, n: int, rounds: int) -> None:
    """What the engine does per event: check the data against its type's model, then append with fsync."""
    ours_s = base_s = 0.0
    per_round = n // rounds
    for r in range(rounds):
        journal = Journal.create(work / f"checked-{r}.jsonl")
        t0 = time.perf_counter()
        for i in range(per_round):
            data = step_finished(i)
            check_data("step.finished", data)
            journal.append("step.finished", data)
        ours_s += time.perf_counter() - t0
        journal.close()
        lines = (work / f"checked-{r}.jsonl").read_bytes().splitlines(keepends=True)
        fd = os.open(work / f"checked-plain-{r}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        t0 = time.perf_counter()
        for line in lines:
            os.write(fd, line)
            os.fsync(fd)
        base_s += time.perf_counter() - t0
        os.close(fd)
    total = per_round * rounds
    ours, base = total / ours_s, total / base_s
    ratio = ours / base
    emit(f"journal model check+append+fsync ({total} events)", ours, "appends/s", base, ">= 0.8x baseline", ratio >= 0.8,
         ratio=ratio)
    # The CPU per event without the disk: what a cheap fsync (a VM's write cache) leaves of the ratio.
    journal = Journal.create(work / "cpu.jsonl")
    fsync = os.fsync
    journal_module.os.fsync = lambda fd: None  # type: ignore[attr-defined]
    try:
        t0 = time.process_time()
        for i in range(per_round):
            data = step_finished(i)
            check_data("step.finished", data)
            journal.append("step.finished", data)
        cpu_us = (time.process_time() - t0) / per_round * 1e6
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

    t0 = time.perf_counter()
    report = verify(path)
    ours = time.perf_counter() - t0
    assert report.ok and report.events == n, report.problems[:3]
    emit(f"journal verify {label}", ours, "s", base, "< 1 s", ours < 1.0)

    # What the canonical-form check costs: re-serialising every event's data and comparing the bytes.
    events = read_events(path).events
    gc.disable()
    try:
        t0 = time.perf_counter()
        for event in events:
            canonical_text(event.data)
        check_s = time.perf_counter() - t0
    finally:
        gc.enable()
    emit(f"journal verify {label}: canonical-form check (re-serialise data)", check_s, "s", ours,
         share_of_verify=round(check_s / ours, 3))

    t0 = time.perf_counter()
    journal = Journal.open(path)
    opened = time.perf_counter() - t0
    journal.close()
    emit(f"journal open {label}", opened, "s", base, "< 1 s", opened < 1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run, under a minute")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary files (default: the system temp dir)")
    args = parser.parse_args()
    appends = 2_000 if args.quick else 10_000
    with tempfile.TemporaryDirectory(prefix="opsconsole-bench-", dir=args.dir) as tmp:
        work = Path(tmp)
        # Rounds of 50 events, ours then the baseline's: fsync's cost on a shared disk drifts within seconds, and
        # short alternating rounds let both loops see the same drift.
        bench_appends(work, appends, rounds=appends // 50)
        bench_checked_appends(work, appends, rounds=appends // 50)
        bench_verify(work, 100_000, "100k events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
