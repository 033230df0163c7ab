"""The banner of a change in progress, read from its change lock: on the dashboard and at Home, updated per step.

A real change (an engine session) holds the Lease on the rehearsal cluster; the dashboard and Home of another
console poll the Leases and show what the holder writes on it as each step starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.cluster.kube import KubeAccess
from console.config import load_policy
from console.engine.session import ChangeSession, StartRequest
from console.journal.store import RecordStore
from kubesim.testing import RunningCluster
from screens.app import OpsConsoleApp
from screens.cluster import ClusterApp
from screens.widgets import lock_banner
from screens.widgets.lock_banner import LockBanner
from tests.engine.conftest import runbook_doc
from tests.support.screen import screen_text
from tests.support.wait import wait_on

SIZE = (120, 40)


@pytest.fixture
def session(tmp_path: Path, cluster: RunningCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChangeSession]:
    """alice's change on the rehearsal cluster: it holds the Lease; banners poll every 0.2 s."""
    monkeypatch.setattr(lock_banner, "POLL_S", 0.2)
    doc = runbook_doc(
        [{"id": "restart", "title": "Write a mark", "run": ["sh", "-c", f"echo 1 > {tmp_path}/mark"]}],
        preconditions=[{"id": "look", "title": "List the namespaces", "run": ["kubectl", "get", "namespaces"], "mutates": False}],
    )
    path = tmp_path / "runbook.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    (tmp_path / "opsconsole.toml").write_text("[lock]\nduration_s = 5\nrenew_every_s = 0.2\n", encoding="utf-8")
    s = ChangeSession.start(
        StartRequest(runbook_path=path, environment="rehearsal", context="rehearsal", operator="alice",
                     kubeconfig=str(cluster.kubeconfig)),
        store=RecordStore(tmp_path / "records"), policy=load_policy(str(tmp_path / "opsconsole.toml")),
    )
    yield s
    s.release()


def banner_lines(app: ClusterApp | OpsConsoleApp, selector: str) -> list[str]:
    return app.screen.query_one(selector, LockBanner).shown


async def test_the_dashboard_shows_the_change_in_progress_per_step(cluster: RunningCluster, session: ChangeSession) -> None:
    kube = KubeAccess(cluster.kubeconfig)
    try:
        app = ClusterApp(kube=kube, policy=load_policy(), namespace=None)
        async with app.run_test(size=SIZE) as pilot:
            cid = session.change_id
            await wait_on(pilot, lambda: banner_lines(app, "#lock-banner") == [f"{cid} by alice: starting"], what="the banner")
            assert f"⚑ {cid} by alice: starting" in screen_text(app)
            session.run()  # the precondition: step 1 of 2
            await wait_on(pilot, lambda: banner_lines(app, "#lock-banner") == [f"{cid} by alice: step 1 of 2, look"],
                             what="the banner at step 1")
            session.confirm("yes")
            session.run()
            await wait_on(pilot, lambda: banner_lines(app, "#lock-banner") == [f"{cid} by alice: step 2 of 2, restart"],
                             what="the banner at step 2")
            assert f"⚑ {cid} by alice: step 2 of 2, restart" in screen_text(app)
            session.release()  # the lock given back: no banner
            await wait_on(pilot, lambda: not app.screen.query_one("#lock-banner", LockBanner).display, what="the banner to go")
    finally:
        kube.close()


async def test_home_shows_the_change_in_progress_on_the_current_context(tmp_path: Path, cluster: RunningCluster,
                                                                         session: ChangeSession) -> None:
    (tmp_path / "runbooks").mkdir()
    app = OpsConsoleApp(records_dir=tmp_path / "home-records", runbooks_dir=tmp_path / "runbooks", policy=load_policy(),
                        kubeconfig=str(cluster.kubeconfig))
    async with app.run_test(size=SIZE) as pilot:
        cid = session.change_id
        await wait_on(pilot, lambda: app.screen.query("#home-lock-banner") and banner_lines(app, "#home-lock-banner")
                         == [f"{cid} by alice: starting"], what="the banner at Home")
        session.run()
        await wait_on(pilot, lambda: banner_lines(app, "#home-lock-banner") == [f"{cid} by alice: step 1 of 2, look"],
                         what="the banner at step 1")
        assert f"⚑ {cid} by alice: step 1 of 2, look" in screen_text(app)
