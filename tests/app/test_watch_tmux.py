"""``opsconsole watch`` in a real terminal: the command starts the watch, the CLI starts the dashboard on it, and
the operator's ``q`` ends it with exit status 0.

The rehearsal cluster runs in this process; the console is a subprocess in tmux that reaches it through its
kubeconfig, as an operator's would.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

from kubesim.testing import running_cluster
from tests.support.tmux import TMUX, Tmux


# Serial: a whole console in a real terminal, driven at a person's pace.
@pytest.mark.slow
@pytest.mark.serial
def test_watch_shows_the_cluster_and_quits_cleanly(tmp_path: Path) -> None:
    if TMUX is None:
        pytest.skip("tmux not installed")
    with running_cluster("default", speed=10.0) as rc:
        env = {
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "TERM": "xterm-256color", "HOME": str(tmp_path),
            "PATH": os.environ["PATH"], "TEXTUAL_ANIMATIONS": "none", "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }
        command = [sys.executable, "-m", "console.cli", "watch", "--kubeconfig", str(rc.kubeconfig), "-A"]
        # When the console ends, the pane stays with its exit status, so a crash is readable in the failure message.
        shell = (f"cd {shlex.quote(str(Path.cwd()))} && env -i {' '.join(f'{k}={shlex.quote(v)}' for k, v in env.items())} "
                 f"{shlex.join(command)}; echo opsconsole exited $?; sleep 600")
        tmux = Tmux(f"opsconsole-watch-test-{os.getpid()}")
        tmux("new-session", "-d", "-s", "demo", "-x", "160", "-y", "45", shell)
        try:
            tmux.wait_for("rehearsal")  # the header names the context
            screen = tmux.wait_for("postgres-0")  # a pod of the default scenario, listed by the command's watch
            assert "node-exporter" in screen
            tmux.keys("q")
            tmux.wait_for("opsconsole exited 0", timeout=30)
        finally:
            tmux.kill_server()
