"""Watch loops at scale: list and sync 10,000 pods, and events per second through one kind's loop.

Usage: python benchmarks/watch.py [--quick]

The rehearsal server (``large`` scenario: 500 nodes, 10,000 pods) runs in this process; every client runs in
a subprocess (this file with ``--client``) so client and server do not share an interpreter lock. Figures:

- ``list_sync_pods``: ``ClusterWatch(kinds=("pods",))`` from start to state ``live`` with the RESYNC of every
  pod drained (raw JSON list). Baselines in the same run: the official client's typed list turned back into
  API dicts with ``sanitize_for_serialization`` (the other way this loop could have been written), and
  ``kubectl get pods -A -o json`` (process start included).
- ``loop_events_per_s``: a backlog of N pod modifications replayed into the loop's watch path (raw stream,
  cache update, ``Change`` into the deque, drained), against ``kubernetes.watch.Watch().stream`` with its
  default pydantic deserialisation over the same backlog; also reported: ``Watch.stream(deserialize=False)``
  and the bare wire (lines counted, nothing parsed: what the in-process server can send at most). Every
  consumer keeps what it receives, as a real one does; the cyclic garbage collector then dominates (it walks
  the growing heap), so the figures are repeated with ``gc.disable()`` in the client to show that cost.
Medians of several runs; --quick runs fewer and smaller.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from shape import emit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))




# ----- client side (a subprocess) ----------------------------------------------------------------------------
def client_list(kubeconfig: str, runs: int) -> dict[str, object]:
    from kubernetes import client, config

    from console.cluster.watch import ClusterWatch

    api = config.new_client_from_config(config_file=kubeconfig, context="rehearsal")
    ours, typed, count = [], [], 0
    for _ in range(runs):
        t = time.perf_counter()
        cw = ClusterWatch(api, kinds=("pods",), server_timeout_s=60, read_timeout_s=90)
        cw.start()
        got: list = []
        while not (got and cw.statuses()["pods"].state == "live"):
            got += cw.drain()
            time.sleep(0.001)
        ours.append(time.perf_counter() - t)
        count = len(got[0].objects)
        cw.stop()
        t = time.perf_counter()
        items = client.CoreV1Api(api).list_pod_for_all_namespaces(_request_timeout=(5, 120)).items
        dicts = [api.sanitize_for_serialization(p) for p in items]
        typed.append(time.perf_counter() - t)
        assert len(dicts) == count
    return {"ours": statistics.median(ours), "typed": statistics.median(typed), "count": count}


def client_events(kubeconfig: str, rv: str, n: int, gc_off: bool) -> dict[str, object]:
    import gc

    from kubernetes import client, config, watch

    from console.cluster.watch_loop import KindLoop
    from console.cluster.watch_stream import KINDS

    api = config.new_client_from_config(config_file=kubeconfig, context="rehearsal")
    def wire_read() -> float:
        """The wire alone: lines counted, nothing parsed (what the server can send; an upper bound for any client)."""
        resp = client.CoreV1Api(api).list_pod_for_all_namespaces(watch=True, resource_version=rv, timeout_seconds=60,
                                                               _preload_content=False, _request_timeout=(5, 90))
        t = time.perf_counter()
        lines = 0
        for chunk in resp.stream(None, decode_content=False):
            lines += chunk.count(b"\n")
            if lines >= n:
                break
        took = time.perf_counter() - t
        resp.close()
        return took
    wire_read()  # the server encodes each event once, on first send: pay that before anything is timed
    wire = wire_read()
    if gc_off:
        gc.disable()
    # The loop's own watch path, resumed from ``rv`` as after a dropped connection (no list first).
    q: deque = deque()
    loop = KindLoop(api, KINDS["pods"], None, q.append, server_timeout_s=60, read_timeout_s=90, connect_timeout_s=5,
                    list_timeout_s=60, backoff=(0.2, 5.0), forbidden_retry_s=30, clock=time.time)
    loop._rv = rv
    t = time.perf_counter()
    th = threading.Thread(target=loop._watch_once, daemon=True)
    th.start()
    drained = 0
    while drained < n:
        while q:
            q.popleft()
            drained += 1
        time.sleep(0.0005)
    ours = time.perf_counter() - t
    loop.request_stop()
    th.join(2)
    # The official client over the same backlog, default deserialisation (pydantic models in v37).
    t = time.perf_counter()
    w, seen, kept = watch.Watch(), 0, []
    for ev in w.stream(client.CoreV1Api(api).list_pod_for_all_namespaces, resource_version=rv, timeout_seconds=60,
                       _request_timeout=(5, 90)):
        if ev["type"] != "BOOKMARK":
            kept.append(ev["object"])  # a consumer keeps what it receives, as the loop keeps its cache
            seen += 1
            if seen >= n:
                w.stop()
                break
    official = time.perf_counter() - t
    # The same with deserialize=False (json.loads only; it cannot survive an ERROR event, see watch_stream.py).
    t = time.perf_counter()
    w, seen, kept = watch.Watch(), 0, []
    for ev in w.stream(client.CoreV1Api(api).list_pod_for_all_namespaces, resource_version=rv, timeout_seconds=60,
                       _request_timeout=(5, 90), deserialize=False):
        if ev["type"] != "BOOKMARK":
            kept.append(ev["object"])
            seen += 1
            if seen >= n:
                w.stop()
                break
    plain = time.perf_counter() - t
    return {"ours": ours, "official": official, "plain": plain, "wire": wire}


# ----- server side ----------------------------------------------------------------------------------------------
def run_client(*args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--client", *args], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_kubectl(env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(["kubectl", "--request-timeout=120s", "get", "pods", "-A", "-o", "json"], env=env, capture_output=True,
                   check=True, timeout=300)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--client", nargs="+")
    args = ap.parse_args()
    if args.client:
        mode, *rest = args.client
        result = client_list(rest[0], int(rest[1])) if mode == "list" else client_events(rest[0], rest[1], int(rest[2]), rest[3] == "1")
        print(json.dumps(result))
        return 0

    from kubesim.testing import running_cluster

    runs = 1 if args.quick else 3
    n_events = 3000 if args.quick else 10_000
    with running_cluster("large", speed=1.0) as rc:
        lst = run_client("list", str(rc.kubeconfig), str(runs))
        kubectl = statistics.median(time_kubectl(rc.env()) for _ in range(runs))
        emit("list_sync_pods", lst["ours"], "s", baseline=lst["typed"], target="<= 0.5x typed list + sanitize",
             met=lst["ours"] <= 0.5 * lst["typed"], pods=lst["count"])
        emit("list_sync_pods_vs_kubectl", lst["ours"], "s", baseline=kubectl, target="<= 1.0x kubectl get -o json",
             met=lst["ours"] <= kubectl, pods=lst["count"])
        for gc_off in (False, True):
            rates, official, plain, wire = [], [], [], []
            for r in range(runs):
                rc.cluster.controllers.stop()  # only our modifications in the backlog
                rv = rc.store.resource_version
                pods = rc.store.list("pods")[:n_events]
                for p in pods:
                    rc.store.update("pods", p["metadata"]["namespace"], p["metadata"]["name"],
                                    lambda o, r=r, gc_off=gc_off: o["metadata"].setdefault("annotations", {}).__setitem__("bench", f"{gc_off}-{r}"))
                ev = run_client("events", str(rc.kubeconfig), str(rv), str(len(pods)), "1" if gc_off else "0")
                rates.append(len(pods) / ev["ours"])
                official.append(len(pods) / ev["official"])
                plain.append(len(pods) / ev["plain"])
                wire.append(len(pods) / ev["wire"])
            ours_rate, off_rate = statistics.median(rates), statistics.median(official)
            emit("loop_events_per_s" + ("_gc_disabled" if gc_off else ""), ours_rate, "events/s", baseline=off_rate,
                 target=">= 1.5x official Watch.stream", met=ours_rate >= 1.5 * off_rate, events=n_events,
                 watch_deserialize_false=round(statistics.median(plain)), wire_only=round(statistics.median(wire)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
