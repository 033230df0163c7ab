"""The start form against a change lock another console holds: the refusal offers a takeover, the takeover starts.

alice's change (an engine session) holds the Lease on the rehearsal cluster and keeps renewing it; bob opens the
start form of the same runbook in the full-screen console and presses ctrl+s. The refusal opens the form's Change
lock section; a reason and an approver given there take the lock over on the next ctrl+s, recorded as the command
line's ``--break-glass`` is. A refusal for another reason (Leases forbidden to bob) offers no takeover. One
rehearsal cluster for the module; each test locks a Lease of its own name.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select

from console.cluster.lease_record import view
from console.config import Policy, load_policy
from console.engine.change_lock import ClusterLock, LockHeldElsewhere
from console.engine.session import ChangeSession, StartRequest
from console.governance.envelope import approval_to_bytes
from console.governance.signatures import sign
from console.journal import events as ev
from console.journal.journal import read_events
from console.journal.store import RecordStore
from kubesim.testing import RunningCluster, running_cluster
from screens.app import OpsConsoleApp
from screens.start import lock_takeover
from tests.engine.conftest import runbook_doc
from tests.support.approvers import make_team

SIZE = (160, 60)
REASON = "alice froze"


def now() -> datetime:
    return datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def rc() -> Iterator[RunningCluster]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH")
    with running_cluster("default", speed=20.0) as cluster:
        yield cluster


@pytest.fixture
def lock_name(request: pytest.FixtureRequest) -> str:
    return "form-" + request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")


@pytest.fixture
def policy(tmp_path: Path, lock_name: str) -> Policy:
    path = tmp_path / "opsconsole.toml"
    path.write_text(f'[lock]\nname = "{lock_name}"\nduration_s = 5\nrenew_every_s = 0.2\n', encoding="utf-8")
    return load_policy(str(path))


@pytest.fixture
def runbook(tmp_path: Path) -> Path:
    """Looks at the cluster (so the change holds its lock), then writes a mark (a mutating step)."""
    doc = runbook_doc(
        [{"id": "mark", "title": "Write a mark", "run": ["sh", "-c", f"echo 1 >> {tmp_path}/marks"]}],
        preconditions=[{"id": "look", "title": "List the namespaces", "run": ["kubectl", "get", "namespaces"], "mutates": False}],
    )
    path = tmp_path / "runbooks" / "lock-drill.yaml"
    path.parent.mkdir()
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture
def alice(tmp_path: Path, rc: RunningCluster, policy: Policy, runbook: Path) -> Iterator[ChangeSession]:
    """alice's change, holding the lock live (renewed every 0.2 s) until the test ends."""
    session = ChangeSession.start(
        StartRequest(runbook_path=runbook, environment="rehearsal", context="rehearsal", operator="alice",
                     kubeconfig=str(rc.kubeconfig)),
        store=RecordStore(tmp_path / "alice-records"), policy=policy,
    )
    yield session
    session.release()


def bobs_app(tmp_path: Path, kubeconfig: Path, policy: Policy, runbook: Path) -> OpsConsoleApp:
    return OpsConsoleApp(records_dir=tmp_path / "bob-records", runbooks_dir=runbook.parent, policy=policy,
                         kubeconfig=str(kubeconfig), operator="bob", clock=now, start_runbook=runbook,
                         start_context="rehearsal")


def bobs_journals(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "bob-records").glob("*/*/journal.jsonl"))


def lock_shown(app: OpsConsoleApp) -> bool:
    return bool(app.screen.query_one("#start-lock").display)


def takeover_fields(app: OpsConsoleApp) -> tuple[str, str]:
    return (app.screen.query_one("#start-lock-reason", Input).value, app.screen.query_one("#start-lock-approver", Input).value)


async def refused_as_held(d: Any) -> None:
    """ctrl+s on the opened form; wait for the Change lock section the refusal opens."""
    await d.wait(lambda: type(d.app.screen).__name__ == "StartScreen", what="the start form")
    assert not lock_shown(d.app)
    chain = {w.id for w in d.app.screen.focus_chain}
    assert "start-lock-reason" not in chain and "start-lock-approver" not in chain  # hidden: no Tab lands there
    await d.press("ctrl+s")
    await d.wait(lambda: lock_shown(d.app), what="the Change lock section")


