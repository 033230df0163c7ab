"""``opsconsole demo``: the rehearsal cluster in the background and the console on it, for a first look.

The cluster runs as a child process (``opsconsole sim``) writing its kubeconfig into a private temporary
directory; the console is pointed at that file only, so a demo can never touch the operator's own clusters.
"""

from __future__ import annotations

import ctypes
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from ruamel.yaml import YAML

from console.errors import OpsConsoleError


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the console dies, so no cluster is left behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: close() still stops it when the console exits normally


class DemoError(OpsConsoleError, RuntimeError):
    """The rehearsal cluster did not come up."""


class RehearsalProcess:
    """A rehearsal cluster in a child process, stopped on ``close``."""

    def __init__(self, *, scenario: str = "default", speed: float = 1.0, timeout_s: float = 30.0) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="opsconsole-demo-"))
        self.kubeconfig = self._dir / "kubeconfig"
        self.log = self._dir / "sim.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "console.cli", "sim", "--scenario", scenario, "--speed", str(speed),
                 "--kubeconfig", str(self.kubeconfig)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self._wait_ready(timeout_s)

    def _server(self) -> str:
        config = YAML(typ="safe").load(self.kubeconfig.read_text())
        server: str = config["clusters"][0]["cluster"]["server"]
        return server

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DemoError(f"the rehearsal cluster exited ({self.proc.returncode}); see {self.log}")
            if self.kubeconfig.exists():
                try:
                    with urllib.request.urlopen(self._server() + "/version", timeout=2) as resp:
                        json.load(resp)
                    return
                except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
                    pass
            time.sleep(0.1)
        self.close()
        raise DemoError(f"the rehearsal cluster did not answer within {timeout_s:.0f}s; see {self.log}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # The kubeconfig and the log were the demo's own: nothing is left behind in /tmp.
        shutil.rmtree(self._dir, ignore_errors=True)
