"""One exit-code table, followed by every command: 0 success; 1 failed, rolled back, aborted or refused; 2 usage.

Each command runs as a real process (``python -m console.cli``) for a success, a failure and a usage error. The
full-screen commands (``review``, ``watch``, ``demo``, ``run`` without ``--plain``) need a terminal to succeed: their
success is driven in the tmux and pilot tests; here they are run for their failures and usage errors, which are
said before any screen opens.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.journal.store import RecordStore
from tests.engine.conftest import runbook_doc, write_kubeconfig, write_runbook
from tests.unit.test_cli import BAD, REPO, make_change

OK, FAIL, USAGE = 0, 1, 2


@dataclass
class World:
    """What the commands run on: a store with a closed and an open change, runbooks, answers and a kubeconfig."""

    root: Path
    store: Path
    kubeconfig: Path
    noop: Path
    failing: Path
    confirmed: Path
    answers: Path
    abort_answers: Path
    open_change: str
    stopped: subprocess.CompletedProcess[str]

    def sub(self, text: str) -> str:
        return text.format(store=self.store, kube=self.kubeconfig, noop=self.noop, failing=self.failing,
                           confirmed=self.confirmed, answers=self.answers, abort=self.abort_answers,
                           open=self.open_change, root=self.root, bad=BAD)


def cli(*args: str, store: Path, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSCONSOLE_RECORDS": str(store), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "console.cli", *args], cwd=REPO, env=env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("exit-codes")
    store = root / "records"
    store.mkdir()
    make_change(RecordStore(store), change_id="CHG-2026-0001", component="web", from_v="1.4.2", to_v="1.5.0",
                when=datetime(2026, 11, 21, 23, 0, tzinfo=UTC), operator="alice", outcome="success")
    kubeconfig = write_kubeconfig(root / "kubeconfig")
    noop = write_runbook(root, runbook_doc([{"id": "noop", "kind": "check", "run": ["true"]}]), name="noop.yaml")
    failing = write_runbook(root, runbook_doc([{"id": "fails", "kind": "check", "run": ["false"]}]), name="failing.yaml")
    confirmed = write_runbook(root, runbook_doc([{"id": "say", "title": "Say hello", "confirm": "yes", "run": ["echo", "hello"]}],
                                                rb_id="say-hello"), name="confirmed.yaml")
    answers = root / "answers.yaml"
    answers.write_text("operator: alice\nconfirm: {say: 'yes'}\nclose: {outcome: auto}\n")
    abort_answers = root / "abort.yaml"
    abort_answers.write_text("operator: alice\nfailure: {fails: abort}\nclose: {outcome: auto}\n")
    # A change stopped at its first confirmation (no input left): it stays open, to be resumed.
    stopped = cli("run", str(confirmed), "--plain", "--kubeconfig", str(kubeconfig), "--operator", "alice", store=store)
    found = re.search(r"opsconsole resume (CHG-\d{4}-\d{4})", stopped.stdout)
    assert found, stopped.stdout + stopped.stderr
    return World(root, store, kubeconfig, noop, failing, confirmed, answers, abort_answers, found.group(1), stopped)


# (command, arguments, expected exit code); {names} are filled from the World
CASES: list[tuple[str, str, int]] = [
    ("no command", "--no-such-flag", USAGE),
    ("lint", "lint runbooks", OK),
    ("lint", "lint {bad}", FAIL),
    ("lint", "lint", USAGE),
    ("schema", "schema", OK),
    ("schema", "schema --answers", OK),
    ("schema", "schema --runbook", USAGE),
    ("records list", "records list", OK),
    ("records list", "records list --records-dir {root}/nowhere", FAIL),
    ("records list", "records list --by-date", USAGE),
    ("records show", "records show CHG-2026-0001", OK),
    ("records show", "records show CHG-2026-0999", FAIL),
    ("records show", "records show", USAGE),
    ("records verify", "records verify CHG-2026-0001", OK),
    ("records verify", "records verify CHG-2026-0999", FAIL),
    ("records verify", "records verify --head abc", USAGE),
    ("records render", "records render CHG-2026-0001", OK),
    ("records render", "records render CHG-2026-0999", FAIL),
    ("records render", "records render", USAGE),
    ("records report", "records report", OK),
    ("records report", "records report --records-dir {root}/nowhere", FAIL),
    ("records report", "records report --since yesterday", USAGE),
    ("records export", "records export CHG-2026-0001", OK),
    ("records export", "records export CHG-2026-0999", FAIL),
    ("records export", "records export CHG-2026-0001 --format pdf", USAGE),
    ("records addendum", "records addendum {open} --author dave --kind follow-up --text x", FAIL),
    ("records addendum", "records addendum CHG-2026-0001 --author dave --kind follow-up --text later", OK),
    ("records addendum", "records addendum CHG-2026-0001 --kind follow-up --text x", USAGE),
    ("review", "review {root}/nowhere", FAIL),
    ("review", "review a b", USAGE),
    ("watch", "watch --kubeconfig {kube} --context nosuch", FAIL),
    ("watch", "watch -n web -A", USAGE),
    ("demo", "demo --speed fast", USAGE),
    ("run", "run {noop} --plain --kubeconfig {kube} --answers {answers}", OK),
    ("run", "run {failing} --plain --kubeconfig {kube} --answers {abort}", FAIL),
    ("run", "run {noop} --plain --kubeconfig {kube} --context nosuch", FAIL),
    ("run", "run {noop} --kubeconfig {kube} --answers {answers}", USAGE),
    ("run", "run {noop} --plain --param namespace", USAGE),
    ("resume", "resume {open} --plain --kubeconfig {kube} --answers {answers}", OK),
    ("resume", "resume CHG-2026-0999 --plain --kubeconfig {kube}", FAIL),
    ("resume", "resume", USAGE),
    ("sim", "sim --speed fast", USAGE),
]


@pytest.mark.parametrize(("command", "arguments", "code"), CASES, ids=[f"{c[0]}:{c[2]}:{i}" for i, c in enumerate(CASES)])
def test_every_command_follows_the_exit_code_table(world: World, command: str, arguments: str, code: int) -> None:
    result = cli(*world.sub(arguments).split(), store=world.store)
    assert result.returncode == code, f"{arguments}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    if code == USAGE:
        assert result.stderr.strip(), "a usage error says what is wrong"


def test_a_plain_run_stopped_with_no_input_left_exits_1_with_the_change_open(world: World) -> None:
    assert world.stopped.returncode == FAIL, world.stopped.stdout + world.stopped.stderr
    assert f"no input left: the change stays open; carry on with: opsconsole resume {world.open_change}" in world.stopped.stdout


@pytest.mark.serial  # listens on a port of its own, picked free just before
def test_sim_exits_0_when_stopped_and_1_when_it_cannot_listen(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cli("sim", "--port", str(port), "--kubeconfig", str(tmp_path / "k"), store=tmp_path)
        assert busy.returncode == FAIL, busy.stderr
        assert "cannot listen on" in busy.stderr
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "console.cli", "sim", "--port", "0", "--kubeconfig", str(tmp_path / "k")],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Press Ctrl-C"):
                break
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == OK
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
