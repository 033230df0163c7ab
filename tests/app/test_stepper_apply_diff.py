"""An apply step on the step screen: its diff against the live objects is shown before its confirmation, and the
confirmation waits for it.

The shipped blue-green runbook is driven by key presses against the rehearsal cluster up to the switch of the
Service, whose diff must show the selector moving from blue to green before the typed confirmation is taken.
"""

from __future__ import annotations

import pytest

from console.journal import events as ev
from screens.app import OpsConsoleApp

from .conftest import edit_runbook

SIZE = (120, 40)
pytestmark = pytest.mark.slow


async def test_the_switch_shows_its_diff_before_it_is_confirmed(records_dir, runbooks_dir, cluster, frozen_clock, policy,
                                                                 driver_for) -> None:
    # The shortest window the runbook allows (30 s), a second and a half at the cluster's 20x.
    edit_runbook(runbooks_dir / "web-blue-green.yaml", lambda doc: doc["params"]["observe_for"].update(default="30s"))
    app = OpsConsoleApp(records_dir=records_dir, runbooks_dir=runbooks_dir, policy=policy,
                        kubeconfig=str(cluster.kubeconfig), operator="alice", clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await d.start_change("web-blue-green")
        await d.until_next("confirm", "deploy-green")
        await d.wait(lambda: "+  name: web-green" in d.text("#step-plan"), what="green's diff")
        assert "Diff against the live objects" in d.text("#step-plan")
        await d.press("y")
        await d.until_next("confirm", "switch-to-green")
        await d.wait(lambda: "+    app: web-green" in d.text("#step-plan"), what="the switch's diff")
        assert "-    app: web" in d.text("#step-plan")
        session = d.session
        await d.type("1.5.0")
        await d.press("enter")
        await d.wait(lambda: any(e.type == ev.STEP_FINISHED and e.data["step_id"] == "switch-to-green"
                                 for e in session.events), what="the switch to finish")
        events = session.events
        diff = next(e.seq for e in events if e.type == ev.ARTIFACT_SAVED and e.data.get("kind") == "diff"
                    and e.data["step_id"] == "switch-to-green")
        confirmed = next(e.seq for e in events if e.type == ev.STEP_CONFIRMED and e.data["step_id"] == "switch-to-green")
        assert diff < confirmed
