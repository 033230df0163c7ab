"""The collector held off during the first load ends held: on a server that cannot be reached, at the deadline, on stop.

The happy path (every kind listed and drawn, then the collector on and start-up's objects frozen) is in
tests/app/test_watch_startup.py, in a fresh interpreter. Each test here restores this process's collector.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.cluster.kube import KubeAccess
from console.cluster.startup_gc import GcHeldWatch, hold_gc
from console.cluster.watch import ClusterWatch
from tests.support.wait import wait_for


@pytest.fixture
def unreachable(tmp_path: Path) -> Iterator[ClusterWatch]:
    path = tmp_path / "kubeconfig"
    path.write_text('{"apiVersion": "v1", "kind": "Config", "current-context": "c",'
                    ' "clusters": [{"name": "k", "cluster": {"server": "http://127.0.0.1:1"}}],'
                    ' "users": [{"name": "u", "user": {}}], "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}')
    cw = ClusterWatch(KubeAccess(path).transport_for("c"), kinds=("pods", "nodes"), backoff=(5.0, 5.0))
    try:
        yield cw
    finally:
        cw.stop()
        gc.enable()
        gc.unfreeze()


def test_released_once_every_first_list_has_failed(unreachable: ClusterWatch) -> None:
    held = GcHeldWatch(unreachable, held=hold_gc())
    assert held.holding and not gc.isenabled()
    held.start()
    wait_for(lambda: all(s.state == "reconnecting" for s in held.statuses().values()), what="every list failed")
    held.drain()  # everything handed over: armed
    assert held.holding
    held.drain()  # a tick later: its frame is drawn
    assert not held.holding and gc.isenabled()


def test_released_at_the_deadline_and_on_stop(unreachable: ClusterWatch) -> None:
    now = [0.0]
    held = GcHeldWatch(unreachable, held=hold_gc(), deadline_s=30.0, clock=lambda: now[0])
    held.drain()  # not started: nothing listed, so it stays held
    assert held.holding and not gc.isenabled()
    now[0] = 30.0
    held.drain()
    assert not held.holding and gc.isenabled()

    again = GcHeldWatch(unreachable, held=hold_gc())
    again.stop(timeout=1.0)
    assert not again.holding and gc.isenabled()


def test_a_collector_already_off_is_left_off(unreachable: ClusterWatch) -> None:
    gc.disable()
    held = GcHeldWatch(unreachable, held=hold_gc())  # hold_gc() found it off: not ours to turn on
    held.stop(timeout=1.0)
    assert not gc.isenabled()
