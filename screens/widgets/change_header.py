"""ChangeHeader: environment, context, change ID and elapsed time, always on screen; production is red."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.widgets import Static


def header_text(*, environment: str, context: str, change_id: str, started: datetime | None, now: datetime, production: bool) -> Text:
    text = Text()
    env_style = "bold white on red" if production else "bold black on green"
    text.append(f" {environment.upper()} ", style=env_style)
    text.append("  context ", style="dim")
    text.append(context, style="bold red" if production else "bold")
    text.append("  change ", style="dim")
    text.append(change_id or "(not started)", style="bold")
    if started is not None:
        elapsed = int((now - started).total_seconds())
        h, rem = divmod(max(elapsed, 0), 3600)
        m, s = divmod(rem, 60)
        text.append("  elapsed ", style="dim")
        text.append(f"{h:d}:{m:02d}:{s:02d}", style="bold")
    return text


class ChangeHeader(Static):
    """The change's identity line; a production environment gives it (and the screen) a red frame."""

    DEFAULT_CSS = """
    ChangeHeader { height: 3; border: round $success; padding: 0 1; }
    ChangeHeader.production { border: heavy $error; }
    """

    def __init__(self, *, environment: str, context: str, change_id: str, started: datetime | None, production: bool,
                 clock: Callable[[], datetime], **kwargs) -> None:
        super().__init__(**kwargs)
        self.environment = environment
        self.context = context
        self.change_id = change_id
        self.started = started
        self.production = production
        self.clock = clock
        if production:
            self.add_class("production")

    def on_mount(self) -> None:
        self.tick()
        self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        self.update(header_text(environment=self.environment, context=self.context, change_id=self.change_id,
                                started=self.started, now=self.clock(), production=self.production))
