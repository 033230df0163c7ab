"""The binary driver: the operator's own ``terraform`` or ``tofu`` executable, streamed line by line.

Commands are built with python-terraform's ``generate_cmd_string`` (its option-to-flag rules), but never through
its run methods, because of known defects:

- ``Terraform.cmd()`` reads output with ``communicate()``, only when the command ends; a step must show each
  line as it comes, so this driver runs the argv with ``Popen`` and reads stdout line by line.
- ``apply(skip_plan=False)`` overwrites ``auto_approve`` (#84, #45) and ``plan()`` always adds
  ``-detailed-exitcode`` (rc 2 = changes): this driver names every flag itself and reads rc 2 of a plan as
  success with changes.
- a dict option (``var={...}``) always becomes a temporary ``-var-file`` (#67), which Terraform rejects when
  applying a saved plan: the builder here refuses dict options, variables go as ``-var NAME=VALUE`` on plan only,
  and an apply of a saved plan carries neither ``-var`` nor ``-var-file``.
- its constructor parses ``terraform.tfstate`` in the working directory and raises on an empty or half-written
  file (what an interrupted apply leaves): the builder skips that read.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from python_terraform import IsFlagged
from python_terraform import Terraform as _PtTerraform

from console.terraform.base import (
    LineSink,
    TerraformCommandFailed,
    TerraformUnavailable,
    TerraformWorkspaceMissing,
    TfResult,
    UiStream,
    var_args,
)

# How long a Ctrl-C'd Terraform gets to release its lock and write state before it is killed.
INTERRUPT_GRACE_S = 30.0
MAX_LINE = 1024 * 1024  # Terraform's longest UI message is far shorter; one endless line must not grow memory


class _ArgvBuilder(_PtTerraform):  # type: ignore[misc]  # python-terraform has no type information
    """python-terraform's command builder with its side effects removed (see the module docstring)."""

    def read_state_file(self, file_path: str | None = None) -> None:
        # The constructor calls this; parsing the state is not the builder's business and can raise.
        self.tfstate = None

    def generate_cmd_string(self, cmd: str, *args: Any, **kwargs: Any) -> list[str]:
        for option, value in kwargs.items():
            if isinstance(value, dict):
                raise TypeError(f"option {option!r}: a dict would become a temporary -var-file (python-terraform #67)")
        return list(super().generate_cmd_string(cmd, *args, **kwargs))


