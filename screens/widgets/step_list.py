"""StepList: every step of the runbook by section, with where the change stands and how each step ended."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from console.engine.state import State
from console.journal import events as ev
from console.journal.events import SECTION_TITLES
from console.runbook.models import Runbook

ICONS = {
    "passed": ("✓", "green"),
    "failed": ("✗", "bold red"),
    "running": ("▶", "bold yellow"),
    "interrupted": ("⚠", "bold magenta"),
    "continued": ("⚑", "bold red"),
    "pending": ("·", "dim"),
    "retrying": ("↻", "bold yellow"),
    "skipped": ("↷", "dim"),
}


def try_line(event_type: str, data: dict[str, Any]) -> str | None:
    """What the step screen says of one try of a step with retry: ``attempt 2 of 5``, or why another try follows."""
    retry = data.get("retry") or {}
    if event_type == ev.STEP_STARTED and retry:
        return f"Running … attempt {retry.get('try')} of {retry.get('of')}"
    if event_type == ev.STEP_FINISHED and data.get("retrying"):
        return f"That attempt failed ({data.get('reason') or 'failed'}); trying again after the interval …"
    return None


def render_steps(runbook: Runbook, state: State) -> Text:
    """The list as rich Text (pure, so it is tested without a screen)."""
    text = Text()
    current = state.current
    sections = runbook.sections()
    rollback_ids = set(state.rollback_queue)
    for section, steps in sections:
        if section == "rollback" and not rollback_ids:
            continue
        if not steps:
            continue
        text.append(f"{SECTION_TITLES[section]}\n", style="bold underline")
        for step in steps:
            if section == "rollback" and step.id not in rollback_ids:
                continue
            status = state.statuses.get(step.id, "pending")
            icon, style = ICONS.get(status, ICONS["pending"])
            here = current is not None and current.step_id == step.id and current.section == section
            line_style = "reverse" if here else ""
            text.append(f" {icon} ", style=style)
            text.append(f"{step.id}", style=line_style or ("dim" if status == "pending" else ""))
            if status in ("failed", "interrupted", "continued"):
                text.append(f" {status}", style=style)
            if step.id in state.tries and status in ("running", "retrying", "failed"):
                done, of = state.tries[step.id]
                text.append(f" attempt {done} of {of}", style=style)
            if status == "skipped":
                text.append(f" {state.skipped.get(step.id, 'skipped')}", style="dim")
            text.append("\n")
    return text


class StepList(Static):
    """The runbook's steps and their states; refreshed by the step screen after every event."""

    DEFAULT_CSS = """
    StepList { width: 30; border: round $panel; padding: 0 1; overflow-y: auto; }
    """

    _shown: Text | None = None

    def show(self, runbook: Runbook, state: State) -> None:
        # Asked after every event and every key; an update re-lays out the screen, so only a change is drawn.
        text = render_steps(runbook, state)
        if text != self._shown:
            self._shown = text
            self.update(text)
