"""Running policy's notification command when an escalation deadline passes (``[escalation.notify]``).

The command runs without a shell, off the caller's thread (a pager CLI that hangs must never freeze the failure
screen), with a time limit; what it printed and how it ended is returned for the record, which redacts it like
every other output before it reaches disk.
"""

from __future__ import annotations

import subprocess
from typing import Any

NOTIFY_TIMEOUT_S = 20
MAX_OUTPUT = 4096  # a notification's answer is a line or two; the record keeps the first 4 KB of anything longer


def run_notify(argv: list[str], *, timeout: float = NOTIFY_TIMEOUT_S) -> dict[str, Any]:
    """Run one notification command; the fields of an ``escalation.notified`` event (argv, exit_code, output, error)."""
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        return {"argv": argv, "exit_code": None, "output": "", "error": f"{argv[0]}: no such command"}
    except PermissionError:
        return {"argv": argv, "exit_code": None, "output": "", "error": f"{argv[0]}: not executable"}
    except subprocess.TimeoutExpired as exc:
        partial = (exc.stdout or b"") + (exc.stderr or b"")
        return {"argv": argv, "exit_code": None, "output": _text(partial),
                "error": f"still running after {timeout:g}s: stopped"}
    return {"argv": argv, "exit_code": proc.returncode, "output": _text(proc.stdout + proc.stderr), "error": None}


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT] + f"\n[{len(text) - MAX_OUTPUT} more characters not kept]"
