"""``opsconsole watch`` with no reachable cluster: one sentence naming the server, the context and why, the state
kept on the status line while it retries, and no raw exception text anywhere (panel titles included).

The dashboard runs through the pilot on a kubeconfig whose context points at a closed local port.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from console.cluster.kube import KubeAccess
from console.config import Policy
from screens.cluster import ClusterApp
from tests.support.screen import screen_text
from tests.support.wait import wait_on

SIZE = (160, 50)
SERVER = "https://127.0.0.1:1"


def closed_port_kubeconfig(path: Path) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "kind-x",
        "clusters": [{"name": "x", "cluster": {"server": SERVER, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t0ken-for-nothing"}}],
        "contexts": [{"name": "kind-x", "context": {"cluster": "x", "user": "u", "namespace": "default"}}],
    }))
    return path


async def test_watch_says_which_server_it_cannot_reach_and_why(tmp_path: Path) -> None:
    kube = KubeAccess(str(closed_port_kubeconfig(tmp_path / "kubeconfig")))
    app = ClusterApp(kube=kube, policy=Policy())
    try:
        async with app.run_test(size=SIZE) as pilot:
            sentence = f"cannot reach {SERVER} (context kind-x): connection refused; retrying"
            await wait_on(pilot, lambda: sentence in screen_text(app), what="the unreachable sentence")
            status = app.screen.query_one("#cluster-reach").render()
            assert re.search(r"retrying, unreachable for \d+s", str(status)), status
            text = screen_text(app)
            for raw in ("HTTPConnection", "HTTPSConnection", "Failed to establish", "Errno", "object at 0x", "MaxRetryError"):
                assert raw not in text, (raw, text)
            view = app.cluster_screen.view
            # Each panel's watch fails on its own first attempt: the sentence above may come before the last one has.
            await wait_on(pilot, lambda: all("reconnecting" in str(p.border_title) for p in view.panels),
                          what="every panel reconnecting",
                          describe=lambda: "; ".join(str(p.border_title) for p in view.panels))
            for panel in view.panels:
                title = str(panel.border_title)
                for raw in ("HTTPConnection", "HTTPSConnection", "Failed to establish", "Errno", "object at 0x"):
                    assert raw not in title, (raw, title)
    finally:
        kube.close()
