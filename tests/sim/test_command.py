"""``opsconsole sim`` as a process: it prints how to use it, serves kubectl, and exits 0 on SIGTERM."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubesim.kubeconfig import ContextSpec, render


def test_kubeconfig_has_two_contexts() -> None:
    text = render([ContextSpec("rehearsal", "http://127.0.0.1:1", "default"), ContextSpec("rehearsal-b", "http://127.0.0.1:1/clusters/b", "staging")], "rehearsal")
    assert "current-context: rehearsal\n" in text and "server: http://127.0.0.1:1/clusters/b" in text and "namespace: staging" in text


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not on PATH")
def test_sim_command_serves_until_sigterm(tmp_path: Path) -> None:
    kc = tmp_path / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "kubesim.command", "--kubeconfig", str(kc), "--speed", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while not any("kubectl get pods -A" in x for x in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        assert f"export KUBECONFIG={kc}" in text and re.search(r"serving at http://127\.0\.0\.1:\d+", text)
        env = {**os.environ, "KUBECONFIG": str(kc)}
        out = subprocess.run(["kubectl", "--request-timeout=10s", "get", "pods", "-n", "web"], env=env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.count("Running") == 3
        b = subprocess.run(["kubectl", "--request-timeout=10s", "--context", "rehearsal-b", "get", "deploy"], env=env,
                           capture_output=True, text=True, timeout=30)
        assert b.returncode == 0 and re.search(r"web\s+1/1", b.stdout)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_counts_are_said_in_the_singular_for_one() -> None:
    from kubesim.command import _count

    assert (_count(1, "node"), _count(3, "node"), _count(0, "pod")) == ("1 node", "3 nodes", "0 pods")
