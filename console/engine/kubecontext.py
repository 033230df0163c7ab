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

from ruamel.yaml import YAML


class KubeconfigError(ValueError):
    """The kubeconfig cannot be read, or does not define the context asked for."""


def kubeconfig_paths(explicit: str | Path | None = None, *, env: dict[str, str] | None = None) -> list[Path]:
    """``--kubeconfig``, else the ``KUBECONFIG`` list, else ``~/.kube/config``."""
    environ = os.environ if env is None else env
    if explicit:
        return [Path(explicit).expanduser()]
    if environ.get("KUBECONFIG"):
        return [Path(p).expanduser() for p in environ["KUBECONFIG"].split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def load_merged(paths: list[Path]) -> dict[str, Any]:
    """kubectl's merge: the first file to define a cluster, user or context by name wins."""
    yaml = YAML(typ="safe")
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {"clusters": set(), "users": set(), "contexts": set()}
    found = False
    for path in paths:
        if not path.exists():
            continue
        found = True
        try:
            data = yaml.load(path.read_text(encoding="utf-8")) or {}
        except Exception as exc:  # ruamel raises several unrelated error types for bad YAML
            raise KubeconfigError(f"{path}: not a readable kubeconfig: {exc}") from None
        if not isinstance(data, dict):
            raise KubeconfigError(f"{path}: not a kubeconfig (expected a mapping)")
        for kind in ("clusters", "users", "contexts"):
            for entry in data.get(kind) or []:
                name = entry.get("name") if isinstance(entry, dict) else None
                if name and name not in seen[kind]:
                    seen[kind].add(name)
                    merged[kind].append(entry)
        if "current-context" not in merged and data.get("current-context"):
            merged["current-context"] = data["current-context"]
    if not found:
        raise KubeconfigError(f"no kubeconfig found (looked at {', '.join(str(p) for p in paths)})")
    return merged


def contexts(config: dict[str, Any]) -> list[str]:
    return [c["name"] for c in config.get("contexts", []) if isinstance(c, dict) and "name" in c]


class PinnedKubeconfig:
    """A private kubeconfig file with one context pinned; remove it with ``close()``."""

    def __init__(self, context: str, *, explicit: str | Path | None = None, env: dict[str, str] | None = None) -> None:
        config = load_merged(kubeconfig_paths(explicit, env=env))
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
            YAML(typ="safe").dump(config, handle)

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        out = dict(os.environ if base is None else base)
        out["KUBECONFIG"] = str(self.path)
        return out

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
