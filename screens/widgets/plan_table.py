"""PlanTable: a saved Terraform plan as a table before it is applied: adds green, changes yellow, destroys red."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from console.terraform.plan import PlanFormatError, PlanSummary, summarise_plan

STYLES = {"add": "green", "change": "yellow", "replace": "bold magenta", "destroy": "bold red", "forget": "cyan", "read": "dim"}
SYMBOLS = {"add": "+", "change": "~", "replace": "-/+", "destroy": "-", "forget": ".", "read": "<="}


def plan_renderable(summary: PlanSummary, *, source: str) -> Group:
    counts = Text.assemble(
        (f"+{summary.add} to add", STYLES["add"]), ", ", (f"~{summary.change} to change", STYLES["change"]), ", ",
        (f"-/+{summary.replace} to replace", STYLES["replace"]), ", ", (f"-{summary.destroy} to destroy", STYLES["destroy"]),
    )
    table = Table(show_edge=False, pad_edge=False, expand=False, header_style="bold")
    table.add_column("", width=3)
    table.add_column("Address")
    table.add_column("Type")
    for category in ("destroy", "replace", "change", "add", "forget"):
        for ref in summary.refs(category):
            style = STYLES[category]
            table.add_row(Text(SYMBOLS[category], style=style), Text(ref.address, style=style), ref.type)
    return Group(Text(f"Plan to apply ({source})", style="bold"), counts, table)


def load_saved_plan(change_dir: Path, artifacts: list[dict[str, Any]]) -> tuple[PlanSummary, str] | None:
    """The summary of the latest plan a step saved (its show -json artifact), or None."""
    # The saved plan itself is kept outside the record (an artifact with no file): its show -json is what is read.
    shows = [a for a in artifacts if a.get("kind") == "plan" and str((a.get("file") or {}).get("path", "")).endswith(".plan.json")]
    if not shows:
        return None
    path = change_dir / shows[-1]["file"]["path"]
    try:
        return summarise_plan(json.loads(path.read_text(encoding="utf-8"))), shows[-1]["file"]["path"]
    except (OSError, ValueError, PlanFormatError):
        return None


class PlanTable(Static):
    """Shown on the step screen above a Terraform apply's confirmation."""

    DEFAULT_CSS = """
    PlanTable { height: auto; max-height: 16; border: round $warning; padding: 0 1; }
    """

    def show_plan(self, summary: PlanSummary, source: str) -> None:
        self.update(plan_renderable(summary, source=source))
