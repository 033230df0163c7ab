"""How fast the rehearsal cluster's clock runs, asked of the cluster itself, and only on a rehearsal environment.

The rehearsal cluster (kubesim) serves its clock at ``/kubesim/clock`` (``{"speed": 4.0, ...}``); the console
reads it with the real ``kubectl get --raw`` through the change's pinned kubeconfig. Anywhere the policy does not
mark as a rehearsal environment the factor is 1 without asking, so production never scales a duration. A cluster
that does not answer (a real one) also gives 1, with the reason.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from console.config import Policy
from console.engine.policy import is_rehearsal

CLOCK_PATH = "/kubesim/clock"


@dataclass(frozen=True)
class ClockFactor:
    """The factor durations are divided by, and where it came from (for the record)."""

    factor: float
    source: str


def clock_factor(policy: Policy, environment: str, env: Mapping[str, str] | None, *, timeout_s: float = 10.0) -> ClockFactor:
    """The rehearsal clock's speed (at least 1) on a rehearsal environment; 1 anywhere else."""
    if not is_rehearsal(policy, environment):
        return ClockFactor(1.0, f"{environment} is not a rehearsal environment: durations run as declared")
    if env is None:
        return ClockFactor(1.0, "no cluster: durations run as declared")
    try:
        done = subprocess.run(["kubectl", "get", "--raw", CLOCK_PATH], env=dict(env), capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return ClockFactor(1.0, f"the rehearsal clock could not be read ({exc}): durations run as declared")
    if done.returncode != 0:
        return ClockFactor(1.0, "the cluster has no rehearsal clock: durations run as declared")
    try:
        speed = float(json.loads(done.stdout)["speed"])
    except (ValueError, KeyError, TypeError):
        return ClockFactor(1.0, "the rehearsal clock's answer was not understood: durations run as declared")
    if speed <= 1.0:
        return ClockFactor(1.0, f"the rehearsal clock runs at {speed:g}x: durations run as declared")
    return ClockFactor(speed, f"the rehearsal clock runs at {speed:g}x")
