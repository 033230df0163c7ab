"""The screen of a Textual app under a pilot, read as the terminal would show it."""

from __future__ import annotations

from typing import Any

from textual.app import App


def screen_text(app: App[Any]) -> str:
    """What the terminal shows now, as plain text lines (composited exactly as it would be drawn)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
