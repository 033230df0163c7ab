"""Kubeconfig files for the rehearsal cluster: plain http, no credentials, two contexts.

``rehearsal`` points at the main cluster (namespace default); ``rehearsal-b`` at the small second cluster
(namespace staging), so switching context visibly shows other nodes, namespaces and pods.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ContextSpec:
    """One context to write: its name, server URL and default namespace."""

    name: str
    server: str
    namespace: str


def render(contexts: list[ContextSpec], current: str) -> str:
    """The kubeconfig text (YAML)."""
    lines = ["apiVersion: v1", "kind: Config", "preferences: {}", f"current-context: {current}", "clusters:"]
    for c in contexts:
        lines += [f"- name: {c.name}", "  cluster:", f"    server: {c.server}"]
    lines.append("contexts:")
    for c in contexts:
        lines += [f"- name: {c.name}", "  context:", f"    cluster: {c.name}", "    user: rehearsal", f"    namespace: {c.namespace}"]
    lines += ["users:", "- name: rehearsal", "  user: {}"]
    return "\n".join(lines) + "\n"


def write(path: Path, contexts: list[ContextSpec], current: str) -> Path:
    """Write atomically (temp file, fsync, rename), readable only by the owner."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(render(contexts, current))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path
