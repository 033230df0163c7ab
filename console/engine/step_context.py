"""What a running step is given and what it hands back: its context, its outcome, the lines it writes itself,
and the evidence files it keeps.

Every kind of step (``steps.py`` for commands and checks, ``clusterwait.py`` for rollout waits and observe
windows, ``tfsteps.py`` for Terraform) and close-out's evidence (``evidence.py``) build on this module, and
``steps.run_step`` dispatches to them; keeping the shared parts here lets each import the others at module level.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from console.engine.binding import BoundStep
from console.engine.redact import Redactor
from console.engine.runner import Grace, Listener, OutputLine
from console.engine.state import Item
from console.journal.cast import CastWriter, sha256_file
from console.runbook.models import Runbook, Step


@dataclass
class StepContext:
    """What a running step needs: the step bound to its values, where to write, and how to be stopped.

    ``env`` is the process environment (the change's pinned kubeconfig); the step's own ``env:`` is in ``bound``.
    """

    bound: BoundStep
    item: Item
    runbook: Runbook
    change_dir: Path
    output_path: Path
    redactor: Redactor
    env: dict[str, str]
    cancel: threading.Event
    listeners: list[Listener]
    started: datetime
    artifacts: dict[str, list[dict[str, Any]]]
    now: Callable[[], datetime]
    grace: Grace = field(default_factory=Grace)

    @property
    def step(self) -> Step:
        return self.bound.step


@dataclass
class StepOutcome:
    """How a step ended, as the journal records it."""

    passed: bool
    reason: str
    exit_code: int | None = None
    duration_s: float = 0.0
    lines: int = 0
    output_path: Path | None = None
    output_sha256: str | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    trigger: dict[str, Any] | None = None
    tail: list[str] = field(default_factory=list)


def free_artifact_path(change_dir: Path, name: str) -> Path:
    """``artifacts/NAME``, or ``NAME.2``, ``NAME.3``…: a retried step never overwrites evidence already on record."""
    first = change_dir / "artifacts" / name
    path, n = first, 1
    while path.exists():
        n += 1
        path = first.with_name(f"{first.stem}.{n}{first.suffix}")
    return path


def write_artifact(change_dir: Path, name: str, data: bytes) -> dict[str, str]:
    """Write evidence under a free name (created exclusively, fsynced); returns the journal's file reference."""
    path = free_artifact_path(change_dir, name)
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return {"path": path.relative_to(change_dir).as_posix(), "sha256": sha256_file(path)}


def step_cast(ctx: StepContext, command: str) -> CastWriter:
    """The step's asciicast file, titled with the step and opened at the step's start."""
    # The bound title is redacted already (a title can quote a secret parameter).
    return CastWriter(ctx.output_path, title=f"{ctx.item.section} {ctx.step.id}: {ctx.bound.title}", command=command, started=ctx.started)


class StepOutput:
    """Lines a step writes itself (rollout progress, Terraform's messages): redacted, then into the step's asciicast
    and to the listeners, with a count, the last line and a bounded tail for the outcome."""

    def __init__(self, ctx: StepContext, command: str, *, tail_lines: int = 200) -> None:
        self.ctx = ctx
        self.cast = step_cast(ctx, command)
        self.start = time.monotonic()
        self.lines = 0
        self.last = ""
        self.tail: deque[str] = deque(maxlen=tail_lines)

    def __call__(self, text: str, *, stream: str = "stdout") -> None:
        text = self.ctx.redactor.redact(text.rstrip("\n"))
        t = time.monotonic() - self.start
        self.lines += 1
        self.last = text
        self.tail.append(text)
        self.cast.write(text + "\r\n", at=t)
        for listener in self.ctx.listeners:
            listener(OutputLine(t, stream, text))

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def outcome(self, passed: bool, reason: str, exit_code: int | None = None, **extra: Any) -> StepOutcome:
        """Close the asciicast and say how the step ended."""
        sha = self.cast.close()
        return StepOutcome(passed, reason, exit_code, self.elapsed, self.lines, self.ctx.output_path, sha,
                           tail=list(self.tail), **extra)
