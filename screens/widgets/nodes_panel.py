"""NodesPanel: nodes with kubectl's STATUS (SchedulingDisabled when cordoned), roles, version, pressure, pods."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from console.cluster.rows import NodeRow, node_row
from screens.widgets.live_table import Column
from screens.widgets.resource_panel import ResourcePanel

__all__ = ["NODE_COLUMNS", "NodesPanel"]

_PRESSURE_SHORT = {"MemoryPressure": "Mem", "DiskPressure": "Disk", "PIDPressure": "PID"}


def _pressure(row: NodeRow) -> str:
    return ",".join(_PRESSURE_SHORT.get(p, p) for p in row.pressure) or "-"


NODE_COLUMNS: tuple[Column, ...] = (
    Column("name", "NAME", 10, lambda r: r.name, sort="name", flex=1),
    Column("status", "STATUS", 24, lambda r: r.status, sort="status"),
    Column("roles", "ROLES", 7, lambda r: r.roles, sort="roles"),
    Column("version", "VERSION", 7, lambda r: r.version, sort="version"),
    Column("pressure", "PRESS", 6, _pressure, sort="pressure",
           style=lambda r: "live-table--error" if r.pressure else None),
    Column("pods", "PODS", 4, lambda r: str(r.pods), sort="pods", align="right"),
)


class NodesPanel(ResourcePanel):
    """Nodes; the pod count per node is fed by the screen from the pods it watches (``set_pod_counts``)."""

    TITLE: ClassVar[str] = "Nodes"
    KINDS: ClassVar[tuple[str, ...]] = ("nodes",)
    COLUMNS: ClassVar[tuple[Column, ...]] = NODE_COLUMNS
    DEFAULT_SORT: ClassVar[tuple[str | None, bool]] = ("name", False)
    EMPTY: ClassVar[str] = "no nodes"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pod_counts: dict[str, int] = {}

    def make_row(self, kind: str, obj: dict[str, Any], now: datetime) -> NodeRow:
        name = (obj.get("metadata") or {}).get("name", "")
        return node_row(obj, now, self.pod_counts.get(name, 0))

    def set_pod_counts(self, counts: Mapping[str, int], changed: set[str] | None = None) -> bool:
        """Take the pods-per-node counts; re-renders the nodes whose count changed (all when None)."""
        self.pod_counts = dict(counts)
        keys = changed if changed is not None else set(self._where)
        return self.rerender(keys)

    def reset(self) -> None:
        self.pod_counts = {}
        super().reset()
