"""Where saved Terraform plans are kept: outside the change record, in a directory only the operator can read.

A saved plan (``terraform plan -out``) is a zip file holding every variable's value and the prior state in plain
text, secrets included, and masking it would make it unusable (Terraform applies it as it is). The record (which a
team store pushes to its git remote) therefore never holds it: the plan lives in
``$OPSCONSOLE_PLANS_DIR/<change-id>-<store>/`` (default ``$XDG_STATE_HOME/opsconsole/plans``,
``~/.local/state/...``; ``<store>`` a short digest of the record folder's path, so that two stores' changes with one
ID never share a directory), directories mode 0700, files 0600, and the journal keeps only what identifies it
(:func:`reference`): its SHA-256, the host and the path it is kept at. The apply finds it there by that reference
(:func:`locate`); a change resumed on another host finds nothing and must plan again. Once the change closes,
:func:`discard` removes the plans it recorded and its directory (with a plan a killed console left unrecorded).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from console.terraform.planfile import plan_file_fingerprint

ENV_VAR = "OPSCONSOLE_PLANS_DIR"
# The key of an ``artifact.saved`` of kind ``plan`` that holds the reference (never ``file``: ``records verify``
# follows ``file`` references into the change's directory, and this file is deliberately not there).
REF_KEY = "saved_plan"


def plans_root(environ: Mapping[str, str] | None = None) -> Path:
    """The directory holding every change's saved plans, from the environment (not created here)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]).expanduser()
    state = Path(env["XDG_STATE_HOME"]).expanduser() if env.get("XDG_STATE_HOME") else Path.home() / ".local" / "state"
    return state / "opsconsole" / "plans"


def _private_dir(path: Path) -> None:
    """Create ``path`` (parents as usual) and make it the owner's alone, whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


def change_plans_dir(change_id: str, record_dir: Path, environ: Mapping[str, str] | None = None) -> Path:
    """The private directory of one change's plans (not created here)."""
    store = hashlib.sha256(str(record_dir.resolve()).encode()).hexdigest()[:8]
    return plans_root(environ) / f"{change_id}-{store}"


def reserve(directory: Path, name: str) -> Path:
    """A new, empty file ``NAME`` (or ``NAME.2``…) in a change's plans directory, mode 0600, the directory and the
    plans root 0700.

    Created exclusively so that a plan never overwrites another; Terraform's ``-out`` then truncates and writes it,
    which keeps the mode.
    """
    _private_dir(directory.parent)
    _private_dir(directory)
    first = directory / name
    path, n = first, 1
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            n += 1
            path = first.with_name(f"{first.stem}.{n}{first.suffix}")
            continue
        os.close(fd)
        os.chmod(path, 0o600)
        return path


def reference(path: Path) -> dict[str, str]:
    """What the journal keeps of a saved plan: its SHA-256 and where it is kept (host and absolute path)."""
    os.chmod(path, 0o600)  # whatever wrote it, the plan stays the owner's alone
    return {"sha256": plan_file_fingerprint(path), "host": socket.gethostname(), "kept_at": str(path.absolute())}


def recorded_reference(artifact: Mapping[str, Any]) -> dict[str, str] | None:
    """The saved-plan reference of an ``artifact.saved`` data, or None when it holds none usable."""
    ref = artifact.get(REF_KEY)
    if not isinstance(ref, Mapping):
        return None
    if not all(isinstance(ref.get(k), str) and ref.get(k) for k in ("sha256", "kept_at")):
        return None
    return {"sha256": str(ref["sha256"]), "host": str(ref.get("host") or "?"), "kept_at": str(ref["kept_at"])}


def locate(ref: Mapping[str, str]) -> tuple[Path | None, str]:
    """The plan file a reference names, or None and the one sentence saying why it cannot be applied."""
    path = Path(ref["kept_at"])
    if path.is_file():
        return path, ""
    here = socket.gethostname()
    where = f"on {ref.get('host', '?')}" + ("" if ref.get("host") == here else f", not on this host ({here})")
    return None, (f"the saved plan is not at {path} {where} (plans are kept outside the record, so a change resumed "
                  "elsewhere or after the file was removed cannot apply it): plan again")


def discard(refs: Iterable[Mapping[str, str]], directory: Path | None = None) -> list[Path]:
    """Remove the plan files these references name on this host, and their directories once empty, then the change's
    own plans ``directory`` whole (a plan a killed console wrote but never recorded is there too); returns the
    recorded files removed. A file another host keeps is left to that host."""
    here = socket.gethostname()
    removed: list[Path] = []
    for ref in refs:
        if ref.get("host") != here:
            continue
        path = Path(ref["kept_at"])
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass  # removed already; its directory may still be left behind
        # Left while another plan of the change is still there.
        with contextlib.suppress(OSError):
            path.parent.rmdir()
    if directory is not None and directory.is_dir():
        shutil.rmtree(directory)
    return removed
