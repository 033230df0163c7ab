"""Saved plans are kept outside the record: where, with which modes, what the journal says of them, an apply that
finds its plan gone, and close-out removing them.

The node-count runbook runs through the embedded engine (no binary, offline) driven by a session in this process;
the private plans directory is the test's own (``OPSCONSOLE_PLANS_DIR``, set for every test in conftest).
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.config import Policy
from console.engine.policy import Approval
from console.engine.session import ChangeSession, StartRequest
from console.engine.state import Next
from console.journal import events as ev
from console.journal.journal import verify
from console.journal.store import RecordStore
from console.terraform.private_plans import (
    ENV_VAR,
    change_plans_dir,
    discard,
    locate,
    plans_root,
    recorded_reference,
    reference,
    reserve,
)
from tests.support.tfhelpers import OFFLINE_ENV

REPO = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the directory ------------------------------------------------------------------------------------------------


def test_the_plans_directory_comes_from_the_environment(tmp_path: Path) -> None:
    assert plans_root({ENV_VAR: str(tmp_path / "p"), "XDG_STATE_HOME": "/x"}) == tmp_path / "p"
    assert plans_root({"XDG_STATE_HOME": str(tmp_path / "state")}) == tmp_path / "state" / "opsconsole" / "plans"
    assert plans_root({}) == Path.home() / ".local" / "state" / "opsconsole" / "plans"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that takes nothing away: the modes must not depend on the operator's."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_a_reserved_plan_is_the_owners_alone_and_never_shared(tmp_path: Path, open_umask: None) -> None:
    env = {ENV_VAR: str(tmp_path / "plans")}
    directory = change_plans_dir("CHG-2026-0007", tmp_path / "records" / "a", env)
    first = reserve(directory, "plan.tfplan")
    second = reserve(directory, "plan.tfplan")
    assert first.parent.parent == tmp_path / "plans" and first.parent.name.startswith("CHG-2026-0007-")
    assert second.name == "plan.2.tfplan"  # a second plan of the step never overwrites the first
    assert _mode(tmp_path / "plans") == 0o700 and _mode(first.parent) == 0o700
    assert _mode(first) == 0o600 and _mode(second) == 0o600
    # The same ID in another record store gets a directory of its own.
    assert change_plans_dir("CHG-2026-0007", tmp_path / "other-store" / "a", env) != directory


def test_the_reference_names_the_file_and_locate_finds_it_or_says_plan_again(tmp_path: Path) -> None:
    path = reserve(tmp_path / "CHG-2026-0001", "p.tfplan")
    path.write_bytes(b"PK\x03\x04 a plan")
    path.chmod(0o644)  # as a tool might leave it: the reference makes it private again
    ref = reference(path)
    assert _mode(path) == 0o600
    assert ref["kept_at"] == str(path) and ref["host"] == socket.gethostname() and len(ref["sha256"]) == 64
    assert recorded_reference({"kind": "plan", "saved_plan": ref}) == ref
    assert recorded_reference({"kind": "plan", "file": {"path": "artifacts/x.json", "sha256": "ab" * 32}}) is None
    assert locate(ref) == (path, "")
    path.unlink()
    found, why = locate({**ref, "host": "elsewhere"})
    assert found is None and why.endswith("plan again") and "not on this host" in why and str(path) in why


def test_discard_removes_this_hosts_plans_and_their_empty_directory(tmp_path: Path) -> None:
    directory = tmp_path / "CHG-2026-0002"
    a, b, other = (reserve(directory, name) for name in ("a.tfplan", "b.tfplan", "c.tfplan"))
    ra, rb, rc = reference(a), reference(b), {**reference(other), "host": "another-host"}
    assert discard([ra]) == [a] and a.parent.is_dir()  # b is still there
    assert discard([rb, rc, ra]) == [b]  # another host's plan is that host's to remove; a is gone already
    assert other.exists()
    other.unlink()
    assert discard([{**rc, "host": socket.gethostname()}]) == []  # gone already: nothing removed, but the
    assert not directory.exists()  # change's directory, empty now, is


def test_discard_removes_the_changes_directory_with_a_plan_nobody_recorded(tmp_path: Path) -> None:
    directory = tmp_path / "CHG-2026-0003-abcd0123"
    recorded, left = reserve(directory, "plan.tfplan"), reserve(directory, "plan.2.tfplan")  # left: a killed run's
    assert discard([reference(recorded)], directory) == [recorded]
    assert not left.exists() and not directory.exists() and tmp_path.is_dir()


# -- a change ----------------------------------------------------------------------------------------------------


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def session(tmp_path: Path, dead_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChangeSession]:
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no terraform binary: the embedded engine does the work
    shutil.copy(REPO / "runbooks" / "terraform-node-count.yaml", tmp_path / "rb.yaml")
    shutil.copytree(REPO / "runbooks" / "terraform", tmp_path / "terraform",
                    ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*"))
    s = ChangeSession.start(
        StartRequest(runbook_path=tmp_path / "rb.yaml", environment="rehearsal", context="rehearsal", operator="alice",
                     approvals=[Approval("mo", "engineering-manager"), Approval("sam", "security")],
                     kubeconfig=str(dead_kubeconfig)),
        store=RecordStore(tmp_path / "records"), policy=Policy(), clock=now,
    )
    try:
        yield s
    finally:
        s.release()


def drive(s: ChangeSession, until: Callable[[Next], bool]) -> Next:
    """Answer what the change asks (confirmations with their word, manual steps done) until ``until`` holds."""
    while True:
        nxt = s.next()
        if until(nxt):
            return nxt
        if nxt.kind == "confirm":
            assert s.confirm(nxt.word if nxt.confirm == "typed" else "yes")
        elif nxt.kind == "run":
            s.run()
        elif nxt.kind == "manual":
            s.answer_manual("done")
        else:
            raise AssertionError(f"unexpected {nxt.kind}: {nxt.reason}")


def _at_apply(nxt: Next) -> bool:
    return (nxt.item is not None and nxt.item.step_id == "apply") or nxt.kind in ("failure", "close")


def _saved_plans(s: ChangeSession) -> list[dict[str, str]]:
    return [ref for e in s.events if e.type == ev.ARTIFACT_SAVED and (ref := recorded_reference(e.data)) is not None]


def test_the_record_keeps_the_plans_reference_and_close_out_removes_the_plan(session: ChangeSession,
                                                                            tmp_path: Path) -> None:
    assert drive(session, _at_apply).kind == "confirm"
    (ref,) = _saved_plans(session)
    kept = Path(ref["kept_at"])
    assert kept.parent.parent == tmp_path / "plans" and kept.parent.name.startswith(f"{session.change_id}-")
    assert _mode(kept) == 0o600
    assert _mode(kept.parent) == 0o700
    plan_event = next(e for e in session.events if e.type == ev.ARTIFACT_SAVED and "saved_plan" in e.data)
    assert "file" not in plan_event.data and plan_event.data["summary"]["add"] == 5 and plan_event.data["created_at"]
    assert not list(session.ref.path.rglob("*.tfplan"))  # nothing of the binary plan in the record
    assert list(session.ref.path.glob("artifacts/*.plan.json"))  # its masked show -json is
    assert drive(session, lambda n: n.kind in ("close", "failure")).kind == "close"
    finished = {e.data["step_id"]: e.data["status"] for e in session.events if e.type == ev.STEP_FINISHED}
    assert finished["apply"] == "passed"
    stray = kept.with_name("plan.9.tfplan")  # as a console killed between writing a plan and recording it leaves
    stray.write_bytes(b"PK\x03\x04 unrecorded")
    session.close("success")
    assert not stray.exists()
    assert not kept.exists() and not kept.parent.exists()
    assert verify(session.ref.path / "journal.jsonl").ok
    record = (session.ref.path / "record.md").read_text()
    assert "plan file kept outside the record" in record and ref["sha256"] in record


def test_an_apply_whose_plan_is_gone_is_refused_and_asks_for_a_new_plan(session: ChangeSession) -> None:
    assert drive(session, _at_apply).kind == "confirm"
    (ref,) = _saved_plans(session)
    Path(ref["kept_at"]).unlink()  # as on another host, or after the file was removed
    nxt = drive(session, lambda n: n.kind in ("failure", "close"))
    assert nxt.kind == "failure"
    (done,) = [e.data for e in session.events if e.type == ev.STEP_FINISHED and e.data["step_id"] == "apply"]
    assert done["status"] == "failed"
    assert done["reason"].startswith("apply refused: the saved plan is not at") and done["reason"].endswith("plan again")


def test_an_apply_whose_plan_changed_is_refused(session: ChangeSession) -> None:
    assert drive(session, _at_apply).kind == "confirm"
    (ref,) = _saved_plans(session)
    with open(ref["kept_at"], "ab") as f:
        f.write(b"\0")
    assert drive(session, lambda n: n.kind in ("failure", "close")).kind == "failure"
    (done,) = [e.data for e in session.events if e.type == ev.STEP_FINISHED and e.data["step_id"] == "apply"]
    assert "plan file changed since it was reviewed" in done["reason"]
