"""Faults the adversarial rehearsals inject into the rehearsal cluster, and when.

Each fault goes through the cluster's API as the real thing would (a kubelet reporting its node NotReady), and is
armed on a state of the change's journal, never after a sleep.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

from console.journal import events as ev
from kubesim.testing import RunningCluster

Hook = Callable[[list[dict[str, Any]]], None]


def node_not_ready(cluster: RunningCluster, node: str) -> None:
    """The node's kubelet reports NotReady, through the API's status subresource."""
    patch = {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                                        "message": "container runtime is down"}]}}
    subprocess.run(["kubectl", "patch", "node", node, "--subresource=status", "--type", "strategic", "-p", json.dumps(patch)],
                   env=cluster.env(), check=True, capture_output=True, timeout=30)


def when_started(step_id: str, action: Callable[[], None]) -> Hook:
    """A crash loop's ``on_events`` hook that runs ``action`` once, when the journal first shows ``step_id`` started."""
    done: list[bool] = []

    def hook(events: list[dict[str, Any]]) -> None:
        if not done and any(e["type"] == ev.STEP_STARTED and e["data"].get("step_id") == step_id for e in events):
            done.append(True)
            action()
    return hook
