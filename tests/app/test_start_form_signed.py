"""The start form with signed approvals: who may sign is shown before the start, the change then waits pending, and
the form updates as approval files arrive, opening the change once a signature that counts is in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from console.config import load_policy
from console.governance.envelope import approval_to_bytes
from console.governance.record_check import check_record
from console.governance.signatures import sign
from console.journal.journal import read_events
from screens.app import OpsConsoleApp
from screens.closeout import CloseoutScreen
from tests.support.approvers import make_team

DRILL = {
    "apiVersion": "opsconsole/v1", "kind": "Runbook",
    "metadata": {"id": "signed-drill", "title": "Signed drill", "component": "web", "from": "1", "to": "2", "risk": "low",
                 "environments": ["rehearsal"], "owners": ["platform"]},
    "why": "A change whose start needs a signature.", "scope": "a local echo", "blast_radius": "none",
    "steps": [{"id": "say", "title": "Say hello", "run": ["echo", "hello"], "confirm": "yes"}],
    "done_when": ["it said hello"],
}


async def test_the_form_shows_who_may_sign_and_starts_when_a_signature_arrives(
    tmp_path: Path, dead_kubeconfig: Path, driver_for, monkeypatch: pytest.MonkeyPatch,
) -> None:
    team = make_team(tmp_path)
    # The operator's own key, where the close-out looks for it by default (~/.ssh/id_ed25519).
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    for suffix in ("", ".pub"):
        shutil.copy(f"{team.keys['olga']}{suffix}", home / ".ssh" / f"id_ed25519{suffix}")
    monkeypatch.setenv("HOME", str(home))
    policy_path = tmp_path / "opsconsole.toml"
    policy_path.write_text(f'[signatures]\nallowed_signers = "{team.allowed_path}"\n'
                           "[signatures.require.rehearsal]\nlow = {senior-engineer = 1}\n")
    runbook = tmp_path / "runbooks" / "signed-drill.yaml"
    runbook.parent.mkdir()
    runbook.write_text(json.dumps(DRILL), encoding="utf-8")
    app = OpsConsoleApp(records_dir=tmp_path / "records", runbooks_dir=runbook.parent, kubeconfig=str(dead_kubeconfig),
                        policy=load_policy(str(policy_path)), operator="olga", start_runbook=runbook)
    async with app.run_test(size=(160, 60)) as pilot:
        d = driver_for(pilot)
        await d.wait(lambda: type(app.screen).__name__ == "StartScreen", what="the start form")
        # Up front: the role and who besides the operator may sign it.
        await d.wait(lambda: "senior-engineer: 1 of alice, carol may sign" in d.text("#start-signed"), what="who may sign")
        form = app.screen
        await d.press("ctrl+s")
        await d.wait(lambda: "waits for signed approvals" in d.text("#start-signed"), what="the pending change")
        pending = form.pending
        assert pending is not None and not list((pending.change_dir / "outputs").glob("*.cast"))  # nothing ran
        request = (pending.change_dir / "request.json").read_bytes()

        def arrive(who: str, role: str) -> None:
            approval = sign(request, key_path=team.keys[who], principal=who, role=role)
            (pending.approvals_dir / f"{who}.json").write_bytes(approval_to_bytes(approval))

        # A signature that does not count is shown with its reason; the form goes on waiting.
        arrive("bob", "senior-engineer")
        await d.wait(lambda: "bob signed as 'senior-engineer', but" in d.text("#start-approvals-status"),
                     what="bob's refusal shown")
        assert type(app.screen).__name__ == "StartScreen"
        arrive("alice", "senior-engineer")
        await d.until_next("confirm", "say")
        session = d.session
        verified = [e for e in session.events if e.type == "approval.verified"]
        assert [a["principal"] for a in verified[0].data["accepted"]] == ["alice"]
        await d.press("y")
        await d.wait(lambda: isinstance(app.screen, CloseoutScreen), what="the close-out screen")
        await d.press("ctrl+s")
        journal = session.ref.path / "journal.jsonl"

        def signed() -> list:
            return [e for e in read_events(journal).events if e.type == "signature.closeout"]

        # The operator's key signs the closed head once the close-out is written.
        found = await d.wait(signed, what="the close-out signature")
    assert found[0].data["principal"] == "olga"
    assert [f.ok for f in check_record(session.ref.path, read_events(journal).events)] == [True, True, True]
