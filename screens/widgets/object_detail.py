"""ObjectDetailScreen: Enter on a row shows the object as YAML and, for a pod, the tail of its logs.

The logs are read by a thread worker (the official client blocks) through a ``LogReader`` the caller passes
in, so the screen works the same against any cluster and in tests. Escape or ``q`` closes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import yaml
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Log, Static, TabbedContent, TabPane, TextArea
from textual.worker import Worker, WorkerState

__all__ = ["LOG_TAIL_LINES", "LogReader", "ObjectDetailScreen", "object_yaml"]

LOG_TAIL_LINES = 200

# (namespace, pod, container, tail lines) -> the log text; raises on failure.
LogReader = Callable[[str, str, str | None, int], str]


def object_yaml(obj: dict[str, Any]) -> str:
    """The object as YAML, without ``managedFields`` (noise for an operator, as in k9s)."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    shown = {**obj, "metadata": meta}
    return yaml.safe_dump(shown, sort_keys=False, default_flow_style=False, width=1000)


class ObjectDetailScreen(ModalScreen[None]):
    """One object's YAML, and for pods a Logs tab filled by a worker."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss_detail", "Close", id="detail.close", tooltip="Back to the tables"),
        Binding("l", "show_logs", "Logs", id="detail.logs", tooltip="Show the pod's log tail (pods only)"),
        Binding("y", "show_yaml", "YAML", id="detail.yaml", tooltip="Show the object as YAML"),
    ]

    def __init__(self, kind: str, obj: dict[str, Any], *, log_reader: LogReader | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.obj = obj
        self.log_reader = log_reader
        meta = obj.get("metadata") or {}
        self.obj_namespace = meta.get("namespace") or ""
        self.obj_name = meta.get("name") or ""
        containers = ((obj.get("spec") or {}).get("containers")) or []
        self.container: str | None = containers[0].get("name") if containers else None
        self.logs_text: str | None = None  # set when the logs arrived (tests wait on it)
        self.logs_error: str | None = None

    @property
    def is_pod(self) -> bool:
        return self.kind == "pods"

    def compose(self) -> ComposeResult:
        where = f"{self.obj_namespace}/{self.obj_name}" if self.obj_namespace else self.obj_name
        with Vertical(id="detail"):
            yield Static(f"[b]{self.obj.get('kind', self.kind)}[/b] {where}", id="detail-title")
            with TabbedContent(id="detail-tabs"):
                with TabPane("YAML", id="detail-yaml"):
                    yield TextArea(object_yaml(self.obj), read_only=True, show_line_numbers=False, id="detail-yaml-text")
                if self.is_pod:
                    label = f"Logs ({self.container})" if self.container else "Logs"
                    with TabPane(label, id="detail-logs"):
                        yield Log(id="detail-log", highlight=False, max_lines=5000)

    def on_mount(self) -> None:
        if self.is_pod:
            log = self.query_one("#detail-log", Log)
            if self.log_reader is None:
                log.write_line("(logs are not available here)")
            else:
                log.write_line(f"reading the last {LOG_TAIL_LINES} lines…")
                self._read_logs()

    @work(thread=True, exclusive=True, exit_on_error=False, group="pod-logs")
    def _read_logs(self) -> str:
        assert self.log_reader is not None
        return self.log_reader(self.obj_namespace, self.obj_name, self.container, LOG_TAIL_LINES)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "pod-logs":
            return
        log = self.query_one("#detail-log", Log)
        if event.state == WorkerState.SUCCESS:
            text = str(event.worker.result or "")
            self.logs_text = text
            log.clear()
            log.write(text or "(the log is empty)")
        elif event.state == WorkerState.ERROR:
            err = event.worker.error
            reason = getattr(err, "reason", None) or str(err)
            status = getattr(err, "status", None)
            self.logs_error = f"{status} {reason}" if status else str(reason)
            log.clear()
            log.write_line(f"cannot read the logs: {self.logs_error}")

    def action_dismiss_detail(self) -> None:
        self.dismiss(None)

    def action_show_logs(self) -> None:
        if self.is_pod:
            self.query_one("#detail-tabs", TabbedContent).active = "detail-logs"

    def action_show_yaml(self) -> None:
        self.query_one("#detail-tabs", TabbedContent).active = "detail-yaml"
