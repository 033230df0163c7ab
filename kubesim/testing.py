"""Running the rehearsal cluster from tests: ``with running_cluster() as rc: ...``.

The handle gives the kubeconfig to pass to subprocesses (never set globally), the URL, the clusters' stores,
the fault switches, the clock (speed it up, freeze it, advance it) and a ``wait_for`` that polls with a
deadline instead of sleeping and hoping.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kubesim import kubeconfig
from kubesim.clock import SimClock
from kubesim.cluster import SimCluster
from kubesim.faults import Faults
from kubesim.kubelet import Timings
from kubesim.scenarios import make_clusters
from kubesim.server import SimHost
from kubesim.store import Store

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """``wait_for`` ran out of time; the message says what was awaited."""


@dataclass
class RunningCluster:
    """A started rehearsal server and its control handles."""

    host: SimHost
    clock: SimClock
    clusters: list[SimCluster]
    kubeconfig: Path
    context: str = "rehearsal"
    second_context: str = "rehearsal-b"

    @property
    def url(self) -> str:
        return self.host.url

    @property
    def cluster(self) -> SimCluster:
        return self.clusters[0]

    @property
    def store(self) -> Store:
        return self.clusters[0].store

    @property
    def faults(self) -> Faults:
        return self.clusters[0].faults

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment for subprocesses with KUBECONFIG pointing here."""
        import os

        env = dict(os.environ if base is None else base)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def set_speed(self, speed: float) -> None:
        self.clock.set_speed(speed)

    def advance(self, seconds: float) -> None:
        """Jump simulated time and let the controllers catch up."""
        self.clock.advance(seconds)
        for c in self.clusters:
            c.controllers.run_until_idle()

    def outage(self, seconds: float) -> None:
        self.host.outage(seconds)

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store.peek(resource, namespace, name)

    def wait_for(self, check: Callable[[], T], *, timeout: float = 20.0, what: str = "condition", interval: float = 0.02) -> T:
        """Poll ``check`` until it returns something truthy; WaitTimeout after ``timeout`` real seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise WaitTimeout(f"timed out after {timeout}s waiting for {what}")
            time.sleep(interval)


@contextmanager
def running_cluster(scenario: str = "default", speed: float = 10.0, faults: Faults | None = None, *,
                    port: int = 0, timings: Timings | None = None, kubeconfig_path: Path | None = None) -> Iterator[RunningCluster]:
    """Start a rehearsal server for ``scenario`` on 127.0.0.1, yield its handle, and shut it down."""
    faults = faults or Faults()
    clock, clusters = make_clusters(scenario, speed=speed, faults=faults, timings=timings)
    host = SimHost(clusters, port=port)
    host.start()
    tmp = None
    try:
        if kubeconfig_path is None:
            tmp = tempfile.TemporaryDirectory(prefix="opsconsole-sim-")
            kubeconfig_path = Path(tmp.name) / "kubeconfig"
        kubeconfig.write(kubeconfig_path, [
            kubeconfig.ContextSpec("rehearsal", host.url_for("rehearsal"), "default"),
            kubeconfig.ContextSpec("rehearsal-b", host.url_for("b"), "staging"),
        ], "rehearsal")
        yield RunningCluster(host=host, clock=clock, clusters=clusters, kubeconfig=kubeconfig_path)
    finally:
        host.stop()
        if tmp is not None:
            tmp.cleanup()
