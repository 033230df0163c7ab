"""``opsconsole watch``'s start-up order: the lists go out before the UI and the cluster client are loaded.

``cmd_watch`` runs in a fresh interpreter (this one has loaded everything already) against the rehearsal
cluster, with a ``start_watch`` that looks at what is loaded when the UI would start, then follows the watch
until every kind is listed and drained: all of it over plain HTTP, with the garbage collector held off until
then and on again after. A policy file that cannot be used still stops the command with one sentence.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from console.cluster.dashboard_cli import add_watch_command
from kubesim.testing import RunningCluster, running_cluster

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import argparse, gc, json, sys, time

    import console.cli  # what the command imports before it dispatches
    from console.cluster.dashboard_cli import add_watch_command

    def start_watch(*, kube, policy, context, namespace, handle):
        seen = {"at_ui_start": {m: m in sys.modules for m in ("textual", "screens", "kubernetes")},
                "gc_on_at_ui_start": gc.isenabled()}
        watch, drained, idle = handle.watch, 0, 0
        deadline = time.monotonic() + 60
        while idle < 3 and time.monotonic() < deadline:  # drain as the dashboard does, until all is listed and taken
            drained += sum(len(c.objects) or 1 for c in watch.drain() if c.kind == "pods")
            done = all(s.synced for s in watch.statuses().values()) and watch.pending() == 0
            idle = idle + 1 if done else 0
            time.sleep(0.05)
        seen.update(states={k: s.state for k, s in watch.statuses().items()}, pods=len(watch.snapshot("pods")),
                    pod_changes=drained, gc_on_after=gc.isenabled(), frozen=gc.get_freeze_count(),
                    kubernetes_after="kubernetes" in sys.modules)
        print(json.dumps(seen))
        return 0

    parser = argparse.ArgumentParser(prog="opsconsole")
    add_watch_command(parser.add_subparsers(), start_watch=start_watch)
    args = parser.parse_args(["watch", "--kubeconfig", sys.argv[1], "-A"])
    sys.exit(args.func(args))
""")


@pytest.fixture(scope="module")
def cluster() -> RunningCluster:
    with running_cluster("default", speed=10.0) as rc:
        yield rc


def test_lists_go_out_before_the_ui_and_the_cluster_client_load(cluster: RunningCluster) -> None:
    out = subprocess.run([sys.executable, "-c", CHILD, str(cluster.kubeconfig)], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["at_ui_start"] == {"textual": False, "screens": False, "kubernetes": False}
    assert seen["gc_on_at_ui_start"] is False  # held off while the first lists load
    assert set(seen["states"].values()) == {"live"}
    assert seen["pods"] == len(cluster.store.list("pods")) and seen["pod_changes"] >= seen["pods"]  # drained, every one
    assert seen["gc_on_after"] is True and seen["frozen"] > 0  # on again once drained, start-up's objects frozen
    assert seen["kubernetes_after"] is False  # listed and watched without the official client


def test_a_policy_file_that_cannot_be_used_is_one_sentence(cluster: RunningCluster, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "opsconsole.toml"
    bad.write_text("this is = = not toml\n")
    started: list[object] = []
    import argparse

    parser = argparse.ArgumentParser(prog="opsconsole")
    add_watch_command(parser.add_subparsers(), start_watch=lambda **kw: started.append(kw) or 0)
    args = parser.parse_args(["watch", "--kubeconfig", str(cluster.kubeconfig), "--config", str(bad)])
    try:
        assert args.func(args) == 1
    finally:
        gc.enable()  # whatever happened, this test process keeps its collector
    assert not started
    err = capsys.readouterr().err
    assert err.startswith("opsconsole watch: ") and "invalid TOML" in err and err.count("\n") == 1
    assert gc.isenabled()
