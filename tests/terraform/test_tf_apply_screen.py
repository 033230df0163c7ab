"""The step screen before a Terraform apply: the saved plan as a table (adds green, destroys red) above a typed
confirmation of the node count; the apply runs only after the right word, through the embedded engine.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from console.config import Policy
from console.engine.policy import Approval
from console.engine.session import ChangeSession, StartRequest
from console.journal.store import RecordStore
from screens.app import OpsConsoleApp
from screens.step import StepScreen
from screens.widgets.plan_table import PlanTable
from tests.support.tfhelpers import OFFLINE_ENV
from tests.support.wait import wait_on

REPO = Path(__file__).resolve().parents[2]


def now() -> datetime:
    return datetime.now(UTC)


async def test_apply_shows_the_saved_plan_and_needs_the_count(tmp_path: Path, dead_kubeconfig: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no terraform binary: the embedded engine does the work
    shutil.copy(REPO / "runbooks" / "terraform-node-count.yaml", tmp_path / "rb.yaml")
    shutil.copytree(REPO / "runbooks" / "terraform", tmp_path / "terraform",
                    ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*"))
    session = ChangeSession.start(
        StartRequest(runbook_path=tmp_path / "rb.yaml", environment="rehearsal", context="rehearsal", operator="alice",
                     approvals=[Approval("mo", "engineering-manager"), Approval("sam", "security")],
                     kubeconfig=str(dead_kubeconfig)),
        store=RecordStore(tmp_path / "records"), policy=Policy(), clock=now,
    )
    app = OpsConsoleApp(records_dir=tmp_path / "records", runbooks_dir=tmp_path, clock=now)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(StepScreen(session, clock=now, production=False))
        await wait_on(pilot, lambda: session.next().kind == "manual", timeout=60, what="the plan review step")
        await pilot.press("d", "enter")
        await wait_on(pilot, lambda: session.next().kind == "confirm", timeout=60, what="the apply confirmation")
        table = app.screen.query_one("#step-plan", PlanTable)
        assert table.display
        console = Console(width=120, record=True)
        console.print(table.content)
        shown = console.export_text()
        assert "+5 to add" in shown and "-0 to destroy" in shown and "terraform_data.node[4]" in shown
        await pilot.press(*"4", "enter")
        refused = await wait_on(pilot, lambda: [e.data["typed"] for e in session.events if e.type == "step.confirmation_refused"],
                                what="the wrong count refused")
        assert refused == ["4"]
        assert not [e for e in session.events if e.type == "step.started" and e.data["step_id"] == "apply"]
        await pilot.press("backspace", *"5", "enter")
        await wait_on(pilot, lambda: session.next().kind == "close", timeout=60, what="the apply and the verification")
    finished = {e.data["step_id"]: e.data["status"] for e in session.events if e.type == "step.finished"}
    assert finished["apply"] == "passed" and finished["outputs"] == "passed"
    session.release()
