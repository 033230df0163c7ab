"""The live dashboard against the ``large`` rehearsal cluster (500 nodes, 10,000 pods).

Usage: python benchmarks/panels.py [--quick]

The rehearsal server runs in this process; the dashboard (``ClusterApp``, headless, 120x40) runs in a child
process so the two do not share an interpreter lock, as in real use. Figures, one JSON object per line:

- ``first_render_10k_pods``: from spawning the dashboard's process to the first frame drawn with all 10,000
  pods in the Pods panel. The child runs ``opsconsole watch -A`` through ``console.cli.main`` (so the same
  start-up order: parser, kubeconfig, watch started, policy, UI), with the function that starts the UI
  replaced by one that runs the app headless and measures it. Baseline: ``kubectl get pods -A`` from spawn to
  exit, same cluster, same run. Both are taken in alternating pairs (2 with --quick, 4 without; the measured
  run's own first frame is one more sample of the dashboard) and the medians compared, so the load of a shared
  machine falls on both alike; every sample and each pair's ratio are printed too. Target: at most 1.0x kubectl.
- ``key_latency_p50`` / ``key_latency_p99``: a key press (cursor down/up in the Pods panel) to the frame that
  shows it, while the server generates 500 pod events a second (restart counts bumped through the store).
  Target p99 under 100 ms. Baseline: the same measurement with no events.
- ``events_applied_share``: pod events the dashboard applied during the load window over those generated.
- ``cpu_share_under_load``: the dashboard's CPU time over wall time during the load window (1.0 = one core).
- ``peak_memory``: the dashboard process's peak RSS. Target under 400 MB.
- ``table_first_paint_10k`` (the widget choice): LiveTable vs Textual's DataTable holding the same 10,000
  pod rows: time from mounting to the first frame, and the cost of one frame after 100 cell updates.

The frame timing wraps ``App._display``, which the compositor calls with every update it has rendered
(headless, so no terminal write is included: that cost is the same for any table).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC
from pathlib import Path
from typing import Any

from shape import emit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EVENTS_PER_S = 500
PAIRS_QUICK, PAIRS = 2, 4  # kubectl / dashboard pairs for the first-render figure (plus the measured run's own frame)
FIRST_RENDER_TARGET = "≤ 1.0x kubectl get pods -A"




# ----- the child: the dashboard itself --------------------------------------------------------------------------


def child_main(kubeconfig: str, spawned_at: float, presses: int, out_fd: int) -> int:
    """``opsconsole watch -A`` itself (``console.cli.main``: the same parser and start-up order as the command),
    with the one function that starts the UI replaced by one that runs the app headless and measures it."""
    import console.cli

    def start_measured(*, kube: Any, policy: Any, context: str, namespace: str | None, handle: Any) -> int:
        asyncio.run(measure_app(kube=kube, policy=policy, context=context, namespace=namespace, handle=handle,
                                spawned_at=spawned_at, presses=presses, out_fd=out_fd))
        return 0

    console.cli._start_watch = start_measured  # what the command calls once its watch has started
    return console.cli.main(["watch", "--kubeconfig", kubeconfig, "-A"])


def record_frames(app: Any) -> list[tuple[float, int, int]]:
    """Every frame the dashboard renders from now on, as (perf_counter, pods in the index, cursor row): ``App._display``
    is what the compositor calls with each update (headless, so no terminal write is counted)."""
    frames: list[tuple[float, int, int]] = []
    original = app._display

    def display(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            pods = app.cluster_screen.view.pods
            frames.append((time.perf_counter(), len(pods.table.index), pods.table.cursor_row))
        original(screen, renderable)

    app._display = display
    return frames


async def key_latencies(app: Any, table: Any, frames: list[tuple[float, int, int]], count: int) -> list[float]:
    """``count`` cursor moves (down ten, up ten, ...) sent as a terminal would, each timed from the key to the first
    frame (``frames``: perf_counter, pods, cursor row) showing the cursor where it went; 2 s stands for a miss."""
    from textual import events

    lat: list[float] = []
    for i in range(count):
        key = "down" if (i // 10) % 2 == 0 else "up"
        want = table.cursor_row + (1 if key == "down" else -1)
        seen = len(frames)
        t0 = time.perf_counter()
        ev = events.Key(key, None)
        ev.set_sender(app)
        app._driver.send_message(ev)
        limit = time.monotonic() + 2.0
        while time.monotonic() < limit:
            hit = next((t for t, _, c in frames[seen:] if c == want), None)
            if hit is not None:
                lat.append(hit - t0)
                break
            await asyncio.sleep(0.001)
        else:
            lat.append(2.0)
        await asyncio.sleep(0.03 + (i % 5) * 0.02)  # a person's pace, varied so ticks and keys interleave
    return lat


async def measure_app(*, kube: Any, policy: Any, context: str, namespace: str | None, handle: Any, spawned_at: float,
                      presses: int, out_fd: int) -> None:
    import resource

    import psutil

    from screens.cluster import ClusterApp

    out = os.fdopen(out_fd, "w", buffering=1)

    def say(**kw: Any) -> None:
        out.write(json.dumps(kw) + "\n")

    app = ClusterApp(kube=kube, policy=policy, context=context, namespace=namespace, handle=handle)
    frames = record_frames(app)
    perf0, wall0 = time.perf_counter(), time.time()
    say(imports_s=wall0 - spawned_at)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.cluster_screen.view
        deadline = time.monotonic() + 120
        while not any(n >= 10_000 for _, n, _ in frames):
            if time.monotonic() > deadline:
                say(error="the dashboard did not show 10,000 pods within 120 s")
                return
            await asyncio.sleep(0.01)
        first = next(t for t, n, _ in frames if n >= 10_000)
        say(first_render_s=(first - perf0) + (wall0 - spawned_at), pods=len(view.pods.table.index))
        if presses == 0:  # a first-render sample only
            return
        view.pods.table.focus()
        await pilot.pause()

        quiet = await key_latencies(app, view.pods.table, frames, max(10, presses // 4))
        say(quiet_latencies=quiet)
        say(ready_for_load=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        assert line.strip() == "go", line
        proc = psutil.Process()
        applied0 = view.pods.applied
        cpu0, wall_start = sum(proc.cpu_times()[:2]), time.perf_counter()
        loaded = await key_latencies(app, view.pods.table, frames, presses)
        cpu1, wall_end = sum(proc.cpu_times()[:2]), time.perf_counter()
        say(load_latencies=loaded, cpu_share=(cpu1 - cpu0) / (wall_end - wall_start), window_s=wall_end - wall_start,
            applied=view.pods.applied - applied0, pending=view.handle.watch.pending() if view.handle else -1)
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        say(peak_rss_mb=peak_kb / 1024)


# ----- the widget comparison ------------------------------------------------------------------------------------


async def compare_tables(rows_n: int) -> dict[str, float]:
    """First paint and one-update frame cost of LiveTable vs DataTable over the same pod rows."""
    from datetime import datetime, timedelta

    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from console.cluster.row_index import RowIndex
    from console.cluster.rows import pod_row
    from screens.widgets.live_table import LiveTable
    from screens.widgets.pods_panel import POD_COLUMNS

    now = datetime(2026, 11, 21, 12, tzinfo=UTC)

    def pod(i: int, restarts: int = 0) -> dict[str, Any]:
        return {"metadata": {"name": f"app-{i:05d}", "namespace": f"ns-{i % 50:02d}", "labels": {"app": "a"},
                             "creationTimestamp": (now - timedelta(minutes=i)).isoformat()},
                "spec": {"containers": [{"name": "c"}], "nodeName": f"node-{i % 500:03d}"},
                "status": {"phase": "Running", "containerStatuses": [
                    {"name": "c", "ready": True, "restartCount": restarts, "state": {"running": {}}}]}}

    rows = [pod_row(pod(i), now) for i in range(rows_n)]
    results: dict[str, float] = {}

    class Host(App[None]):
        def __init__(self, kind: str) -> None:
            super().__init__()
            self.kind = kind
            self.painted: list[float] = []

        def compose(self) -> ComposeResult:
            if self.kind == "live":
                yield LiveTable(POD_COLUMNS, RowIndex(rows))
            else:
                yield DataTable()

        def _display(self, screen: Any, renderable: Any) -> None:
            if renderable is not None:
                self.painted.append(time.perf_counter())
            super()._display(screen, renderable)

    for kind in ("live", "datatable"):
        app = Host(kind)
        async with app.run_test(size=(120, 40)) as pilot:
            t0 = time.perf_counter()
            if kind == "live":
                table = app.query_one(LiveTable)
                table.set_sort("name")
                table.data_changed()
            else:
                dt = app.query_one(DataTable)
                keys = [dt.add_column(c.label, width=c.width, key=c.key) for c in POD_COLUMNS]
                dt.add_rows([[c.cell(r) for c in POD_COLUMNS] for r in rows])
            seen = len(app.painted)
            while len(app.painted) == seen:
                await pilot.pause(0.001)
            results[f"{kind}_first_paint_s"] = app.painted[-1] - t0
            await pilot.pause(0.2)
            # 100 on-screen updates (restart counts of the first rows), then time to the next frame.
            t0 = time.perf_counter()
            seen = len(app.painted)
            if kind == "live":
                table.index.upsert([pod_row(pod(i, restarts=1), now) for i in range(100)])
                table.data_changed()
            else:
                row_keys = list(dt.rows)[:100]
                for rk in row_keys:
                    dt.update_cell(rk, keys[4], "1")
            while len(app.painted) == seen:
                await pilot.pause(0.001)
            results[f"{kind}_update_frame_s"] = app.painted[-1] - t0
    return results


# ----- the parent ------------------------------------------------------------------------------------------------


def spawn_child(kubeconfig: Path, presses: int) -> tuple[subprocess.Popen[str], int]:
    """The dashboard's process (``presses`` 0: it reports its first frame and quits) and the pipe it reports on."""
    read_fd, write_fd = os.pipe()
    spawned = time.time()
    child = subprocess.Popen([sys.executable, __file__, "--child", str(kubeconfig), str(spawned), str(presses), str(write_fd)],
                             stdin=subprocess.PIPE, text=True, pass_fds=(write_fd,), cwd=ROOT,
                             env={**os.environ, "TEXTUAL_ANIMATIONS": "none"})
    os.close(write_fd)
    return child, read_fd


