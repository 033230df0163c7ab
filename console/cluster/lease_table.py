"""``opsconsole locks``: the change locks held on every cluster of the kubeconfig, as rows and as kubectl's table.

Each cluster is asked once, however many contexts name it (``rehearsal`` and ``rehearsal-b`` may be one server);
its row names every such context. A cluster that cannot be asked is a problem sentence beside the rows, never a
reason to hide the others. The table's ages are written as kubectl writes them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from console.cluster.kube import KubeAccess
from console.cluster.kubeconfig import KubeError
from console.cluster.lease import list_locks
from console.cluster.lease_record import LockStatus

COLUMNS = ("CONTEXT", "LEASE", "SCOPE", "HOLDER", "CHANGE", "STEP", "SINCE", "RENEWED", "EXPIRED")


def human_age(seconds: float) -> str:
    """An age as kubectl prints one (``duration.HumanDuration``): 45s, 3m20s, 95m, 5h3m, 3d."""
    s = int(max(0.0, seconds))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    return f"{h // 24}d"


def status_row(contexts: Sequence[str], status: LockStatus, now: float) -> dict[str, Any]:
    """One lock as a row (pure): what ``--json`` prints and the table shows."""
    v = status.lease
    return {
        "context": ",".join(contexts), "lease": f"{v.namespace}/{v.name}", "scope": v.scope or "cluster",
        "holder": v.holder, "change": v.change, "step": " ".join(p for p in (v.progress, v.step) if p),
        "since": v.acquired, "renewed": v.renewed, "duration_s": v.duration_s, "expired": status.expired,
        "since_age": "" if v.acquired is None else human_age(now - v.acquired),
        "renewed_age": "" if v.renewed is None else human_age(now - v.renewed) + " ago",
    }


def locks_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The rows as kubectl prints a table: upper-case headers, columns three spaces apart (pure)."""
    cells = [list(COLUMNS)] + [[
        r["context"], r["lease"], r["scope"], r["holder"], r["change"] or "<none>", r["step"] or "<none>",
        r["since_age"] or "<unknown>", r["renewed_age"] or "<unknown>", "yes" if r["expired"] else "no",
    ] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    return ["   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]


def lock_rows(kubeconfig: str | None, only: Sequence[str] | None = None, *, now: float | None = None,
              request_timeout_s: float = 5.0) -> tuple[list[dict[str, Any]], list[str]]:
    """Every cluster's locks (rows), and a sentence for each cluster that could not be asked (problems)."""
    access = KubeAccess(kubeconfig)
    try:
        infos = access.contexts()
        if only:
            infos = [access.context(name) for name in only]
        by_server: dict[str, list[str]] = {}
        for info in infos:
            by_server.setdefault(info.server or info.name, []).append(info.name)
        rows: list[dict[str, Any]] = []
        problems: list[str] = []
        for names in by_server.values():
            try:
                found = list_locks(access.client_for(names[0]), request_timeout_s=request_timeout_s)
            except KubeError as e:
                problems.append(f"context {', '.join(names)}: {e}")
                continue
            at = time.time() if now is None else now
            rows += [status_row(names, s, at) for s in found]
        return rows, problems
    finally:
        access.close()
