"""Fixtures for the adversarial rehearsals: a rehearsal cluster, the policy, the console on both, a health endpoint.

Each test gets a fresh default-scenario cluster (clock at 20x), the runbooks with short observe windows given as
duration parameters,
a record store of its own and the policy in ``policy/adversarial.toml`` completed with a high-risk change window
that excludes the day the test runs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kubesim.testing import RunningCluster, running_cluster

from .crashloop import RUNBOOKS, Console, policy_text
from .endpoints import HealthEndpoint

SPEED = 20.0


@pytest.fixture
def cluster() -> Iterator[RunningCluster]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH")
    with running_cluster("default", speed=SPEED) as rc:
        yield rc


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "opsconsole.toml"
    path.write_text(policy_text(datetime.now(UTC)))
    return path


@pytest.fixture
def runbooks() -> Path:
    # The runbooks as they are: the rehearsal's short windows are duration parameters (crashloop.rehearsal_params).
    return RUNBOOKS


@pytest.fixture
def window_s() -> float:
    """Each observe window's real length. Two seconds where a fault must act inside a window; a module whose changes
    only have to pass their windows overrides this with a shorter one."""
    return 2.0


@pytest.fixture
def console(tmp_path: Path, cluster: RunningCluster, policy_file: Path, window_s: float) -> Console:
    records = tmp_path / "records"
    records.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    return Console(records=records, kubeconfig=cluster.kubeconfig, policy=policy_file, logs=logs, clock_speed=SPEED,
                   window_s=window_s)


@pytest.fixture
def health() -> Iterator[HealthEndpoint]:
    with HealthEndpoint(warmup=2) as endpoint:
        yield endpoint