def first_render_only(kubeconfig: Path) -> dict[str, Any]:
    """One dashboard run to its first frame with every pod: its reports (``first_render_s``, or ``error``)."""
    child, read_fd = spawn_child(kubeconfig, 0)
    results: dict[str, Any] = {}
    with os.fdopen(read_fd) as reports:
        for line in reports:
            results.update(json.loads(line))
    child.wait(timeout=60)
    return results if "first_render_s" in results or "error" in results else {"error": "the dashboard quit without a frame"}


def kubectl_time(kubeconfig: Path, runs: int) -> float | None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), "get", "pods", "-A", "--request-timeout=120s"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=180)
        times.append(time.perf_counter() - t0)
    return min(times)


class Load:
    """Bumps pod restart counts through the store at a fixed rate, in a thread."""

    def __init__(self, store: Any, rate: int) -> None:
        self.store, self.rate = store, rate
        self.sent = 0
        self.stop = threading.Event()
        self.keys = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in store.list("pods")]
        self.thread = threading.Thread(target=self.run, name="bench-load", daemon=True)

    def run(self) -> None:
        def bump(obj: dict[str, Any]) -> None:
            cs = obj["status"]["containerStatuses"][0]
            cs["restartCount"] = int(cs.get("restartCount") or 0) + 1

        start = time.perf_counter()
        i = 0
        while not self.stop.is_set():
            due = int((time.perf_counter() - start) * self.rate)
            while self.sent < due:
                ns, name = self.keys[i % len(self.keys)]
                i += 1
                self.store.update("pods", ns, name, bump)
                self.sent += 1
            time.sleep(0.005)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def parent(quick: bool) -> None:
    from kubesim.testing import running_cluster

    presses = 40 if quick else 150
    with running_cluster("large", speed=1.0) as rc:
        # The first-render figure: kubectl and the dashboard in alternating pairs, each pair close in time, so a
        # shared machine's load falls on both alike; the medians are reported, with every pair's ratio.
        bases: list[float] = []
        firsts: list[float] = []
        for _ in range(PAIRS_QUICK if quick else PAIRS):
            kubectl = kubectl_time(rc.kubeconfig, 1)
            if kubectl is not None:
                bases.append(kubectl)
            first = first_render_only(rc.kubeconfig)
            if "error" in first:
                emit("first_render_10k_pods", float("nan"), "s", target=FIRST_RENDER_TARGET, met=False, error=first["error"])
                return
            firsts.append(first["first_render_s"])
        child, read_fd = spawn_child(rc.kubeconfig, presses)
        results: dict[str, Any] = {}
        load = Load(rc.store, EVENTS_PER_S)
        with os.fdopen(read_fd) as reports:
            for line in reports:
                msg = json.loads(line)
                results.update(msg)
                if "error" in msg:
                    break
                if msg.get("ready_for_load"):
                    load.thread.start()
                    time.sleep(1.0)  # let the stream reach its steady rate before pressing keys
                    child.stdin.write("go\n")
                    child.stdin.flush()
        load.stop.set()
        child.wait(timeout=60)
    if "error" in results:
        emit("first_render_10k_pods", float("nan"), "s", target=FIRST_RENDER_TARGET, met=False, error=results["error"])
        return
    firsts.append(results["first_render_s"])  # the measured run's own first frame: one more sample of ours
    first = statistics.median(firsts)
    base = statistics.median(bases) if bases else None
    ok = base is not None and first <= base
    emit("first_render_10k_pods", first, "s", baseline=base, target=FIRST_RENDER_TARGET, met=ok,
         samples=[round(x, 3) for x in firsts], baseline_samples=[round(x, 3) for x in bases],
         pair_ratios=[round(f / b, 3) for f, b in zip(firsts, bases, strict=False)],
         until_ui_built=round(results["imports_s"], 3), load_avg_1m=round(os.getloadavg()[0], 2))
    quiet, loaded = results["quiet_latencies"], results["load_latencies"]
    emit("key_latency_p50", percentile(loaded, 0.5) * 1000, "ms", baseline=percentile(quiet, 0.5) * 1000,
         target=f"under {EVENTS_PER_S} pod events/s; baseline: no events", samples=len(loaded))
    p99 = percentile(loaded, 0.99) * 1000
    emit("key_latency_p99", p99, "ms", baseline=percentile(quiet, 0.99) * 1000, target="< 100 ms", met=p99 < 100,
         samples=len(loaded))
    generated = EVENTS_PER_S * results["window_s"]
    emit("events_applied_share", results["applied"] / generated, "ratio", target="~1.0 (keeps up)",
         generated=round(generated), applied=results["applied"], pending_at_end=results["pending"])
    emit("cpu_share_under_load", results["cpu_share"], "cores", target="informational (1.0 = one core)")
    emit("peak_memory", results["peak_rss_mb"], "MB", target="< 400 MB", met=results["peak_rss_mb"] < 400)
    cmp = asyncio.run(compare_tables(10_000))
    emit("table_first_paint_10k", cmp["live_first_paint_s"], "s", baseline=cmp["datatable_first_paint_s"],
         target="LiveTable vs DataTable (baseline)")
    emit("table_update_frame_100_cells", cmp["live_update_frame_s"] * 1000, "ms",
         baseline=cmp["datatable_update_frame_s"] * 1000, target="LiveTable vs DataTable (baseline)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child_main(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer key presses and one kubectl run (under a minute)")
    args = parser.parse_args()
    parent(args.quick)


if __name__ == "__main__":
    main()