async def test_a_held_lock_offers_a_takeover_that_needs_a_reason_and_then_starts_the_change(
        tmp_path: Path, rc: RunningCluster, policy: Policy, runbook: Path, alice: ChangeSession, lock_name: str,
        driver_for: Any) -> None:
    app = bobs_app(tmp_path, rc.kubeconfig, policy, runbook)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await refused_as_held(d)
        held = d.text("#start-lock-held")
        assert "context rehearsal is locked by alice@" in held and f"for change {alice.change_id}" in held
        assert held.endswith("or take it over: give a reason and who approved the takeover below, then start again (ctrl+s)")
        assert "--break-glass" not in held
        assert "another console holds the change lock" in d.text("#start-error")
        assert takeover_fields(app) == ("", "") and app.focused is not None and app.focused.id == "start-lock-reason"
        assert bobs_journals(tmp_path) == []
        # A reason too short: one sentence, nothing started
        await d.type("late")
        await d.fill("start-lock-approver", "carol")
        await d.press("ctrl+s")
        await d.wait(lambda: "give a reason (5 characters or more) and who approved the takeover" in d.text("#start-error"),
                     what="the short reason refused on the form")
        assert type(app.screen).__name__ == "StartScreen" and bobs_journals(tmp_path) == []
        assert view(rc.get("leases", "default", lock_name)).holder.startswith("alice@")  # type: ignore[arg-type]
        # Both given: the change starts and takes the lock over
        await d.fill("start-lock-reason", REASON)
        await d.press("ctrl+s")
        await d.until_next("confirm", "mark")  # bob's change started, and its look at the cluster ran
        bob = app.screen.session
        try:
            journal = bob.ref.path / "journal.jsonl"
            holder = view(rc.get("leases", "default", lock_name)).holder  # type: ignore[arg-type]
        finally:
            bob.release()
    events = read_events(journal).events
    glass = [e.data for e in events if e.type == ev.BREAKGLASS_RECORDED]
    assert len(glass) == 1 and glass[0]["reason"] == REASON and glass[0]["approver"] == "carol"
    assert f"default/{lock_name} held live by alice@" in glass[0]["what"]
    took = next(e.data for e in events if e.type == ev.LOCK_ACQUIRED)
    assert took["break_glass"] is True and took["displaced"]["change"] == alice.change_id and took["displaced"]["expired"] is False
    assert holder == took["holder"] and holder.startswith("bob@")
    assert bobs_journals(tmp_path) == [journal]  # the short reason started nothing


async def test_a_change_of_context_clears_the_takeover(tmp_path: Path, rc: RunningCluster, policy: Policy, runbook: Path,
                                                      alice: ChangeSession, driver_for: Any) -> None:
    app = bobs_app(tmp_path, rc.kubeconfig, policy, runbook)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await refused_as_held(d)
        app.screen.query_one("#start-lock-reason", Input).value = REASON  # typed as keys in the test above
        app.screen.query_one("#start-lock-approver", Input).value = "carol"
        assert takeover_fields(app) == (REASON, "carol")
        app.screen.query_one("#start-context", Select).value = "rehearsal-b"
        await d.wait(lambda: not lock_shown(app), what="the Change lock section to close")
        assert takeover_fields(app) == ("", "")
        assert "takeover was for context rehearsal: cleared" in d.text("#start-error")
        assert app.focused is None or app.focused.id not in ("start-lock-reason", "start-lock-approver")
        # back on the first context, a start is refused again, with the fields empty: nothing was kept
        app.screen.query_one("#start-context", Select).value = "rehearsal"
        await d.press("ctrl+s")
        await d.wait(lambda: lock_shown(app) and "another console holds" in d.text("#start-error"), what="the refusal again")
        assert takeover_fields(app) == ("", "")
    assert bobs_journals(tmp_path) == []


def as_bob(tmp_path: Path, rc: RunningCluster) -> Path:
    """A kubeconfig whose rehearsal user is bob (the rehearsal cluster takes a bearer token as its user)."""
    path = tmp_path / "bob-kubeconfig"
    path.write_text(rc.kubeconfig.read_text().replace("- name: rehearsal\n  user: {}", "- name: rehearsal\n  user: {token: bob}"))
    assert "token: bob" in path.read_text()
    return path