class BinaryDriver:
    """Runs Terraform through an executable on PATH (``terraform`` or OpenTofu's ``tofu``)."""

    def __init__(
        self,
        executable: str | Path,
        *,
        env: Mapping[str, str] | None = None,
        workspace: str = "default",
    ) -> None:
        self.executable = str(executable)
        self.flavour = "tofu" if Path(self.executable).name.startswith("tofu") else "terraform"
        self.workspace = workspace
        base = dict(os.environ if env is None else env)
        # No prompts, no colour codes, no network call to HashiCorp's checkpoint service.
        base.update(TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1")
        # Always set, "default" included: otherwise a `workspace select` left in .terraform/environment would win.
        base["TF_WORKSPACE"] = workspace
        self._env = base
        self._builder = _ArgvBuilder(terraform_bin_path=self.executable, is_env_vars_included=False)
        self._version: str | None = None
        self._checked_workspaces: set[Path] = set()

    # ----------------------------------------------------------------- identity
    @property
    def version(self) -> str:
        """The executable's version (``terraform version -json``), read once."""
        if self._version is None:
            argv = self._argv("version", json=IsFlagged)
            proc = _run(argv, capture_output=True, env=self._env, check=False)
            text = proc.stdout.decode("utf-8", "replace")
            try:
                self._version = str(json.loads(text)["terraform_version"])
            except (json.JSONDecodeError, KeyError, TypeError):
                m = re.search(r"v?(\d+\.\d+\.\d+\S*)", text)
                self._version = m.group(1) if m else "unknown"
        return self._version

    @property
    def name(self) -> str:
        """``binary:terraform 1.11.4`` or ``binary:tofu 1.9.0``."""
        return f"binary:{self.flavour} {self.version}"

    def _init_takes_json(self) -> bool:
        # `terraform init -json` exists from Terraform 1.9; OpenTofu's init has no -json.
        if self.flavour != "terraform":
            return False
        m = re.match(r"(\d+)\.(\d+)", self.version)
        return m is not None and (int(m.group(1)), int(m.group(2))) >= (1, 9)

    def _argv(self, cmd: str, *args: str, **options: Any) -> list[str]:
        return self._builder.generate_cmd_string(cmd, *args, **options)

    # ------------------------------------------------------------------ commands
    def init_argv(self) -> list[str]:
        """``init -input=false -no-color [-json]``."""
        extra = {"json": IsFlagged} if self._init_takes_json() else {}
        return self._argv("init", input=False, no_color=IsFlagged, **extra)

    def plan_argv(self, *, plan_file: Path, vars: Mapping[str, Any], var_files: list[Path]) -> list[str]:
        """``plan -input=false -no-color -json -detailed-exitcode -out=PLAN [-var ...] [-var-file ...]``."""
        return self._argv(
            "plan",
            input=False,
            no_color=IsFlagged,
            json=IsFlagged,
            detailed_exitcode=IsFlagged,
            out=str(Path(plan_file).absolute()),
            var=var_args(dict(vars)) or None,
            var_file=[str(Path(f).absolute()) for f in var_files] or None,
        )

    def apply_argv(self, *, plan_file: Path) -> list[str]:
        """``apply -input=false -no-color -json PLAN``: the saved plan alone, no -var, no -var-file.

        A saved plan already carries its variables and needs no approval prompt, so neither ``-var`` nor
        ``-auto-approve`` belongs here; Terraform would reject a ``-var-file`` alongside a plan file anyway.
        """
        return self._argv("apply", str(Path(plan_file).absolute()), input=False, no_color=IsFlagged, json=IsFlagged)

    def init(self, workdir: Path, *, on_line: LineSink) -> TfResult:
        """Initialise the working directory."""
        return self._stream(self.init_argv(), workdir, on_line)

    def plan(
        self,
        workdir: Path,
        *,
        plan_file: Path,
        vars: Mapping[str, Any],
        var_files: list[Path],
        on_line: LineSink,
    ) -> TfResult:
        """Write a saved plan to ``plan_file``; rc 2 (changes present) is success."""
        self._ensure_workspace(workdir)
        argv = self.plan_argv(plan_file=plan_file, vars=vars, var_files=var_files)
        return self._stream(argv, workdir, on_line, detailed_exitcode=True)

    def apply(self, workdir: Path, *, plan_file: Path, on_line: LineSink) -> TfResult:
        """Apply exactly the saved plan."""
        self._ensure_workspace(workdir)
        return self._stream(self.apply_argv(plan_file=plan_file), workdir, on_line)

    def show_json(self, workdir: Path, plan_file: Path) -> dict[str, Any]:
        """``show -json PLAN`` parsed."""
        self._ensure_workspace(workdir)
        out = self._capture(self._argv("show", str(Path(plan_file).absolute()), no_color=IsFlagged, json=IsFlagged), workdir)
        shown: dict[str, Any] = json.loads(out)
        return shown

    def state_pull(self, workdir: Path) -> bytes:
        """The current state, exactly as Terraform prints it."""
        self._ensure_workspace(workdir)
        return self._capture(self._argv("state pull"), workdir)

    def output(self, workdir: Path) -> dict[str, Any]:
        """``output -json``: name -> {value, type, sensitive}."""
        self._ensure_workspace(workdir)
        out = self._capture(self._argv("output", no_color=IsFlagged, json=IsFlagged), workdir)
        return json.loads(out) if out.strip() else {}

    def _ensure_workspace(self, workdir: Path) -> None:
        """Refuse a workspace the directory does not have (TF_WORKSPACE alone would plan on an empty state)."""
        key = Path(workdir).absolute()
        if self.workspace == "default" or key in self._checked_workspaces:
            return
        env = {k: v for k, v in self._env.items() if k != "TF_WORKSPACE"}
        argv = self._argv("workspace list")
        proc = _run(argv, cwd=workdir, capture_output=True, env=env, check=False)
        if proc.returncode != 0:
            raise TerraformCommandFailed(argv[1:], proc.returncode, proc.stderr.decode("utf-8", "replace"))
        names = [ln.strip(" *\t") for ln in proc.stdout.decode("utf-8", "replace").splitlines() if ln.strip(" *\t")]
        if self.workspace not in names:
            raise TerraformWorkspaceMissing(self.workspace, key, names)
        self._checked_workspaces.add(key)

    # ----------------------------------------------------------------- processes
    def _capture(self, argv: list[str], workdir: Path) -> bytes:
        proc = _run(argv, cwd=workdir, capture_output=True, env=self._env, check=False)
        if proc.returncode != 0:
            raise TerraformCommandFailed(argv[1:], proc.returncode, proc.stderr.decode("utf-8", "replace"))
        return proc.stdout

    def _stream(self, argv: list[str], workdir: Path, on_line: LineSink, *, detailed_exitcode: bool = False) -> TfResult:
        ui = UiStream(on_line)
        start = time.monotonic()
        # stderr joins stdout so the operator sees warnings and errors in the order Terraform printed them.
        proc = _popen(
            argv,
            cwd=workdir,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C meant for the console must not reach Terraform unasked
        )
        assert proc.stdout is not None
        try:
            for raw in _lines(proc.stdout):
                ui.feed(raw.decode("utf-8", "replace"))
        except BaseException:
            _interrupt(proc)
            raise
        finally:
            proc.stdout.close()
        rc = proc.wait()
        return ui.result(rc, time.monotonic() - start, detailed_exitcode=detailed_exitcode)


def _lines(pipe: IO[bytes]) -> Iterator[bytes]:
    """Terraform's output line by line, in bounded memory: a line longer than MAX_LINE is left out, said in a line of
    its own. It is not cut into pieces: a piece would be neither a UI message nor redacted with the rest of its line
    (a secret the cut goes through could survive in part), and no message Terraform writes is that long."""
    while raw := pipe.readline(MAX_LINE):
        if len(raw) < MAX_LINE or raw.endswith(b"\n"):
            yield raw
            continue
        dropped = len(raw)
        while (more := pipe.readline(MAX_LINE)) and not more.endswith(b"\n"):
            dropped += len(more)
        dropped += len(more)
        yield f"(a line of {dropped} bytes left out: longer than the {MAX_LINE} a line may be)\n".encode()


def _popen(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(argv, **kwargs)
    except OSError as exc:  # removed, not executable, or a bad working directory
        raise TerraformUnavailable(f"cannot run {argv[0]} in {kwargs.get('cwd') or '.'}: {exc.strerror or exc}") from exc


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(argv, **kwargs)
    except OSError as exc:
        raise TerraformUnavailable(f"cannot run {argv[0]} in {kwargs.get('cwd') or '.'}: {exc.strerror or exc}") from exc


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    """Stop Terraform as Ctrl-C would, let it finish writing, and kill it only if it will not stop."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + INTERRUPT_GRACE_S
    assert proc.stdout is not None
    # Keep reading so Terraform never blocks on (or dies from) a full or closed pipe mid-write of its state;
    # select() bounds each wait so a Terraform that neither writes nor exits is still killed at the deadline.
    fd = proc.stdout.fileno()
    while proc.poll() is None and (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], min(left, 0.5))
        if ready and not os.read(fd, 65536):
            break
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def find_binary(env: Mapping[str, str]) -> str | None:
    """``terraform`` on the PATH of ``env``, else ``tofu``, else None."""
    path = env.get("PATH", os.defpath)
    for name in ("terraform", "tofu"):
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def binary_driver(env: Mapping[str, str], workspace: str = "default") -> BinaryDriver:
    """A driver for the binary on PATH, or :class:`TerraformUnavailable`."""
    found = find_binary(env)
    if found is None:
        raise TerraformUnavailable("no terraform or tofu executable on PATH (the embedded driver needs none)")
    return BinaryDriver(found, env=env, workspace=workspace)
