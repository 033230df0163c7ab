"""KeyBar: the keys that act on what the screen shows now, on one line.

Textual's Footer rebuilds itself whenever the focus moves, which costs tens of milliseconds a time on a busy
step screen; this bar is one Static updated only when the step's state changes, and it lists only the keys
that do something now (``?`` still shows every binding).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


def key_text(pairs: list[tuple[str, str]]) -> Text:
    text = Text()
    for key, label in pairs:
        text.append(f" {key} ", style="bold reverse")
        text.append(f" {label}  ")
    return text


class KeyBar(Static):
    """A one-line list of keys and what they do."""

    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $panel; }
    """

    _shown: list[tuple[str, str]] | None = None

    def show(self, pairs: list[tuple[str, str]]) -> None:
        # Asked on every key and focus change; the same keys are not drawn again.
        if pairs != self._shown:
            self._shown = list(pairs)
            self.update(key_text(pairs))
