"""Terraform steps: init, state backup, a guarded and saved plan, apply of exactly that plan, and outputs.

A saved plan file holds every variable's value in plain text, so it is kept outside the record, in the operator's
private plans directory (``private_plans``); the journal keeps its SHA-256 and where it is, and the record keeps the
plan's ``show -json`` with sensitive values masked. Apply refuses a plan file that is gone, changed since, or older
than the runbook allows. An apply without ``plan:`` (a rollback re-plan) plans with the step's variables, checks the
guard, keeps that plan the same way and applies it, so the record keeps both plans.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.engine.redact import MASK, StreamRedactor
from console.engine.step_context import StepContext, StepOutcome, StepOutput, write_artifact
from console.journal import events as ev
from console.journal.journal import Event
from console.journal.store import DIR_RE, sanitise
from console.runbook.models import PlanGuard
from console.terraform.base import TerraformDriver
from console.terraform.drivers import TerraformError, choose_driver
from console.terraform.guard import check_guard, check_plan_usable
from console.terraform.plan import format_summary, summarise_plan
from console.terraform.private_plans import (
    REF_KEY,
    change_plans_dir,
    discard,
    locate,
    recorded_reference,
    reference,
    reserve,
)
from console.terraform.sensitive import mask_sensitive
from console.terraform.ui_lines import human_lines, ui_message


class _Stream(StepOutput):
    """Terraform's lines as step output; a cancel stops Terraform at its next line (the drivers pass it SIGINT).

    The operator (screen, line mode, the step's asciicast) sees Terraform's human lines; the ``-json`` messages
    themselves are kept, redacted, in ``raw``, which becomes an artifact of the step.

    One message can show as several lines (a diagnostic's detail) and one secret can come in several messages (a
    ``local-exec`` command's output, a line a message): the human lines go through one :class:`StreamRedactor`, which
    remembers a private-key block across lines, rather than each line being redacted on its own. A raw message that
    lies in such a block, wholly or in part, keeps only its kind and level.
    """

    def __init__(self, ctx: StepContext, command: str) -> None:
        super().__init__(ctx, command)
        self.raw: list[str] = []
        self._lines = StreamRedactor(ctx.redactor)

    def __call__(self, text: str, *, stream: str = "stdout") -> None:
        if self.ctx.cancel.is_set():
            raise KeyboardInterrupt("cancelled by the operator")
        message = ui_message(text)
        was_idle = self._lines.idle
        released = [out for line in human_lines(text) for out in self._lines.feed(line.rstrip("\n"))]
        if message is not None:
            whole = was_idle and self._lines.idle
            self.raw.append(self.ctx.redactor.redact(text.strip()) if whole else _masked_message(message))
        for line in released:
            super().__call__(line, stream=stream)

    def finish(self) -> None:
        """Release what the line redactor still holds (an undecided block goes masked)."""
        for line in self._lines.flush():
            super().__call__(line)

    def keep_raw(self, artifacts: list[dict[str, Any]]) -> None:
        """The ``-json`` stream as an artifact of the step (hashed into the record like the others)."""
        if self.raw:
            data = ("\n".join(self.raw) + "\n").encode()
            artifacts.append(_save(self.ctx, f"{self.ctx.step.id}.terraform.jsonl", data, "terraform-json",
                                   f"Terraform's -json UI stream of {self.ctx.step.id}"))


def _masked_message(message: dict[str, Any]) -> str:
    """A UI message whose text is (part of) a secret spread over several messages: its kind and level, text masked."""
    kept = {k: message[k] for k in ("@level", "@module", "@timestamp", "type") if isinstance(message.get(k), str)}
    return json.dumps({**kept, "@message": MASK}, separators=(",", ":"))


# (passed, reason, exit code) of one Terraform action.
_Result = tuple[bool, str, int | None]
_Action = Callable[[StepContext, TerraformDriver, Path, dict[str, str], list[Path], _Stream, list[dict[str, Any]]], _Result]


def _kept(ctx: StepContext, doc: Any) -> Any:
    """A Terraform JSON document as the record keeps it: what Terraform marks sensitive masked, then the change's
    secrets and the redaction rules (a value can be a secret without Terraform's marker)."""
    return ctx.redactor.redact_data(mask_sensitive(doc))


def _kept_state(ctx: StepContext, state: bytes) -> bytes:
    """The state pulled before the change, as evidence: byte for byte when it holds nothing sensitive (so it can be
    pushed back as it is), else parsed and masked; text that is no JSON is redacted as text."""
    try:
        doc = json.loads(state)
    except ValueError:
        text = state.decode("utf-8", errors="replace")
        redacted = ctx.redactor.redact(text)
        return state if redacted == text else redacted.encode()
    kept = _kept(ctx, doc)
    return state if kept == doc else (json.dumps(kept, indent=2) + "\n").encode()


def _save(ctx: StepContext, name: str, data: bytes, kind: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "description": description, "file": write_artifact(ctx.change_dir, name, data), **extra}


def run_terraform(ctx: StepContext) -> StepOutcome:
    tf = ctx.step.terraform
    assert tf is not None
    workdir = ctx.bound.tf_dir
    assert workdir is not None
    variables = dict(ctx.bound.tf_vars)
    var_files = list(ctx.bound.tf_var_files)
    stream = _Stream(ctx, f"terraform {tf.action} in {workdir}")
    artifacts: list[dict[str, Any]] = []
    passed, reason, code = False, "", None
    try:
        driver = choose_driver(tf.driver, workspace=tf.workspace)
        stream(f"# driver: {driver.name}; working directory {workdir}")
        action: _Action = {
            "init": _init, "state-backup": _state_backup, "plan": _plan, "apply": _apply, "output": _output,
        }[tf.action]
        passed, reason, code = action(ctx, driver, workdir, variables, var_files, stream, artifacts)
    except KeyboardInterrupt:
        passed, reason = False, "cancelled by the operator"
    except TerraformError as exc:
        passed, reason = False, str(exc)
        stream(f"error: {exc}")
    stream.finish()
    stream.keep_raw(artifacts)
    return stream.outcome(passed, reason, code, artifacts=artifacts)


def _init(ctx: StepContext, driver: TerraformDriver, workdir: Path, variables: dict[str, str], var_files: list[Path],
          stream: _Stream, artifacts: list[dict[str, Any]]) -> _Result:
    result = driver.init(workdir, on_line=stream)
    return result.ok, "initialised" if result.ok else f"init failed (exit {result.exit_code})", result.exit_code


def _state_backup(ctx: StepContext, driver: TerraformDriver, workdir: Path, variables: dict[str, str], var_files: list[Path],
                  stream: _Stream, artifacts: list[dict[str, Any]]) -> _Result:
    # Terraform keeps sensitive values in the state in plain text: the record keeps the state with them masked.
    state = _kept_state(ctx, driver.state_pull(workdir))
    art = _save(ctx, f"{ctx.step.id}.tfstate", state, "state", "Terraform state before the change (sensitive values masked)")
    artifacts.append(art)
    stream(f"state saved to {art['file']['path']} (sha256 {art['file']['sha256']}, {len(state)} bytes)")
    return True, "state backed up", 0


def _plans_dir(change_dir: Path) -> Path:
    """The change's private plans directory, named by its ID (from its record folder's name, or that name itself
    for one that does not parse)."""
    m = DIR_RE.match(change_dir.name)
    return change_plans_dir(m.group(4) if m else sanitise(change_dir.name), change_dir)


def _plan_and_guard(ctx: StepContext, driver: TerraformDriver, workdir: Path, variables: dict[str, str], var_files: list[Path],
                    stream: _Stream, artifacts: list[dict[str, Any]], guard: PlanGuard | None) -> tuple[Path | None, str, int]:
    # The plan file holds the variables' values in plain text: never in the record, in the private plans directory.
    plan_path = reserve(_plans_dir(ctx.change_dir), f"{ctx.step.id}.tfplan")
    try:
        result = driver.plan(workdir, plan_file=plan_path, vars=variables, var_files=var_files, on_line=stream)
        if not result.ok:
            plan_path.unlink(missing_ok=True)
            return None, f"plan failed (exit {result.exit_code})", result.exit_code
        show = driver.show_json(workdir, plan_path)
    except BaseException:
        plan_path.unlink(missing_ok=True)  # a plan nobody will record is removed, not left behind with its secrets
        raise
    summary = summarise_plan(show)
    for line in format_summary(summary):
        stream(f"# {line}")
    created = datetime.now(UTC).isoformat()
    kept = reference(plan_path)
    artifacts.append({
        "kind": "plan", "description": f"saved plan of {ctx.step.id} (kept outside the record: it holds the variables' values)",
        "created_at": created,
        "summary": {"add": summary.add, "change": summary.change, "replace": summary.replace, "destroy": summary.destroy},
        REF_KEY: kept,
    })
    stream(f"# saved plan kept at {kept['kept_at']} on {kept['host']} (sha256 {kept['sha256']}), outside the record")
    artifacts.append(_save(ctx, f"{plan_path.stem}.plan.json", json.dumps(_kept(ctx, show), indent=1).encode(), "plan",
                           f"plan of {ctx.step.id} (show -json, sensitive values masked)"))
    violations = check_guard(summary, guard)
    for v in violations:
        stream(f"GUARD: {v}")
    if violations:
        return plan_path, f"the plan breaks the runbook's guard: {violations[0]}", 1
    return plan_path, f"plan: {format_summary(summary)[0]}", 0


def _plan(ctx: StepContext, driver: TerraformDriver, workdir: Path, variables: dict[str, str], var_files: list[Path],
          stream: _Stream, artifacts: list[dict[str, Any]]) -> _Result:
    tf = ctx.step.terraform
    assert tf is not None  # run_terraform runs only Terraform steps
    plan_path, reason, code = _plan_and_guard(ctx, driver, workdir, variables, var_files, stream, artifacts, tf.guard)
    return plan_path is not None and code == 0, reason, code


def _apply(ctx: StepContext, driver: TerraformDriver, workdir: Path, variables: dict[str, str], var_files: list[Path],
           stream: _Stream, artifacts: list[dict[str, Any]]) -> _Result:
    tf = ctx.step.terraform
    assert tf is not None  # run_terraform runs only Terraform steps
    if tf.plan is None:
        plan_path, reason, code = _plan_and_guard(ctx, driver, workdir, variables, var_files, stream, artifacts, tf.guard)
        if plan_path is None or code != 0:
            return False, reason, code
    else:
        saved = [(a, ref) for a in ctx.artifacts.get(tf.plan, [])
                 if a.get("kind") == "plan" and (ref := recorded_reference(a)) is not None]
        if not saved:
            return False, f"no saved plan from step {tf.plan}: run it first", None
        plan, ref = saved[-1]
        found, missing = locate(ref)
        if found is None:
            stream(f"refused: {missing}")
            return False, f"apply refused: {missing}", None
        plan_path = found
        refusal = check_plan_usable(
            plan_path, expected_sha256=ref["sha256"], created_at=datetime.fromisoformat(plan["created_at"]),
            now=datetime.now(UTC), max_age_s=int(tf.max_plan_age),
        )
        if refusal:
            stream(f"refused: {refusal}")
            return False, f"apply refused: {refusal}", None
        stream(f"# applying the saved plan {plan_path} (sha256 {ref['sha256']})")
    result = driver.apply(workdir, plan_file=plan_path, on_line=stream)
    return result.ok, "applied" if result.ok else f"apply failed (exit {result.exit_code})", result.exit_code


def discard_saved_plans(change_dir: Path, events: Iterable[Event]) -> list[Path]:
    """Remove the saved plan files of a change (once it is closed, none will be applied): those its journal
    references, and its private plans directory with anything a killed console left there."""
    refs = [ref for e in events if e.type == ev.ARTIFACT_SAVED and (ref := recorded_reference(e.data)) is not None]
    return discard(refs, _plans_dir(change_dir))


def _output(ctx: StepContext, driver: TerraformDriver, workdir: Path, variables: dict[str, str], var_files: list[Path],
            stream: _Stream, artifacts: list[dict[str, Any]]) -> _Result:
    outputs = driver.output(workdir)
    # A sensitive output's value is shown and kept masked; the expectation is checked against the outputs as read.
    text = json.dumps(_kept(ctx, outputs), indent=1, sort_keys=True)
    pattern = ctx.bound.expect_matches
    for line in text.splitlines():
        stream(line)
    if pattern is not None and not pattern.search(json.dumps(outputs, sort_keys=True)):
        return False, f"outputs never matched /{pattern.pattern}/", 0
    return True, "outputs read", 0
