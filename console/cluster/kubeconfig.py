"""Kubeconfig files without the cluster client: where they are, how several merge, and a flat copy to write.

kubectl's rules: an explicit ``--kubeconfig`` path, else the ``KUBECONFIG`` list (the first file to name a
cluster, user or context wins, and the first that sets ``current-context`` decides it), else
``~/.kube/config``. Kept apart from ``kube.py`` so the engine can pin a context into a private kubeconfig
without importing the kubernetes client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from console.errors import OpsConsoleError


class KubeError(OpsConsoleError):
    """Base of every cluster-access error; the message is one sentence saying what and where."""


class KubeconfigError(KubeError):
    """No kubeconfig was found, or one of the files cannot be read or is not a kubeconfig."""


def kubeconfig_paths(explicit: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The files to read, in order: ``--kubeconfig``, else the ``KUBECONFIG`` list, else ``~/.kube/config``."""
    env = os.environ if environ is None else environ
    if explicit:
        return [Path(explicit).expanduser()]
    if env.get("KUBECONFIG"):
        return [Path(p).expanduser() for p in env["KUBECONFIG"].split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def read_kubeconfig(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig {path} cannot be read: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise KubeconfigError(f"kubeconfig {path} is not UTF-8 text.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML{where}.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KubeconfigError(f"kubeconfig {path} is not a kubeconfig (expected a mapping at the top).")
    return data


def entry_path(value: Any, origin: Path | None) -> Path:
    """A path an entry names (a CA file, a token file, a plugin's command), as kubectl reads it: ``~`` expanded, and a
    relative one from the directory of the kubeconfig file the entry came from (``merge_kubeconfigs``' origins)."""
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() or origin is None else origin.parent / p


def merge_kubeconfigs(paths: list[Path]) -> tuple[dict[str, Any], list[Path]]:
    """kubectl's merge of several files; returns the merged config and the files that exist.

    ``merged["origins"][kind][name]`` is the file each cluster, user and context came from: kubectl reads a
    relative path in an entry (``certificate-authority``, ``tokenFile``...) from that file's directory.
    """
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": "",
                              "origins": {"clusters": {}, "users": {}, "contexts": {}}}
    present = [p for p in paths if p.exists()]
    if not present:
        raise KubeconfigError(f"no kubeconfig found (looked at {', '.join(str(p) for p in paths)}).")
    for path in present:
        data = read_kubeconfig(path)
        for kind in ("clusters", "users", "contexts"):
            entries = data.get(kind) or []
            if not isinstance(entries, list):
                raise KubeconfigError(f"kubeconfig {path}: {kind} must be a list.")
            for entry in entries:
                if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"] not in merged[kind]:
                    merged[kind][entry["name"]] = entry.get(kind[:-1]) or {}
                    merged["origins"][kind][entry["name"]] = path
        if not merged["current-context"] and isinstance(data.get("current-context"), str):
            merged["current-context"] = data["current-context"]
    return merged, present


def as_kubeconfig(merged: Mapping[str, Any], *, current_context: str | None = None) -> dict[str, Any]:
    """A merged configuration written back in kubeconfig form (lists of named entries)."""
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    for kind in ("clusters", "users", "contexts"):
        out[kind] = [{"name": name, kind[:-1]: body} for name, body in merged[kind].items()]
    out["current-context"] = current_context if current_context is not None else merged.get("current-context", "")
    return out
