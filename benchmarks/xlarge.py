"""The live dashboard against the ``xlarge`` rehearsal cluster (2,000 nodes, 50,000 pods).

Usage: python benchmarks/xlarge.py [--quick] [--profile FILE]

The same set-up as benchmarks/panels.py (whose kubectl timing, load generator and percentile it imports): the
rehearsal server runs in this process, the dashboard (``ClusterApp``, headless, 120x40) in a child process,
started as ``opsconsole watch`` starts it (the watch first, then the UI). Figures, one JSON object per line:

- ``first_render_50k_pods``: from spawning the dashboard's process to the first frame drawn with all 50,000
  pods in the Pods panel. Baseline: ``kubectl get pods -A`` from spawn to exit, same cluster, same run.
  Target: at most 1.0x kubectl. kubectl lists in pages of 500 and throttles itself between requests, which is most
  of its time at this size; ``kubectl_chunk_size_0_s`` is one unchunked ``--chunk-size=0`` run, for reference
  (full runs only).
- ``key_latency_p50`` / ``key_latency_p99``: a key press (cursor down/up in the Pods panel) to the frame that
  shows it, while the server generates 2,000 pod events a second (restart counts bumped through the store).
  Target p99 under 100 ms. Baseline: the same measurement with no events.
- ``events_applied_share``: pod events the dashboard applied during the load window over those the server
  generated in it (counted by the generator, so a generator that falls short of its rate is not blamed on
  the dashboard; ``generated_per_s`` says what it reached).
- ``cpu_share_under_load``: the dashboard's CPU time over wall time during the load window (1.0 = one core);
  ``server_and_load_generator`` is the same for this process, which shares the two cores with it.
- ``gc_full_collection_max``: the dashboard's longest full cyclic garbage collection in the load window (the
  pauses that ``HeapFreezer`` in screens/widgets/cluster_view.py keeps short).
- ``server_peak_memory``: this process's peak RSS (the rehearsal server with its watch history, and the load).
- ``peak_memory``: the dashboard process's peak RSS. Target under 800 MB.

``--quick`` (one kubectl run, 10 + 40 key presses) finishes in about a minute and a half on two cores; the full
run takes three kubectl runs and 40 + 200 presses. ``--profile FILE`` writes a cProfile of the dashboard's UI
thread (spawn to exit) to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from panels import Load, key_latencies, kubectl_time, percentile, record_frames
from shape import emit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EVENTS_PER_S = 2000
MEMORY_TARGET_MB = 800


# ----- the child: the dashboard itself --------------------------------------------------------------------------


async def child_main(kubeconfig: str, spawned_at: float, pods_expected: int, presses: int, out_fd: int) -> None:
    # The same order as ``opsconsole watch`` (console/cluster/dashboard_cli.py): start the watch, then load the UI.
    import gc
    import resource

    from console.cluster.dashboard_cli import resolve_scope
    from console.cluster.kube import KubeAccess
    from console.cluster.source import kube_watch_source
    from console.config import Policy

    kube = KubeAccess(kubeconfig)
    context, namespace = resolve_scope(kube, None, None, True)
    handle = kube_watch_source(kube)(context, namespace)
    listed: list[float] = []  # when the pods' list had arrived (the watch thread handed its RESYNC on)

    def watch_list() -> None:
        while not handle.watch.statuses()["pods"].synced:
            time.sleep(0.005)
        listed.append(time.time())

    threading.Thread(target=watch_list, name="bench-list-done", daemon=True).start()

    import psutil

    from screens.cluster import ClusterApp

    out = os.fdopen(out_fd, "w", buffering=1)

    def say(**kw: Any) -> None:
        out.write(json.dumps(kw) + "\n")

    app = ClusterApp(kube=kube, policy=Policy(), context=context, namespace=namespace, handle=handle)
    frames = record_frames(app)
    pauses: list[tuple[int, float]] = []  # (generation, seconds) of every cyclic collection
    gc_started = [0.0]

    def gc_watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], time.perf_counter() - gc_started[0]))

    gc.callbacks.append(gc_watch)
    perf0, wall0 = time.perf_counter(), time.time()
    say(imports_s=wall0 - spawned_at)
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.cluster_screen.view
        deadline = time.monotonic() + 180
        while not any(n >= pods_expected for _, n, _ in frames):
            if time.monotonic() > deadline:
                say(error=f"the dashboard did not show {pods_expected:,} pods within 180 s")
                return
            await asyncio.sleep(0.01)
        first, shown = next((t, n) for t, n, _ in frames if n >= pods_expected)
        say(first_render_s=(first - perf0) + (wall0 - spawned_at), pods=shown,
            pods_listed_s=(listed[0] - spawned_at) if listed else None,
            rss_after_list_mb=psutil.Process().memory_info().rss / 2**20)
        view.pods.table.focus()
        await pilot.pause()

        quiet = await key_latencies(app, view.pods.table, frames, max(10, presses // 5))
        say(quiet_latencies=quiet)
        say(ready_for_load=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        assert line.strip() == "go", line
        proc = psutil.Process()
        applied0 = view.pods.applied
        del pauses[:]
        cpu0, wall_start = sum(proc.cpu_times()[:2]), time.perf_counter()
        loaded = await key_latencies(app, view.pods.table, frames, presses)
        cpu1, wall_end = sum(proc.cpu_times()[:2]), time.perf_counter()
        say(load_latencies=loaded, cpu_share=(cpu1 - cpu0) / (wall_end - wall_start), window_s=wall_end - wall_start,
            applied=view.pods.applied - applied0, pending=view.handle.watch.pending() if view.handle else -1,
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            gc_pauses=[(g, round(d, 4)) for g, d in pauses if g == 2 or d > 0.005])
    kube.close()


def run_child(argv: list[str]) -> None:
    kubeconfig, spawned, expected, presses, fd, profile = argv
    coro = child_main(kubeconfig, float(spawned), int(expected), int(presses), int(fd))
    if not profile:
        asyncio.run(coro)
        return
    import cProfile

    prof = cProfile.Profile()
    prof.enable()
    try:
        asyncio.run(coro)
    finally:
        prof.disable()
        prof.dump_stats(profile)


# ----- the parent ------------------------------------------------------------------------------------------------


def parent(quick: bool, profile: str, presses: int | None) -> None:
    from kubesim.scenarios import HISTORY
    from kubesim.testing import running_cluster

    presses = presses or (40 if quick else 200)
    with running_cluster("xlarge", speed=1.0) as rc:
        expected = rc.store.count("pods")
        base = kubectl_time(rc.kubeconfig, 1 if quick else 3)
        # kubectl's own time is mostly its client-side throttle over 100 pages of 500; one unchunked list, for reference.
        unchunked = None
        kubectl = shutil.which("kubectl")
        if kubectl is not None and not quick:
            t0 = time.perf_counter()
            subprocess.run([kubectl, "--kubeconfig", str(rc.kubeconfig), "get", "pods", "-A", "--chunk-size=0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=180)
            unchunked = time.perf_counter() - t0
        read_fd, write_fd = os.pipe()
        spawned = time.time()
        child = subprocess.Popen([sys.executable, __file__, "--child", str(rc.kubeconfig), str(spawned), str(expected),
                                  str(presses), str(write_fd), profile], stdin=subprocess.PIPE, text=True,
                                 pass_fds=(write_fd,), cwd=ROOT, env={**os.environ, "TEXTUAL_ANIMATIONS": "none"})
        os.close(write_fd)
        assert child.stdin is not None
        results: dict[str, Any] = {}
        load = Load(rc.store, EVENTS_PER_S)
        sent_at_go = sent_at_end = 0
        server_cpu0 = server_wall0 = server_share = 0.0
        with os.fdopen(read_fd) as reports:
            for line in reports:
                msg = json.loads(line)
                results.update(msg)
                if "error" in msg:
                    break
                if msg.get("ready_for_load"):
                    load.thread.start()
                    time.sleep(1.0)  # let the stream reach its steady rate before pressing keys
                    sent_at_go = load.sent
                    server_cpu0, server_wall0 = sum(os.times()[:2]), time.perf_counter()
                    child.stdin.write("go\n")
                    child.stdin.flush()
                if "load_latencies" in msg:
                    sent_at_end = load.sent
                    server_share = (sum(os.times()[:2]) - server_cpu0) / (time.perf_counter() - server_wall0)
        load.stop.set()
        child.wait(timeout=60)
    if "error" in results or "load_latencies" not in results:
        why = results.get("error") or f"the dashboard's process ended early (exit status {child.returncode})"
        emit("first_render_50k_pods", float("nan"), "s", target="<= 1.0x kubectl", met=False, error=why)
        return
    first = results["first_render_s"]
    emit("first_render_50k_pods", first, "s", baseline=base, target="<= 1.0x kubectl get pods -A",
         met=base is None or first <= base, pods=results["pods"], until_ui_built=round(results["imports_s"], 3),
         pods_listed=round(results["pods_listed_s"], 3) if results["pods_listed_s"] is not None else None,
         rss_after_list_mb=round(results["rss_after_list_mb"]),
         kubectl_chunk_size_0_s=round(unchunked, 3) if unchunked is not None else None)
    quiet, loaded = results["quiet_latencies"], results["load_latencies"]
    emit("key_latency_p50", percentile(loaded, 0.5) * 1000, "ms", baseline=percentile(quiet, 0.5) * 1000,
         target=f"under {EVENTS_PER_S} pod events/s; baseline: no events", samples=len(loaded))
    p99 = percentile(loaded, 0.99) * 1000
    if os.environ.get("XLARGE_LATENCIES"):
        print(json.dumps({"quiet_ms": [round(x * 1000) for x in quiet], "load_ms": [round(x * 1000) for x in loaded]}))
    emit("key_latency_p99", p99, "ms", baseline=percentile(quiet, 0.99) * 1000, target="< 100 ms", met=p99 < 100,
         samples=len(loaded))
    generated = sent_at_end - sent_at_go
    emit("events_applied_share", results["applied"] / generated if generated else float("nan"), "ratio",
         target="~1.0 (keeps up)", generated=generated, generated_per_s=round(generated / results["window_s"]),
         applied=results["applied"], pending_at_end=results["pending"])
    emit("cpu_share_under_load", results["cpu_share"], "cores", target="informational (1.0 = one core)",
         server_and_load_generator=round(server_share, 3))
    full = [d for g, d in results["gc_pauses"] if g == 2]
    emit("gc_full_collection_max", max(full, default=0.0) * 1000, "ms", target="informational: longest full cyclic "
         "collection of the dashboard during the load window", collections=len(full),
         longest_any=max((d for _, d in results["gc_pauses"]), default=0.0) * 1000,
         full_ms=[round(d * 1000, 1) for d in full])
    import resource

    emit("server_peak_memory", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB",
         target="informational: the rehearsal server and load generator (this process), history of "
         f"{HISTORY['xlarge']:,} events")
    emit("peak_memory", results["peak_rss_mb"], "MB", target=f"< {MEMORY_TARGET_MB} MB",
         met=results["peak_rss_mb"] < MEMORY_TARGET_MB)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one kubectl run and fewer key presses (about 90 s)")
    parser.add_argument("--profile", metavar="FILE", default="", help="write a cProfile of the dashboard's UI thread")
    parser.add_argument("--presses", type=int, help="key presses under load (default 40 quick, 200 full)")
    args = parser.parse_args()
    parent(args.quick, args.profile, args.presses)


if __name__ == "__main__":
    main()
