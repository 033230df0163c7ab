"""PodsPanel: every pod in scope, with kubectl's READY, STATUS (the real reason) and RESTARTS cells.

Its rows are ``DeferredPodRow``s: a pod's cells are worked out when the row is first shown (or sorted or filtered
on), so a list of 50,000 pods and a stream of changes off screen cost little more than their names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from console.cluster.rows import DeferredPodRow, PodRow
from screens.widgets.live_table import Column
from screens.widgets.resource_panel import ResourcePanel

__all__ = ["POD_COLUMNS", "PodsPanel"]


def _status(row: PodRow | DeferredPodRow) -> str:
    # "Pending: Unschedulable" says more than kubectl's bare "Pending".
    return row.status_detail or row.status


POD_COLUMNS: tuple[Column, ...] = (
    Column("namespace", "NAMESPACE", 14, lambda r: r.namespace, sort="namespace"),
    Column("name", "NAME", 24, lambda r: r.name, sort="name", flex=1),
    Column("ready", "READY", 5, lambda r: r.ready, sort="ready"),
    Column("status", "STATUS", 24, _status, sort="status"),
    Column("restarts", "RESTARTS", 13, lambda r: r.restarts_text, sort="restarts", align="right"),
    Column("age", "AGE", 6, lambda r: r.age, sort="age", align="right"),
    Column("node", "NODE", 14, lambda r: r.node, sort="node"),
)


class PodsPanel(ResourcePanel):
    """Pods: namespace, name, ready x/y, status with its reason, restarts, age and node."""

    TITLE: ClassVar[str] = "Pods"
    KINDS: ClassVar[tuple[str, ...]] = ("pods",)
    COLUMNS: ClassVar[tuple[Column, ...]] = POD_COLUMNS
    DEFAULT_SORT: ClassVar[tuple[str | None, bool]] = ("name", False)
    EMPTY: ClassVar[str] = "no pods"

    def make_row(self, kind: str, obj: dict[str, Any], now: datetime) -> DeferredPodRow:
        return DeferredPodRow(obj, now)