async def test_leases_forbidden_to_the_operator_offer_no_takeover(tmp_path: Path, rc: RunningCluster, policy: Policy,
                                                                  runbook: Path, driver_for: Any) -> None:
    kubeconfig = as_bob(tmp_path, rc)
    rc.faults.forbid("leases", user="bob")
    try:
        app = bobs_app(tmp_path, kubeconfig, policy, runbook)
        async with app.run_test(size=SIZE) as pilot:
            d = driver_for(pilot)
            await d.wait(lambda: type(app.screen).__name__ == "StartScreen", what="the start form")
            await d.press("ctrl+s")
            await d.wait(lambda: "does not let bob use Leases" in d.text("#start-error"), what="the refusal")
            assert not lock_shown(app) and takeover_fields(app) == ("", "")
    finally:
        rc.faults.allow("leases", user="bob")
    assert bobs_journals(tmp_path) == []


async def test_a_takeover_refused_for_another_reason_is_not_kept(tmp_path: Path, rc: RunningCluster, policy: Policy,
                                                                runbook: Path, alice: ChangeSession, driver_for: Any) -> None:
    """The takeover is given, then Leases are forbidden to bob: that refusal closes the section and empties it."""
    app = bobs_app(tmp_path, as_bob(tmp_path, rc), policy, runbook)
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await refused_as_held(d)
        app.screen.query_one("#start-lock-reason", Input).value = REASON
        app.screen.query_one("#start-lock-approver", Input).value = "carol"
        rc.faults.forbid("leases", user="bob")
        try:
            await d.press("ctrl+s")
            await d.wait(lambda: "does not let bob use Leases" in d.text("#start-error"), what="the refusal")
        finally:
            rc.faults.allow("leases", user="bob")
        assert not lock_shown(app) and takeover_fields(app) == ("", "")
        assert type(app.screen).__name__ == "StartScreen"
    assert view(rc.get("leases", "default", policy.lock.name)).holder.startswith("alice@")  # type: ignore[arg-type]


async def test_a_takeover_given_for_a_change_waiting_for_signatures_takes_the_lock_when_they_arrive(
        tmp_path: Path, rc: RunningCluster, lock_name: str, runbook: Path, alice: ChangeSession, driver_for: Any) -> None:
    """Policy wants a signature: the change waits pending (holding no lock), and takes the lock over once it is signed."""
    (tmp_path / "team").mkdir()
    team = make_team(tmp_path / "team")
    policy_path = tmp_path / "signed.toml"
    policy_path.write_text(f'[lock]\nname = "{lock_name}"\nduration_s = 5\nrenew_every_s = 0.2\n'
                           f'[signatures]\nallowed_signers = "{team.allowed_path}"\n'
                           "[signatures.require.rehearsal]\nlow = {senior-engineer = 1}\n", encoding="utf-8")
    # The signatures are checked against the wall clock (they are made now), so this console keeps the real one.
    app = OpsConsoleApp(records_dir=tmp_path / "bob-records", runbooks_dir=runbook.parent, policy=load_policy(str(policy_path)),
                        kubeconfig=str(rc.kubeconfig), operator="olga", start_runbook=runbook, start_context="rehearsal")
    async with app.run_test(size=SIZE) as pilot:
        d = driver_for(pilot)
        await refused_as_held(d)
        form = app.screen
        form.query_one("#start-lock-reason", Input).value = REASON
        form.query_one("#start-lock-approver", Input).value = "carol"
        await d.press("ctrl+s")
        await d.wait(lambda: "waits for signed approvals" in d.text("#start-signed"), what="the pending change")
        assert all(w.disabled for w in form.query("#start-lock Input"))  # the takeover given is the one used
        pending = form.pending
        request = (pending.change_dir / "request.json").read_bytes()
        approval = sign(request, key_path=team.keys["carol"], principal="carol", role="senior-engineer")
        (pending.approvals_dir / "carol.json").write_bytes(approval_to_bytes(approval))
        await d.until_next("confirm", "mark")  # the change opened once signed, and its look at the cluster ran
        session = d.session
        journal = session.ref.path / "journal.jsonl"
        session.release()
    events = read_events(journal).events
    glass = [e.data for e in events if e.type == ev.BREAKGLASS_RECORDED]
    assert len(glass) == 1 and glass[0]["reason"] == REASON and glass[0]["approver"] == "carol"
    took = [e.data for e in events if e.type == ev.LOCK_ACQUIRED]
    assert len(took) == 1 and took[0]["break_glass"] is True and took[0]["displaced"]["change"] == alice.change_id


