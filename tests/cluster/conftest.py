"""Fixtures for the cluster-access and watch tests: a rehearsal cluster per test, a client for it, and helpers
that compare a watch's cache with a fresh list from the server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from console.cluster.kube import KubeAccess
from console.cluster.watch import KINDS, Change, ClusterCache, ClusterWatch
from console.cluster.watch_changes import object_key
from console.cluster.watch_stream import list_objects
from kubesim.kubelet import Timings
from kubesim.testing import RunningCluster, running_cluster

# Fast but ordered, as in the sim's own tests: a pod is Ready about 0.15 s after it is scheduled.
SPEED = 20.0


@pytest.fixture
def rehearsal() -> Iterator[RunningCluster]:
    """The default scenario on a free port, clock at 20x; stopped after the test."""
    with running_cluster("default", speed=SPEED, timings=Timings()) as rc:
        yield rc


@pytest.fixture
def kube(rehearsal: RunningCluster) -> Iterator[KubeAccess]:
    access = KubeAccess(rehearsal.kubeconfig)
    yield access
    access.close()


@pytest.fixture
def api(kube: KubeAccess) -> client.ApiClient:
    return kube.client_for("rehearsal")


WatchFactory = Callable[..., ClusterWatch]


@pytest.fixture
def make_watch(api: client.ApiClient) -> Iterator[WatchFactory]:
    """Build (and always stop) ClusterWatches with short timeouts, so a test never waits on a 4-minute watch."""
    made: list[ClusterWatch] = []

    def make(**kw: Any) -> ClusterWatch:
        kw.setdefault("server_timeout_s", 5)
        kw.setdefault("read_timeout_s", 8)
        kw.setdefault("backoff", (0.05, 0.5))
        cw = ClusterWatch(kw.pop("api_client", api), **kw)
        made.append(cw)
        return cw
    yield make
    for cw in made:
        cw.stop()


def fresh_versions(api: client.ApiClient, kind: str, namespace: str | None = None) -> dict[str, str]:
    """key -> resourceVersion of a fresh list from the server (what the cache must equal)."""
    items, _ = list_objects(api, KINDS[kind], namespace, timeout=(5, 30))
    return {object_key(o): o["metadata"]["resourceVersion"] for o in items}


def all_live(cw: ClusterWatch) -> bool:
    return all(s.state == "live" for s in cw.statuses().values())


def converged(cw: ClusterWatch, cache: ClusterCache, api: client.ApiClient, namespace: str | None = None,
              log: list[Change] | None = None) -> bool:
    """Drain into ``cache`` (and ``log``) and compare every kind with a fresh list (keys and resourceVersions)."""
    changes = cw.drain()
    if log is not None:
        log += changes
    cache.apply(changes)
    return all(cache.versions(k) == fresh_versions(api, k, namespace) for k in cw.kinds)
