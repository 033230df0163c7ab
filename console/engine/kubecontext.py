"""A change's own kubeconfig: the operator's, merged, with the change's context pinned as current.

Every command a change runs gets ``KUBECONFIG`` pointing at this file, so ``kubectl`` acts on the context the
change was started for even if someone switches the current context in another terminal mid-change. The file
holds credentials, so it lives in a private temporary directory (mode 0600), never in the record store. A console
killed mid-change (SIGKILL, a power cut) never removes its copy: the directory's name carries the console's process
ID, and the next console to pin a kubeconfig removes the copies of consoles that are gone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from console.cluster.kubeconfig import KubeconfigError, as_kubeconfig, entry_path, kubeconfig_paths, merge_kubeconfigs

__all__ = ["KubeconfigError", "PinnedKubeconfig", "cluster_identity", "contexts", "kubeconfig_paths", "load_merged"]


def load_merged(paths: list[Path]) -> dict[str, Any]:
    """The files merged as kubectl merges them, in kubeconfig form."""
    merged, _present = merge_kubeconfigs(paths)
    return as_kubeconfig(merged)


def contexts(config: dict[str, Any]) -> list[str]:
    return [c["name"] for c in config.get("contexts", []) if isinstance(c, dict) and "name" in c]


def cluster_identity(merged: dict[str, Any], context: str) -> dict[str, str]:
    """Which cluster ``context`` reaches, as far as the kubeconfig says (``merge_kubeconfigs``' form): its server's
    URL (any user and password in it left out) and the SHA-256 of the CA it trusts ("" for none; a CA file read as
    kubectl reads it). Two kubeconfigs can name different clusters with one context name; a change records this at
    start so a resume elsewhere is caught."""
    name = str((merged["contexts"].get(context) or {}).get("cluster") or "")
    cluster = merged["clusters"].get(name) or {}
    server = str(cluster.get("server") or "")
    parts = urlsplit(server)
    if parts.username is not None or parts.password is not None:
        server = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    ca = b""
    if cluster.get("certificate-authority-data"):
        raw = str(cluster["certificate-authority-data"])
        try:
            ca = base64.b64decode(raw, validate=False)
        except (binascii.Error, ValueError):
            ca = raw.encode()
    elif cluster.get("certificate-authority"):
        path = entry_path(cluster["certificate-authority"], merged["origins"]["clusters"].get(name))
        try:
            ca = path.read_bytes()
        except OSError:
            ca = f"unreadable: {path}".encode()
    return {"server": server, "ca_sha256": hashlib.sha256(ca).hexdigest() if ca else ""}


PREFIX = "opsconsole-kube-"


def _gone(pid: int) -> bool:
    """Whether no process has this ID (one we may not signal is someone's, so it is there)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_orphans(directory: Path) -> list[Path]:
    """Remove this user's pinned kubeconfigs left by consoles that are gone; the directories removed.

    A process ID reused since is taken for the console still running: its copy is left for a later sweep."""
    removed = []
    for path in directory.glob(f"{PREFIX}*-*"):
        pid = path.name[len(PREFIX):].split("-", 1)[0]
        try:
            mine = path.is_dir() and not path.is_symlink() and path.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and pid.isdigit() and int(pid) != os.getpid() and _gone(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class PinnedKubeconfig:
    """A private kubeconfig file with one context pinned; remove it with ``close()``."""

    def __init__(self, context: str, *, explicit: str | Path | None = None, env: dict[str, str] | None = None) -> None:
        merged, _present = merge_kubeconfigs(kubeconfig_paths(explicit, environ=env))
        config = as_kubeconfig(merged)
        names = contexts(config)
        if context not in names:
            raise KubeconfigError(f"context {context!r} is not in the kubeconfig (it has: {', '.join(names) or 'none'})")
        config["current-context"] = context
        entry = next(c for c in config["contexts"] if c["name"] == context)
        self.namespace = (entry.get("context") or {}).get("namespace") or "default"
        self.context = context
        self.cluster = cluster_identity(merged, context)
        remove_orphans(Path(tempfile.gettempdir()))
        self._dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        os.chmod(self._dir, 0o700)
        self.path = self._dir / "config"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            # PyYAML's C emitter, as the file is read back (console/cluster/kubeconfig.py): a few ms less than
            # ruamel's on every start, which waits for this file before it checks the change lock.
            yaml.dump(config, handle, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        out = dict(os.environ if base is None else base)
        out["KUBECONFIG"] = str(self.path)
        return out

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
