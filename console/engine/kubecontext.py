"""A change's own kubeconfig: the operator's, merged, with the change's context pinned as current.

Every command a change runs gets ``KUBECONFIG`` pointing at this file, so ``kubectl`` acts on the context the
change was started for even if someone switches the current context in another terminal mid-change. The file
holds credentials, so it lives in a private temporary directory (mode 0600), never in the record store.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from console.cluster.kubeconfig import KubeconfigError, as_kubeconfig, kubeconfig_paths, merge_kubeconfigs

__all__ = ["KubeconfigError", "PinnedKubeconfig", "contexts", "kubeconfig_paths", "load_merged"]


def load_merged(paths: list[Path]) -> dict[str, Any]:
    """The files merged as kubectl merges them, in kubeconfig form."""
    merged, _present = merge_kubeconfigs(paths)
    return as_kubeconfig(merged)


def contexts(config: dict[str, Any]) -> list[str]:
    return [c["name"] for c in config.get("contexts", []) if isinstance(c, dict) and "name" in c]


class PinnedKubeconfig:
    """A private kubeconfig file with one context pinned; remove it with ``close()``."""

    def __init__(self, context: str, *, explicit: str | Path | None = None, env: dict[str, str] | None = None) -> None:
        config = load_merged(kubeconfig_paths(explicit, environ=env))
        names = contexts(config)
        if context not in names:
            raise KubeconfigError(f"context {context!r} is not in the kubeconfig (it has: {', '.join(names) or 'none'})")
        config["current-context"] = context
        entry = next(c for c in config["contexts"] if c["name"] == context)
        self.namespace = (entry.get("context") or {}).get("namespace") or "default"
        self.context = context
        self._dir = Path(tempfile.mkdtemp(prefix="opsconsole-kube-"))
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
