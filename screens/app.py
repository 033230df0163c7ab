"""OpsConsoleApp: the Textual application, its global bindings and its start-up (kept small)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding

from console import __version__
from screens.home import HomeScreen


class OpsConsoleApp(App):
    """The console; built by a factory with its dependencies passed in, so tests choose every path."""

    CSS_PATH = "opsconsole.tcss"
    TITLE = "opsconsole"
    SUB_TITLE = f"v{__version__}"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave the console"),
        Binding("question_mark", "show_help", "Keys", id="app.help", tooltip="Show every key binding"),
    ]

    def __init__(self, *, records_dir: Path, runbooks_dir: Path) -> None:
        super().__init__()
        self.records_dir = records_dir
        self.runbooks_dir = runbooks_dir

    def on_mount(self) -> None:
        self.push_screen(HomeScreen(records_dir=self.records_dir, runbooks_dir=self.runbooks_dir))

    def action_show_help(self) -> None:
        self.action_show_help_panel()


def run_app(*, records_dir: Path, runbooks_dir: Path) -> int:
    """Run the console full screen until the operator quits; returns the exit code."""
    app = OpsConsoleApp(records_dir=records_dir, runbooks_dir=runbooks_dir)
    app.run()
    return app.return_code or 0
