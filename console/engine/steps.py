"""How each kind of step runs: commands and checks, rollout waits, observe windows and Terraform actions.

Every kind streams what it does into the step's asciicast file and to the listeners, honours the step's timeout
and the operator's cancel, and returns a :class:`StepOutcome` the session records. Rollout waits and observe
windows watch the cluster live (``clusterwait.py``); commands and checks run through the runner, a verification
step's beside the runbook's rollback triggers (``clusterwait.command_guard``).
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
from console.engine.runner import CommandRunner, Expectation, Grace, Listener, OutputLine
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


class StepOutput:
    """Lines a step writes itself (rollout progress, Terraform's messages): redacted, then into the step's asciicast
    and to the listeners, with a count, the last line and a bounded tail for the outcome."""

    def __init__(self, ctx: StepContext, command: str, *, tail_lines: int = 200) -> None:
        self.ctx = ctx
        self.cast = _cast(ctx, command)
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


def _cast(ctx: StepContext, command: str) -> CastWriter:
    # The bound title is redacted already (a title can quote a secret parameter).
    return CastWriter(ctx.output_path, title=f"{ctx.item.section} {ctx.step.id}: {ctx.bound.title}", command=command, started=ctx.started)


def run_step(ctx: StepContext) -> StepOutcome:
    if ctx.step.kind in ("command", "check"):
        return _run_command(ctx)
    if ctx.step.kind == "rollout":
        from console.engine.clusterwait import run_rollout

        return run_rollout(ctx)
    if ctx.step.kind == "observe":
        from console.engine.clusterwait import run_observe

        return run_observe(ctx)
    if ctx.step.kind == "terraform":
        from console.engine.tfsteps import run_terraform

        return run_terraform(ctx)
    return StepOutcome(False, f"a {ctx.step.kind} step is answered, not run")


def _capture_listener(ctx: StepContext) -> tuple[Listener | None, Callable[[], dict[str, Any] | None]]:
    """When the step keeps its output as evidence, stream it into artifacts/ as it comes."""
    if ctx.step.capture != "artifact":
        return None, lambda: None
    path = free_artifact_path(ctx.change_dir, f"{ctx.step.id}.out")
    handle = open(path, "x", encoding="utf-8")
    lock = threading.Lock()

    def listen(line: OutputLine) -> None:
        if line.stream == "stdout":
            with lock:
                handle.write(line.text + "\n")

    def finish() -> dict[str, Any]:
        with lock:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        return {
            "kind": "backup" if ctx.step.backup else "evidence",
            "description": ctx.bound.title or ctx.step.id,
            "file": {"path": path.relative_to(ctx.change_dir).as_posix(), "sha256": sha256_file(path)},
        }

    return listen, finish


def _run_command(ctx: StepContext) -> StepOutcome:
    bound = ctx.bound
    env = {**ctx.env, **bound.env}
    cast = _cast(ctx, ctx.redactor.redact(bound.display))
    capture, finish_capture = _capture_listener(ctx)
    listeners = [*ctx.listeners, *([capture] if capture else [])]
    timeout = ctx.step.timeout
    runner = CommandRunner(
        list(bound.argv), cwd=bound.cwd, env=env, timeout_s=timeout, redactor=ctx.redactor, cast=cast, listeners=listeners,
        expect=Expectation(tuple(ctx.step.expect.exit_codes), bound.expect_matches, bound.expect_not_matches), grace=ctx.grace,
    )
    watcher = threading.Thread(target=_forward_cancel, args=(ctx.cancel, runner), daemon=True)
    watcher.start()
    from console.engine.clusterwait import command_guard  # here: clusterwait builds on this module

    guard = command_guard(ctx, cast, runner.cancel)  # a verification step's rollback triggers, watched beside it
    result = runner.run()
    fired = guard.finish() if guard else None
    passed, reason = (False, fired.reason) if fired else result.verdict(runner.expect)
    cast.marker(f"exit {result.exit_code}")
    sha = cast.close()
    artifact = finish_capture()
    return StepOutcome(
        passed, reason, result.exit_code, result.duration_s, result.lines, ctx.output_path, sha,
        [artifact] if artifact else [], trigger=fired.record if fired else None, tail=result.tail,
    )


def _forward_cancel(cancel: threading.Event, runner: CommandRunner) -> None:
    # Lives as long as the process: when the operator cancels the step, the runner stops its process group.
    while runner.pid is None or runner._proc is None or runner._proc.poll() is None:
        if cancel.wait(0.1):
            runner.cancel()
            return
