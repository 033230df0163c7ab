"""The journal's tail through the ``opsconsole`` command, run as real processes on changes the console made.

``records verify`` must fail on a changed last byte; ``resume --recover-torn-tail`` must never set aside a
complete event, and never resume (or close again) a change whose ``change.closed`` is in the chain.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.journal import events as ev
from console.journal.journal import read_events
from console.journal.store import RecordStore
from tests.conftest import DEAD_KUBECONFIG  # the module fixture below cannot take the function-scoped one

REPO = Path(__file__).resolve().parents[2]

RUNBOOK = {
    "apiVersion": "opsconsole/v1", "kind": "Runbook",
    "metadata": {"id": "tail-test", "title": "Journal tail test", "component": "journal", "from": "1.0.0", "to": "1.1.0",
                 "risk": "low", "environments": ["rehearsal"], "owners": ["platform"]},
    "why": "Exercise the journal's tail.", "scope": "Files in the test's directory only.", "blast_radius": "None.",
    "params": {}, "preconditions": [], "gates": [],
    "steps": [{"id": "first", "run": ["sh", "-c", "echo first"]}, {"id": "second", "run": ["sh", "-c", "echo second"]}],
    "rollback": {"triggers": [], "steps": []}, "verification": [], "done_when": ["both steps ran"],
}
STOP_AFTER_FIRST = "operator: alice\nconfirm: {first: 'yes', second: 'no'}\n"
FINISH = "operator: bob\nconfirm: {second: 'yes'}\nclose: {outcome: auto}\n"


class Console:
    """The CLI in fresh interpreters, on one record store, with a kubeconfig whose server is a closed port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.records = root / "records"
        self.env = dict(os.environ, OPSCONSOLE_RECORDS=str(self.records), XDG_CONFIG_HOME=str(root / "xdg"))

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "console.cli", *args], cwd=REPO, env=self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)

    def answers(self, name: str, text: str) -> str:
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    def resume(self, change_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self("resume", change_id, "--plain", "--kubeconfig", str(self.root / "kubeconfig"),
                    "--answers", self.answers("finish.yaml", FINISH), *extra)

    @property
    def journal(self) -> Path:
        (ref,) = RecordStore(self.records).list_changes()
        return ref.path / "journal.jsonl"


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.splitlines()
    return line


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two stores made once by the console itself: a change stopped after its first step, and one closed."""
    out = {}
    for name, close in (("open", False), ("closed", True)):
        root = tmp_path_factory.mktemp(name)
        (root / "records").mkdir()
        (root / "kubeconfig").write_text(DEAD_KUBECONFIG)
        (root / "runbook.yaml").write_text(json.dumps(RUNBOOK), encoding="utf-8")
        c = Console(root)
        result = c("run", str(root / "runbook.yaml"), "--plain", "--kubeconfig", str(root / "kubeconfig"),
                   "--answers", c.answers("first.yaml", STOP_AFTER_FIRST))
        assert "change CHG-2026-0001" in result.stdout, result.stdout + result.stderr
        if close:
            finished = c.resume("CHG-2026-0001")
            assert finished.returncode == 0, finished.stdout + finished.stderr
            assert read_events(c.journal).events[-1].type == ev.CHANGE_CLOSED
            # Every edit below starts from this journal, which the CLI verifies as it is: checked once, here.
            assert c("records", "verify").returncode == 0
        else:
            assert ev.CHANGE_CLOSED not in [e.type for e in read_events(c.journal).events]
        out[name] = root
    return out


def copy_of(made: dict[str, Path], which: str, tmp_path: Path) -> Console:
    root = tmp_path / which
    shutil.copytree(made[which], root)
    return Console(root)


# -- records verify ------------------------------------------------------------------------------------------------


CLOSED = "in a change closed on this line; a closed change takes only addenda, so it is not recovered in place"


@pytest.mark.parametrize(
    "edit, line, reason",
    [  # line: of the first problem, given the number n of lines the closed journal had
        (lambda r: r[:-1], lambda n: n,
         f"a complete change.closed event with no final newline {CLOSED} (restore the journal from a copy)"),
        (lambda r: r[:-1] + b"\r\n", lambda n: n, "not in canonical form: it ends with a carriage return (a \\r\\n line ending)"),
        (lambda r: r[:-1] + b"  \n", lambda n: n, "not in canonical form: 2 byte(s) of whitespace after the event"),
        (lambda r: r + b"\n", lambda n: n + 1, "a blank line (an extra newline where an event should be)"),
        (lambda r: r + r.splitlines(keepends=True)[-1], lambda n: n + 1, "repeats line {n} (the same event twice)"),
        (lambda r: b"\xef\xbb\xbf" + r, lambda n: 1, "starts with a UTF-8 byte order mark (the file was re-saved by an editor)"),
    ],
    ids=["newline removed", "crlf", "trailing spaces", "blank line", "duplicated last line", "bom"],
)
def test_records_verify_fails_on_a_changed_tail_byte(made: dict[str, Path], tmp_path: Path, edit, line, reason: str) -> None:
    c = copy_of(made, "closed", tmp_path)  # a journal that verifies (checked where it is made)
    raw = c.journal.read_bytes()
    n = raw.count(b"\n")
    c.journal.write_bytes(edit(raw))
    result = c("records", "verify")
    expected = f"CHG-2026-0001: journal.jsonl line {line(n)}: {reason.replace('{n}', str(n))}\n"
    assert (result.returncode, result.stdout) == (1, expected)


def test_records_verify_fails_on_an_empty_journal(made: dict[str, Path], tmp_path: Path) -> None:
    c = copy_of(made, "closed", tmp_path)
    c.journal.write_bytes(b"")
    result = c("records", "verify")
    assert result.returncode == 1
    assert result.stdout == "CHG-2026-0001: journal.jsonl: the journal is empty: it holds no events, not even the change's first\n"


# -- resume --recover-torn-tail ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tail",
    [
        lambda r: r[:-1],  # the change.closed line without its newline
        lambda r: r + b'{"data":{"author":"bo',  # a torn write after change.closed
        lambda r: r + b"\0" * 64,  # a zero-filled write after change.closed
        lambda r: r + r.splitlines(keepends=True)[-1][:-1],  # change.closed twice, the copy without its newline
    ],
    ids=["newline removed", "torn line after close", "zeros after close", "duplicated close without newline"],
)
def test_resume_with_recovery_refuses_a_closed_change_and_writes_nothing(made: dict[str, Path], tmp_path: Path, tail) -> None:
    c = copy_of(made, "closed", tmp_path)
    c.journal.write_bytes(tail(c.journal.read_bytes()))
    before = c.journal.read_bytes()
    for extra in ((), ("--recover-torn-tail",)):
        result = c.resume("CHG-2026-0001", *extra)
        assert result.returncode == 1, result.stdout
        line = one_line(result)
        assert line.startswith(f"opsconsole: {c.journal}: line ")
        assert "closed" in line
        assert c.journal.read_bytes() == before
    assert [e.type for e in read_events(c.journal).events].count(ev.CHANGE_CLOSED) == 1
    assert c("records", "verify").returncode == 1


def test_resume_of_an_intact_closed_change_is_refused_with_or_without_recovery(made: dict[str, Path], tmp_path: Path) -> None:
    c = copy_of(made, "closed", tmp_path)
    before = c.journal.read_bytes()
    for extra in ((), ("--recover-torn-tail",)):
        result = c.resume("CHG-2026-0001", *extra)
        assert result.returncode == 1
        assert one_line(result) in (
            "opsconsole: CHG-2026-0001 is closed; nothing to resume (add an addendum to correct it)",
            f"opsconsole: {c.journal}: no torn tail to recover; the journal is intact",
        )
        assert c.journal.read_bytes() == before


def test_resume_restores_a_missing_newline_of_an_open_change_and_keeps_the_event(made: dict[str, Path], tmp_path: Path) -> None:
    c = copy_of(made, "open", tmp_path)
    original = c.journal.read_bytes()
    kept = read_events(c.journal).events
    c.journal.write_bytes(original[:-1])

    refused = c.resume("CHG-2026-0001")
    assert refused.returncode == 1
    assert one_line(refused).startswith(f"opsconsole: {c.journal}: line {len(kept)}: a complete event with no final newline")
    assert c.journal.read_bytes() == original[:-1]

    result = c.resume("CHG-2026-0001", "--recover-torn-tail")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "== CHG-2026-0001 closed: success" in result.stdout
    raw = c.journal.read_bytes()
    assert raw.startswith(original)  # the complete event is still there, byte for byte, with its newline back
    events = read_events(c.journal).events
    assert events[: len(kept)] == kept
    assert (events[len(kept)].type, events[len(kept)].data) == (
        ev.NEWLINE_RESTORED, {"line": len(kept), "seq": len(kept)})
    assert [e.type for e in events].count(ev.CHANGE_CLOSED) == 1
    verified = c("records", "verify")
    assert verified.returncode == 0, verified.stdout
    assert f"line {len(kept)}: its final newline was missing; restored and recorded" in verified.stdout


def test_resume_sets_aside_a_torn_write_of_an_open_change(made: dict[str, Path], tmp_path: Path) -> None:
    c = copy_of(made, "open", tmp_path)
    original = c.journal.read_bytes()
    torn = b'{"data":{"section":"step","step_id":"second","tit'
    c.journal.write_bytes(original + torn)
    result = c.resume("CHG-2026-0001", "--recover-torn-tail")
    assert result.returncode == 0, result.stdout + result.stderr
    assert c.journal.read_bytes().startswith(original + torn + b"\n")
    events = read_events(c.journal).events
    kept = original.count(b"\n")
    assert (events[kept].type, events[kept].data["line"]) == (ev.TORN_TAIL, kept + 1)
    assert c("records", "verify").returncode == 0
