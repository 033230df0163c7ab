"""``opsconsole demo`` in a real terminal: tmux runs it, keys are sent to it, and the screen is read back.

This is the one test that sees the console as an operator does: a real pty, the real rehearsal cluster in its
own process, the shipped runbooks, and Textual drawing on the terminal (on stderr, so it is not redirected).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
from pathlib import Path

import psutil
import pytest

from screens.home import scan_runbooks
from tests.support.tmux import TMUX, Tmux

REPO = Path(__file__).resolve().parents[2]
# On the start form of web-config-restart the first parameter (namespace) has the focus; tab goes on to ollama_url,
# previous_url, environment, context, operator, then the senior-engineer approval's name.
TABS_TO_APPROVAL = 6


# Serial: a whole console and rehearsal cluster in a real terminal, driven at a person's pace.
@pytest.mark.slow
@pytest.mark.serial
def test_demo_runs_the_first_step_in_tmux(tmp_path: Path) -> None:
    if TMUX is None:
        pytest.skip("tmux not installed")
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not on PATH")
    records = tmp_path / "records"
    runbooks = REPO / "runbooks"
    ids = [e.id for e in scan_runbooks(runbooks)]
    env = {
        "OPSCONSOLE_RECORDS": str(records), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "TERM": "xterm-256color",
        "HOME": os.environ.get("HOME", str(tmp_path)), "PATH": os.environ["PATH"], "TEXTUAL_ANIMATIONS": "none",
        "PYTHONPATH": str(REPO),  # this checkout's code, not whichever copy the interpreter has installed
    }
    command = [sys.executable, "-m", "console.cli", "--runbooks-dir", str(runbooks), "demo", "--speed", "20", "--operator", "alice"]
    # When the console ends, the pane stays with its exit status, so a crash is readable in the failure message.
    shell = (f"cd {shlex.quote(str(tmp_path))} && env -i {' '.join(f'{k}={shlex.quote(v)}' for k, v in env.items())} "
             f"{shlex.join(command)}; echo opsconsole exited $?; sleep 600")
    tmux = Tmux(f"opsconsole-test-{os.getpid()}")
    tmux("new-session", "-d", "-s", "demo", "-x", "160", "-y", "50", shell)
    tree: list[psutil.Process] = []
    try:
        tmux.wait_for("Changes on record")
        tree = tmux.processes()
        # Down to the runbook, Enter, Tab to the approval and its name: all in one burst, as a fast operator types.
        tmux.keys(*["Down"] * ids.index("web-config-restart"), "Enter", *["Tab"] * TABS_TO_APPROVAL, "s", "a", "m")
        tmux.wait_for("Point web at the in-cluster Ollama service")
        tmux.wait_for("✓ approvals: approved by sam")
        tmux.keys("C-s")
        # Backups and gates run on their own; the first change waits for y, then runs and its output appears.
        tmux.wait_for("Press y to run this step")
        tmux.keys("y")
        screen = tmux.wait_for("configmap/web-config patched")
        assert "update-config" in screen
        tmux.wait_for("Type web and press Enter")
        tmux.keys("Tab", "C-q")
        tmux.wait_for("opsconsole exited 0", timeout=20)
    finally:
        # The console's own quit stops the rehearsal cluster it started; after a failure, end what is left of the
        # pane's processes (the cluster runs in its own session, so closing the terminal would not reach it).
        tmux.kill_server()
        for proc in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
    journals = list(records.rglob("journal.jsonl"))
    assert len(journals) == 1
    assert '"step_id":"update-config"' in journals[0].read_text(encoding="utf-8").replace(" ", "")
