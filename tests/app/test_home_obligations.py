"""Home lists what emergencies still owe: a post-mortem within policy's hours, overdue in red after it, gone once
an addendum of kind post-mortem is on the record."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from textual.widgets import Static

from console.config import Policy
from console.engine.redact import Redactor
from console.engine.session import ChangeSession, StartRequest
from console.journal.store import RecordStore
from console.review.addenda import add_addendum
from screens.app import OpsConsoleApp
from screens.home import HomeScreen
from tests.engine.conftest import write_kubeconfig

RUNBOOK = {
    "apiVersion": "opsconsole/v1", "kind": "Runbook",
    "metadata": {"id": "hotfix", "title": "Hotfix", "component": "web", "from": "1", "to": "2", "risk": "low",
                 "environments": ["staging"], "owners": ["platform"]},
    "why": "Payments are down.", "scope": "A test directory.", "blast_radius": "None.",
    "steps": [{"id": "fix", "kind": "check", "run": ["true"]}], "done_when": ["it ran"],
}


def emergency_change(tmp_path: Path, store: RecordStore, clock) -> str:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", current="stage-ctx")  # a closed port: nothing runs there
    runbook = tmp_path / "hotfix.yaml"
    runbook.write_text(json.dumps(RUNBOOK))
    policy = Policy.model_validate({"environments": {"staging": {"contexts": ["stage-ctx"]}}})
    s = ChangeSession.start(StartRequest(
        runbook_path=runbook, environment="staging", context="stage-ctx", operator="alice", kubeconfig=str(kubeconfig),
        emergency_reason="payments are down", emergency_approver="carol",
    ), store=store, policy=policy, clock=clock)
    while (nxt := s.next()).kind in ("confirm", "run"):
        s.confirm("yes") if nxt.kind == "confirm" else s.run()
    s.close("success")
    return s.change_id


async def test_home_shows_a_post_mortem_owed_until_it_is_added(tmp_path, records_dir, runbooks_dir, frozen_clock, policy, driver_for) -> None:
    store = RecordStore(records_dir)
    change_id = emergency_change(tmp_path, store, frozen_clock)
    frozen_clock.now += timedelta(hours=25)  # past the 24 hours SOP-005 gives
    app = OpsConsoleApp(records_dir=records_dir, runbooks_dir=runbooks_dir, policy=policy, clock=frozen_clock)
    async with app.run_test(size=(160, 50)) as pilot:
        d = driver_for(pilot)
        await d.wait(lambda: isinstance(app.screen, HomeScreen), what="Home")
        owed = app.screen.query_one("#home-owed", Static)
        await d.wait(lambda: owed.display, what="the obligations line")
        text = str(owed.render())
        assert f"OVERDUE {change_id} (alice): post-mortem overdue since 2026-11-19 12:00Z" in text
        add_addendum(store, store.find(change_id), redact=Redactor().redact, author="alice", kind="post-mortem", text="Cause and fix, written up.")
        await d.press("r")
        await d.wait(lambda: not owed.display, what="the obligations line gone")
