"""Runner benchmark: lines per second captured from a fast-printing command, against the same command into a file.

    python benchmarks/runner.py [--quick] [--dir DIR]

Prints one JSON object per line. Each command is this interpreter printing N lines as fast as it can:
- "every line": kubectl-shaped lines that each end in a ``token=`` pair, so every line holds something to redact
  (the worst case for redaction);
- "mixed": ``kubectl get pods -o wide`` and ``kubectl describe`` lines with image digests and UIDs, where one line
  in a hundred holds a secret of one of several kinds (a name rule, a token shape, a URL password, a JWT).
For each, two ways of running it:
- captured: CommandRunner as the engine runs a step: output through redaction (a secret value, the built-in rules
  and a policy pattern) into an asciicast file, and to a listener keeping a bounded tail (the UI's output pane);
- baseline: the very same command with stdout redirected to a plain file (no pipe, no Python reading it).
Also the "every line" command with only the built-in rules and no cast file, and the cost per line over the
baseline. The capture target is at least half the redirect's rate. Runs alternate in rounds so a noisy machine
affects each alike. Last, memory: the "every line" capture of 1,000,000 lines (in --quick too) with this process's
resident set sampled while it runs; its peak growth is set against a capture of a tenth as many lines, and flat means
about the same.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
from shape import emit

from console.engine import secret_scan
from console.engine.redact import Redactor
from console.engine.runner import CommandRunner, OutputLine
from console.journal.cast import CastWriter

TARGET_LINES_PER_S = 50_000  # far above what kubectl or terraform print; a step's output never waits on the console
TARGET_RATIO = 0.5  # capture at least half as fast as the same output written straight to a file
MEMORY_LINES = 1_000_000
TARGET_GROWTH_MB = 50  # what a million lines may add to the resident set (the runner keeps a bounded tail only)


def command(n: int) -> list[str]:
    """A command printing n lines shaped like kubectl output, each with a secret-looking pair in it."""
    script = (
        "import sys\n"
        "w = sys.stdout.write\n"
        f"for i in range({n}):\n"
        "    w(f'pod/web-7d4b9c{i:08d} 1/1 Running 0 {i % 60}s 10.0.{i % 250}.{i % 200} node-{i % 7} token=t{i}\\n')\n"
    )
    return [sys.executable, "-c", script]


def mixed_command(n: int) -> list[str]:
    """A command printing n lines of ordinary kubectl output, one in a hundred holding a secret."""
    script = (
        "import sys\n"
        "w = sys.stdout.write\n"
        "secrets = ['DB_PASSWORD=hunter2-{i}', 'export GITHUB_TOKEN=ghp_' + 'a' * 36, 'url postgres://app:pw{i}@db:5432/x',\n"
        "           'auth eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ7aX0ifQ.sig{i}', 'mysql -uroot -ppw{i} -e status',\n"
        "           'stripe sk_live_' + 'b' * 24, '  POSTGRES_PASSWORD: pw {i}', 'curl -H \"Authorization: Bearer abcdefgh{i}\"']\n"
        "shapes = ['web-7d4b9c{i:05d}-x2x9k   1/1     Running   0          {m}m   10.244.{a}.{b}   node-{c}   <none>           <none>',\n"
        "          '    Image ID:       docker.io/library/nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd{i:05d}',\n"
        "          '  uid: 1f2e3d4c-5b6a-7980-a1b2-c3d4e{i:07d}',\n"
        "          '  resourceVersion: \"{i}\"',\n"
        "          '  Normal  Pulled     {m}m   kubelet  Successfully pulled image \"nginx:1.25\" in 1.2s (1.2s including waiting)']\n"
        f"for i in range({n}):\n"
        "    if i % 100 == 99:\n"
        "        w(secrets[(i // 100) % len(secrets)].format(i=i) + '\\n')\n"
        "    else:\n"
        "        w(shapes[i % len(shapes)].format(i=i, m=i % 60, a=i % 250, b=i % 200, c=i % 7) + '\\n')\n"
    )
    return [sys.executable, "-c", script]


def run_baseline(argv: list[str], out: Path) -> float:
    with open(out, "wb") as handle:
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=handle, check=True)
        return time.perf_counter() - t0


def run_captured(argv: list[str], cast_path: Path | None, n: int, *, redact: bool, check: str | None = None) -> float:
    tail: deque[str] = deque(maxlen=500)

    def listen(line: OutputLine) -> None:
        tail.append(line.text)

    redactor = Redactor(["s3cret-value"], [r"(?i)(x-api-key:\s*)\S+"]) if redact else None
    cast = CastWriter(cast_path, title="bench", command="bench", started=datetime.now(UTC)) if cast_path else None
    t0 = time.perf_counter()
    result = CommandRunner(argv, redactor=redactor, cast=cast, listeners=[listen]).run()
    if cast is not None:
        cast.close()
    elapsed = time.perf_counter() - t0
    if result.exit_code != 0 or result.lines != n:
        raise SystemExit(f"the captured run went wrong: exit {result.exit_code}, {result.lines} of {n} lines")
    if check is not None and not any(check in line for line in tail):
        raise SystemExit(f"redaction did not happen: no {check!r} in the last lines, e.g. {tail[-1]!r}")
    return elapsed


def peak_growth_mb(run: Callable[[], object]) -> float:
    """How far this process's resident set rose above where it started while ``run`` ran, sampled every 5 ms."""
    process = psutil.Process()
    before = peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.005):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        run()
    finally:
        done.set()
        sampler.join()
    return (max(peak, process.memory_info().rss) - before) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run, under a minute")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary files (default: the system temp dir)")
    args = parser.parse_args()
    n, rounds = (100_000, 2) if args.quick else (1_000_000, 3)
    dense, mixed = command(n), mixed_command(n)

    with tempfile.TemporaryDirectory(prefix="opsconsole-bench-", dir=args.dir) as tmp:
        work = Path(tmp)
        base_s = ours_s = bare_s = mixed_base_s = mixed_s = 0.0
        for r in range(rounds):
            base_s += run_baseline(dense, work / f"baseline-{r}.txt")
            ours_s += run_captured(dense, work / f"captured-{r}.cast", n, redact=True, check="token=[REDACTED]")
            bare_s += run_captured(dense, None, n, redact=False)
            mixed_base_s += run_baseline(mixed, work / f"mixed-baseline-{r}.txt")
            mixed_s += run_captured(mixed, work / f"mixed-{r}.cast", n, redact=True, check="[REDACTED]")
            for f in work.iterdir():  # keep the disk small between rounds
                f.unlink()
        small = MEMORY_LINES // 10
        small_mb = peak_growth_mb(lambda: run_captured(command(small), work / "memory-small.cast", small, redact=True))
        big_mb = peak_growth_mb(lambda: run_captured(command(MEMORY_LINES), work / "memory.cast", MEMORY_LINES, redact=True))

    total = n * rounds
    base, ours, bare = total / base_s, total / ours_s, total / bare_s
    mixed_base, mixed_ours = total / mixed_base_s, total / mixed_s
    prefilter = "google-re2 prefilter" if secret_scan.re2 is not None else "Python re only (google-re2 not installed)"
    emit(f"runner lines captured with redaction and cast, every line redacted ({n} lines x {rounds})", ours, "lines/s",
         base, f">= {TARGET_LINES_PER_S} lines/s", ours >= TARGET_LINES_PER_S, engine=prefilter)
    emit(f"runner capture vs redirect, every line redacted ({n} lines x {rounds})", ours, "lines/s", base,
         f">= {TARGET_RATIO}x baseline", ours >= TARGET_RATIO * base, engine=prefilter)
    emit(f"runner capture vs redirect, kubectl output with 1% secret lines ({n} lines x {rounds})", mixed_ours,
         "lines/s", mixed_base, f">= {TARGET_RATIO}x baseline", mixed_ours >= TARGET_RATIO * mixed_base, engine=prefilter)
    emit(f"runner lines with built-in rules only, no cast file ({n} lines x {rounds})", bare, "lines/s", base,
         f">= {TARGET_LINES_PER_S} lines/s", bare >= TARGET_LINES_PER_S, engine=prefilter)
    emit(f"runner peak RSS growth capturing {MEMORY_LINES} lines, every line redacted, with cast", big_mb, "MB", small_mb,
         f"<= {TARGET_GROWTH_MB} MB", big_mb <= TARGET_GROWTH_MB, baseline_is=f"the same capture of {MEMORY_LINES // 10} lines",
         peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    per_line_us = (1 / ours - 1 / base) * 1e6
    emit("runner cost per line over the file baseline, every line redacted", per_line_us, "us/line", 1e6 / base,
         f"<= {1e6 / TARGET_LINES_PER_S:g} us/line", per_line_us <= 1e6 / TARGET_LINES_PER_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
