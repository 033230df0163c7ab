"""How promptly things end: stopping watches, a watch's server-side timeout, cancelling and finishing commands.

Usage: python benchmarks/promptness.py [--quick]

The tests check each of these as a state (the threads ended, the run was cancelled by a signal, the stream ended by
itself); how long it took is measured here, where a busy machine makes a figure slow instead of a test red.
Each figure is the median of several runs (one with --quick):

- ``watch.stop.live`` / ``watch.stop.backing_off``: ClusterWatch.stop() while every loop is blocked reading a
  quiet stream, or waiting out a two-minute backoff. Target: under 1 s (the cut, not the wait, ends them).
- ``watch.stop.unanswered``: stop(timeout=1.0) while the server has not begun to answer (5 s latency); baseline:
  the timeout asked for. Target: within the timeout and half a second.
- ``sim.watch_timeout.held``: how long the rehearsal server holds a bookmark watch asked for ``timeoutSeconds=2``;
  baseline: those 2 s. Target: at least the timeout, and ended within 2 s after it.
- ``runner.cancel.tree``: a cancel from another thread of a shell whose children include one that ignores SIGINT and
  SIGTERM; baseline: the grace periods (0.3 s + 0.3 s). Target: within the grace and a second.
- ``runner.cancel.before_run``: a 30 s sleep cancelled before it starts. Target: under 1 s.
- ``runner.stragglers``: ``sleep 30 &`` left holding the output open after its shell exits; baseline: the same
  shell without it. Target: within a second of the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shape import emit

from console.cluster.kube import KubeAccess
from console.cluster.watch import ClusterWatch
from console.engine.runner import CommandRunner, Grace, OutputLine
from kubesim.kubelet import Timings
from kubesim.testing import RunningCluster, running_cluster

GRACE = Grace(interrupt_s=0.3, terminate_s=0.3)


def median(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def watch_stop(rc: RunningCluster, moment: str) -> float:
    access = KubeAccess(rc.kubeconfig)
    try:
        cw = ClusterWatch(access.client_for("rehearsal"), server_timeout_s=120, read_timeout_s=150, backoff=(120.0, 120.0))
        cw.start()
        rc.wait_for(lambda: all(s.state == "live" for s in cw.statuses().values()), what="live")
        if moment == "backing-off":
            rc.host.go_down()
            rc.wait_for(lambda: all(s.state == "reconnecting" for s in cw.statuses().values()), what="backing off")
        t = time.perf_counter()
        cw.stop(timeout=30)
        took = time.perf_counter() - t
        if cw.running:
            raise SystemExit(f"watch.stop.{moment}: threads still running after stop()")
        return took
    finally:
        rc.host.come_back()
        access.close()


def watch_stop_unanswered(rc: RunningCluster, timeout: float) -> float:
    access = KubeAccess(rc.kubeconfig)
    rc.faults.latency_ms = 5000
    try:
        cw = ClusterWatch(access.client_for("rehearsal"), server_timeout_s=5, read_timeout_s=8)
        cw.start()
        t = time.perf_counter()
        cw.stop(timeout=timeout)
        return time.perf_counter() - t
    finally:
        rc.faults.latency_ms = 0
        access.close()


def watch_timeout_held(rc: RunningCluster, seconds: int) -> float:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(rc.kubeconfig), context="rehearsal")
    try:
        core = client.CoreV1Api(api)
        rv = core.list_namespaced_config_map("web").metadata.resource_version
        t = time.perf_counter()
        resp = core.list_namespaced_config_map("web", watch=True, resource_version=rv, allow_watch_bookmarks=True,
                                               timeout_seconds=seconds, _preload_content=False, _request_timeout=(2, 10))
        _ = resp.data  # read to the end: the server ends the stream
        return time.perf_counter() - t
    finally:
        api.close()


def cancel_tree() -> float:
    script = "sleep 30 & (trap '' INT TERM; sleep 30) & echo ready; wait"
    holder: dict[str, CommandRunner] = {}

    def listen(line: OutputLine) -> None:
        if line.text == "ready":
            holder["runner"].cancel()

    runner = CommandRunner(["sh", "-c", script], timeout_s=60, grace=GRACE, listeners=[listen])
    holder["runner"] = runner
    t = time.perf_counter()
    result = runner.run()
    took = time.perf_counter() - t
    if not result.cancelled:
        raise SystemExit(f"runner.cancel.tree: not cancelled: {result}")
    return took


def cancel_before_run() -> float:
    runner = CommandRunner(["sleep", "30"], grace=GRACE)
    runner.cancel()
    t = time.perf_counter()
    runner.run()
    return time.perf_counter() - t


def run_command(argv: list[str]) -> float:
    t = time.perf_counter()
    CommandRunner(argv).run()
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run of each instead of five")
    runs = 1 if parser.parse_args().quick else 5

    with running_cluster("default", speed=20.0, timings=Timings()) as rc:
        for moment in ("live", "backing-off"):
            took = median(runs, lambda moment=moment: watch_stop(rc, moment))
            emit(f"watch.stop.{moment.replace('-', '_')}", took, "s", target="< 1.0 s", met=took < 1.0)
        timeout = 1.0
        took = median(runs, lambda: watch_stop_unanswered(rc, timeout))
        emit("watch.stop.unanswered", took, "s", baseline=timeout, target="<= timeout + 0.5 s", met=took <= timeout + 0.5)
        seconds = 2
        held = median(runs, lambda: watch_timeout_held(rc, seconds))
        emit("sim.watch_timeout.held", held, "s", baseline=float(seconds), target="timeout <= held < timeout + 2 s",
             met=seconds <= held < seconds + 2)

    grace = GRACE.interrupt_s + GRACE.terminate_s
    took = median(runs, cancel_tree)
    emit("runner.cancel.tree", took, "s", baseline=grace, target="<= grace + 1 s", met=took <= grace + 1)
    took = median(runs, cancel_before_run)
    emit("runner.cancel.before_run", took, "s", target="< 1.0 s", met=took < 1.0)
    plain = median(runs, lambda: run_command(["sh", "-c", "echo started"]))
    left = median(runs, lambda: run_command(["sh", "-c", "sleep 30 & echo started"]))
    emit("runner.stragglers", left, "s", baseline=plain, target="<= baseline + 1 s", met=left <= plain + 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
