"""Shared helpers for the engine tests: a kubeconfig, runbooks built from Python data, policy files, sessions.

Runbooks are written as JSON (which is YAML) from a dict, so each test states exactly the steps it needs and
nothing else. Every command they run is a real process (``sh`` or this interpreter); the kubeconfig's server
is a dead localhost port, since these runbooks never reach a cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console.config import load_policy
from console.engine.session import ChangeSession, StartRequest
from console.journal.store import RecordStore
from tests.support.journal_data_checks import faithful_problems  # tests/unit, on the test path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PY = sys.executable

CONTEXTS = ("rehearsal", "rehearsal-b", "stage-ctx", "prod-ctx", "stray-ctx")


def write_kubeconfig(path: Path, current: str = "rehearsal") -> Path:
    """A kubeconfig whose contexts all point at a closed localhost port."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dead", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "nobody", "user": {}}],
        "contexts": [{"name": c, "context": {"cluster": "dead", "user": "nobody", "namespace": "default"}} for c in CONTEXTS],
        "current-context": current,
    }
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig")


def runbook_doc(
    steps: list[dict[str, Any]],
    *,
    gates: list[dict[str, Any]] | None = None,
    preconditions: list[dict[str, Any]] | None = None,
    rollback: list[dict[str, Any]] | None = None,
    verification: list[dict[str, Any]] | None = None,
    params: dict[str, Any] | None = None,
    risk: str = "low",
    environments: tuple[str, ...] = ("rehearsal", "staging", "production"),
    rb_id: str = "engine-test",
) -> dict[str, Any]:
    """A complete runbook that passes lint, around the given steps."""
    return {
        "apiVersion": "opsconsole/v1",
        "kind": "Runbook",
        "metadata": {
            "id": rb_id, "title": "Engine test runbook", "component": "engine", "from": "1.0.0", "to": "1.1.0",
            "risk": risk, "environments": list(environments), "owners": ["platform"],
        },
        "why": "Exercise the engine with real processes.",
        "scope": "Files in the test's temporary directory only.",
        "blast_radius": "None outside the test.",
        "params": params or {},
        "preconditions": preconditions or [],
        "gates": gates or [],
        "steps": steps,
        "rollback": {"triggers": [], "steps": rollback or []},
        "verification": verification or [],
        "done_when": ["the test's assertions hold"],
    }


def write_runbook(directory: Path, doc: dict[str, Any], name: str = "runbook.yaml") -> Path:
    path = directory / name
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def write_policy(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


STAGING_POLICY = """
[environments.staging]
contexts = ["stage-ctx"]

[environments.production]
contexts = ["prod-ctx"]
production = true
"""


class FakeClock:
    """A clock the test moves by hand (UTC)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now = self.now + timedelta(**kwargs)


# A Wednesday, so default windows (every day) allow it and a "sat"-only window does not.
WEDNESDAY_NOON = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(WEDNESDAY_NOON)


@pytest.fixture
def store(records_dir: Path) -> RecordStore:
    return RecordStore(records_dir)


@pytest.fixture(autouse=True)
def _journals_match_their_models(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, every journal it wrote in its record store passes the writer's check and its models give the
    data back byte for byte: the typed readings lose nothing of what the engine writes, on every path the tests take."""
    root = request.getfixturevalue("records_dir") if "records_dir" in request.fixturenames else None
    yield
    if root is not None:
        problems, _seen = faithful_problems(root)
        assert problems == [], "\n".join(problems)


StartFn = Callable[..., ChangeSession]


@pytest.fixture
def start(tmp_path: Path, kubeconfig: Path, store: RecordStore) -> Iterator[StartFn]:
    """Start a change on a runbook document; sessions still open at the end of the test are released."""
    opened: list[ChangeSession] = []

    def _start(
        doc: dict[str, Any],
        *,
        environment: str = "rehearsal",
        context: str = "rehearsal",
        params: dict[str, Any] | None = None,
        policy_text: str | None = None,
        clock: Callable[[], datetime] | None = None,
        name: str = "runbook.yaml",
        **request: Any,
    ) -> ChangeSession:
        path = write_runbook(tmp_path, doc, name)
        policy = load_policy(str(write_policy(tmp_path / "opsconsole.toml", policy_text))) if policy_text else load_policy()
        req = StartRequest(
            runbook_path=path, environment=environment, context=context, operator="alice",
            params=params or {}, kubeconfig=str(kubeconfig), **request,
        )
        kwargs = {"clock": clock} if clock is not None else {}
        session = ChangeSession.start(req, store=store, policy=policy, **kwargs)
        opened.append(session)
        return session

    yield _start
    for s in opened:
        s.release()


def types(session: ChangeSession) -> list[str]:
    return [e.type for e in session.events]


def events_of(session: ChangeSession, type_: str) -> list[Any]:
    return [e for e in session.events if e.type == type_]


def pass_confirmation(session: ChangeSession) -> None:
    """Answer the pending confirmation correctly (yes, or the typed word)."""
    nxt = session.next()
    assert nxt.kind == "confirm", nxt
    assert session.confirm(nxt.word if nxt.confirm == "typed" else "yes")


def run_forward(session: ChangeSession, *, until: str = "close") -> None:
    """Confirm and run steps until the change needs something other than confirm/run (e.g. failure, close)."""
    while True:
        nxt = session.next()
        if nxt.kind == "confirm":
            pass_confirmation(session)
        elif nxt.kind == "run":
            session.run()
        elif nxt.kind == "finish_rollback":
            session.finish_rollback()
        else:
            assert nxt.kind == until, f"expected to stop at {until}, stopped at {nxt.kind}: {nxt.reason}"
            return


def opsconsole(*args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh interpreter, with the test's environment (records dir, config, kubeconfig)."""
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(
        [PY, "-m", "console.cli", *args], cwd=REPO, env=full, capture_output=True, text=True, timeout=timeout, input=input,
    )


def every_file(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def pid_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
