"""Run every benchmark in this directory and end with one table: figure, same-run baseline, ratio, target, met.

    python benchmarks/summary.py [--quick] [--budget SECONDS] [--only NAME ...] [--table FILE]

Each benchmark runs as its own process (``python benchmarks/NAME.py [--quick]``), one after another so they do not
compete for the machine. Their JSON lines pass through to stdout as they come (so the output is still one JSON object
per line until the table), their stderr to stderr. Each may take at most twice its fair share of the budget left
(default 600 s for the whole run); one that has not finished by then is stopped (its figures so far are kept) and
shown as such, so a slow benchmark on a busy machine cannot starve the rest. ``--table`` also
writes the table (Markdown) to a file, e.g. to paste into the README.

A row's ``met`` is the benchmark's own verdict; rows without a target are informational and show "—". The exit code
is 0 unless a benchmark failed to run (a missed target is a figure, not a failure).
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"shape.py", "summary.py"}  # the output helper and this runner


@dataclass
class Run:
    """One benchmark's process: its rows and how it ended."""

    name: str
    rows: list[dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "not run"  # ok | exit N | stopped (budget) | not run


def benchmarks(only: list[str]) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name not in NOT_BENCHMARKS and not p.name.startswith("_"))
    if only:
        wanted = {n.removesuffix(".py") for n in only}
        unknown = wanted - {p.stem for p in found}
        if unknown:
            raise SystemExit(f"summary.py: no benchmark named {', '.join(sorted(unknown))} in {HERE}")
        found = [p for p in found if p.stem in wanted]
    return found


def run_one(path: Path, quick: bool, deadline: float) -> Run:
    """Run one benchmark until it ends or the deadline passes, passing its JSON lines through as they come."""
    run = Run(path.stem)
    argv = [sys.executable, str(path)] + (["--quick"] if quick else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))}
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=None, env=env, cwd=HERE.parent, start_new_session=True)
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    pending = b""
    stopped = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            stopped = True
            break
        if not selector.select(timeout=min(left, 1.0)):
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            _take(run, line)
    selector.close()
    if stopped:
        os.killpg(proc.pid, 15)  # the benchmark and anything it started (a rehearsal cluster, kubectl)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        run.status = "stopped (budget)"
    else:
        if pending:
            _take(run, pending)
        code = proc.wait()
        run.status = "ok" if code == 0 else f"exit {code}"
    proc.stdout.close()
    run.seconds = time.monotonic() - started
    return run


def _take(run: Run, line: bytes) -> None:
    text = line.decode(errors="replace").strip()
    if not text:
        return
    print(text, flush=True)
    try:
        row = json.loads(text)
    except json.JSONDecodeError:
        return  # a benchmark's own remark on stdout: passed through, not a figure
    if isinstance(row, dict) and "name" in row:
        run.rows.append(row)


def _num(value: object, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e6 else f"{value:.3e}"
    return str(value)


def table(runs: list[Run], total_s: float, quick: bool) -> str:
    """The summary as a Markdown table, one row per figure, then one line per benchmark."""
    out = [
        "| benchmark | figure | value | baseline | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        if not run.rows:
            out.append(f"| {run.name} | ({run.status}) | — | — | — | — | — |")
        for row in run.rows:
            met = row.get("met")
            verdict = "—" if "target" not in row or met is None else ("yes" if met else "**no**")
            value = f"{_num(row.get('value'))} {row.get('unit', '')}".strip()
            baseline = _num(row.get("baseline"))
            out.append(
                f"| {run.name} | {row['name']} | {value} | {baseline} | {_num(row.get('ratio'), 3)} | "
                f"{row.get('target', '—')} | {verdict} |"
            )
    targets = [r for run in runs for r in run.rows if "target" in r and r.get("met") is not None]
    met = sum(bool(r["met"]) for r in targets)
    out.append("")
    out.append(
        f"{met} of {len(targets)} targets met; {len(runs)} benchmarks in {total_s:.0f} s"
        f"{' (--quick)' if quick else ''}: "
        + ", ".join(f"{r.name} {r.seconds:.0f} s{'' if r.status == 'ok' else ' ' + r.status}" for r in runs)
    )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run each benchmark with --quick")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds for the whole run (default 600)")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--table", type=Path, help="also write the table (Markdown) to this file")
    args = parser.parse_args()
    started = time.monotonic()
    deadline = started + args.budget
    runs: list[Run] = []
    paths = benchmarks(args.only)
    for n, path in enumerate(paths):
        left = deadline - time.monotonic()
        if left <= 0:
            runs.append(Run(path.stem))
            continue
        # At most twice a fair share of what is left, so one slow benchmark on a busy machine cannot starve the rest.
        share = left if n == len(paths) - 1 else min(left, 2 * left / (len(paths) - n))
        print(f"# {path.name} (at most {share:.0f} s)", file=sys.stderr, flush=True)
        runs.append(run_one(path, args.quick, time.monotonic() + share))
    text = table(runs, time.monotonic() - started, args.quick)
    print("\n" + text, flush=True)
    if args.table is not None:
        args.table.write_text(text + "\n")
    return 0 if all(r.status in ("ok", "not run", "stopped (budget)") for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
