"""Rehearsal cluster at scale: listing 10,000 pods and fanning watch events out to 1 and 10 watchers.

Usage: python benchmarks/sim.py [--quick]

The server runs in this process (the ``large`` scenario: 500 nodes, 10,000 pods); every client runs in its
own subprocess so clients and server do not share an interpreter lock, as in real use. Figures:

- ``kubectl get pods -A`` wall time, with the official client's full typed list as its baseline, and the
  other way round (the two are each other's reference);
- watch events per second delivered to one watcher and to each of ten watchers of all pods, against the
  pod events the controllers generated per second over the same window (baseline). Target: watchers keep up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shape import emit

from kubesim.resources import BY_NAME
from kubesim.testing import running_cluster
from kubesim.verbs import Verbs

CLIENT_LIST = """
import sys, time
from kubernetes import client, config
api = config.new_client_from_config(config_file=sys.argv[1], context="rehearsal")
t = time.perf_counter()
n = len(client.CoreV1Api(api).list_pod_for_all_namespaces(_request_timeout=120).items)
print(time.perf_counter() - t, n)
"""

WATCHER = """
import http.client, json, os, sys, time
host, port, rv, stop_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
conn = http.client.HTTPConnection(host, port, timeout=60)
conn.request("GET", f"/api/v1/pods?watch=true&resourceVersion={rv}&timeoutSeconds=600")
resp = conn.getresponse()
print("ready", flush=True)
count, first, last, target, checked = 0, None, None, None, 0.0
while True:
    line = resp.readline()
    if not line:
        break
    now = time.perf_counter()
    ev = json.loads(line)
    r = int(ev["object"]["metadata"]["resourceVersion"])
    if first is None:
        first = now
    if target is None or r <= target:
        count, last = count + 1, now
    if now - checked > 0.1:
        checked = now
        if target is None and os.path.exists(stop_file):
            target = int(open(stop_file).read())
    if target is not None and r >= target:
        break
print(json.dumps({"count": count, "first": first, "last": last}), flush=True)
"""




def time_kubectl(env: dict[str, str]) -> float:
    t = time.perf_counter()
    out = subprocess.run(["kubectl", "--request-timeout=120s", "get", "pods", "-A"], env=env, capture_output=True, text=True, timeout=180)
    took = time.perf_counter() - t
    if out.returncode != 0 or len(out.stdout.splitlines()) != 10_001:
        raise RuntimeError(f"kubectl get pods -A failed: {out.stderr.strip()[:200]}")
    return took


def time_client(kubeconfig: Path) -> float:
    out = subprocess.run([sys.executable, "-c", CLIENT_LIST, str(kubeconfig)], capture_output=True, text=True, timeout=300)
    took, n = out.stdout.split()
    if int(n) != 10_000:
        raise RuntimeError(f"client listed {n} pods")
    return float(took)


def watch_rate(rc, watchers: int, seconds: float, restarts_per_second: float) -> tuple[float, list[float]]:
    """(pod events generated per second, delivered per second for each watcher)."""
    store = rc.store
    with tempfile.TemporaryDirectory() as tmp:
        stop_file = Path(tmp) / "stop"
        start_rv = store.resource_version
        t0 = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", WATCHER, "127.0.0.1", str(rc.host.port), str(start_rv), str(stop_file)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(watchers)]
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        verbs, deps = Verbs(rc.cluster), rc.store.list("deployments")
        i = 0
        while time.perf_counter() - t0 < seconds:
            d = deps[i % len(deps)]
            i += 1
            body = json.dumps({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": str(i)}}}}})
            verbs.patch(BY_NAME["deployments"], d["metadata"]["namespace"], d["metadata"]["name"], body.encode(),
                        "application/strategic-merge-patch+json")
            time.sleep(1 / restarts_per_second)
        end_rv = store.resource_version
        t_end = time.perf_counter()
        n_generated = sum(1 for e in store.history_since(start_rv, "pods") if e.rv <= end_rv)
        (Path(tmp) / "stop.tmp").write_text(str(end_rv))
        os.replace(Path(tmp) / "stop.tmp", stop_file)  # atomically: watchers poll for it
        rates = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            if p.returncode != 0 or not out.strip():
                raise RuntimeError(f"a watcher failed: {err.strip()[-300:]}")
            res = json.loads(out.strip().splitlines()[-1])
            span = (res["last"] - t0) if res["last"] else float("inf")
            rates.append(res["count"] / max(span, 1e-9))
        return n_generated / (t_end - t0), rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of each, short watch windows")
    args = parser.parse_args()
    runs, window = (1, 4.0) if args.quick else (3, 10.0)
    t = time.perf_counter()
    with running_cluster("large", speed=10.0) as rc:
        emit("sim.large.build", time.perf_counter() - t, "s", target="<= 10 s", met=time.perf_counter() - t <= 10)
        env = rc.env()
        kubectl = statistics.median(time_kubectl(env) for _ in range(runs))
        client = statistics.median(time_client(rc.kubeconfig) for _ in range(runs))
        emit("sim.kubectl_get_pods_all.10k", kubectl, "s", client, "<= 1.5x client list", kubectl <= 1.5 * client)
        emit("sim.client_list_pods.10k", client, "s", kubectl, "informational (kubectl is the baseline)", None)
        gen1, one = watch_rate(rc, 1, window, 20)
        emit("sim.watch.1_watcher", one[0], "events/s", gen1, ">= 0.95x generated", one[0] >= 0.95 * gen1)
        gen10, ten = watch_rate(rc, 10, window, 20)
        worst = min(ten)
        emit("sim.watch.10_watchers.per_watcher_min", worst, "events/s", gen10, ">= 0.95x generated", worst >= 0.95 * gen10,
             aggregate=round(sum(ten), 1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OPSCONSOLE_SIM_BENCH", "1")
    threading.current_thread().name = "bench"
    sys.exit(main())
