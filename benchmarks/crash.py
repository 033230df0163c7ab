"""Crash benchmark: the adversarial runbooks killed (SIGKILL, whole process tree) at random moments and resumed.

    python benchmarks/crash.py [--quick] [--kills N] [--seed S] [--runbook ID ...] [--path success|rollback]

For each runbook of ``tests/adversarial/runbooks`` and each of its paths (success; for the layered dependency, the
configuration change and the canary also the rollback path), changes are driven through ``opsconsole run --plain
--answers`` against a fresh rehearsal cluster, killed at moments drawn from the journal's states (a step's
confirmation or start, or a count of events into a session), checked with ``records verify`` and resumed by the next
operator, until at least N kills (default 20; ``--quick``: 3, on one path per runbook, its rollback path where it has
one). Prints one JSON object per figure (see ``shape.py``):

- kills; losses (a step started and never finished or interrupted, an output file no event names, a sequence gap,
  a verify failure that is not a torn tail, a change that never closed); reconfirmations (confirmations typed
  again in a later session); steps that ran without a confirmation from their own session (target 0);
- seconds from a mutating step's confirmation to its recorded finish, with the step's own recorded duration in the
  same changes as the baseline (the ratio is what confirming, starting and recording cost around the command);
- seconds from a rollback trigger firing to the first rollback command's start, with one ``kubectl get nodes`` round
  trip to the same cluster as the baseline.

Figures, not verdicts: it exits 0 whatever it measures.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shape import emit  # noqa: E402 - benchmarks/ is on the path when run as a script

from console.journal import events as ev  # noqa: E402
from console.journal.chain import parse_ts  # noqa: E402
from console.runbook.loader import RunbookError  # noqa: E402
from kubesim.testing import running_cluster  # noqa: E402
from tests.adversarial.cluster_state import settled, snapshot  # noqa: E402
from tests.adversarial.crashloop import (  # noqa: E402
    ANSWERS,
    RUNBOOKS,
    Console,
    Loop,
    choose_points,
    crash_loop,
    load,
    policy_text,
)
from tests.adversarial.endpoints import HealthEndpoint  # noqa: E402
from tests.adversarial.faults import node_not_ready, when_started  # noqa: E402
from tests.adversarial.journal_audit import audit, is_mutating  # noqa: E402

SPEED = 20.0
KILLS_PER_LOOP = 5
MAX_LOOPS = 12


@dataclass(frozen=True)
class Route:
    """One way through a runbook: its answers, and for a rollback path the failing step and the rollback queue."""

    runbook: str
    name: str
    answers: str
    until: str | None = None
    rollback: tuple[str, ...] = ()
    fault: str | None = None


PATHS = [
    Route("layered-cache-dependency", "rollback", "layered-cache-dependency-rollback", "wait-web",
          ("restore-web-build", "wait-web-back", "unpoint-web", "remove-cache")),
    Route("layered-cache-dependency", "success", "layered-cache-dependency"),
    Route("gated-web-release", "success", "gated-web-release"),
    Route("web-workers-config", "rollback", "web-workers-config", "watch",
          ("restore-config", "restart-onto-backup", "wait-restored"), fault="node-2 NotReady at watch"),
    Route("web-workers-config", "success", "web-workers-config"),
    Route("emergency-web-capacity", "success", "emergency-web-capacity"),
    Route("web-canary-stages", "rollback", "web-canary-stages-rollback", "stage-1-rollout", ("remove-canary",)),
    Route("web-canary-stages", "success", "web-canary-stages"),
]


@dataclass
class Tally:
    """Everything measured on one path, over all its loops."""

    kills: int = 0
    loops: int = 0
    losses: list[str] = field(default_factory=list)
    reconfirmations: int = 0
    unconfirmed: list[str] = field(default_factory=list)
    reruns: list[str] = field(default_factory=list)
    torn: int = 0
    stray_artifacts: int = 0
    wrong_state: list[str] = field(default_factory=list)
    decision_to_finish: list[float] = field(default_factory=list)
    step_durations: list[float] = field(default_factory=list)
    trigger_to_rollback: list[float] = field(default_factory=list)
    kubectl_round_trips: list[float] = field(default_factory=list)
    error: str | None = None


def seconds(a: Any, b: Any) -> float:
    return (parse_ts(b.ts) - parse_ts(a.ts)).total_seconds()


def timings(events: Sequence[Any], runbook: Any, tally: Tally) -> None:
    """Confirmation -> recorded finish of each mutating step run, and trigger -> first rollback command start."""
    confirmed: dict[tuple[str, str], Any] = {}
    for e in events:
        key = (e.data.get("section", "step"), e.data.get("step_id", ""))
        if e.type == ev.STEP_CONFIRMED:
            confirmed[key] = e
        elif e.type == ev.STEP_FINISHED and key in confirmed and is_mutating(runbook, *key):
            tally.decision_to_finish.append(seconds(confirmed.pop(key), e))
            tally.step_durations.append(float(e.data.get("duration_s") or 0.0))
    fired = next((e for e in events if e.type == ev.TRIGGER_FIRED), None)
    if fired is not None:
        first = next((e for e in events if e.seq > fired.seq and e.type == ev.STEP_STARTED and e.data.get("section") == "rollback"
                      and e.data.get("kind") == "command"), None)
        if first is not None:
            tally.trigger_to_rollback.append(seconds(fired, first))


def one_loop(path: Route, rng: random.Random, kills: int, tally: Tally) -> None:
    with tempfile.TemporaryDirectory(prefix="opsconsole-crash-") as tmp_name, running_cluster("default", speed=SPEED) as rc:
        tmp = Path(tmp_name)
        runbooks = RUNBOOKS  # as shipped: the short rehearsal windows are duration parameters (Console.run_args)
        for sub in ("records", "logs"):
            (tmp / sub).mkdir()
        policy = tmp / "opsconsole.toml"
        policy.write_text(policy_text(datetime.now(UTC)))
        console = Console(records=tmp / "records", kubeconfig=rc.kubeconfig, policy=policy, logs=tmp / "logs",
                          clock_speed=SPEED, window_s=2.0 if path.fault else 1.0)  # a fault acting in a window needs room
        runbook_file = runbooks / f"{path.runbook}.yaml"
        runbook = load(runbook_file)
        points = choose_points(rng, runbook, kills, stale_confirmation_first=False, until=path.until, rollback=path.rollback)
        before = snapshot(rc)
        hook = when_started("watch", lambda: node_not_ready(rc, "node-2")) if path.fault else None
        t0 = time.perf_counter()
        subprocess.run(["kubectl", "get", "nodes"], env=rc.env(), capture_output=True, check=True)
        tally.kubectl_round_trips.append(time.perf_counter() - t0)
        with HealthEndpoint(warmup=1) as health:
            extra = ["--param", f"health_url={health.url}"] if path.runbook == "gated-web-release" else []
            loop: Loop = crash_loop(console, runbook_file, ANSWERS / f"{path.answers}.yaml", points, run_extra=extra, on_events=hook)
        tally.loops += 1
        tally.kills += len(loop.kills)
        tally.torn += loop.torn
        tally.losses += [f"verify: {v}" for v in loop.verify_failures]
        if not loop.closed:
            last = (loop.tail(1).strip() or f"exit codes {loop.exit_codes}")
            tally.losses.append(f"never closed: {last}")
            tally.error = last
        if loop.change_id:
            verified = console("records", "verify", loop.change_id)
            if verified.returncode != 0:
                tally.losses.append(f"final verify: {verified.stdout.strip()}")
            found = audit(loop.events, runbook, loop.sessions, console.journal().parent)
            tally.losses += found.lost
            tally.reconfirmations += found.reconfirmations
            tally.unconfirmed += found.unconfirmed
            tally.reruns += found.reruns
            tally.stray_artifacts += len(found.stray_artifacts)
            timings(loop.events, runbook, tally)
        if loop.closed:
            tally.wrong_state += settled(rc, path.runbook, str(loop.outcome), before)


def measure(path: Route, target_kills: int, seed: int) -> Tally:
    tally = Tally()
    rng = random.Random(f"{path.runbook}/{path.name}/{seed}")
    # A change that never closes (the console stopped on something it could not answer) ends the path's measurement:
    # further loops would only repeat it.
    while tally.kills < target_kills and tally.loops < MAX_LOOPS and tally.error is None:
        try:
            one_loop(path, rng, min(KILLS_PER_LOOP, target_kills - tally.kills), tally)
        except RunbookError as exc:
            tally.error = str(exc).splitlines()[-1]
    return tally


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def report(path: Route, tally: Tally) -> None:
    name = f"crash.{path.runbook}.{path.name}"
    extra: dict[str, Any] = {"loops": tally.loops}
    if tally.error:
        extra["error"] = tally.error
    emit(f"{name}.kills", tally.kills, "kills", torn_tails=tally.torn, stray_artifacts=tally.stray_artifacts, **extra)
    emit(f"{name}.losses", len(tally.losses), "count", target="== 0", met=not tally.losses, examples=tally.losses[:3])
    emit(f"{name}.reconfirmations", tally.reconfirmations, "count")
    emit(f"{name}.unconfirmed_starts", len(tally.unconfirmed), "count", target="== 0", met=not tally.unconfirmed,
         examples=tally.unconfirmed[:2])
    emit(f"{name}.reruns_after_pass", len(tally.reruns), "count", target="== 0", met=not tally.reruns)
    emit(f"{name}.wrong_end_state", len(tally.wrong_state), "count", target="== 0", met=not tally.wrong_state,
         examples=tally.wrong_state[:2])
    emit(f"{name}.decision_to_finish_s", median(tally.decision_to_finish), "s", median(tally.step_durations),
         samples=len(tally.decision_to_finish), max=max(tally.decision_to_finish, default=None))
    if path.name == "rollback":
        emit(f"{name}.trigger_to_rollback_s", median(tally.trigger_to_rollback), "s", median(tally.kubectl_round_trips),
             samples=len(tally.trigger_to_rollback), max=max(tally.trigger_to_rollback, default=None))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 kills on one path per runbook (its rollback path if any)")
    parser.add_argument("--kills", type=int, default=None, help="kills per path (default 20; 3 with --quick)")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--runbook", action="append", default=[], help="only this runbook (repeatable)")
    parser.add_argument("--path", choices=("success", "rollback"), help="only this path of each runbook")
    args = parser.parse_args(argv)
    kills = args.kills or (3 if args.quick else 20)
    paths = [p for p in PATHS if (not args.runbook or p.runbook in args.runbook) and (not args.path or p.name == args.path)]
    if args.quick:  # one path per runbook: the first listed, which is its rollback path where it has one
        first: dict[str, Route] = {}
        for p in paths:
            first.setdefault(p.runbook, p)
        paths = list(first.values())
    for path in paths:
        report(path, measure(path, kills, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
