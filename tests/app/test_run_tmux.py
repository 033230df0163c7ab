"""``opsconsole run RUNBOOK --param ... --approval NAME:ROLE:TICKET`` full screen, in a real terminal (tmux, 160x50).

The command line's answers are on the start form when it opens, approvals included, and nothing is written
before ctrl+s.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

from tests.conftest import DEAD_KUBECONFIG
from tests.support.tmux import TMUX, Tmux

REPO = Path(__file__).resolve().parents[2]


# Serial: a whole console in a real terminal, driven at a person's pace.
@pytest.mark.slow
@pytest.mark.serial
def test_run_prefills_the_approval_from_the_command_line(tmp_path: Path) -> None:
    if TMUX is None:
        pytest.skip("tmux not installed")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(DEAD_KUBECONFIG, encoding="utf-8")
    records = tmp_path / "records"
    env = {
        "OPSCONSOLE_RECORDS": str(records), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "TERM": "xterm-256color",
        "HOME": os.environ.get("HOME", str(tmp_path)), "PATH": os.environ["PATH"], "TEXTUAL_ANIMATIONS": "none",
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-m", "console.cli", "run", str(REPO / "runbooks" / "web-config-restart.yaml"),
               "--kubeconfig", str(kubeconfig), "--operator", "alice", "--param", "namespace=web-blue",
               "--approval", "Bob Lind:senior-engineer:OPS-77"]
    shell = (f"cd {shlex.quote(str(tmp_path))} && env -i {' '.join(f'{k}={shlex.quote(v)}' for k, v in env.items())} "
             f"{shlex.join(command)}; echo opsconsole exited $?; sleep 600")
    tmux = Tmux(f"opsconsole-run-{os.getpid()}")
    tmux("new-session", "-d", "-s", "demo", "-x", "160", "-y", "50", shell)
    try:
        screen = tmux.wait_for("✓ approvals: approved by Bob Lind (senior-engineer)")
        lines = screen.splitlines()
        assert "Bob Lind" in next(line for line in lines if "senior-engineer: name" in line), screen
        assert "OPS-77" in next(line for line in lines if "senior-engineer: ticket" in line), screen
        assert "web-blue" in next(line for line in lines if "namespace (string)" in line), screen
        tmux.keys("C-q")
        tmux.wait_for("opsconsole exited 0", timeout=20)
    finally:
        tmux.kill_server()
    assert not records.exists() or not any(records.rglob("journal.jsonl"))  # nothing written before ctrl+s
