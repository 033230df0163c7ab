"""What a console killed mid-change leaves outside its record, and who cleans it up.

Every command of a change runs with a private copy of the operator's kubeconfig (credentials and all) in a temporary
directory; a console that is SIGKILLed never removes it. The next console to pin a kubeconfig (the resume, say)
removes the copies of consoles that are gone, so a night of crashes does not leave credentials behind in /tmp.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from .crashloop import ANSWERS, Console, JournalTail, kill_tree
from .test_credential_rotation import RUNBOOK, run_args, secret_args

pytestmark = pytest.mark.kubectl


def copies_of(pid: int) -> list[Path]:
    return sorted(Path(tempfile.gettempdir()).glob(f"opsconsole-kube-{pid}-*"))


def test_a_killed_consoles_kubeconfig_copy_is_removed_by_the_next_console(console: Console, runbooks: Path,
                                                                          tmp_path: Path) -> None:
    answers = ANSWERS / f"{RUNBOOK}.yaml"
    proc = console.spawn(console.run_args(runbooks / f"{RUNBOOK}.yaml", answers, *run_args()), tmp_path / "run.log")
    tail: JournalTail | None = None
    end = time.monotonic() + 120
    try:
        while not (tail and any(e["type"] == "step.started" and e["data"]["step_id"] == "rotate" for e in tail.events)):
            assert proc.poll() is None and time.monotonic() < end, (tmp_path / "run.log").read_text()
            if tail is None and (path := console.journal()) is not None:
                tail = JournalTail(path)
            if tail is not None:
                tail.poll()
            time.sleep(0.005)
        assert copies_of(proc.pid), "the running console keeps its kubeconfig copy under a name with its process ID"
    finally:
        kill_tree(proc)
    assert copies_of(proc.pid), "killed, the console left its copy behind (what this test is about)"
    change_id = tail.events[0]["data"]["change_id"]
    resumed = console(*console.resume_args(change_id, answers, "bob", *secret_args(), "--recover-torn-tail"))
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr
    assert copies_of(proc.pid) == []
