"""How each kind of step runs: commands and checks, rollout waits, observe windows and Terraform actions.

Every kind streams what it does into the step's asciicast file and to the listeners, honours the step's timeout
and the operator's cancel, and returns a :class:`StepOutcome` the session records. Rollout waits and observe
windows watch the cluster live (``clusterwait.py``); commands and checks run through the runner, a verification
step's beside the runbook's rollback triggers (``clusterwait.command_guard``); Terraform actions are in
``tfsteps.py``. What every kind is given and returns (``StepContext``, ``StepOutcome``) is in ``step_context.py``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from console.engine.clusterwait import command_guard, run_observe, run_rollout
from console.engine.manifests import run_apply
from console.engine.restore import run_restore
from console.engine.runner import CommandRunner, Expectation, Listener, OutputLine, OutputPiece
from console.engine.step_context import StepContext, StepOutcome, free_artifact_path, step_cast
from console.engine.tfsteps import run_terraform
from console.journal.cast import sha256_file


def run_step(ctx: StepContext) -> StepOutcome:
    """Run the step as its kind says; a manual or approval step is answered by the operator, never run."""
    if ctx.step.kind in ("command", "check"):
        return _run_command(ctx)
    if ctx.step.kind == "rollout":
        return run_rollout(ctx)
    if ctx.step.kind == "observe":
        return run_observe(ctx)
    if ctx.step.kind == "terraform":
        return run_terraform(ctx)
    if ctx.step.kind == "apply":
        return run_apply(ctx)
    if ctx.step.kind == "restore":
        return run_restore(ctx)
    return StepOutcome(False, f"a {ctx.step.kind} step is answered, not run")


def _capture_listener(ctx: StepContext) -> tuple[Listener | None, Callable[[], dict[str, Any] | None]]:
    """When the step keeps its output as evidence, stream it into artifacts/ as it comes, each line as the command
    printed it: the pieces of a line too long to hold whole are joined again (a backup's one-line JSON restores)."""
    if ctx.step.capture != "artifact":
        return None, lambda: None
    path = free_artifact_path(ctx.change_dir, f"{ctx.step.id}.out")
    handle = open(path, "x", encoding="utf-8")  # noqa: SIM115 - the step's run outlives this call; finish() closes it
    lock = threading.Lock()

    def listen(line: OutputLine) -> None:
        if line.stream == "stdout":
            with lock:
                handle.write(line.text if isinstance(line, OutputPiece) else line.text + "\n")

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
    cast = step_cast(ctx, ctx.redactor.redact(bound.display))
    capture, finish_capture = _capture_listener(ctx)
    listeners = [*ctx.listeners, *([capture] if capture else [])]
    timeout = ctx.bound.timing.timeout_s  # declared, divided by the rehearsal clock's speed on a rehearsal
    runner = CommandRunner(
        list(bound.argv), cwd=bound.cwd, env=env, timeout_s=timeout, redactor=ctx.redactor, cast=cast, listeners=listeners,
        expect=Expectation(tuple(ctx.step.expect.exit_codes), bound.expect_matches, bound.expect_not_matches), grace=ctx.grace,
    )
    watcher = threading.Thread(target=_forward_cancel, args=(ctx.cancel, runner), daemon=True)
    watcher.start()
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