def test_check_free_and_acquire_both_refuse_a_held_lock_as_held_elsewhere(rc: RunningCluster, policy: Policy,
                                                                           alice: ChangeSession) -> None:
    """The start's early check, and ``acquire`` (a lock taken between that check and the change), refuse alike: the
    command line's sentence, and the same refusal worded for the form."""
    lock = ClusterLock(policy.lock, kubeconfig=rc.kubeconfig, context="rehearsal", operator="bob", namespaces=["web"])
    try:
        with pytest.raises(LockHeldElsewhere) as checked:
            lock.check_free()
        with pytest.raises(LockHeldElsewhere) as acquired:
            lock.acquire("CHG-2026-9999")
    finally:
        lock.release()
    for refused in (checked.value, acquired.value):
        sentence = str(refused)
        assert sentence.startswith("context rehearsal is locked by alice@") and f"for change {alice.change_id}" in sentence
        assert sentence.endswith("or take it over with --break-glass REASON")
        assert refused.worded("take it over below") == sentence.replace("with --break-glass REASON", "below")
    assert acquired.value.events == []  # a fresh start records nothing before it is refused
    # the start adds why its refusal could not be recorded, when it could not: the form's wording keeps that
    acquired.value.args = (f"{acquired.value} (the refusal log was not written: disk full)",)
    assert acquired.value.worded("take it over below").endswith("or take it over below (the refusal log was not written: disk full)")


@pytest.mark.parametrize(("reason", "approver", "taken"), [
    ("", "", None),
    (REASON, "carol", (REASON, "carol")),
    ("  froze  ", " carol ", ("froze", "carol")),
    ("late", "carol", ValueError),
    (REASON, " ", ValueError),
    ("", "carol", ValueError),
])
def test_the_takeover_fields_follow_the_command_lines_rules(reason: str, approver: str, taken: Any) -> None:
    if taken is ValueError:
        with pytest.raises(ValueError, match=r"^to take over the change lock, give a reason \(5 characters or more\) and who"):
            lock_takeover(reason, approver)
    else:
        assert lock_takeover(reason, approver) == taken


def test_the_command_line_takeover_given_to_a_change_waiting_for_signatures_takes_the_lock_when_they_arrive(
        tmp_path: Path, rc: RunningCluster, lock_name: str, runbook: Path, alice: ChangeSession) -> None:
    """``run --break-glass`` where policy wants a signature: the change waits, and the takeover given with it is the
    one used once the signature arrives (it was dropped, and the signed change was refused for the held lock)."""
    import subprocess
    import sys
    import threading

    from tests.support.wait import wait_for

    (tmp_path / "team").mkdir()
    team = make_team(tmp_path / "team")
    policy_path = tmp_path / "signed.toml"
    policy_path.write_text(f'[lock]\nname = "{lock_name}"\nduration_s = 5\nrenew_every_s = 0.2\n'
                           f'[signatures]\nallowed_signers = "{team.allowed_path}"\n'
                           "[signatures.require.rehearsal]\nlow = {senior-engineer = 1}\n", encoding="utf-8")
    answers = tmp_path / "answers.yaml"
    answers.write_text("operator: olga\nconfirm: {mark: 'yes'}\nclose: {outcome: auto}\n", encoding="utf-8")
    records = tmp_path / "cli-records"
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "run", str(runbook), "--plain", "--answers", str(answers), "--config",
         str(policy_path), "--kubeconfig", str(rc.kubeconfig), "--context", "rehearsal", "--environment", "rehearsal",
         "--records-dir", str(records), "--operator", "olga", "--key", str(team.keys["olga"]),
         "--break-glass", REASON, "--break-glass-approver", "carol"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: any("waits for signed approvals" in line for line in out) or proc.poll() is not None,
                 what="the pending change", timeout=60)
        assert proc.poll() is None, "".join(out)
        [request_path] = records.glob("*/*/request.json")
        approval = sign(request_path.read_bytes(), key_path=team.keys["carol"], principal="carol", role="senior-engineer")
        (request_path.parent / "approvals" / "carol.json").write_bytes(approval_to_bytes(approval))
        assert proc.wait(timeout=120) == 0, "".join(out)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(5)
    events = read_events(request_path.parent / "journal.jsonl").events
    glass = [e.data for e in events if e.type == ev.BREAKGLASS_RECORDED]
    assert len(glass) == 1 and glass[0]["reason"] == REASON and glass[0]["approver"] == "carol"
    took = [e.data for e in events if e.type == ev.LOCK_ACQUIRED]
    assert len(took) == 1 and took[0]["break_glass"] is True and took[0]["displaced"]["change"] == alice.change_id
