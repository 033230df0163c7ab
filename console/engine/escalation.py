"""Running policy's notification command when an escalation deadline passes (``[escalation.notify]``).

The command runs without a shell, off the caller's thread (a pager CLI that hangs must never freeze the failure
screen), with a time limit; what it printed and how it ended is returned for the record. What it printed is
redacted before it is cut to size (a secret the cut went through would otherwise stay as a prefix too short for its
rule); the record redacts it again like every other value before it reaches disk.
"""

from __future__ import annotations

import subprocess
from typing import Any

from console.engine.redact import Redactor

NOTIFY_TIMEOUT_S = 20
MAX_OUTPUT = 4096  # a notification's answer is a line or two; the record keeps the first 4 KB of anything longer


def run_notify(argv: list[str], *, timeout: float = NOTIFY_TIMEOUT_S, redactor: Redactor | None = None) -> dict[str, Any]:
    """Run one notification command; the fields of an ``escalation.notified`` event (argv, exit_code, output, error).

    ``redactor`` is the change's (its secret values too); without one the built-in rules redact the output.
    """
    redactor = redactor if redactor is not None else Redactor()
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        return {"argv": argv, "exit_code": None, "output": "", "error": f"{argv[0]}: no such command"}
    except PermissionError:
        return {"argv": argv, "exit_code": None, "output": "", "error": f"{argv[0]}: not executable"}
    except subprocess.TimeoutExpired as exc:
        partial = (exc.stdout or b"") + (exc.stderr or b"")
        return {"argv": argv, "exit_code": None, "output": _text(partial, redactor, ended_early=True),
                "error": f"still running after {timeout:g}s: stopped"}
    return {"argv": argv, "exit_code": proc.returncode, "output": _text(proc.stdout + proc.stderr, redactor),
            "error": None}


def _text(raw: bytes, redactor: Redactor, *, ended_early: bool = False) -> str:
    text = redactor.redact(raw.decode("utf-8", errors="replace"))
    kept = redactor.redact_cut(text, MAX_OUTPUT, ended_early=ended_early)
    return kept if len(kept) == len(text) else kept + f"\n[{len(text) - len(kept)} more characters not kept]"
