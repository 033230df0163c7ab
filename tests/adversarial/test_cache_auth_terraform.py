"""A Terraform change carrying a secret: a sensitive variable, a state that holds it, sensitive outputs built from it.

``cache-auth-terraform`` (the migration guide's new dependency, with its auth token) backs the state up, plans with the
new token as a secret parameter behind a guard, applies the saved plan and reads the outputs, two of them sensitive.
Terraform keeps sensitive values in plain text in its state, in ``show -json`` of a plan and in ``output -json``;
the record keeps each of them as evidence. The tier is first brought up with a seed token, as a previous change
would have, so the state backup holds a token too. Afterwards every file of the record is searched for both tokens.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from console.journal import events as ev
from console.terraform.drivers import choose_driver

from .crashloop import RUNBOOKS, Console
from .rehearsal import assert_closed, assert_order, assert_record_sound, one, rehearse, trail
from .secrets_on_disk import leaks

RUNBOOK = "cache-auth-terraform"
SEED_TOKEN = "Seed-T0ken-4411"
NEW_TOKEN = "NewCacheT0ken-7781"
pytestmark = pytest.mark.kubectl


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The runbook and its Terraform directory, copied, with the tier applied at one replica and the seed token."""
    work = tmp_path / "runbooks"
    work.mkdir()
    shutil.copy(RUNBOOKS / f"{RUNBOOK}.yaml", work)
    shutil.copytree(RUNBOOKS / "terraform", work / "terraform", ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*"))
    tf = work / "terraform" / "cache-auth"
    driver = choose_driver("embedded")
    assert driver.init(tf, on_line=lambda _l: None).ok
    plan = tmp_path / "seed.tfplan"
    assert driver.plan(tf, plan_file=plan, vars={"replicas": "1", "auth_token": SEED_TOKEN}, var_files=[],
                       on_line=lambda _l: None).ok
    assert driver.apply(tf, plan_file=plan, on_line=lambda _l: None).ok
    return work


def shown_plan(data: dict) -> bool:
    """Whether an ``artifact.saved`` keeps a plan's ``show -json`` in the record."""
    return str((data.get("file") or {}).get("path", "")).endswith(".plan.json")


def params() -> list[str]:
    return ["--param", f"auth_token={NEW_TOKEN}", "--param", f"previous_token={SEED_TOKEN}"]


def test_the_terraform_change_keeps_its_evidence_with_every_sensitive_value_masked(console: Console, workspace: Path) -> None:
    loop = rehearse(console, workspace, RUNBOOK, extra=params())
    assert_closed(loop, "success")
    assert_order(loop, [
        (ev.STEP_FINISHED, "init"), (ev.ARTIFACT_SAVED, "state-backup"), (ev.ARTIFACT_SAVED, "plan"),
        (ev.MANUAL_ANSWERED, "review"), (ev.STEP_CONFIRMED, "apply"), (ev.STEP_FINISHED, "apply"),
        (ev.STEP_FINISHED, "outputs"), (ev.CHANGE_CLOSED, None),
    ])
    change_dir = console.journal().parent
    # The evidence is still what it was: the state backup lists the replica, the plan JSON the guarded change.
    state = json.loads((change_dir / one(loop, ev.ARTIFACT_SAVED, "state-backup").data["file"]["path"]).read_text())
    assert [r["type"] for r in state["resources"]] == ["terraform_data"]
    assert state["outputs"]["replicas"]["value"] == 1 and state["outputs"]["auth_token"]["value"] == "[REDACTED]"
    plans = [e.data for e in loop.events if e.type == ev.ARTIFACT_SAVED and shown_plan(e.data)]
    shown = json.loads((change_dir / plans[0]["file"]["path"]).read_text())
    assert [c["change"]["actions"] for c in shown["resource_changes"]] == [["update"], ["create"]]
    assert shown["variables"]["auth_token"]["value"] == "[REDACTED]" and shown["variables"]["replicas"]["value"] == "2"
    # The outputs were read and matched the expectation before the sensitive ones were masked for the record.
    assert one(loop, ev.STEP_FINISHED, "outputs").data["status"] == "passed"
    assert_record_sound(console, loop, workspace / f"{RUNBOOK}.yaml")
    found = leaks(change_dir, [NEW_TOKEN, SEED_TOKEN])
    assert found == [], "\n".join(found) + "\n" + trail(loop)


def test_the_saved_plan_file_holds_no_secret(console: Console, workspace: Path, tmp_path: Path) -> None:
    """A saved plan (a zip file) holds every variable's value and the prior state in plain text: kept in the record
    so that apply applies exactly it, it would put the secret parameter on disk (and in the team store's remote). The
    record keeps only its SHA-256 and where it was kept (a private directory), which close-out empties."""
    loop = rehearse(console, workspace, RUNBOOK, extra=params())
    assert_closed(loop, "success")
    found = leaks(console.journal().parent, [NEW_TOKEN, SEED_TOKEN])
    assert found == [], "\n".join(found)
    (saved,) = [e.data["saved_plan"] for e in loop.events if e.type == ev.ARTIFACT_SAVED and "saved_plan" in e.data]
    kept = Path(saved["kept_at"])
    assert kept.is_relative_to(tmp_path / "plans") and not kept.is_relative_to(console.journal().parent), saved
    assert not kept.exists() and not list((tmp_path / "plans").rglob("*.tfplan"))  # removed once the change closed


def test_the_terraform_change_killed_three_times_applies_once_on_a_fresh_confirmation(console: Console,
                                                                                     workspace: Path) -> None:
    """Killed while the state is backed up, at the apply's confirmation (the saved plan on disk, nothing applied) and
    as the apply starts in the next session: the apply passes once, confirmed in the session that ran it, on the plan
    that was reviewed, and the record still holds no token."""
    from .crashloop import ANSWERS, KillPoint, crash_loop, load
    from .journal_audit import audit

    path = workspace / f"{RUNBOOK}.yaml"
    runbook = load(path)
    points = [KillPoint("started", "state-backup"), KillPoint("confirmed", "apply"), KillPoint("started", "apply")]
    secrets = params()
    loop = crash_loop(console, path, ANSWERS / f"{RUNBOOK}.yaml", points, run_extra=secrets, resume_extra=secrets)
    where = f"kill points {[str(p) for p in points]}, kills {loop.kills}\n" + trail(loop)
    assert loop.closed and loop.outcome == "success" and loop.verify_failures == [], where
    assert len(loop.kills) == len(points), where
    found = audit(loop.events, runbook, loop.sessions, console.journal().parent)
    assert found.reruns == [] and found.unconfirmed == [] and found.lost == [], f"{found.describe()}\n{where}"
    applied = [e for e in loop.events if e.type == ev.STEP_FINISHED and e.data["step_id"] == "apply"]
    assert [e.data["status"] for e in applied] == ["passed"], where
    plans = [e for e in loop.events if e.type == ev.ARTIFACT_SAVED and "saved_plan" in e.data]
    assert len(plans) == 1, where  # the plan reviewed is the one applied: planned once, never again after a kill
    assert [e.data["step_id"] for e in plans] == ["plan"], where
    apply_runs = [e.seq for e in loop.events if e.type == ev.STEP_STARTED and e.data["step_id"] == "apply"]
    assert plans[0].seq < apply_runs[0], where  # saved (and reviewed) before any apply ran
    # The apply that passed applied that plan: its output names the plan's SHA-256 as recorded.
    cast = (console.journal().parent / applied[0].data["file"]["path"]).read_text()
    assert "applying the saved plan" in cast and plans[0].data["saved_plan"]["sha256"] in cast, where
    assert not [e for e in loop.events if e.type == ev.ARTIFACT_SAVED and "file" in e.data
                and e.data["file"]["path"].endswith(".tfplan")], where  # no binary plan in the record
    leaked = leaks(console.journal().parent, [NEW_TOKEN, SEED_TOKEN])
    assert leaked == [], "\n".join(leaked) + "\n" + where
