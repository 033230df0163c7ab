"""RolloutsPanel: Deployments, StatefulSets and DaemonSets with counts, a progress bar and kubectl's message."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from console.cluster.rows import RolloutRow, rollout_row
from screens.widgets.live_table import Column, progress_bar
from screens.widgets.resource_panel import ResourcePanel

__all__ = ["ROLLOUT_COLUMNS", "RolloutsPanel"]

_KIND_SHORT = {"Deployment": "deploy", "StatefulSet": "sts", "DaemonSet": "ds"}
_STATE_STYLE = {"complete": "live-table--ok", "progressing": "live-table--warn", "failed": "live-table--error",
                "undecidable": "live-table--warn"}


def _progress(row: RolloutRow) -> str:
    # "undecidable" (an OnDelete strategy): kubectl cannot tell, so neither does the bar's label.
    label = {"complete": "done", "failed": "FAIL", "undecidable": "?"}.get(row.state, f"{int(row.progress * 100):>3d}%")
    return f"{progress_bar(row.progress, 6)} {label:>4}"


def _revision(row: RolloutRow) -> str:
    # A StatefulSet's revision is a ControllerRevision name; its hash suffix is what tells two apart.
    rev = row.revision or "-"
    return rev if rev.isdigit() or "-" not in rev else rev.rsplit("-", 1)[1]


ROLLOUT_COLUMNS: tuple[Column, ...] = (
    Column("kind", "KIND", 6, lambda r: _KIND_SHORT.get(r.kind, r.kind), sort="kind"),
    Column("namespace", "NAMESPACE", 11, lambda r: r.namespace, sort="namespace"),
    Column("name", "NAME", 14, lambda r: r.name, sort="name"),
    Column("counts", "D/U/R/A", 9, lambda r: f"{r.desired}/{r.updated}/{r.ready}/{r.available}", sort="desired"),
    Column("revision", "REV", 5, _revision, sort="revision", align="right"),
    Column("progress", "PROGRESS", 11, _progress, sort="progress", style=lambda r: _STATE_STYLE.get(r.state)),
    Column("message", "MESSAGE", 20, lambda r: r.message, flex=1),
)


class RolloutsPanel(ResourcePanel):
    """Rollouts of every workload kind kubectl can report on; a failed rollout is red.

    D/U/R/A is desired/updated/ready/available replicas (pods scheduled, for a DaemonSet).
    """

    TITLE: ClassVar[str] = "Rollouts"
    KINDS: ClassVar[tuple[str, ...]] = ("deployments", "statefulsets", "daemonsets")
    COLUMNS: ClassVar[tuple[Column, ...]] = ROLLOUT_COLUMNS
    DEFAULT_SORT: ClassVar[tuple[str | None, bool]] = ("namespace", False)
    EMPTY: ClassVar[str] = "no deployments, statefulsets or daemonsets"

    def make_row(self, kind: str, obj: dict[str, Any], now: datetime) -> RolloutRow:
        return rollout_row(obj)
