"""Runner benchmark: lines per second captured from a fast-printing command, against the same command into a file.

    python benchmarks/runner.py [--quick] [--dir DIR]

Prints one JSON object per line. The command is this interpreter printing N lines as fast as it can.
- captured: CommandRunner as the engine runs a step: output through redaction (a secret value, the built-in
  patterns and a policy pattern) into an asciicast file, line by line, and to a listener keeping a bounded tail
  (what the UI's output pane does);
- baseline: the very same command with stdout redirected to a plain file (no pipe, no Python reading it).
Also: the runner with only its built-in patterns and no cast file (no secret values, no policy pattern, nothing
written), and the cost per line over the baseline. Runs alternate in rounds so a noisy machine affects each alike.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.engine.redact import Redactor  # noqa: E402
from console.engine.runner import CommandRunner, OutputLine  # noqa: E402
from console.journal.cast import CastWriter  # noqa: E402
from shape import emit  # noqa: E402 - benchmarks/ is on the path when run as a script

TARGET_LINES_PER_S = 50_000  # far above what kubectl or terraform print; a step's output never waits on the console


def command(n: int) -> list[str]:
    """A command printing n lines shaped like kubectl output, some with a secret-looking pair in them."""
    script = (
        "import sys\n"
        "w = sys.stdout.write\n"
        f"for i in range({n}):\n"
        "    w(f'pod/web-7d4b9c{i:08d} 1/1 Running 0 {i % 60}s 10.0.{i % 250}.{i % 200} node-{i % 7} token=t{i}\\n')\n"
    )
    return [sys.executable, "-c", script]




def run_baseline(argv: list[str], out: Path) -> float:
    with open(out, "wb") as handle:
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=handle, check=True)
        return time.perf_counter() - t0


def run_captured(argv: list[str], cast_path: Path | None, n: int, *, redact: bool) -> float:
    tail: deque[str] = deque(maxlen=500)

    def listen(line: OutputLine) -> None:
        tail.append(line.text)

    redactor = Redactor(["s3cret-value"], [r"(?i)(x-api-key:\s*)\S+"]) if redact else None
    cast = CastWriter(cast_path, title="bench", command="bench", started=datetime.now(timezone.utc)) if cast_path else None
    t0 = time.perf_counter()
    result = CommandRunner(argv, redactor=redactor, cast=cast, listeners=[listen]).run()
    if cast is not None:
        cast.close()
    elapsed = time.perf_counter() - t0
    if result.exit_code != 0 or result.lines != n:
        raise SystemExit(f"the captured run went wrong: exit {result.exit_code}, {result.lines} of {n} lines")
    if redact and "token=[REDACTED]" not in tail[-1]:
        raise SystemExit(f"redaction did not happen: {tail[-1]!r}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run, under a minute")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary files (default: the system temp dir)")
    args = parser.parse_args()
    n, rounds = (100_000, 2) if args.quick else (1_000_000, 3)
    argv = command(n)

    with tempfile.TemporaryDirectory(prefix="opsconsole-bench-", dir=args.dir) as tmp:
        work = Path(tmp)
        base_s = ours_s = bare_s = 0.0
        for r in range(rounds):
            base_s += run_baseline(argv, work / f"baseline-{r}.txt")
            ours_s += run_captured(argv, work / f"captured-{r}.cast", n, redact=True)
            bare_s += run_captured(argv, None, n, redact=False)
            for f in work.iterdir():  # keep the disk small between rounds
                f.unlink()

    total = n * rounds
    base, ours, bare = total / base_s, total / ours_s, total / bare_s
    emit(f"runner lines captured with redaction and cast ({n} lines x {rounds})", ours, "lines/s", base,
         f">= {TARGET_LINES_PER_S} lines/s", ours >= TARGET_LINES_PER_S)
    emit(f"runner lines with built-in patterns only, no cast file ({n} lines x {rounds})", bare, "lines/s", base,
         f">= {TARGET_LINES_PER_S} lines/s", bare >= TARGET_LINES_PER_S)
    per_line_us = (1 / ours - 1 / base) * 1e6
    emit("runner cost per line over the file baseline", per_line_us, "us/line", 1e6 / base,
         f"<= {1e6 / TARGET_LINES_PER_S:g} us/line", per_line_us <= 1e6 / TARGET_LINES_PER_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
