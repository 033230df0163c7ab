"""Fixtures for the rehearsal cluster's tests: a running cluster per test, and a kubectl runner."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest

from kubesim.kubelet import Timings
from kubesim.testing import RunningCluster, running_cluster

KUBECTL = shutil.which("kubectl")
# Fast but ordered: at 20x, a pod is Ready about 0.15 s after it is scheduled.
SPEED = 20.0


@pytest.fixture
def rehearsal_cluster() -> Iterator[RunningCluster]:
    """The default scenario served on a free port, clock at 20x; stopped after the test."""
    with running_cluster("default", speed=SPEED, timings=Timings()) as rc:
        yield rc
        assert not [e for e in rc.cluster.controllers.errors if not hasattr(e, "code")], rc.cluster.controllers.errors


KubectlRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl(rehearsal_cluster: RunningCluster) -> KubectlRunner:
    """Run the real kubectl against the rehearsal cluster; returns the completed process (text)."""
    if KUBECTL is None:
        pytest.skip("kubectl not on PATH")

    def run(*args: str, timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([KUBECTL, "--request-timeout=10s", *args], env=rehearsal_cluster.env(),
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc
    return run
